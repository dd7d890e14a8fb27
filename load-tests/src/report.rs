//! Latency histograms, outcome counters, the stdout table and the
//! `RESULT {json}` line.

use crate::client::Failure;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies in microseconds, 1 µs .. 10 min, 3 significant digits.
#[derive(Clone)]
pub struct Lat(Histogram<u64>);

impl Default for Lat {
    fn default() -> Self {
        Lat(Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"))
    }
}

impl Lat {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    pub fn merge(&mut self, other: &Lat) {
        // Same bounds on both sides: cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    fn ms(us: u64) -> f64 {
        us as f64 / 1000.0
    }

    fn q(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            Self::ms(self.0.value_at_quantile(q))
        }
    }

    pub fn max(&self) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            Self::ms(self.0.max())
        }
    }

    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            self.0.mean().round() / 1000.0
        }
    }

    /// All the numbers, in milliseconds.
    pub fn json(&self) -> Value {
        json!({
            "count": self.count(),
            "mean_ms": self.mean(),
            "p50_ms": self.q(0.50),
            "p90_ms": self.q(0.90),
            "p99_ms": self.q(0.99),
            "p999_ms": self.q(0.999),
            "max_ms": self.max(),
        })
    }

    fn row(&self, name: &str) -> String {
        format!(
            "  {:<18}{:>9}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}",
            name,
            self.count(),
            self.mean(),
            self.q(0.50),
            self.q(0.90),
            self.q(0.99),
            self.q(0.999),
            self.max()
        )
    }
}

/// Prints latency rows under one header.
pub fn print_latencies(rows: &[(&str, &Lat)]) {
    println!("  {:<18}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}", "latency (ms)", "count", "mean", "p50", "p90", "p99", "p99.9", "max");
    for (name, lat) in rows {
        println!("{}", lat.row(name));
    }
}

/// What came back: HTTP statuses, or why nothing did.
#[derive(Default, Clone)]
pub struct Outcomes {
    pub by_status: BTreeMap<u16, u64>,
    pub timeouts: u64,
    pub connect_errors: u64,
    pub transport_errors: u64,
    /// The first few distinct failure messages, for the operator.
    pub samples: Vec<String>,
}

impl Outcomes {
    pub fn status(&mut self, s: u16) {
        *self.by_status.entry(s).or_default() += 1;
    }

    pub fn failure(&mut self, f: &Failure) {
        match f {
            Failure::Timeout => self.timeouts += 1,
            Failure::Connect(_) => self.connect_errors += 1,
            Failure::Transport(_) => self.transport_errors += 1,
        }
        self.sample(f.to_string());
    }

    pub fn sample(&mut self, msg: String) {
        if self.samples.len() < 5 && !self.samples.contains(&msg) {
            self.samples.push(msg);
        }
    }

    pub fn merge(&mut self, o: &Outcomes) {
        for (s, n) in &o.by_status {
            *self.by_status.entry(*s).or_default() += n;
        }
        self.timeouts += o.timeouts;
        self.connect_errors += o.connect_errors;
        self.transport_errors += o.transport_errors;
        for m in &o.samples {
            self.sample(m.clone());
        }
    }

    pub fn count(&self, s: u16) -> u64 {
        self.by_status.get(&s).copied().unwrap_or(0)
    }

    pub fn failures(&self) -> u64 {
        self.timeouts + self.connect_errors + self.transport_errors
    }

