//! The durable flowfile repository: a write-ahead log with group commit, checkpointed in
//! the background.
//!
//! ## How a commit travels
//! A committing thread encodes its record (the queue changes and the provenance events of
//! the commit) on its own core, then, under a short lock, takes the next sequence number and
//! appends the record to the pending batch, and waits. One writer thread takes the whole
//! batch, frames and checksums it, and writes it with a single positioned `write` (in
//! `fsync` mode: after asking the content repository to sync, and followed by one
//! `fdatasync`). Then it wakes every committer of the group. While it writes, the next group
//! forms, so a lone commit waits for one write only and a busy system writes big groups.
//!
//! ## Failure
//! A failed write (a full disk among others) fails every commit of its group and is cut off
//! the log again (`ftruncate` to the last good end). If even that fails, the writer moves on
//! to a new log file whose header records where the old one validly ends.
//!
//! ## Checkpoints
//! When enough log has been written since the last checkpoint (or enough time has passed),
//! the writer starts a new log file and captures the queued flowfiles from its in-memory
//! index at that exact point; a background thread writes them as a snapshot (temp, sync,
//! rename) and deletes log files the snapshot covers, except those holding provenance events
//! above the provenance watermark ([`FlowFileRepository::provenance_persisted`]).
//!
//! ## Files (in the repository directory)
//! - `log-NNNNNNNNNN.wal`: log files, numbered in order;
//! - `checkpoint-SSSSSSSSSSSSSSSSSSSS.snap`: the newest snapshot, named by the seq it reflects.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, RwLock};
use sluice_provenance::{ContentRef, ProvenanceEvent};
use uuid::Uuid;

use super::checkpoint::{self, SnapshotHeader};
use super::index::{QueueIndex, QueueView};
use super::record::{self, FxBuild};
use super::recovery;
use super::{Durability, FlowFileRepository, Recovered, RepoChange, RepoError};
use crate::content::ContentRepository;
use crate::flowfile::FlowFile;

/// Settings of the write-ahead log.
#[derive(Clone, Debug)]
pub struct WalConfig {
    /// When a commit returns: written to the OS (`Os`), or synced to the device (`Fsync`).
    /// `Memory` behaves as `Os` here (use [`super::MemoryFlowFileRepository`] to persist nothing).
    pub durability: Durability,
    /// A log file is closed and a new one started once it is this large.
    pub max_log_file_bytes: u64,
    /// A checkpoint is taken once this many log bytes were written since the last one.
    pub checkpoint_log_bytes: u64,
    /// A checkpoint is also taken this long after the last one if anything was committed
    /// and the log written since is at least a quarter of the last snapshot's size.
    pub checkpoint_interval: Duration,
}

impl WalConfig {
    /// Defaults for `durability`: 64 MiB log files, a checkpoint every 64 MiB of log or
    /// every minute.
    pub fn new(durability: Durability) -> Self {
        WalConfig {
            durability,
            max_log_file_bytes: 64 << 20,
            checkpoint_log_bytes: 64 << 20,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        Self::new(Durability::Os)
    }
}

/// Counters of the write-ahead log, for status and benchmarks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WalStats {
    /// Commits written.
    pub commits: u64,
    /// Group writes (each one `write`, and one `fdatasync` in `fsync` mode).
    pub groups: u64,
    /// Group writes that failed (their commits returned an error).
    pub failed_groups: u64,
    /// Log bytes written.
    pub log_bytes: u64,
    /// Checkpoints completed.
    pub checkpoints: u64,
    /// How long the last checkpoint held up commits (capturing the queued flowfiles), in µs.
    pub checkpoint_stall_micros: u64,
    /// Flowfiles queued according to the log.
    pub queued: u64,
    /// Log files on disk.
    pub log_files: usize,
}

/// Receives the provenance events of every durable commit, in sequence order.
pub type ProvenanceSink = Box<dyn Fn(u64, Vec<ProvenanceEvent>) + Send + Sync>;

