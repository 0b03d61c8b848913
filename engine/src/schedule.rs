//! Scheduling strategies, cron schedules and the engine clock.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// When a processor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    /// Every `period` (0 = as often as there is work).
    #[default]
    TimerDriven,
    /// At the times of a cron expression.
    CronDriven,
    /// Whenever input arrives (or, for sources, when woken by their I/O).
    EventDriven,
}

/// A parsed cron expression: seconds, minutes, hours, day of month, month, day of week
/// and an optional year, as NiFi (Quartz) writes them. `?` is accepted for "any".
#[derive(Clone, Debug)]
pub struct CronSchedule {
    text: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses `text`; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "cron expression '{text}' has {fields} fields; expected 6 or 7: seconds minutes hours day-of-month month day-of-week [year], e.g. '0 */5 * * * ?'"
            ));
        }
        let normalized = text.replace('?', "*");
        let schedule = cron::Schedule::from_str(&normalized).map_err(|e| format!("cron expression '{text}': {e}"))?;
        Ok(CronSchedule { text: text.to_string(), schedule })
    }

    /// The first fire time strictly after `after_millis` (ms since epoch), if any.
    pub fn next_after(&self, after_millis: i64) -> Option<i64> {
        let t = Utc.timestamp_millis_opt(after_millis).single()?;
        self.schedule.after(&t).next().map(|d| d.timestamp_millis())
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The engine's notion of "now", replaceable in tests so that time-based behaviour (cron,
/// penalties, expiry) can be checked without sleeping.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
    /// Whether time only moves when a test moves it.
    fn is_manual(&self) -> bool {
        false
    }
}

/// The real wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        crate::flowfile::now_millis()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A manual clock starting at `millis`.
    pub fn new(millis: i64) -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(millis)))
    }

    /// Moves time forward.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the time.
    pub fn set(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn is_manual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fires_as_written() {
        let c = CronSchedule::parse("0 */5 * * * ?").unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 10, 2, 30).unwrap().timestamp_millis();
        let t1 = c.next_after(t0).unwrap();
        assert_eq!(t1, Utc.with_ymd_and_hms(2026, 1, 1, 10, 5, 0).unwrap().timestamp_millis());
        assert_eq!(c.next_after(t1).unwrap() - t1, 300_000);
    }

    #[test]
    fn bad_cron_names_the_problem() {
        assert!(CronSchedule::parse("* * *").unwrap_err().contains("3 fields"));
        assert!(CronSchedule::parse("0 0 25 * * ?").is_err());
    }
}
