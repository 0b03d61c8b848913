//! Connections: bounded queues of flowfiles between processors, with soft back pressure,
//! prioritizers, penalties, expiry and swapping of large backlogs to disk ([`crate::swap`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::flowfile::FlowFile;
use crate::scheduler::Waker;
use crate::swap::{SwapFile, SwapSpace};

/// Default back-pressure object threshold (NiFi's).
pub const DEFAULT_OBJECT_THRESHOLD: u64 = 10_000;
/// Default back-pressure data size threshold (NiFi's: 1 GB).
pub const DEFAULT_SIZE_THRESHOLD: u64 = 1 << 30;

/// The order in which a connection hands out flowfiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prioritizer {
    /// First in, first out (the default when none is set).
    #[serde(rename = "FirstInFirstOutPrioritizer", alias = "FIFO")]
    FirstInFirstOut,
    /// Oldest lineage first.
    #[serde(rename = "OldestFlowFileFirstPrioritizer", alias = "OLDEST_FIRST")]
    OldestFirst,
    /// Newest lineage first.
    #[serde(rename = "NewestFlowFileFirstPrioritizer", alias = "NEWEST_FIRST")]
    NewestFirst,
    /// By the `priority` attribute: lower numbers first, numbers before text, missing last.
    #[serde(rename = "PriorityAttributePrioritizer", alias = "PRIORITY_ATTRIBUTE")]
    PriorityAttribute,
}

/// A connection's settings.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Queue count at which the source stops being scheduled.
    pub object_threshold: u64,
    /// Queued bytes at which the source stops being scheduled.
    pub size_threshold: u64,
    /// Ordering; empty means FIFO. The first decides, later ones break ties.
    pub prioritizers: Vec<Prioritizer>,
    /// Flowfiles older than this (since entering the flow) are dropped as expired; zero = never.
    pub expiration: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            object_threshold: DEFAULT_OBJECT_THRESHOLD,
            size_threshold: DEFAULT_SIZE_THRESHOLD,
            prioritizers: Vec::new(),
            expiration: Duration::ZERO,
        }
    }
}

struct Ranked {
    key: (i64, String),
    seq: u64,
    ff: FlowFile,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    // BinaryHeap is a max-heap: invert so that the smallest key (then oldest seq) pops first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key.cmp(&self.key).then_with(|| other.seq.cmp(&self.seq))
    }
}

struct Penalized(FlowFile);
impl PartialEq for Penalized {
    fn eq(&self, o: &Self) -> bool {
        self.0.penalty_until_millis == o.0.penalty_until_millis
    }
}
impl Eq for Penalized {}
impl PartialOrd for Penalized {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Penalized {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.0.penalty_until_millis.cmp(&self.0.penalty_until_millis)
    }
}

enum Store {
    Fifo(VecDeque<FlowFile>),
    Ranked(BinaryHeap<Ranked>, u64),
}

struct Queue {
    active: Store,
    penalized: BinaryHeap<Penalized>,
    /// Swap files, oldest first: flowfiles that arrived after `active` filled up.
    swapped: VecDeque<SwapFile>,
    /// The newest arrivals beyond the swap threshold, not yet written to a swap file.
    overflow: Vec<FlowFile>,
    /// Swapping is paused until this time (ms) after a failed write, e.g. a full disk.
    swap_retry_at: i64,
}

impl Queue {
    fn new(active: Store) -> Self {
        Queue { active, penalized: BinaryHeap::new(), swapped: VecDeque::new(), overflow: Vec::new(), swap_retry_at: 0 }
    }

    /// Whether flowfiles wait outside `active` (in swap files or the overflow).
    fn has_swapped(&self) -> bool {
        !self.swapped.is_empty() || !self.overflow.is_empty()
    }
}

/// A connection between two processors.
pub struct Connection {
    /// Connection id.
    pub id: Arc<str>,
    /// Source processor id.
    pub source_id: Arc<str>,
    /// Destination processor id.
    pub destination_id: Arc<str>,
    config: parking_lot::RwLock<ConnectionConfig>,
    queue: Mutex<Queue>,
    count: AtomicU64,
    bytes: AtomicU64,
    /// Flowfiles handed to a running session and not yet committed or rolled back.
    in_flight: AtomicU64,
    pub(crate) destination: Waker,
    pub(crate) source: Waker,
    swap: Option<Arc<SwapSpace>>,
}

impl Connection {
    pub(crate) fn new(
        id: Arc<str>,
        source_id: Arc<str>,
        destination_id: Arc<str>,
        config: ConnectionConfig,
        source: Waker,
        destination: Waker,
        swap: Option<Arc<SwapSpace>>,
    ) -> Self {
        let active = store_for(&config.prioritizers);
        Connection {
            id,
            source_id,
            destination_id,
            config: parking_lot::RwLock::new(config),
            queue: Mutex::new(Queue::new(active)),
            count: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            destination,
            source,
            swap,
        }
    }