/// Queue names and the numbers the log and the index use for them.
#[derive(Default)]
pub(crate) struct QueueTable {
    pub(crate) map: HashMap<Arc<str>, u32, FxBuild>,
    pub(crate) names: Vec<Arc<str>>,
}

/// What the repository knows about one log file (for deletion and disk usage).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogInfo {
    /// Valid bytes.
    pub bytes: u64,
    /// Highest seq in it.
    pub max_seq: u64,
    /// Highest seq in it whose commit carried provenance events (0: none).
    pub max_event_seq: u64,
}

#[derive(Default)]
struct Files {
    logs: BTreeMap<u64, LogInfo>,
    snapshot: Option<(PathBuf, u64, SnapshotHeader)>,
}

type GroupResult = Result<(), (io::ErrorKind, String)>;

/// Where the committers of one group wait for its outcome.
struct GroupSlot {
    done: Mutex<Option<GroupResult>>,
    cv: Condvar,
}

impl GroupSlot {
    fn new() -> Arc<Self> {
        Arc::new(GroupSlot { done: Mutex::new(None), cv: Condvar::new() })
    }

    fn finish(&self, r: GroupResult) {
        *self.done.lock() = Some(r);
        self.cv.notify_all();
    }

    fn wait(&self) -> GroupResult {
        let mut g = self.done.lock();
        loop {
            if let Some(r) = &*g {
                return r.clone();
            }
            self.cv.wait(&mut g);
        }
    }
}

enum IndexOp {
    Enqueue(u32, FlowFile),
    Dequeue(u32, Uuid),
}

struct Pending {
    seq: u64,
    body: Vec<u8>,
    ops: Vec<IndexOp>,
    has_events: bool,
    /// A copy of the events for the provenance sink, if one is set.
    events: Option<Vec<ProvenanceEvent>>,
}

struct Intake {
    next_seq: u64,
    batch: Vec<Pending>,
    slot: Arc<GroupSlot>,
    writer_idle: bool,
    shutdown: bool,
    checkpoint_requests: Vec<Sender<Result<(), String>>>,
}

struct Shared {
    dir: PathBuf,
    config: WalConfig,
    content: Option<Arc<ContentRepository>>,
    intake: Mutex<Intake>,
    intake_cv: Condvar,
    queues: RwLock<QueueTable>,
    /// Provenance has persisted the events of every commit up to here.
    watermark: AtomicU64,
    files: Mutex<Files>,
    sink: RwLock<Option<Arc<ProvenanceSink>>>,
    has_sink: AtomicBool,
    checkpoint_busy: AtomicBool,
    commits: AtomicU64,
    groups: AtomicU64,
    failed_groups: AtomicU64,
    log_bytes: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_stall_micros: AtomicU64,
    queued: AtomicU64,
}

impl Shared {
    fn queue_no(&self, name: &str) -> u32 {
        if let Some(&n) = self.queues.read().map.get(name) {
            return n;
        }
        let mut t = self.queues.write();
        if let Some(&n) = t.map.get(name) {
            return n;
        }
        let n = t.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        t.names.push(name.clone());
        t.map.insert(name, n);
        n
    }
}

/// The durable flowfile repository (see the module documentation).
pub struct WalRepository {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for WalRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalRepository").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

/// The path of log file `no`.
pub(crate) fn log_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("log-{no:010}.wal"))
}

/// The number of a log file name written by [`log_path`].
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?.strip_suffix(".wal")?.parse().ok()
}

impl WalRepository {
    /// Opens (or creates) the repository in `dir` and recovers what it holds.
    ///
    /// - `content`: the content repository; recovered flowfiles get their claims back through
    ///   it (so their segments are referenced again), and in `fsync` mode it is synced before
    ///   every group sync.
    /// - `provenance_watermark`: `Some(seq)` when provenance is on — the seq up to which the
    ///   provenance store has persisted events (its `durable_wal_seq()`); the events of later
    ///   commits are returned in [`Recovered::provenance`] for re-submission, and log files
    ///   holding such events are kept until [`FlowFileRepository::provenance_persisted`] passes
    ///   them. `None` when provenance is off: events are neither returned nor kept.
    ///
    /// New sequence numbers continue above both the log's and the watermark.
    pub fn open(
        dir: &Path,
        config: WalConfig,
        content: &Arc<ContentRepository>,
        provenance_watermark: Option<u64>,
    ) -> Result<(Arc<WalRepository>, Recovered), RepoError> {
        Self::open_inner(dir, config, Some(content.clone()), provenance_watermark)
    }

