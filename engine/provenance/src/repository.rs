//! The provenance repository: the public handle, its shared state, and its threads.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError, bounded};
use parking_lot::{Condvar, Mutex, RwLock};
use serde::Serialize;
use tracing::{info, warn};
use uuid::Uuid;

use crate::block::{
    BlockSummary, PREFIX_ATTR, PREFIX_BLOCK, PREFIX_INDEX, StringPool, block_key, decode_block, key_block_id,
};
use crate::config::ProvenanceConfig;
use crate::error::ProvenanceError;
use crate::event::ProvenanceEvent;
use crate::lineage::{self, Lineage};
use crate::query::{self, Query, QueryResult};
use crate::retention;
use crate::store::{ProvenanceStore, SledStore};
use crate::writer::{Writer, WriterMsg};

/// Meta key: highest WAL sequence number whose events are all in the store.
pub(crate) const META_DURABLE_SEQ: &[u8] = b"m/durable_wal_seq";
/// Meta key: next event id to allocate (survives retention removing every block).
pub(crate) const META_NEXT_ID: &[u8] = b"m/next_id";
/// Meta key: next block id (block ids are never reused).
pub(crate) const META_NEXT_BLOCK: &[u8] = b"m/next_block";

/// Decoded blocks kept for repeated queries (pagination, lineage expanding round by round).
const BLOCK_CACHE_BLOCKS: usize = 16;

/// Callback told how long a `submit` had to wait for the writer.
pub type BackpressureHook = Box<dyn Fn(Duration) + Send + Sync>;

/// The installed hook, cloned out of its lock before it is called.
type SharedHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// Counters shared by the threads.
#[derive(Default)]
pub(crate) struct Counters {
    pub writer_waits: AtomicU64,
    pub writer_wait_nanos: AtomicU64,
    pub blocks_written: AtomicU64,
    pub events_written: AtomicU64,
    pub blocks_removed: AtomicU64,
    pub write_errors: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub build_nanos: AtomicU64,
    pub apply_nanos: AtomicU64,
    pub sync_nanos: AtomicU64,
}

/// The in-memory block index: every block's summary, by block id, plus running totals.
#[derive(Default)]
pub(crate) struct Index {
    pub blocks: BTreeMap<u64, Arc<BlockSummary>>,
    pub events: u64,
    pub bytes: u64,
}

/// State shared by the handle, the writer thread and the retention thread.
pub(crate) struct Shared {
    pub store: Arc<dyn ProvenanceStore>,
    pub config: ProvenanceConfig,
    pub index: RwLock<Index>,
    pub pool: StringPool,
    pub next_id: AtomicU64,
    pub next_block_id: AtomicU64,
    pub durable_seq: AtomicU64,
    pub counters: Counters,
    cache: Mutex<VecDeque<(u64, Arc<Vec<ProvenanceEvent>>)>>,
    retention_tx: Sender<()>,
    pub retention_stop: AtomicBool,
    /// Set by `close`: a writer stuck retrying a failing store gives up.
    pub stop_requested: AtomicBool,
    /// Serialises retention runs (background and on demand).
    pub retention_lock: Mutex<()>,
    /// Events submitted and not yet written; `submit` waits on `written` while it is over
    /// `config.max_in_flight_events`.
    in_flight: Mutex<usize>,
    written: Condvar,
}

impl Shared {
    /// Counts `n` submitted events in, waiting while too many are in flight (unless none are).
    /// Returns whether it had to wait.
    fn admit(&self, n: usize) -> bool {
        let max = self.config.max_in_flight_events.max(1);
        let mut in_flight = self.in_flight.lock();
        let mut waited = false;
        while *in_flight > 0 && *in_flight + n > max {
            waited = true;
            self.written.wait(&mut in_flight);
        }
        *in_flight += n;
        waited
    }

