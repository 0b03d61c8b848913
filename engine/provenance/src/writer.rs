//! The writer thread: collects submitted events into blocks and writes each block, its index
//! summary, its attribute filter and the durable WAL sequence number in one atomic store batch.

use std::collections::VecDeque;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use tracing::{debug, error, info, trace};

use crate::block::{PREFIX_ATTR, PREFIX_BLOCK, PREFIX_INDEX, block_key, build_block};
use crate::error::ProvenanceError;
use crate::event::ProvenanceEvent;
use crate::repository::{META_DURABLE_SEQ, META_NEXT_BLOCK, META_NEXT_ID, Shared};
use crate::store::StoreBatch;

/// A message to the writer thread.
pub(crate) enum WriterMsg {
    /// Events of one session commit (or several), with the WAL sequence number that covers them.
    Events { events: Vec<ProvenanceEvent>, wal_seq: u64 },
    /// Write everything pending, make it durable, then answer.
    Flush(Sender<Result<(), ProvenanceError>>),
    /// Write everything pending, make it durable, and stop.
    Shutdown,
}

/// State of the writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<WriterMsg>,
    pending: Vec<ProvenanceEvent>,
    /// Which WAL sequence numbers are fully written.
    seqs: SeqTracker,
    /// When the oldest pending event arrived.
    pending_since: Option<Instant>,
    /// Whether something was applied since the last store flush.
    dirty: bool,
    last_sync: Instant,
    scratch: Vec<u8>,
    /// The last write failed: retry before taking more work.
    failing: bool,
}