    fn open_inner(
        dir: &Path,
        config: WalConfig,
        content: Option<Arc<ContentRepository>>,
        provenance_watermark: Option<u64>,
    ) -> Result<(Arc<WalRepository>, Recovered), RepoError> {
        let started = Instant::now();
        std::fs::create_dir_all(dir)?;
        let watermark = provenance_watermark.unwrap_or(u64::MAX);
        let scratch;
        let content_repo = match &content {
            Some(c) => c,
            None => {
                scratch = ContentRepository::in_memory();
                &scratch
            }
        };
        let claim = |loc: ContentRef| content_repo.claim_existing(loc);
        let rec = recovery::recover(dir, &claim, watermark)?;
        for path in &rec.stale {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(file = %path.display(), error = %e, "could not remove a stale checkpoint file");
            }
        }
        let (last_no, last_len) = rec.last_log.unwrap_or((0, u64::MAX));
        let mut logs = rec.logs;
        let (ck_tx, ck_rx) = crossbeam_channel::unbounded();
        let log = LogWriter::start(dir, last_no + 1, last_len, &config, rec.last_seq, rec.replayed_bytes, ck_tx)?;
        logs.insert(log.no, LogInfo { bytes: log.end, ..Default::default() });
        let queued = rec.index.len() as u64;
        let recovered = Recovered {
            queues: rec
                .index
                .capture(&rec.table.names)
                .into_iter()
                .map(|(name, view)| (name.to_string(), view.iter().cloned().collect()))
                .collect(),
            provenance: rec.provenance,
            last_seq: rec.last_seq,
        };
        let next_seq = rec.last_seq.max(provenance_watermark.unwrap_or(0)) + 1;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            config,
            content,
            intake: Mutex::new(Intake {
                next_seq,
                batch: Vec::new(),
                slot: GroupSlot::new(),
                writer_idle: false,
                shutdown: false,
                checkpoint_requests: Vec::new(),
            }),
            intake_cv: Condvar::new(),
            queues: RwLock::new(rec.table),
            watermark: AtomicU64::new(watermark),
            files: Mutex::new(Files { logs, snapshot: rec.snapshot }),
            sink: RwLock::new(None),
            has_sink: AtomicBool::new(false),
            checkpoint_busy: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            failed_groups: AtomicU64::new(0),
            log_bytes: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_stall_micros: AtomicU64::new(0),
            queued: AtomicU64::new(queued),
        });
        cleanup_logs(&shared);
        let s = shared.clone();
        let index = rec.index;
        let writer =
            std::thread::Builder::new().name("sluice-wal-writer".into()).spawn(move || writer_main(s, log, index))?;
        let s = shared.clone();
        let checkpointer =
            std::thread::Builder::new().name("sluice-wal-checkpoint".into()).spawn(move || checkpoint_main(s, ck_rx));
        let checkpointer = match checkpointer {
            Ok(h) => h,
            Err(e) => {
                shared.intake.lock().shutdown = true;
                shared.intake_cv.notify_all();
                let _ = writer.join();
                return Err(e.into());
            }
        };
        tracing::info!(
            dir = %dir.display(),
            queued,
            last_seq = recovered.last_seq,
            provenance_batches = recovered.provenance.len(),
            millis = started.elapsed().as_millis() as u64,
            "flowfile repository recovered"
        );
        let repo = Arc::new(WalRepository {
            shared,
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some(checkpointer)),
        });
        Ok((repo, recovered))
    }

    /// Takes a checkpoint now and waits until the snapshot is in place and covered log
    /// files are deleted (shutdown, tests).
    pub fn checkpoint(&self) -> Result<(), RepoError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        {
            let mut g = self.shared.intake.lock();
            if g.shutdown {
                return Err(closed());
            }
            g.checkpoint_requests.push(tx);
        }
        self.shared.intake_cv.notify_all();
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(RepoError::Io(io::Error::other(format!("checkpoint failed: {msg}")))),
            Err(_) => Err(closed()),
        }
    }

    /// Hands the provenance events of every durable commit to `sink`, in sequence order,
    /// from the writer thread (after the commit's callers are woken).
    ///
    /// Submitting events in log order is what makes a provenance watermark ("every event up
    /// to seq N is persisted") sound; sessions that submit after `commit` returns can race.
    /// The sink may block (provenance back pressure): commits then wait, nothing is dropped.
    /// When a sink is set, callers must not submit the events themselves.
    pub fn set_provenance_sink(&self, sink: ProvenanceSink) {
        *self.shared.sink.write() = Some(Arc::new(sink));
        self.shared.has_sink.store(true, Ordering::Release);
    }

    /// Current counters.
    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        WalStats {
            commits: s.commits.load(Ordering::Relaxed),
            groups: s.groups.load(Ordering::Relaxed),
            failed_groups: s.failed_groups.load(Ordering::Relaxed),
            log_bytes: s.log_bytes.load(Ordering::Relaxed),
            checkpoints: s.checkpoints.load(Ordering::Relaxed),
            checkpoint_stall_micros: s.checkpoint_stall_micros.load(Ordering::Relaxed),
            queued: s.queued.load(Ordering::Relaxed),
            log_files: s.files.lock().logs.len(),
        }
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

