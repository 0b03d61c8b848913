//! Status figures: cumulative counters per processor, and a rolling history from which
//! the 5-minute totals and the editor's sparklines are derived.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

/// How many one-second samples the history keeps (5 minutes).
pub const HISTORY_SECONDS: usize = 300;

/// Cumulative counters of one processor since it was created.
#[derive(Default, Debug)]
pub struct ProcessorCounters {
    /// Flowfiles taken from input queues.
    pub flowfiles_in: AtomicU64,
    /// Bytes taken from input queues.
    pub bytes_in: AtomicU64,
    /// Flowfiles put into output queues.
    pub flowfiles_out: AtomicU64,
    /// Bytes put into output queues.
    pub bytes_out: AtomicU64,
    /// Completed tasks (`on_trigger` calls).
    pub tasks: AtomicU64,
    /// Time spent in tasks.
    pub task_nanos: AtomicU64,
}

/// A point-in-time copy of counters (cumulative, or totals over a window).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProcessorStatus {
    /// Flowfiles in.
    pub flowfiles_in: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Flowfiles out.
    pub flowfiles_out: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Tasks.
    pub tasks: u64,
    /// Task time in nanoseconds.
    pub task_nanos: u64,
}

impl ProcessorCounters {
    /// Reads all counters.
    pub fn snapshot(&self) -> ProcessorStatus {
        ProcessorStatus {
            flowfiles_in: self.flowfiles_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            flowfiles_out: self.flowfiles_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
            task_nanos: self.task_nanos.load(Ordering::Relaxed),
        }
    }
}

impl ProcessorStatus {
    /// `self - earlier`, field by field (saturating).
    pub fn since(&self, earlier: &ProcessorStatus) -> ProcessorStatus {
        ProcessorStatus {
            flowfiles_in: self.flowfiles_in.saturating_sub(earlier.flowfiles_in),
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            flowfiles_out: self.flowfiles_out.saturating_sub(earlier.flowfiles_out),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
            tasks: self.tasks.saturating_sub(earlier.tasks),
            task_nanos: self.task_nanos.saturating_sub(earlier.task_nanos),
        }
    }
}

/// One-second samples of cumulative counters, newest last.
#[derive(Default)]
pub struct StatusHistory {
    samples: Mutex<VecDeque<(i64, ProcessorStatus)>>,
}

impl StatusHistory {
    /// Records the cumulative figures at `now`.
    pub fn record(&self, now: i64, status: ProcessorStatus) {
        let mut s = self.samples.lock();
        if s.len() > HISTORY_SECONDS {
            s.pop_front();
        }
        s.push_back((now, status));
    }

    /// Totals over the last five minutes, given the current cumulative figures.
    pub fn window_totals(&self, current: &ProcessorStatus) -> ProcessorStatus {
        let s = self.samples.lock();
        // Until five minutes of samples exist, the window starts at creation (zero), so work
        // done before the first sample counts.
        match s.front() {
            Some((_, oldest)) if s.len() > HISTORY_SECONDS => current.since(oldest),
            _ => *current,
        }
    }

    /// Per-second flowfiles out, oldest first (for sparklines).
    pub fn out_rate(&self) -> Vec<u64> {
        let s = self.samples.lock();
        s.iter().zip(s.iter().skip(1)).map(|((_, a), (_, b))| b.flowfiles_out.saturating_sub(a.flowfiles_out)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_young_history_counts_from_creation() {
        let h = StatusHistory::default();
        let at = |n: u64| ProcessorStatus { flowfiles_out: n, ..Default::default() };
        // Work done before the first sample still shows.
        h.record(1_000, at(5));
        h.record(2_000, at(8));
        assert_eq!(h.window_totals(&at(10)).flowfiles_out, 10);
        // Once five minutes of samples exist, the window slides.
        for i in 0..=HISTORY_SECONDS as u64 {
            h.record(3_000 + i as i64 * 1000, at(100 + i));
        }
        let oldest = h.samples.lock().front().unwrap().1.flowfiles_out;
        assert_eq!(h.window_totals(&at(1_000)).flowfiles_out, 1_000 - oldest);
    }
}
