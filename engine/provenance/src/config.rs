//! Configuration of the provenance repository.

use std::time::Duration;

/// How much provenance to keep and how the writer batches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceConfig {
    /// Events older than this are removed (whole blocks at a time). Default 30 days.
    pub max_age: Duration,
    /// Total stored bytes (compressed blocks plus their indexes) above which the oldest blocks are
    /// removed. Default 10 GiB. This counts the repository's own values, not sled's files, which
    /// run larger until sled's segment cleaner reclaims space.
    pub max_bytes: u64,
    /// Events per block. Larger blocks compress better and cost less per event to write; smaller
    /// blocks make point lookups cheaper. Default 4096 (from 1024: +12% on the throughput
    /// benchmark with provenance on; a point lookup decodes up to 4096 events, ~1 ms).
    pub block_events: usize,
    /// Longest time a partial block waits before it is written, and the interval at which the
    /// writer makes its writes durable (sled flush) while there is work. Default 100 ms.
    pub flush_interval: Duration,
    /// Capacity of the channel to the writer, in submitted *batches* (one `submit` call each).
    /// When it is full, `submit` blocks. Default 256.
    pub channel_capacity: usize,
    /// Most events submitted but not yet written (in the channel or the writer's pending
    /// block) before `submit` blocks: what bounds provenance's memory when the flow outruns the
    /// writer, since a batch may hold thousands of events. A batch larger than this is still
    /// taken when nothing else is in flight. Default 32,768 (some tens of MiB).
    pub max_in_flight_events: usize,
}

impl Default for ProvenanceConfig {
    fn default() -> Self {
        ProvenanceConfig {
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 10 << 30,
            block_events: 4096,
            flush_interval: Duration::from_millis(100),
            channel_capacity: 256,
            max_in_flight_events: 32_768,
        }
    }
}
