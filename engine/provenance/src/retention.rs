//! Retention: removes whole blocks, oldest first, by age and by total size.
//!
//! Runs on its own thread (and on demand). A removal forgets the block in memory first, so
//! queries stop choosing it, then deletes its keys in one atomic batch; the writer keeps writing
//! new blocks meanwhile, since it never touches old ones.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::atomic::Ordering;
use tracing::debug;

use crate::block::{PREFIX_ATTR, PREFIX_BLOCK, PREFIX_INDEX, block_key};
use crate::error::ProvenanceError;
use crate::repository::Shared;
use crate::store::StoreBatch;

/// Blocks deleted per store batch.
const REMOVE_BATCH: usize = 64;

/// Now, in Unix epoch milliseconds.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The blocks to remove at `now`: every block whose newest event is older than `max_age`, then
/// the oldest blocks until the total is within `max_bytes`.
fn victims(shared: &Shared, now: i64) -> Vec<u64> {
    let max_age = i64::try_from(shared.config.max_age.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(max_age);
    let idx = shared.index.read();
    let mut bytes = idx.bytes;
    let mut out = Vec::new();
    for (id, b) in &idx.blocks {
        if b.max_ts < cutoff || bytes > shared.config.max_bytes {
            bytes -= b.stored_bytes;
            out.push(*id);
        }
    }
    out
}

/// Removes what [`victims`] selects; returns how many blocks were removed.
pub(crate) fn enforce(shared: &Shared, now: i64) -> Result<usize, ProvenanceError> {
    let _running = shared.retention_lock.lock();
    let ids = victims(shared, now);
    if ids.is_empty() {
        return Ok(0);
    }
    let mut removed = 0;
    for chunk in ids.chunks(REMOVE_BATCH) {
        let mut batch = StoreBatch::default();
        for &id in chunk {
            shared.remove_block(id);
            batch.delete(block_key(PREFIX_INDEX, id));
            batch.delete(block_key(PREFIX_BLOCK, id));
            batch.delete(block_key(PREFIX_ATTR, id));
        }
        shared.store.apply(batch)?;
        removed += chunk.len();
        shared.counters.blocks_removed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    debug!(removed, "provenance retention removed blocks");
    Ok(removed)
}