    /// Current settings.
    pub fn config(&self) -> ConnectionConfig {
        self.config.read().clone()
    }

    /// Changes settings; a change of prioritizers re-sorts what is queued.
    pub fn set_config(&self, config: ConnectionConfig) {
        let reorder = self.config.read().prioritizers != config.prioritizers;
        *self.config.write() = config.clone();
        if reorder {
            let mut q = self.queue.lock();
            let old = std::mem::replace(&mut q.active, store_for(&config.prioritizers));
            let items: Vec<FlowFile> = match old {
                Store::Fifo(v) => v.into_iter().collect(),
                Store::Ranked(h, _) => h.into_sorted_vec().into_iter().rev().map(|r| r.ff).collect(),
            };
            for ff in items {
                push(&mut q.active, ff, &config.prioritizers, false);
            }
        }
        self.source.wake();
        self.destination.wake();
    }

    /// Flowfiles queued (including penalized ones and those in a running session).
    pub fn queued_count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Bytes queued.
    pub fn queued_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// Flowfiles handed to a running session of the destination.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether a back-pressure threshold is reached (the source is then not scheduled).
    pub fn is_full(&self) -> bool {
        let c = self.config.read();
        self.queued_count() >= c.object_threshold || self.queued_bytes() >= c.size_threshold
    }

    /// Fill ratio against the nearer threshold, 0.0 to 1.0+ (for the editor's bar).
    pub fn fill_ratio(&self) -> f64 {
        let c = self.config.read();
        let by_count = self.queued_count() as f64 / c.object_threshold.max(1) as f64;
        let by_size = self.queued_bytes() as f64 / c.size_threshold.max(1) as f64;
        by_count.max(by_size)
    }

    /// Adds flowfiles (after their commit is recorded) and wakes the destination.
    pub fn enqueue(&self, ffs: impl IntoIterator<Item = FlowFile>, now: i64) {
        let prioritizers = self.config.read().prioritizers.clone();
        let (mut n, mut b) = (0u64, 0u64);
        {
            let mut q = self.queue.lock();
            for mut ff in ffs {
                ff.queued_millis = now;
                ff.session_slot = u32::MAX;
                n += 1;
                b += ff.size();
                if ff.penalty_until_millis > now {
                    q.penalized.push(Penalized(ff));
                } else if let Some(swap) = &self.swap
                    && (q.has_swapped() || store_len(&q.active) >= swap.threshold())
                {
                    q.overflow.push(ff);
                    if q.overflow.len() >= swap.batch() && now >= q.swap_retry_at {
                        self.swap_out(&mut q, swap, now);
                    }
                } else {
                    push(&mut q.active, ff, &prioritizers, false);
                }
            }
        }
        if n > 0 {
            self.count.fetch_add(n, Ordering::AcqRel);
            self.bytes.fetch_add(b, Ordering::AcqRel);
            self.destination.wake();
        }
    }

    /// Puts flowfiles of a rolled-back session back where they were (front of a FIFO).
    pub(crate) fn requeue(&self, ffs: Vec<FlowFile>, now: i64) {
        let prioritizers = self.config.read().prioritizers.clone();
        let n = ffs.len() as u64;
        {
            let mut q = self.queue.lock();
            for mut ff in ffs.into_iter().rev() {
                ff.session_slot = u32::MAX;
                if ff.penalty_until_millis > now {
                    q.penalized.push(Penalized(ff));
                } else {
                    push(&mut q.active, ff, &prioritizers, true);
                }
            }
        }
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
        self.destination.wake();
    }

    /// Takes up to `max` ready flowfiles for a session; those past their expiration go to
    /// `expired` instead (still counted as in flight until the session settles them).
    pub(crate) fn poll(&self, max: usize, now: i64, out: &mut Vec<FlowFile>, expired: &mut Vec<FlowFile>) -> usize {
        let expiration = self.config.read().expiration.as_millis() as i64;
        let mut taken = 0usize;
        {
            let mut q = self.queue.lock();
            release_penalized(&mut q, now, &self.config.read().prioritizers);
            self.swap_in(&mut q, now);
            while taken < max {
                let Some(ff) = pop(&mut q.active) else { break };
                taken += 1;
                if expiration > 0 && now - ff.entry_millis > expiration {
                    expired.push(ff);
                } else {
                    out.push(ff);
                }
            }
        }
        if taken > 0 {
            self.in_flight.fetch_add(taken as u64, Ordering::AcqRel);
        }
        taken
    }