    pub fn responses(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Responses whose status is not in `good`, plus requests with no response.
    pub fn errors_except(&self, good: &[u16]) -> u64 {
        self.by_status.iter().filter(|(s, _)| !good.contains(s)).map(|(_, n)| n).sum::<u64>() + self.failures()
    }

    pub fn json(&self) -> Value {
        let statuses: serde_json::Map<String, Value> = self.by_status.iter().map(|(s, n)| (s.to_string(), json!(n))).collect();
        json!({
            "statuses": statuses,
            "timeouts": self.timeouts,
            "connect_errors": self.connect_errors,
            "transport_errors": self.transport_errors,
            "error_samples": self.samples,
        })
    }

    pub fn print(&self) {
        let s: Vec<String> = self.by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!("  {:<24}{}", "HTTP statuses", if s.is_empty() { "-".into() } else { s.join("  ") });
        if self.failures() > 0 {
            println!(
                "  {:<24}timeouts {}  connect {}  transport {}",
                "no response", self.timeouts, self.connect_errors, self.transport_errors
            );
        }
        for m in &self.samples {
            println!("  {:<24}{}", "sample error", m);
        }
    }
}

/// One `key  value` line of the table.
pub fn kv(key: &str, value: impl std::fmt::Display) {
    println!("  {key:<24}{value}");
}

pub fn title(t: &str) {
    println!();
    println!("== {t} ==");
}

/// CPU seconds (user + system) used so far by a process, from /proc.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    parse_stat_cpu(&s)
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in seconds
/// (USER_HZ is 100 on every Linux this runs on).
fn parse_stat_cpu(s: &str) -> Option<f64> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Busy CPU seconds of the whole machine (every core), from /proc/stat:
/// user + nice + system + irq + softirq + steal.
pub fn machine_cpu_seconds() -> Option<f64> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_proc_stat(s: &str) -> Option<f64> {
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    let busy = [0usize, 1, 2, 5, 6, 7].iter().map(|&i| f.get(i).copied().unwrap_or(0)).sum::<u64>();
    Some(busy as f64 / 100.0)
}

/// CPU use of the load generator (and optionally the server, and the whole
/// machine: what neither used went to other processes) over a run.
pub struct CpuMeter {
    server_pid: Option<u32>,
    me: Option<f64>,
    server: Option<f64>,
    machine: Option<f64>,
}

impl CpuMeter {
    pub fn start(server_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            server_pid,
            me: cpu_seconds(None),
            server: server_pid.and_then(|p| cpu_seconds(Some(p))),
            machine: machine_cpu_seconds(),
        }
    }

    /// Cores used on average over `wall` (1.0 = one core busy all the time):
    /// (this process, the server, the whole machine).
    pub fn cores(&self, wall: Duration) -> (Option<f64>, Option<f64>, Option<f64>) {
        let w = wall.as_secs_f64().max(1e-9);
        let rate = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(((b - a) / w * 100.0).round() / 100.0),
            _ => None,
        };
        (
            rate(self.me, cpu_seconds(None)),
            rate(self.server, self.server_pid.and_then(|p| cpu_seconds(Some(p)))),
            rate(self.machine, machine_cpu_seconds()),
        )
    }

    /// Prints and returns the cores used over `wall`.
    pub fn finish(&self, wall: Duration) -> Value {
        let (me, server, machine) = self.cores(wall);
        if let Some(c) = me {
            kv("client CPU (cores)", format!("{c:.2}"));
        }
        if let Some(c) = server {
            kv("server CPU (cores)", format!("{c:.2}"));
        }
        if let Some(c) = machine {
            kv("machine CPU (cores)", format!("{c:.2} (all processes)"));
        }
        json!({"client_cores": me, "server_cores": server, "machine_cores": machine})
    }
}

/// Prints the machine-readable summary line.
pub fn result_line(v: &Value) {
    println!();
    println!("RESULT {v}");
}

/// Rounds to 0.1 for rates.
pub fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut l = Lat::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us * 10));
        }
        assert_eq!(l.count(), 1000);
        let j = l.json();
        let p50 = j["p50_ms"].as_f64().unwrap();
        assert!((p50 - 5.0).abs() < 0.01, "{p50}");
        let max = j["max_ms"].as_f64().unwrap();
        assert!((max - 10.0).abs() < 0.01, "{max}");
        let mut m = Lat::default();
        m.merge(&l);
        m.record(Duration::from_secs(3600)); // beyond the bounds: clamped, not lost
        assert_eq!(m.count(), 1001);
        assert_eq!(Lat::default().json()["p99_ms"], json!(0.0));
    }

    #[test]
    fn outcomes_count_errors() {
        let mut o = Outcomes::default();
        o.status(201);
        o.status(201);
        o.status(409);
        o.status(500);
        o.failure(&Failure::Timeout);
        assert_eq!(o.responses(), 4);
        assert_eq!(o.errors_except(&[201, 409]), 2);
        let mut all = Outcomes::default();
        all.merge(&o);
        all.merge(&o);
        assert_eq!(all.count(201), 4);
        assert_eq!(all.timeouts, 2);
        assert_eq!(all.samples.len(), 1);
    }

    #[test]
    fn proc_stat_is_parsed() {
        let line = "1234 (my (odd) proc) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 1 1";
        assert_eq!(parse_stat_cpu(line), Some(3.0));
        assert!(cpu_seconds(None).is_some());
        let stat = "cpu  100 5 50 9000 30 1 2 3 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_proc_stat(stat), Some(1.61));
        assert!(machine_cpu_seconds().is_some());
    }
}