    /// Counts `n` events out (written, or given up on).
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut in_flight = self.in_flight.lock();
        *in_flight = in_flight.saturating_sub(n);
        self.written.notify_all();
    }

    /// Publishes a written block; returns whether the repository is now over its size limit.
    pub fn add_block(&self, s: BlockSummary) -> bool {
        let mut idx = self.index.write();
        idx.events += u64::from(s.events);
        idx.bytes += s.stored_bytes;
        idx.blocks.insert(s.block_id, Arc::new(s));
        idx.bytes > self.config.max_bytes
    }

    /// Forgets a block (before its keys are deleted, so queries stop choosing it).
    pub fn remove_block(&self, block_id: u64) {
        let mut idx = self.index.write();
        if let Some(s) = idx.blocks.remove(&block_id) {
            idx.events -= u64::from(s.events);
            idx.bytes -= s.stored_bytes;
        }
        drop(idx);
        self.cache.lock().retain(|(id, _)| *id != block_id);
    }

    /// The summaries for which `keep` holds, in block id order.
    pub fn blocks_where(&self, keep: impl Fn(&BlockSummary) -> bool) -> Vec<Arc<BlockSummary>> {
        self.index.read().blocks.values().filter(|b| keep(b)).cloned().collect()
    }

    /// Reads and decodes a block (through the small decoded-block cache). `None` when retention
    /// removed it meanwhile or it is corrupt (logged, counted).
    pub fn load_block(&self, block_id: u64) -> Result<Option<Arc<Vec<ProvenanceEvent>>>, ProvenanceError> {
        {
            let mut cache = self.cache.lock();
            if let Some(pos) = cache.iter().position(|(id, _)| *id == block_id) {
                let entry = cache.remove(pos).expect("position is valid");
                let events = entry.1.clone();
                cache.push_front(entry);
                return Ok(Some(events));
            }
        }
        let Some(value) = self.store.get(&block_key(PREFIX_BLOCK, block_id))? else {
            return Ok(None);
        };
        let events = match decode_block(&value) {
            Ok(ev) => Arc::new(ev),
            Err(e) => {
                warn!(block_id, error = %e, "corrupt provenance block skipped");
                self.counters.corrupt_blocks.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        };
        let mut cache = self.cache.lock();
        if !cache.iter().any(|(id, _)| *id == block_id) {
            cache.push_front((block_id, events.clone()));
            cache.truncate(BLOCK_CACHE_BLOCKS);
        }
        Ok(Some(events))
    }

    /// Wakes the retention thread.
    pub fn nudge_retention(&self) {
        let _ = self.retention_tx.try_send(());
    }
}

/// Repository statistics, for the status page and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProvenanceStats {
    /// Events stored.
    pub events: u64,
    /// Blocks stored.
    pub blocks: u64,
    /// Bytes of the repository's values (compressed blocks, summaries, filters): what
    /// [`ProvenanceConfig::max_bytes`] limits.
    pub stored_bytes: u64,
    /// sled's files on disk (larger than `stored_bytes` until sled reclaims space).
    pub disk_bytes: u64,
    /// Estimated memory held by the in-memory block index (summaries and flowfile filters).
    pub index_memory_bytes: u64,
    /// Oldest event timestamp stored.
    pub oldest_timestamp_millis: Option<i64>,
    /// Newest event timestamp stored.
    pub newest_timestamp_millis: Option<i64>,
    /// How many `submit` calls had to wait for the writer since open.
    pub writer_waits: u64,
    /// Total time `submit` calls waited, in milliseconds.
    pub writer_wait_millis: u64,
    /// See [`ProvenanceRepository::durable_wal_seq`].
    pub durable_wal_seq: u64,
    /// Events written since open.
    pub events_written: u64,
    /// Blocks removed by retention since open.
    pub blocks_removed: u64,
    /// Failed store writes since open (the writer retries them).
    pub write_errors: u64,
    /// Blocks found corrupt when read since open (skipped).
    pub corrupt_blocks: u64,
    /// Writer time spent encoding, compressing and indexing blocks since open (ms).
    pub writer_build_millis: u64,
    /// Writer time spent applying block batches to the store since open (ms).
    pub writer_store_millis: u64,
    /// Writer time spent making writes durable (store flush / fsync) since open (ms).
    pub writer_sync_millis: u64,
}

/// Result of [`ProvenanceRepository::verify`]: whether blocks and their index agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// Index summaries found.
    pub index_entries: u64,
    /// Block values found.
    pub blocks: u64,
    /// Events decoded from the blocks.
    pub events: u64,
    /// Block ids with a summary but no block value.
    pub index_without_block: Vec<u64>,
    /// Block ids with a block value but no summary.
    pub block_without_index: Vec<u64>,
    /// Block ids whose value does not decode or disagrees with its summary.
    pub mismatched: Vec<u64>,
}

impl IntegrityReport {
    /// Whether every block has its summary and agrees with it.
    pub fn is_consistent(&self) -> bool {
        self.index_without_block.is_empty() && self.block_without_index.is_empty() && self.mismatched.is_empty()
    }
}