/// Pause between retries of a failed write.
const RETRY_DELAY: Duration = Duration::from_millis(100);

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, rx: Receiver<WriterMsg>) -> Self {
        let durable = shared.durable_seq.load(Ordering::Acquire);
        Writer {
            shared,
            rx,
            pending: Vec::new(),
            seqs: SeqTracker::new(durable),
            pending_since: None,
            dirty: false,
            last_sync: Instant::now(),
            scratch: Vec::new(),
            failing: false,
        }
    }

    /// The thread's main loop; returns when told to shut down or when every sender is gone.
    pub(crate) fn run(mut self) {
        let interval = self.shared.config.flush_interval.max(Duration::from_millis(1));
        let block_events = self.shared.config.block_events.max(1);
        loop {
            if self.failing {
                // The store failed: take no more work (so submitters block: back pressure, not
                // unbounded memory) until what is pending can be written.
                std::thread::sleep(RETRY_DELAY);
                if self.shared.stop_requested.load(Ordering::Acquire) {
                    self.shutdown();
                    return;
                }
                match self.write_all().and_then(|()| self.sync()) {
                    Ok(()) => {
                        info!("provenance writes recovered");
                        self.failing = false;
                    }
                    Err(e) => self.record_failure(&e),
                }
                continue;
            }
            let timeout = match self.pending_since {
                Some(t) => (t + interval).saturating_duration_since(Instant::now()),
                None if self.dirty => (self.last_sync + interval).saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            match self.rx.recv_timeout(timeout) {
                Ok(WriterMsg::Events { events, wal_seq }) => {
                    self.accept(events, wal_seq);
                    while self.pending.len() >= block_events {
                        if let Err(e) = self.write_block(block_events) {
                            self.record_failure(&e);
                            break;
                        }
                    }
                }
                Ok(WriterMsg::Flush(reply)) => {
                    let r = self.write_all().and_then(|()| self.sync());
                    if let Err(e) = &r {
                        self.record_failure(e);
                    }
                    let _ = reply.send(r);
                }
                Ok(WriterMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.shutdown();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !self.failing
                && self.pending_since.is_some_and(|t| t.elapsed() >= interval)
                && let Err(e) = self.write_all()
            {
                self.record_failure(&e);
            }
            if !self.failing
                && self.dirty
                && self.last_sync.elapsed() >= interval
                && let Err(e) = self.sync()
            {
                self.record_failure(&e);
            }
        }
    }

    fn accept(&mut self, events: Vec<ProvenanceEvent>, wal_seq: u64) {
        if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        self.pending.extend(events);
        self.seqs.push(self.pending.len(), wal_seq);
    }

    /// Drains the channel, writes and flushes everything, answers waiting flushes.
    fn shutdown(&mut self) {
        let mut replies = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                WriterMsg::Events { events, wal_seq } => self.accept(events, wal_seq),
                WriterMsg::Flush(reply) => replies.push(reply),
                WriterMsg::Shutdown => {}
            }
        }
        let r = self.write_all().and_then(|()| self.sync());
        if let Err(e) = &r {
            error!(error = %e, lost = self.pending.len(), "provenance writer could not write its last events");
        }
        for reply in replies {
            let _ = reply.send(match &r {
                Ok(()) => Ok(()),
                Err(e) => Err(ProvenanceError::Storage(e.to_string())),
            });
        }
        // Nothing will be written any more: never leave a submitter waiting for room.
        self.shared.release(usize::MAX);
        debug!("provenance writer stopped");
    }

    fn record_failure(&mut self, e: &ProvenanceError) {
        if !self.failing {
            error!(error = %e, pending = self.pending.len(), "provenance write failed; retrying");
        }
        self.failing = true;
        self.shared.counters.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes every pending event (in blocks of at most `block_events`).
    fn write_all(&mut self) -> Result<(), ProvenanceError> {
        let block_events = self.shared.config.block_events.max(1);
        while !self.pending.is_empty() {
            let n = self.pending.len().min(block_events);
            self.write_block(n)?;
        }
        if self.seqs.has_pending() {
            // Only empty batches remain: record their sequence numbers.
            self.write_block(0)?;
        }
        self.pending_since = None;
        Ok(())
    }

    /// Writes the first `n` pending events as one block (or, for `n == 0`, only the metadata).
    fn write_block(&mut self, n: usize) -> Result<(), ProvenanceError> {
        let shared = &self.shared;
        let mut batch = StoreBatch::default();
        let mut built = None;
        if n > 0 {
            let started = Instant::now();
            let block_id = shared.next_block_id.load(Ordering::Acquire);
            let b = build_block(block_id, &mut self.pending[..n], &shared.pool, &mut self.scratch);
            let max_bytes = shared.store.max_value_bytes();
            if b.block_value.len() > max_bytes && n > 1 {
                // Large events: write fewer per block (see ProvenanceStore::max_value_bytes).
                let fit = (n as u128 * max_bytes as u128 * 9 / 10 / b.block_value.len() as u128) as usize;
                return self.write_block(fit.clamp(1, n - 1));
            }
            let build = started.elapsed();
            shared.counters.build_nanos.fetch_add(build.as_nanos() as u64, Ordering::Relaxed);
            trace!(
                block_id,
                events = n,
                bytes = b.block_value.len(),
                build_us = build.as_micros() as u64,
                "built provenance block"
            );
            let next_id = shared.next_id.load(Ordering::Acquire).max(b.summary.max_id + 1);
            batch.put(block_key(PREFIX_BLOCK, block_id), b.block_value);
            batch.put(block_key(PREFIX_INDEX, block_id), b.summary_value);
            batch.put(block_key(PREFIX_ATTR, block_id), b.attr_value);
            batch.put(META_NEXT_BLOCK.to_vec(), (block_id + 1).to_be_bytes().to_vec());
            batch.put(META_NEXT_ID.to_vec(), next_id.to_be_bytes().to_vec());
            built = Some(b.summary);
        }
        let new_written = self.seqs.written_after(n);
        if let Some(seq) = new_written {
            batch.put(META_DURABLE_SEQ.to_vec(), seq.to_be_bytes().to_vec());
        }
        if batch.ops.is_empty() {
            self.seqs.advance(n);
            return Ok(());
        }
        let started = Instant::now();
        shared.store.apply(batch)?;
        shared.counters.apply_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.dirty = true;

        // Success: publish the block and drop the written events.
        if let Some(summary) = built {
            shared.next_block_id.store(summary.block_id + 1, Ordering::Release);
            shared.counters.blocks_written.fetch_add(1, Ordering::Relaxed);
            shared.counters.events_written.fetch_add(n as u64, Ordering::Relaxed);
            let over = shared.add_block(summary);
            if over {
                shared.nudge_retention();
            }
        }
        self.pending.drain(..n);
        self.shared.release(n);
        self.seqs.advance(n);
        if self.pending.is_empty() {
            self.pending_since = None;
        }
        Ok(())
    }

    /// Makes everything written durable and publishes the durable WAL sequence number.
    fn sync(&mut self) -> Result<(), ProvenanceError> {
        if !self.dirty {
            return Ok(());
        }
        let seq = self.seqs.written;
        let started = Instant::now();
        self.shared.store.flush()?;
        self.shared.counters.sync_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.dirty = false;
        self.last_sync = Instant::now();
        self.shared.durable_seq.fetch_max(seq, Ordering::AcqRel);
        trace!(seq, flush_us = started.elapsed().as_micros() as u64, "provenance flushed");
        Ok(())
    }
}

/// Tracks which WAL sequence numbers are fully written, for `m/durable_wal_seq`.
///
/// A batch may be split across blocks, and batches may arrive out of sequence order (sessions
/// on several threads submit after committing to the WAL). The written sequence number is the
/// largest `S` such that every *received* batch with a sequence number `<= S` is written: the
/// highest completed one, capped below the lowest still-incomplete one. Sequence 0 means "no WAL
/// record" and is not tracked.
#[derive(Debug)]
pub(crate) struct SeqTracker {
    /// `(end index in pending, wal_seq)` of received batches not yet fully written.
    entries: VecDeque<(usize, u64)>,
    max_completed: u64,
    /// The value stored in `m/durable_wal_seq` by the last write.
    pub(crate) written: u64,
}

impl SeqTracker {
    pub(crate) fn new(written: u64) -> Self {
        SeqTracker { entries: VecDeque::new(), max_completed: written, written }
    }

    /// Records a batch whose last event is at pending index `end - 1`.
    pub(crate) fn push(&mut self, end: usize, seq: u64) {
        if seq != 0 {
            self.entries.push_back((end, seq));
        }
    }

    /// Whether some tracked batch is not yet written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The new written sequence number if the first `n` pending events were written, or `None`
    /// if it would not change.
    pub(crate) fn written_after(&self, n: usize) -> Option<u64> {
        let mut max_completed = self.max_completed;
        let mut min_incomplete = u64::MAX;
        for &(end, seq) in &self.entries {
            if end <= n {
                max_completed = max_completed.max(seq);
            } else {
                min_incomplete = min_incomplete.min(seq);
            }
        }
        let w = max_completed.min(min_incomplete - 1).max(self.written);
        (w != self.written).then_some(w)
    }

    /// Applies a successful write of the first `n` pending events.
    pub(crate) fn advance(&mut self, n: usize) {
        if let Some(w) = self.written_after(n) {
            self.written = w;
        }
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for &(end, seq) in &self.entries {
            if end <= n {
                self.max_completed = self.max_completed.max(seq);
            } else {
                kept.push_back((end - n, seq));
            }
        }
        self.entries = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::SeqTracker;

    #[test]
    fn in_order_batches_split_across_blocks() {
        let mut t = SeqTracker::new(0);
        t.push(5, 1); // events 0..5
        t.push(12, 2); // events 5..12
        assert_eq!(t.written_after(10), Some(1));
        t.advance(10);
        assert_eq!(t.written, 1);
        assert_eq!(t.written_after(2), Some(2));
        t.advance(2);
        assert!(!t.has_pending());
    }

    #[test]
    fn out_of_order_arrival_never_overstates() {
        let mut t = SeqTracker::new(0);
        t.push(5, 2); // seq 2 arrived first
        t.push(17, 1); // seq 1 arrived second, spills past the first block
        assert_eq!(t.written_after(10), None, "seq 1 is incomplete, so 2 is not durable");
        t.advance(10);
        assert_eq!(t.written, 0);
        t.push(8, 3);
        assert_eq!(t.written_after(8), Some(3));
        t.advance(8);
        assert_eq!(t.written, 3);
    }

    #[test]
    fn untracked_and_empty_batches() {
        let mut t = SeqTracker::new(7);
        t.push(3, 0);
        assert!(!t.has_pending());
        t.push(0, 9); // an empty batch
        assert_eq!(t.written_after(0), Some(9));
        t.advance(0);
        assert_eq!(t.written, 9);
        t.push(0, 4); // lower than what is written: never goes back
        assert_eq!(t.written_after(0), None);
    }
}