    /// Settles flowfiles a session took: they leave the queue's counts for good.
    pub(crate) fn settle(&self, count: u64, bytes: u64) {
        if count == 0 {
            return;
        }
        let threshold = self.config.read().object_threshold;
        let before = self.count.fetch_sub(count, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.in_flight.fetch_sub(count, Ordering::AcqRel);
        if before >= threshold || self.queued_count() < threshold {
            self.source.wake();
        }
    }

    /// Whether a flowfile is ready now (not penalized); `Some(t)` = the earliest time one
    /// becomes ready when all are penalized.
    pub fn has_ready(&self, now: i64) -> Readiness {
        let q = self.queue.lock();
        if !is_empty(&q.active) || q.has_swapped() {
            return Readiness::Ready;
        }
        match q.penalized.peek() {
            Some(p) if p.0.penalty_until_millis <= now => Readiness::Ready,
            Some(p) => Readiness::At(p.0.penalty_until_millis),
            None => Readiness::Empty,
        }
    }

    /// A page of the queue in hand-out order (penalized ones last), without taking them.
    pub fn list(&self, offset: usize, limit: usize) -> Vec<FlowFile> {
        let q = self.queue.lock();
        let mut out = Vec::with_capacity(limit.min(1000));
        let iter: Box<dyn Iterator<Item = &FlowFile>> = match &q.active {
            Store::Fifo(v) => Box::new(v.iter()),
            Store::Ranked(h, _) => {
                let mut v: Vec<&Ranked> = h.iter().collect();
                v.sort_by(|a, b| b.cmp(a));
                Box::new(v.into_iter().map(|r| &r.ff).collect::<Vec<_>>().into_iter())
            }
        };
        let mut pen: Vec<&FlowFile> = q.penalized.iter().map(|p| &p.0).collect();
        pen.sort_by_key(|f| f.penalty_until_millis);
        // Hand-out order: active, then swap files (read only when the page reaches them),
        // then the overflow, then penalized ones.
        let mut skip = offset;
        let take = |items: &mut dyn Iterator<Item = FlowFile>, out: &mut Vec<FlowFile>, skip: &mut usize| {
            for ff in items {
                if out.len() >= limit {
                    return;
                }
                if *skip > 0 {
                    *skip -= 1;
                } else {
                    out.push(ff);
                }
            }
        };
        take(&mut iter.cloned(), &mut out, &mut skip);
        for f in &q.swapped {
            if out.len() >= limit {
                break;
            }
            if skip >= f.count {
                skip -= f.count;
                continue;
            }
            match self.swap.as_ref().map(|s| s.read(f)) {
                Some(Ok(items)) => take(&mut items.into_iter(), &mut out, &mut skip),
                Some(Err(e)) => tracing::warn!(connection = %self.id, "cannot read a swap file to list it: {e}"),
                None => {}
            }
        }
        take(&mut q.overflow.iter().cloned(), &mut out, &mut skip);
        take(&mut pen.into_iter().cloned(), &mut out, &mut skip);
        out
    }

    /// Finds a queued flowfile by id.
    pub fn find(&self, id: uuid::Uuid) -> Option<FlowFile> {
        let q = self.queue.lock();
        let hit = match &q.active {
            Store::Fifo(v) => v.iter().find(|f| f.id == id).cloned(),
            Store::Ranked(h, _) => h.iter().find(|r| r.ff.id == id).map(|r| r.ff.clone()),
        };
        hit.or_else(|| q.penalized.iter().find(|p| p.0.id == id).map(|p| p.0.clone()))
            .or_else(|| q.overflow.iter().find(|f| f.id == id).cloned())
            .or_else(|| {
                let swap = self.swap.as_ref()?;
                q.swapped.iter().find_map(|f| swap.read(f).ok()?.into_iter().find(|ff| ff.id == id))
            })
    }

    /// Removes everything not in a running session and returns it (the caller records
    /// the drops).
    pub fn drain(&self) -> Vec<FlowFile> {
        let prioritizers = self.config.read().prioritizers.clone();
        let mut q = self.queue.lock();
        let old = std::mem::replace(&mut q.active, store_for(&prioritizers));
        let mut out: Vec<FlowFile> = match old {
            Store::Fifo(v) => v.into_iter().collect(),
            Store::Ranked(h, _) => h.into_vec().into_iter().map(|r| r.ff).collect(),
        };
        if let Some(swap) = &self.swap {
            while let Some(f) = q.swapped.pop_front() {
                match swap.read(&f) {
                    Ok(items) => {
                        out.extend(items);
                        swap.discard(f);
                    }
                    Err(e) => {
                        // Left on disk and counted: the flowfile repository still has them,
                        // so they come back at the next start.
                        tracing::error!(connection = %self.id, "cannot read a swap file while emptying: {e}");
                        q.swapped.push_front(f);
                        break;
                    }
                }
            }
        }
        if q.swapped.is_empty() {
            out.append(&mut q.overflow);
        }
        out.extend(std::mem::take(&mut q.penalized).into_iter().map(|p| p.0));
        drop(q);
        let bytes: u64 = out.iter().map(|f| f.size()).sum();
        self.count.fetch_sub(out.len() as u64, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.source.wake();
        out
    }
}

impl Connection {
    /// Writes the overflow to a swap file. A failed write (a full disk) keeps the flowfiles
    /// in memory and pauses swapping for a second.
    fn swap_out(&self, q: &mut Queue, swap: &SwapSpace, now: i64) {
        match swap.write(&q.overflow) {
            Ok(f) => {
                q.overflow.clear();
                q.swapped.push_back(f);
            }
            Err(e) => {
                tracing::warn!(connection = %self.id, "cannot write a swap file, keeping flowfiles in memory: {e}");
                q.swap_retry_at = now + 1000;
            }
        }
    }

    /// Brings swapped flowfiles back once the in-memory part runs low, oldest first.
    fn swap_in(&self, q: &mut Queue, now: i64) {
        let Some(swap) = &self.swap else { return };
        // Called on every poll: return before touching the config unless there is work.
        if !q.has_swapped() || store_len(&q.active) >= swap.batch() {
            return;
        }
        let prioritizers = self.config.read().prioritizers.clone();
        while store_len(&q.active) < swap.batch() && q.has_swapped() {
            if let Some(f) = q.swapped.front() {
                match swap.read(f) {
                    Ok(items) => {
                        for ff in items {
                            push(&mut q.active, ff, &prioritizers, false);
                        }
                        let f = q.swapped.pop_front().expect("front exists");
                        swap.discard(f);
                    }
                    Err(e) => {
                        tracing::error!(connection = %self.id, "cannot read a swap file (its flowfiles return at the next start): {e}");
                        if now >= q.swap_retry_at {
                            q.swap_retry_at = now + 1000;
                        }
                        return;
                    }
                }
            } else {
                for ff in std::mem::take(&mut q.overflow) {
                    push(&mut q.active, ff, &prioritizers, false);
                }
            }
        }
    }
}

/// Whether a connection has work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// A flowfile can be taken now.
    Ready,
    /// Only penalized flowfiles, the first ready at this time.
    At(i64),
    /// Nothing queued.
    Empty,
}

fn store_for(prioritizers: &[Prioritizer]) -> Store {
    match prioritizers.first() {
        None | Some(Prioritizer::FirstInFirstOut) => Store::Fifo(VecDeque::new()),
        Some(_) => Store::Ranked(BinaryHeap::new(), 0),
    }
}

fn rank(ff: &FlowFile, prioritizers: &[Prioritizer]) -> (i64, String) {
    match prioritizers.first() {
        Some(Prioritizer::OldestFirst) => (ff.lineage_start_millis, String::new()),
        Some(Prioritizer::NewestFirst) => (-ff.lineage_start_millis, String::new()),
        Some(Prioritizer::PriorityAttribute) => match ff.attr("priority") {
            Some(p) => match p.trim().parse::<i64>() {
                Ok(n) => (n, String::new()),
                Err(_) => (i64::MAX - 1, p.to_string()),
            },
            None => (i64::MAX, String::new()),
        },
        _ => (0, String::new()),
    }
}

fn push(store: &mut Store, ff: FlowFile, prioritizers: &[Prioritizer], front: bool) {
    match store {
        Store::Fifo(v) => {
            if front {
                v.push_front(ff)
            } else {
                v.push_back(ff)
            }
        }
        Store::Ranked(h, seq) => {
            *seq += 1;
            let s = if front { 0 } else { *seq };
            h.push(Ranked { key: rank(&ff, prioritizers), seq: s, ff });
        }
    }
}

fn pop(store: &mut Store) -> Option<FlowFile> {
    match store {
        Store::Fifo(v) => v.pop_front(),
        Store::Ranked(h, _) => h.pop().map(|r| r.ff),
    }
}

fn store_len(store: &Store) -> usize {
    match store {
        Store::Fifo(v) => v.len(),
        Store::Ranked(h, _) => h.len(),
    }
}

fn is_empty(store: &Store) -> bool {
    match store {
        Store::Fifo(v) => v.is_empty(),
        Store::Ranked(h, _) => h.is_empty(),
    }
}

fn release_penalized(q: &mut Queue, now: i64, prioritizers: &[Prioritizer]) {
    while q.penalized.peek().is_some_and(|p| p.0.penalty_until_millis <= now) {
        let ff = q.penalized.pop().expect("peeked").0;
        push(&mut q.active, ff, prioritizers, false);
    }
}