/// Opens `dir` without a content repository (see [`super::open_durable`]).
pub(crate) fn open_detached(dir: &Path, durability: Durability) -> Result<(Arc<WalRepository>, Recovered), RepoError> {
    WalRepository::open_inner(dir, WalConfig::new(durability), None, None)
}

fn closed() -> RepoError {
    RepoError::Io(io::Error::other("flowfile repository is closed"))
}

/// A commit's encoded record body and the index operations it carries.
type Prepared = (Vec<u8>, Vec<IndexOp>);

impl WalRepository {
    /// Encodes a commit's record and index operations; `None` for an empty commit.
    fn prepare<'c>(
        &self,
        changes: &[RepoChange<'c>],
        events: &[ProvenanceEvent],
    ) -> Result<Option<Prepared>, RepoError> {
        let s = &self.shared;
        if changes.is_empty() && events.is_empty() {
            return Ok(None);
        }
        let mut body = Vec::with_capacity(32 + changes.len() * 160 + events.len() * 120);
        record::encode_commit_body(&mut body, changes, events);
        if body.len() + record::COMMIT_PREFIX > record::MAX_FRAME {
            return Err(RepoError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("commit record of {} bytes is larger than the 1 GiB limit", body.len()),
            )));
        }
        // Sessions touch few queues: remember the last one looked up.
        let mut last: Option<(&str, u32)> = None;
        let mut number = |q: &'c str| match last {
            Some((name, n)) if std::ptr::eq(name, q) || name == q => n,
            _ => {
                let n = s.queue_no(q);
                last = Some((q, n));
                n
            }
        };
        let ops: Vec<IndexOp> = changes
            .iter()
            .map(|c| match c {
                RepoChange::Enqueue { queue, flowfile } => IndexOp::Enqueue(number(queue), (*flowfile).clone()),
                RepoChange::Dequeue { queue, id } => IndexOp::Dequeue(number(queue), *id),
            })
            .collect();
        Ok(Some((body, ops)))
    }

    /// Queues an encoded commit for the writer and waits until it is as durable as promised.
    fn submit(
        &self,
        body: Vec<u8>,
        ops: Vec<IndexOp>,
        has_events: bool,
        copy: Option<Vec<ProvenanceEvent>>,
    ) -> Result<u64, RepoError> {
        let s = &self.shared;
        let (seq, slot) = {
            let mut g = s.intake.lock();
            if g.shutdown {
                return Err(closed());
            }
            let seq = g.next_seq;
            g.next_seq += 1;
            g.batch.push(Pending { seq, body, ops, has_events, events: copy });
            if g.writer_idle {
                s.intake_cv.notify_one();
            }
            (seq, g.slot.clone())
        };
        match slot.wait() {
            Ok(()) => Ok(seq),
            Err((kind, msg)) => Err(RepoError::Io(io::Error::new(kind, msg))),
        }
    }
}