/// The provenance repository: events in compressed blocks in one sled tree, written by a
/// background writer thread, trimmed by a background retention thread.
///
/// `Send + Sync`; share it behind the `Arc` that [`ProvenanceRepository::open`] returns. Dropping
/// the last handle (or [`ProvenanceRepository::close`]) writes everything pending, flushes and
/// stops the threads.
pub struct ProvenanceRepository {
    shared: Arc<Shared>,
    tx: Sender<WriterMsg>,
    hook: RwLock<Option<SharedHook>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    retention: Mutex<Option<JoinHandle<()>>>,
}

impl ProvenanceRepository {
    /// Opens (or creates) the repository in `dir`, rebuilds the in-memory block index from the
    /// stored summaries, and starts the writer and retention threads.
    pub fn open(dir: &Path, config: ProvenanceConfig) -> Result<Arc<Self>, ProvenanceError> {
        Self::open_with_store(Arc::new(SledStore::open(dir)?), config)
    }

    /// A repository over a temporary sled database (tests, benchmarks).
    pub fn in_memory(config: ProvenanceConfig) -> Result<Arc<Self>, ProvenanceError> {
        Self::open_with_store(Arc::new(SledStore::temporary()?), config)
    }

    /// Opens the repository over any [`ProvenanceStore`] (another backend, or a wrapper that
    /// injects faults or delays in tests).
    pub fn open_with_store(
        store: Arc<dyn ProvenanceStore>,
        config: ProvenanceConfig,
    ) -> Result<Arc<Self>, ProvenanceError> {
        let started = Instant::now();
        let pool = StringPool::default();
        let mut index = Index::default();
        let mut corrupt = 0u64;
        store.scan_prefix(PREFIX_INDEX, &mut |key, value| {
            match BlockSummary::decode(value, &pool) {
                Ok(s) if Some(s.block_id) == key_block_id(key) => {
                    index.events += u64::from(s.events);
                    index.bytes += s.stored_bytes;
                    index.blocks.insert(s.block_id, Arc::new(s));
                }
                Ok(_) | Err(_) => {
                    warn!(key = ?key, "corrupt provenance block summary ignored");
                    corrupt += 1;
                }
            }
            Ok(true)
        })?;
        let meta = |key: &[u8]| -> Result<u64, ProvenanceError> {
            Ok(store
                .get(key)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0))
        };
        let durable = meta(META_DURABLE_SEQ)?;
        let max_id_next = index.blocks.values().map(|b| b.max_id + 1).max().unwrap_or(0);
        let next_id = meta(META_NEXT_ID)?.max(max_id_next);
        let next_block = meta(META_NEXT_BLOCK)?.max(index.blocks.keys().next_back().map_or(0, |id| id + 1));
        info!(
            blocks = index.blocks.len(),
            events = index.events,
            durable_wal_seq = durable,
            open_ms = started.elapsed().as_millis() as u64,
            "provenance repository opened"
        );

