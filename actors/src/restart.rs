use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restart with exponential backoff, at most `max_restarts` in `window`;
/// past that the failure escalates to the supervisor's own supervisor.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    pub max_restarts: usize,
    pub window: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            window: Duration::from_secs(60),
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The recent restarts of one child.
#[derive(Debug, Default)]
pub struct RestartHistory {
    recent: VecDeque<Instant>,
}

impl RestartHistory {
    /// Records a failure at `now`: `Some(delay)` to restart after, or `None`
    /// when the budget is spent and the failure must escalate.
    pub fn on_failure(&mut self, policy: &RestartPolicy, now: Instant) -> Option<Duration> {
        while let Some(t) = self.recent.front() {
            if now.duration_since(*t) > policy.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= policy.max_restarts {
            return None;
        }
        let n = self.recent.len() as u32;
        self.recent.push_back(now);
        let delay = policy.base_backoff.saturating_mul(2u32.saturating_pow(n));
        Some(delay.min(policy.max_backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_escalates() {
        let p = RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(10),
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(25),
        };
        let mut h = RestartHistory::default();
        let t = Instant::now();
        assert_eq!(h.on_failure(&p, t), Some(Duration::from_millis(10)));
        assert_eq!(h.on_failure(&p, t), Some(Duration::from_millis(20)));
        assert_eq!(h.on_failure(&p, t), Some(Duration::from_millis(25)));
        assert_eq!(h.on_failure(&p, t), None);
        // Once the window has passed, the budget is back.
        assert!(h.on_failure(&p, t + Duration::from_secs(11)).is_some());
    }
}
