use saluran_domain::{ChannelCode, RoomTypeCode};
use std::collections::{HashMap, VecDeque};
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

/// A child a Property actor supervises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Child {
    /// The InventoryShard of a room type.
    Shard(RoomTypeCode),
    /// The Channel actor of a connection.
    Channel(ChannelCode),
}

impl std::fmt::Display for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Child::Shard(rt) => write!(f, "shard {rt}"),
            Child::Channel(code) => write!(f, "channel {code}"),
        }
    }
}

/// The restart budgets of a supervisor's children: one per child.
#[derive(Debug, Default)]
pub struct Restarts {
    by_child: HashMap<Child, RestartHistory>,
}

impl Restarts {
    /// Records a failure of `child` (see [`RestartHistory::on_failure`]).
    pub fn on_failure(&mut self, child: &Child, policy: &RestartPolicy, now: Instant) -> Option<Duration> {
        self.by_child.entry(child.clone()).or_default().on_failure(policy, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_restarts: usize) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            window: Duration::from_secs(60),
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        }
    }

    /// Issue 9 item 5: each child has its own budget. Channel codes too long
    /// to be written as a room type code (`channel.` + 25..32 characters) do
    /// not share one, and a room type called `channel.X` is not channel X.
    #[test]
    fn every_child_has_its_own_budget() {
        let p = policy(3);
        let t = Instant::now();
        let mut r = Restarts::default();
        let long_a = Child::Channel(ChannelCode::parse("A".repeat(32)).unwrap());
        let long_b = Child::Channel(ChannelCode::parse("B".repeat(30)).unwrap());
        for _ in 0..3 {
            assert!(r.on_failure(&long_a, &p, t).is_some());
        }
        assert_eq!(r.on_failure(&long_a, &p, t), None, "A's budget is spent");
        assert!(r.on_failure(&long_b, &p, t).is_some(), "B's budget is its own");

        let shard = Child::Shard(RoomTypeCode::parse("channel.BDC").unwrap());
        let channel = Child::Channel(ChannelCode::parse("BDC").unwrap());
        for _ in 0..3 {
            assert!(r.on_failure(&shard, &p, t).is_some());
        }
        assert_eq!(r.on_failure(&shard, &p, t), None);
        assert!(r.on_failure(&channel, &p, t).is_some(), "channel BDC is not room type channel.BDC");
    }

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