        let (tx, rx) = bounded(config.channel_capacity.max(1));
        let (retention_tx, retention_rx) = bounded(1);
        let shared = Arc::new(Shared {
            store,
            config,
            index: RwLock::new(index),
            pool,
            next_id: AtomicU64::new(next_id),
            next_block_id: AtomicU64::new(next_block),
            durable_seq: AtomicU64::new(durable),
            counters: Counters { corrupt_blocks: AtomicU64::new(corrupt), ..Counters::default() },
            cache: Mutex::new(VecDeque::new()),
            retention_tx,
            retention_stop: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            retention_lock: Mutex::new(()),
            in_flight: Mutex::new(0),
            written: Condvar::new(),
        });
        let writer = Writer::new(shared.clone(), rx);
        let writer = std::thread::Builder::new().name("sluice-prov-writer".into()).spawn(move || writer.run())?;
        let rshared = shared.clone();
        let retention = std::thread::Builder::new()
            .name("sluice-prov-retention".into())
            .spawn(move || retention_loop(rshared, retention_rx))?;
        Ok(Arc::new(ProvenanceRepository {
            shared,
            tx,
            hook: RwLock::new(None),
            writer: Mutex::new(Some(writer)),
            retention: Mutex::new(Some(retention)),
        }))
    }

    /// Reserves `n` consecutive event ids and returns the first. Ids continue after the highest
    /// id ever stored, across restarts and retention.
    pub fn allocate_ids(&self, n: u64) -> u64 {
        self.shared.next_id.fetch_add(n, Ordering::AcqRel)
    }

    /// Hands a batch of events to the writer, tagged with the WAL sequence number that records
    /// them (0 if none).
    ///
    /// Blocks while the writer's channel is full: events are never dropped. A wait is counted in
    /// [`ProvenanceStats::writer_waits`] and reported to the backpressure hook.
    ///
    /// Batches may arrive out of sequence order (sessions on several threads): the durable
    /// sequence number never passes a received batch that is not yet written. A batch that was
    /// committed to the WAL but not yet submitted is invisible here, though, so after a crash
    /// the engine should replay from [`Self::durable_wal_seq`] minus the number of commits that
    /// can be in flight between its WAL append and this call (re-submitted events that were
    /// already stored become duplicates with the same id), or submit under the WAL's ordering.
    /// `wal_seq == 0` means "no WAL record" and is not tracked. Events carrying ids above the
    /// allocator (WAL replay after a crash) move the allocator past them.
    pub fn submit(&self, events: Vec<ProvenanceEvent>, wal_seq: u64) {
        if let Some(max) = events.iter().map(|e| e.id).max() {
            self.shared.next_id.fetch_max(max.saturating_add(1), Ordering::AcqRel);
        }
        let n = events.len();
        let t = Instant::now();
        let mut waited = self.shared.admit(n);
        let msg = WriterMsg::Events { events, wal_seq };
        let sent = match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => {
                waited = true;
                self.tx.send(msg).map_err(|_| ())
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if waited {
            let waited = t.elapsed();
            let c = &self.shared.counters;
            c.writer_waits.fetch_add(1, Ordering::Relaxed);
            c.writer_wait_nanos.fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
            if let Some(hook) = self.hook.read().clone() {
                hook(waited);
            }
        }
        if sent.is_err() {
            self.shared.release(n);
            warn!("provenance submitted after close; events discarded");
        }
    }

    /// Sets the callback told, after each `submit` that had to wait, how long it waited (so the
    /// engine can post a bulletin). Called on the submitting thread; keep it cheap.
    pub fn set_backpressure_hook(&self, hook: BackpressureHook) {
        *self.hook.write() = Some(Arc::from(hook));
    }

    /// Highest WAL sequence number whose events are all written *and* flushed to disk. After a
    /// crash, replay WAL records above it into [`Self::submit`]. Stored atomically with the
    /// blocks, so it survives crashes.
    pub fn durable_wal_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Waits until everything submitted before this call is written and flushed to disk.
    pub fn flush(&self) -> Result<(), ProvenanceError> {
        let (reply_tx, reply_rx) = bounded(1);
        self.tx.send(WriterMsg::Flush(reply_tx)).map_err(|_| ProvenanceError::Closed)?;
        reply_rx.recv().map_err(|_| ProvenanceError::Closed)?
    }

    /// Searches events, newest (highest id) first. See [`Query`].
    pub fn query(&self, q: &Query) -> Result<QueryResult, ProvenanceError> {
        query::run(&self.shared, q)
    }

    /// One event by id.
    pub fn event(&self, id: u64) -> Result<Option<ProvenanceEvent>, ProvenanceError> {
        query::event_by_id(&self.shared, id)
    }

    /// The lineage graph of a flowfile: its events, its ancestors' and descendants' events across
    /// FORK, JOIN and CLONE, up to [`lineage::MAX_LINEAGE_NODES`] nodes.
    pub fn lineage(&self, flowfile: Uuid) -> Result<Lineage, ProvenanceError> {
        lineage::build(&self.shared, flowfile, lineage::MAX_LINEAGE_NODES)
    }

    /// Like [`Self::lineage`] with another node bound.
    pub fn lineage_bounded(&self, flowfile: Uuid, max_nodes: usize) -> Result<Lineage, ProvenanceError> {
        lineage::build(&self.shared, flowfile, max_nodes)
    }

    /// Current statistics.
    pub fn stats(&self) -> ProvenanceStats {
        let s = &self.shared;
        let (events, blocks, bytes, oldest, newest, memory) = {
            let idx = s.index.read();
            let oldest = idx.blocks.values().map(|b| b.min_ts).min();
            let newest = idx.blocks.values().map(|b| b.max_ts).max();
            // Summary, its Arc header and B-tree slot, the boxed slices.
            let memory: usize = idx
                .blocks
                .values()
                .map(|b| std::mem::size_of::<BlockSummary>() + 48 + b.flowfiles.len() * 4 + b.components.len() * 16)
                .sum();
            let blocks = idx.blocks.len() as u64;
            (idx.events, blocks, idx.bytes, oldest, newest, memory as u64)
        };
        let c = &s.counters;
        ProvenanceStats {
            events,
            blocks,
            stored_bytes: bytes,
            disk_bytes: s.store.size_on_disk(),
            index_memory_bytes: memory,
            oldest_timestamp_millis: oldest,
            newest_timestamp_millis: newest,
            writer_waits: c.writer_waits.load(Ordering::Relaxed),
            writer_wait_millis: c.writer_wait_nanos.load(Ordering::Relaxed) / 1_000_000,
            durable_wal_seq: self.durable_wal_seq(),
            events_written: c.events_written.load(Ordering::Relaxed),
            blocks_removed: c.blocks_removed.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            corrupt_blocks: c.corrupt_blocks.load(Ordering::Relaxed),
            writer_build_millis: c.build_nanos.load(Ordering::Relaxed) / 1_000_000,
            writer_store_millis: c.apply_nanos.load(Ordering::Relaxed) / 1_000_000,
            writer_sync_millis: c.sync_nanos.load(Ordering::Relaxed) / 1_000_000,
        }
    }

    /// Removes the oldest blocks that are past [`ProvenanceConfig::max_age`] or beyond
    /// [`ProvenanceConfig::max_bytes`]; returns how many. Also runs in the background.
    pub fn enforce_retention(&self) -> Result<usize, ProvenanceError> {
        retention::enforce(&self.shared, retention::now_millis())
    }

    /// Checks that every index summary has its block and vice versa, and that every block
    /// decodes and agrees with its summary. Reads every block: for tests and repair tools.
    pub fn verify(&self) -> Result<IntegrityReport, ProvenanceError> {
        let store = &self.shared.store;
        let mut report = IntegrityReport::default();
        let mut summaries = BTreeMap::new();
        store.scan_prefix(PREFIX_INDEX, &mut |k, v| {
            report.index_entries += 1;
            match (key_block_id(k), BlockSummary::decode(v, &self.shared.pool)) {
                (Some(id), Ok(s)) => {
                    summaries.insert(id, s);
                }
                (id, _) => report.mismatched.push(id.unwrap_or(u64::MAX)),
            }
            Ok(true)
        })?;
        let mut seen = BTreeMap::new();
        store.scan_prefix(PREFIX_BLOCK, &mut |k, v| {
            report.blocks += 1;
            let Some(id) = key_block_id(k) else {
                report.mismatched.push(u64::MAX);
                return Ok(true);
            };
            seen.insert(id, ());
            match (summaries.get(&id), decode_block(v)) {
                (None, _) => report.block_without_index.push(id),
                (Some(_), Err(_)) => report.mismatched.push(id),
                (Some(s), Ok(evs)) => {
                    report.events += evs.len() as u64;
                    let ok = evs.len() as u64 == u64::from(s.events)
                        && evs.first().is_none_or(|e| e.id == s.min_id)
                        && evs.last().is_none_or(|e| e.id == s.max_id);
                    if !ok {
                        report.mismatched.push(id);
                    }
                }
            }
            Ok(true)
        })?;
        for id in summaries.keys() {
            if !seen.contains_key(id) {
                report.index_without_block.push(*id);
            }
        }
        let mut attr_missing = Vec::new();
        for id in summaries.keys() {
            if store.get(&block_key(PREFIX_ATTR, *id))?.is_none() {
                attr_missing.push(*id);
            }
        }
        report.mismatched.extend(attr_missing);
        Ok(report)
    }

    /// Writes everything pending, flushes, and stops the writer and retention threads.
    /// Idempotent; later `submit`s are discarded (logged) and `flush` returns
    /// [`ProvenanceError::Closed`].
    pub fn close(&self) {
        if let Some(h) = self.writer.lock().take() {
            self.shared.stop_requested.store(true, Ordering::Release);
            // A writer that is retrying a failing store does not read the channel: it sees
            // `stop_requested` instead, so do not block on a full channel.
            let mut msg = WriterMsg::Shutdown;
            loop {
                match self.tx.send_timeout(msg, Duration::from_millis(100)) {
                    Err(SendTimeoutError::Timeout(m)) if !h.is_finished() => msg = m,
                    _ => break,
                }
            }
            if h.join().is_err() {
                warn!("provenance writer thread panicked");
            }
        }
        if let Some(h) = self.retention.lock().take() {
            self.shared.retention_stop.store(true, Ordering::Release);
            self.shared.nudge_retention();
            if h.join().is_err() {
                warn!("provenance retention thread panicked");
            }
        }
    }
}

impl Drop for ProvenanceRepository {
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the retention thread checks age limits when nothing nudges it.
const RETENTION_PERIOD: Duration = Duration::from_secs(10);

fn retention_loop(shared: Arc<Shared>, rx: Receiver<()>) {
    loop {
        let _ = rx.recv_timeout(RETENTION_PERIOD);
        if shared.retention_stop.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = retention::enforce(&shared, retention::now_millis()) {
            warn!(error = %e, "provenance retention failed");
        }
    }
}