impl FlowFileRepository for WalRepository {
    fn commit(&self, changes: &[RepoChange<'_>], events: &[ProvenanceEvent]) -> Result<u64, RepoError> {
        let Some((body, ops)) = self.prepare(changes, events)? else {
            return Ok(self.shared.intake.lock().next_seq - 1);
        };
        let copy = (!events.is_empty() && self.shared.has_sink.load(Ordering::Acquire)).then(|| events.to_vec());
        self.submit(body, ops, !events.is_empty(), copy)
    }

    fn commit_owned(
        &self,
        changes: &[RepoChange<'_>],
        events: Vec<ProvenanceEvent>,
    ) -> Result<(u64, Vec<ProvenanceEvent>), RepoError> {
        if events.is_empty() || !self.shared.has_sink.load(Ordering::Acquire) {
            return Ok((self.commit(changes, &events)?, events));
        }
        let (body, ops) = self.prepare(changes, &events)?.expect("a commit with events is not empty");
        // The events go on to provenance with the record: moved, not copied.
        Ok((self.submit(body, ops, true, Some(events))?, Vec::new()))
    }

    fn durability(&self) -> Durability {
        self.shared.config.durability
    }

    fn provenance_persisted(&self, seq: u64) {
        self.shared.watermark.fetch_max(seq, Ordering::AcqRel);
    }

    fn disk_bytes(&self) -> u64 {
        let f = self.shared.files.lock();
        f.logs.values().map(|l| l.bytes).sum::<u64>() + f.snapshot.as_ref().map_or(0, |(_, size, _)| *size)
    }
}

impl Drop for WalRepository {
    fn drop(&mut self) {
        self.shared.intake.lock().shutdown = true;
        self.shared.intake_cv.notify_all();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
        if let Some(h) = self.checkpointer.lock().take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The log writer

struct LogWriter {
    dir: PathBuf,
    file: File,
    no: u64,
    /// Valid length of the current file: the next group is written here.
    end: u64,
    /// The current file may hold garbage past `end`: start a new one before writing.
    need_rotate: bool,
    sync: bool,
    max_file_bytes: u64,
    buf: Vec<u8>,
    /// Highest seq written.
    last_seq: u64,
    since_checkpoint: u64,
    /// The background thread, which syncs closed files in `os` mode.
    background: Sender<Job>,
}

impl LogWriter {
    fn start(
        dir: &Path,
        no: u64,
        prev_len: u64,
        config: &WalConfig,
        last_seq: u64,
        replayed: u64,
        background: Sender<Job>,
    ) -> io::Result<Self> {
        let (file, end) = create_log(dir, no, prev_len, true)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file,
            no,
            end,
            need_rotate: false,
            sync: config.durability == Durability::Fsync,
            max_file_bytes: config.max_log_file_bytes,
            buf: Vec::new(),
            last_seq,
            since_checkpoint: replayed,
            background,
        })
    }

    /// Writes one group; on error nothing of it stays in the log.
    fn append(&mut self, batch: &[Pending], shared: &Shared) -> io::Result<()> {
        if self.need_rotate {
            self.rotate(shared)?;
        } else if self.end >= self.max_file_bytes {
            // A full file can still take this group if a new one cannot be made now.
            if let Err(e) = self.rotate(shared) {
                tracing::warn!(error = %e, "could not start a new flowfile log file; appending to the current one");
            }
        }
        self.buf.clear();
        for p in batch {
            record::encode_commit_frame(&mut self.buf, p.seq, &p.body)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        }
        if self.sync
            && let Some(c) = &shared.content
        {
            c.sync()?;
        }
        let written = self
            .file
            .write_all_at(&self.buf, self.end)
            .and_then(|()| if self.sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            self.undo();
            return Err(e);
        }
        let len = self.buf.len() as u64;
        self.end += len;
        self.since_checkpoint += len;
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new();
        }
        let last = batch.last().map_or(self.last_seq, |p| p.seq);
        self.last_seq = last;
        let max_event = batch.iter().rev().find(|p| p.has_events).map(|p| p.seq);
        shared.log_bytes.fetch_add(len, Ordering::Relaxed);
        let mut files = shared.files.lock();
        let info = files.logs.entry(self.no).or_default();
        info.bytes = self.end;
        info.max_seq = last;
        if let Some(m) = max_event {
            info.max_event_seq = m;
        }
        Ok(())
    }

    /// Cuts a failed group off the log; if that fails, makes the next write go to a new file.
    fn undo(&mut self) {
        if let Err(e) = self.file.set_len(self.end) {
            tracing::error!(file = self.no, error = %e, "could not cut a failed write off the flowfile log; starting a new log file");
            // Best effort: break the first frame of the failed group so it cannot be read.
            let _ = self.file.write_all_at(&[0u8; record::FRAME_HEADER], self.end);
            self.need_rotate = true;
        }
    }

    /// Closes the current file (cut to its valid length) and starts the next.
    ///
    /// In `fsync` mode the old file is already synced (every group is) and the new one is
    /// synced with its directory entry before anything is written to it. In `os` mode those
    /// syncs (which flush up to a whole file of dirty pages) run on the background thread, so
    /// that commits do not stall behind them.
    fn rotate(&mut self, shared: &Shared) -> io::Result<()> {
        if let Err(e) = self.file.set_len(self.end) {
            tracing::warn!(file = self.no, error = %e, "could not trim the flowfile log; the next file records its length");
        }
        if self.sync {
            self.file.sync_data()?;
        }
        let no = self.no + 1;
        let (file, end) = create_log(&self.dir, no, self.end, self.sync)?;
        let old = std::mem::replace(&mut self.file, file);
        if !self.sync {
            let new = self.file.try_clone();
            match new {
                Ok(new) => {
                    let _ = self.background.send(Job::SyncLogs { old, new });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not hand a log file to the background sync")
                }
            }
        }
        self.no = no;
        self.end = end;
        self.need_rotate = false;
        shared.files.lock().logs.insert(no, LogInfo { bytes: end, ..Default::default() });
        Ok(())
    }
}

/// Creates log file `no` with its header (synced, with the directory, if `sync`).
fn create_log(dir: &Path, no: u64, prev_len: u64, sync: bool) -> io::Result<(File, u64)> {
    let path = log_path(dir, no);
    let mut header = Vec::with_capacity(48);
    record::encode_log_header(&mut header, no, prev_len)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let made = (|| {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        file.write_all_at(&header, 0)?;
        if sync {
            file.sync_all()?;
            checkpoint::sync_dir(dir)?;
        }
        Ok(file)
    })();
    match made {
        Ok(file) => Ok((file, header.len() as u64)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Fails whatever is in flight if the writer thread ends (normally or by a panic).
struct WriterGuard {
    shared: Arc<Shared>,
    inflight: Option<Arc<GroupSlot>>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let err = Err((io::ErrorKind::Other, "flowfile repository writer stopped".to_string()));
        if let Some(slot) = self.inflight.take() {
            slot.finish(err.clone());
        }
        let mut g = self.shared.intake.lock();
        g.shutdown = true;
        g.batch.clear();
        g.slot.finish(err);
        for r in g.checkpoint_requests.drain(..) {
            let _ = r.send(Err("flowfile repository is closed".into()));
        }
    }
}

/// Work for the background thread.
enum Job {
    /// Write a snapshot of `queues`, then delete covered log files.
    Snapshot { header: SnapshotHeader, queues: Vec<(Arc<str>, QueueView)>, replies: Vec<Sender<Result<(), String>>> },
    /// Sync a closed log file, its successor and the directory (`os` mode).
    SyncLogs { old: File, new: File },
}

fn writer_main(shared: Arc<Shared>, mut log: LogWriter, mut index: QueueIndex) {
    let ck = log.background.clone();
    let mut guard = WriterGuard { shared: shared.clone(), inflight: None };
    let mut last_checkpoint = Instant::now();
    let mut retry_after = Instant::now();
    let mut dirty = false;
    loop {
        let (mut batch, requests, shutdown) = {
            let mut g = shared.intake.lock();
            while g.batch.is_empty() && g.checkpoint_requests.is_empty() && !g.shutdown {
                g.writer_idle = true;
                let timeout = shared.intake_cv.wait_for(&mut g, Duration::from_millis(200)).timed_out();
                g.writer_idle = false;
                if timeout {
                    break;
                }
            }
            let batch = std::mem::take(&mut g.batch);
            if !batch.is_empty() {
                guard.inflight = Some(std::mem::replace(&mut g.slot, GroupSlot::new()));
            }
            (batch, std::mem::take(&mut g.checkpoint_requests), g.shutdown)
        };
        if let Some(slot) = guard.inflight.take() {
            match log.append(&batch, &shared) {
                Ok(()) => {
                    // The group is written: release its committers first, then bring this
                    // thread's queue index up to date (only this thread reads it, for
                    // checkpoints, in order), so that the index work is not in their latency.
                    shared.commits.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    shared.groups.fetch_add(1, Ordering::Relaxed);
                    // What the index will hold (set exactly again once applied).
                    let delta: i64 = batch
                        .iter()
                        .flat_map(|p| &p.ops)
                        .map(|op| if matches!(op, IndexOp::Enqueue(..)) { 1 } else { -1 })
                        .sum();
                    shared.queued.store((index.len() as i64 + delta).max(0) as u64, Ordering::Relaxed);
                    slot.finish(Ok(()));
                    for p in &mut batch {
                        for op in p.ops.drain(..) {
                            match op {
                                IndexOp::Enqueue(q, ff) => index.enqueue(q, ff),
                                IndexOp::Dequeue(q, id) => {
                                    index.dequeue(q, id);
                                }
                            }
                        }
                    }
                    shared.queued.store(index.len() as u64, Ordering::Relaxed);
                    dirty = true;
                    let sink = shared.sink.read().clone();
                    if let Some(sink) = sink {
                        for p in &mut batch {
                            if let Some(events) = p.events.take() {
                                sink(p.seq, events);
                            }
                        }
                    }
                }
                Err(e) => {
                    shared.failed_groups.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, commits = batch.len(), "flowfile repository write failed; the commits are rolled back");
                    slot.finish(Err((e.kind(), e.to_string())));
                }
            }
        }
        drop(batch);
        // By time only once the log since the last snapshot is a quarter of its size, so a
        // big, quiet backlog is not rewritten every interval.
        let due = !shared.checkpoint_busy.load(Ordering::Acquire)
            && Instant::now() >= retry_after
            && (log.since_checkpoint >= shared.config.checkpoint_log_bytes
                || (dirty
                    && last_checkpoint.elapsed() >= shared.config.checkpoint_interval
                    && log.since_checkpoint.saturating_mul(4) >= snapshot_bytes(&shared)));
        if (due && !shutdown) || !requests.is_empty() {
            let stall = Instant::now();
            match log.rotate(&shared) {
                Ok(()) => {
                    let names = shared.queues.read().names.clone();
                    let job = Job::Snapshot {
                        header: SnapshotHeader { seq: log.last_seq, first_log: log.no },
                        queues: index.capture(&names),
                        replies: requests,
                    };
                    shared.checkpoint_busy.store(true, Ordering::Release);
                    shared.checkpoint_stall_micros.store(stall.elapsed().as_micros() as u64, Ordering::Relaxed);
                    if let Err(e) = ck.send(job) {
                        shared.checkpoint_busy.store(false, Ordering::Release);
                        if let Job::Snapshot { replies, .. } = e.0 {
                            for r in replies {
                                let _ = r.send(Err("checkpoint thread stopped".into()));
                            }
                        }
                    }
                    log.since_checkpoint = 0;
                    last_checkpoint = Instant::now();
                    dirty = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not start a checkpoint (new log file); will retry");
                    retry_after = Instant::now() + Duration::from_secs(1);
                    for r in requests {
                        let _ = r.send(Err(e.to_string()));
                    }
                }
            }
        }
        if shutdown && shared.intake.lock().batch.is_empty() {
            break;
        }
    }
    drop(guard);
}

// ---------------------------------------------------------------------------------------
// The checkpoint thread

fn checkpoint_main(shared: Arc<Shared>, jobs: Receiver<Job>) {
    let mut cleaned_at = shared.watermark.load(Ordering::Acquire);
    loop {
        match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(Job::SyncLogs { old, new }) => {
                let synced =
                    old.sync_data().and_then(|()| new.sync_all()).and_then(|()| checkpoint::sync_dir(&shared.dir));
                if let Err(e) = synced {
                    tracing::warn!(error = %e, "could not sync a closed flowfile log file");
                }
            }
            Ok(Job::Snapshot { header, queues, replies }) => {
                let result = run_checkpoint(&shared, header, queues);
                shared.checkpoint_busy.store(false, Ordering::Release);
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "flowfile repository checkpoint failed; will retry");
                }
                for r in replies {
                    let _ = r.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                }
                cleaned_at = shared.watermark.load(Ordering::Acquire);
            }
            Err(RecvTimeoutError::Timeout) => {
                let w = shared.watermark.load(Ordering::Acquire);
                if w != cleaned_at {
                    cleanup_logs(&shared);
                    cleaned_at = w;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

fn run_checkpoint(shared: &Shared, header: SnapshotHeader, queues: Vec<(Arc<str>, QueueView)>) -> io::Result<()> {
    let started = Instant::now();
    let count: usize = queues.iter().map(|(_, v)| v.len()).sum();
    let (path, size) = checkpoint::write_snapshot(&shared.dir, header, &queues)?;
    drop(queues);
    let old = shared.files.lock().snapshot.replace((path.clone(), size, header));
    if let Some((old_path, _, _)) = old
        && old_path != path
        && let Err(e) = std::fs::remove_file(&old_path)
    {
        tracing::warn!(file = %old_path.display(), error = %e, "could not remove an old checkpoint");
    }
    cleanup_logs(shared);
    shared.checkpoints.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        seq = header.seq,
        flowfiles = count,
        bytes = size,
        millis = started.elapsed().as_millis() as u64,
        "flowfile repository checkpoint written"
    );
    Ok(())
}

fn snapshot_bytes(shared: &Shared) -> u64 {
    shared.files.lock().snapshot.as_ref().map_or(0, |(_, size, _)| *size)
}

/// Deletes log files that the snapshot covers and whose provenance events are persisted.
fn cleanup_logs(shared: &Shared) {
    let watermark = shared.watermark.load(Ordering::Acquire);
    let doomed: Vec<u64> = {
        let mut files = shared.files.lock();
        let Some(first_log) = files.snapshot.as_ref().map(|(_, _, h)| h.first_log) else {
            return;
        };
        let doomed: Vec<u64> = files
            .logs
            .range(..first_log)
            .filter(|(_, info)| info.max_event_seq <= watermark)
            .map(|(no, _)| *no)
            .collect();
        for no in &doomed {
            files.logs.remove(no);
        }
        doomed
    };
    for no in doomed {
        let path = log_path(&shared.dir, no);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not remove an old log file")
            }
        }
    }
}
