//! Tests of the durable flowfile repository against real files in temporary directories.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_provenance::{ContentRef, EventType, ProvenanceEvent};
use uuid::Uuid;

use super::record::{self, Frame};
use super::*;
use crate::attributes::Attributes;
use crate::content::{Content, ContentRepository};
use crate::flowfile::FlowFile;

// ---------------------------------------------------------------------------------------
// Helpers

fn config(durability: Durability) -> WalConfig {
    WalConfig::new(durability)
}

/// A config that never checkpoints on its own.
fn no_auto_checkpoint(durability: Durability) -> WalConfig {
    WalConfig {
        checkpoint_log_bytes: u64::MAX,
        checkpoint_interval: Duration::from_secs(1 << 30),
        ..WalConfig::new(durability)
    }
}

fn open(dir: &Path, cfg: WalConfig, watermark: Option<u64>) -> (Arc<WalRepository>, Recovered) {
    WalRepository::open(dir, cfg, &ContentRepository::in_memory(), watermark).expect("open repository")
}

/// A flowfile whose every field depends on `n`, with each kind of content.
fn flowfile(n: u64, content: &ContentRepository) -> FlowFile {
    let c = match n % 3 {
        0 => Content::Empty,
        1 => Content::Memory(Bytes::from(format!("inline content {n}"))),
        _ => content.claim_existing(ContentRef { segment: n % 7 + 1, offset: n * 100, len: n + 1 }),
    };
    let mut ff = FlowFile::new(c);
    ff.id = Uuid::from_u128(0xA000_0000_0000_0000_0000_0000_0000_0000 | u128::from(n));
    let id = ff.id.to_string();
    ff.attributes = Attributes::from_pairs([
        ("uuid", id.as_str()),
        ("filename", id.as_str()),
        ("path", "./"),
        ("n", &n.to_string()),
        ("mime.type", if n.is_multiple_of(2) { "text/plain" } else { "application/json" }),
    ]);
    ff.entry_millis = 1_700_000_000_000 + n as i64;
    ff.lineage_start_millis = ff.entry_millis - 5;
    ff.queued_millis = ff.entry_millis + 7;
    ff.penalty_until_millis = if n.is_multiple_of(4) { ff.entry_millis + 30_000 } else { 0 };
    ff.retry_count = (n % 5) as u32;
    ff
}

fn event(n: u64, flowfile: Uuid) -> ProvenanceEvent {
    ProvenanceEvent {
        id: n,
        event_type: EventType::Route,
        timestamp_millis: 1_700_000_000_000 + n as i64,
        duration_millis: n % 3,
        flowfile_uuid: flowfile,
        parent_uuids: Vec::new(),
        child_uuids: if n.is_multiple_of(2) { vec![Uuid::from_u128(u128::from(n) + 1)] } else { Vec::new() },
        component_id: Arc::from("proc-1"),
        component_type: Arc::from("UpdateAttribute"),
        component_name: Arc::from("Update"),
        relationship: Some(Arc::from("success")),
        details: n.is_multiple_of(3).then(|| format!("details {n}")),
        transit_uri: None,
        previous_attributes: None,
        updated_attributes: Arc::new(vec![("n".into(), n.to_string().into())]),
        previous_content: None,
        updated_content: Some(ContentRef { segment: 1, offset: n, len: 3 }),
        size: 3,
        lineage_start_millis: 1_700_000_000_000,
        flow_revision: Arc::from("r1"),
        source_queue_id: Some(Arc::from("q0")),
    }
}

/// Everything about a flowfile that the repository must keep, as text (good diffs).
fn fingerprint(ff: &FlowFile) -> String {
    let content = match &ff.content {
        Content::Empty => "empty".to_string(),
        Content::Memory(b) => format!("memory {:?}", b),
        Content::Stored(c) => format!("stored {:?}", c.location()),
    };
    format!(
        "{} {:?} {} entry={} lineage={} queued={} penalty={} retry={} slot={}",
        ff.id,
        ff.attributes.iter().collect::<Vec<_>>(),
        content,
        ff.entry_millis,
        ff.lineage_start_millis,
        ff.queued_millis,
        ff.penalty_until_millis,
        ff.retry_count,
        ff.session_slot
    )
}

/// The expected queue state, changed exactly as the repository's index is.
#[derive(Default, Clone)]
struct Model {
    queues: BTreeMap<String, Vec<FlowFile>>,
}

impl Model {
    fn apply(&mut self, changes: &[RepoChange<'_>]) {
        for c in changes {
            match c {
                RepoChange::Enqueue { queue, flowfile } => {
                    let q = self.queues.entry(queue.to_string()).or_default();
                    q.retain(|f| f.id != flowfile.id);
                    let mut f = (*flowfile).clone();
                    f.session_slot = u32::MAX;
                    q.push(f);
                }
                RepoChange::Dequeue { queue, id } => {
                    if let Some(q) = self.queues.get_mut(*queue) {
                        q.retain(|f| f.id != *id);
                    }
                }
            }
        }
    }

    fn view(&self) -> BTreeMap<String, Vec<String>> {
        self.queues
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.iter().map(fingerprint).collect()))
            .collect()
    }
}

fn view(r: &Recovered) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (q, ffs) in &r.queues {
        assert!(!ffs.is_empty(), "recovery returned an empty queue {q}");
        assert!(out.insert(q.clone(), ffs.iter().map(fingerprint).collect()).is_none(), "queue {q} returned twice");
    }
    out
}

/// One step of a deterministic workload: new flowfiles, moves, drops, in-place re-enqueues.
struct Workload {
    rng: u64,
    next: u64,
    content: Arc<ContentRepository>,
}

impl Workload {
    fn new(seed: u64) -> Self {
        Workload { rng: seed, next: 0, content: ContentRepository::in_memory() }
    }

    fn rand(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n.max(1)
    }

    /// Commits one random change set to `repo` and `model`; returns the seq.
    fn step(&mut self, repo: &WalRepository, model: &mut Model, with_events: bool) -> u64 {
        const QUEUES: [&str; 4] = ["conn-a", "conn-b", "conn-c", "conn-d"];
        let mut owned: Vec<(&'static str, FlowFile)> = Vec::new();
        let mut drops: Vec<(&'static str, Uuid)> = Vec::new();
        for _ in 0..1 + self.rand(4) {
            match self.rand(10) {
                0..=4 => {
                    let n = self.next;
                    self.next += 1;
                    owned.push((QUEUES[self.rand(4) as usize], flowfile(n, &self.content)));
                }
                choice => {
                    let qi = self.rand(4) as usize;
                    let q = model.queues.get(QUEUES[qi]).filter(|v| !v.is_empty());
                    let Some(q) = q else { continue };
                    let pick = if choice < 8 { 0 } else { self.rand(q.len() as u64) as usize };
                    let mut ff = q[pick].clone();
                    if drops.iter().any(|(_, id)| *id == ff.id) || owned.iter().any(|(_, f)| f.id == ff.id) {
                        continue;
                    }
                    drops.push((QUEUES[qi], ff.id));
                    match choice {
                        5 | 6 => {
                            // move on, changed
                            ff.set_attr("moved", &self.next.to_string());
                            ff.queued_millis += 1;
                            owned.push((QUEUES[(qi + 1) % 4], ff));
                        }
                        7 => {} // dropped
                        _ => {
                            // penalized back into its own queue (goes to the tail)
                            ff.penalty_until_millis += 1000;
                            ff.retry_count += 1;
                            owned.push((QUEUES[qi], ff));
                        }
                    }
                }
            }
        }
        if owned.is_empty() && drops.is_empty() {
            let n = self.next;
            self.next += 1;
            owned.push((QUEUES[self.rand(4) as usize], flowfile(n, &self.content)));
        }
        let mut changes: Vec<RepoChange<'_>> =
            drops.iter().map(|(q, id)| RepoChange::Dequeue { queue: q, id: *id }).collect();
        changes.extend(owned.iter().map(|(q, f)| RepoChange::Enqueue { queue: q, flowfile: f }));
        let events: Vec<ProvenanceEvent> = if with_events {
            owned.iter().map(|(_, f)| event(self.next * 10 + self.rand(10), f.id)).collect()
        } else {
            Vec::new()
        };
        let seq = repo.commit(&changes, &events).expect("commit");
        model.apply(&changes);
        seq
    }
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Start offsets of the frames in a log file (header first).
fn frame_offsets(path: &Path) -> Vec<usize> {
    let image = std::fs::read(path).expect("read log");
    let mut pos = 0;
    let mut out = Vec::new();
    while let Frame::Valid { next, .. } = record::read_frame(&image, pos) {
        out.push(pos);
        pos = next;
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Recovery

#[test]
fn recovery_returns_every_queued_flowfile_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::default();
    let mut w = Workload::new(0x1234_5678);
    let mut last = 0;
    {
        let (repo, rec) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
        assert!(rec.queues.is_empty());
        assert_eq!(rec.last_seq, 0);
        for _ in 0..3000 {
            let seq = w.step(&repo, &mut model, false);
            assert!(seq > last, "seqs increase");
            last = seq;
        }
        assert_eq!(repo.stats().queued as usize, model.queues.values().map(Vec::len).sum::<usize>());
    }
    let queued: usize = model.queues.values().map(Vec::len).sum();
    assert!(queued > 500, "workload leaves flowfiles queued ({queued})");
    let (repo, rec) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
    assert_eq!(view(&rec), model.view());
    assert_eq!(rec.last_seq, last);
    // Recovered stored content is claimed again, memory content is back in memory.
    let stored = rec.queues.iter().flat_map(|(_, v)| v).filter(|f| matches!(f.content, Content::Stored(_))).count();
    assert!(stored > 0);
    // Keep going after a restart; seqs continue.
    for _ in 0..200 {
        let seq = w.step(&repo, &mut model, false);
        assert!(seq > last);
        last = seq;
    }
    drop(repo);
    let (_repo, rec) = open(dir.path(), no_auto_checkpoint(Durability::Fsync), None);
    assert_eq!(view(&rec), model.view());
    assert_eq!(rec.last_seq, last);
}

#[test]
fn checkpoint_plus_tail_equals_replaying_the_full_log() {
    let with_ck = tempfile::tempdir().expect("tempdir");
    let full = tempfile::tempdir().expect("tempdir");
    let small = WalConfig { checkpoint_log_bytes: 64 << 10, max_log_file_bytes: 16 << 10, ..config(Durability::Os) };
    let mut model_a = Model::default();
    let mut model_b = Model::default();
    let mut wa = Workload::new(99);
    let mut wb = Workload::new(99);
    {
        let (a, _) = open(with_ck.path(), small, None);
        let (b, _) = open(full.path(), no_auto_checkpoint(Durability::Os), None);
        for i in 0..4000 {
            wa.step(&a, &mut model_a, false);
            wb.step(&b, &mut model_b, false);
            if i % 997 == 0 {
                a.checkpoint().expect("checkpoint");
            }
        }
        assert!(a.stats().checkpoints >= 4, "checkpoints ran: {:?}", a.stats());
        assert_eq!(b.stats().checkpoints, 0);
        assert_eq!(model_a.view(), model_b.view());
        // Covered log files were deleted; the full log has them all.
        assert!(log_files(with_ck.path()).len() < 8, "{:?}", log_files(with_ck.path()));
        assert!(a.disk_bytes() < b.disk_bytes(), "{} vs {}", a.disk_bytes(), b.disk_bytes());
    }
    let (_a, ra) = open(with_ck.path(), no_auto_checkpoint(Durability::Os), None);
    let (_b, rb) = open(full.path(), no_auto_checkpoint(Durability::Os), None);
    assert_eq!(view(&ra), view(&rb));
    assert_eq!(view(&ra), model_a.view());
    assert_eq!(ra.last_seq, rb.last_seq);
}

#[test]
fn checkpoint_with_nothing_queued_and_restart_from_snapshot_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    {
        let (repo, _) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
        let f = flowfile(1, &c);
        repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit");
        repo.commit(&[RepoChange::Dequeue { queue: "q", id: f.id }], &[]).expect("commit");
        repo.checkpoint().expect("checkpoint");
        repo.checkpoint().expect("second checkpoint with no commits in between");
    }
    let (repo, rec) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
    assert!(rec.queues.is_empty());
    assert_eq!(rec.last_seq, 2);
    let f = flowfile(2, &c);
    assert_eq!(repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit"), 3);
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record_is_cut_off() {
    let base = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let mut model = Model::default();
    let ffs: Vec<FlowFile> = (0..12).map(|n| flowfile(n, &c)).collect();
    let (before, after);
    {
        let (repo, _) = open(base.path(), no_auto_checkpoint(Durability::Os), None);
        for (i, f) in ffs.iter().enumerate().take(11) {
            let ch = [RepoChange::Enqueue { queue: if i % 2 == 0 { "even" } else { "odd" }, flowfile: f }];
            repo.commit(&ch, &[event(i as u64, f.id)]).expect("commit");
            model.apply(&ch);
        }
        before = std::fs::metadata(&log_files(base.path())[0]).expect("stat").len();
        let last = [
            RepoChange::Dequeue { queue: "even", id: ffs[0].id },
            RepoChange::Enqueue { queue: "odd", flowfile: &ffs[11] },
        ];
        repo.commit(&last, &[event(11, ffs[11].id)]).expect("commit");
        after = std::fs::metadata(&log_files(base.path())[0]).expect("stat").len();
    }
    let mut with_last = model.clone();
    with_last.apply(&[
        RepoChange::Dequeue { queue: "even", id: ffs[0].id },
        RepoChange::Enqueue { queue: "odd", flowfile: &ffs[11] },
    ]);
    assert!(after > before + 100, "last record is {} bytes", after - before);
    for cut in before..=after {
        let work = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), work.path());
        let log = log_files(work.path())[0].clone();
        std::fs::OpenOptions::new().write(true).open(&log).expect("open").set_len(cut).expect("truncate");
        let (repo, rec) = open(work.path(), no_auto_checkpoint(Durability::Os), Some(0));
        if cut == after {
            assert_eq!(view(&rec), with_last.view());
            assert_eq!(rec.last_seq, 12);
            continue;
        }
        assert_eq!(view(&rec), model.view(), "cut at {cut}");
        assert_eq!(rec.last_seq, 11, "cut at {cut}");
        assert_eq!(rec.provenance.len(), 11);
        assert_eq!(std::fs::metadata(&log).expect("stat").len(), before, "torn tail truncated away");
        if cut % 17 == 0 {
            // The log takes new commits after the cut and keeps them.
            let ch = [RepoChange::Enqueue { queue: "odd", flowfile: &ffs[11] }];
            assert_eq!(repo.commit(&ch, &[]).expect("commit"), 12);
            drop(repo);
            let mut m = model.clone();
            m.apply(&ch);
            let (_r, rec) = open(work.path(), no_auto_checkpoint(Durability::Os), Some(0));
            assert_eq!(view(&rec), m.view(), "commit after cut at {cut}");
        }
    }
}

#[test]
fn torn_log_file_header_is_treated_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let f = flowfile(1, &c);
    {
        let (repo, _) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
        repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit");
    }
    {
        // A restart creates the next file; tear its header.
        let _ = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
    }
    let logs = log_files(dir.path());
    assert_eq!(logs.len(), 2);
    std::fs::OpenOptions::new().write(true).open(&logs[1]).expect("open").set_len(10).expect("truncate");
    for _ in 0..2 {
        let (_repo, rec) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
        assert_eq!(view(&rec)["q"], vec![fingerprint(&f)]);
        assert_eq!(rec.last_seq, 1);
    }
    assert_eq!(std::fs::metadata(&logs[1]).expect("stat").len(), 0);
}

#[test]
fn corruption_in_the_middle_names_file_and_offset() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut model = Model::default();
    let mut w = Workload::new(5);
    {
        let (repo, _) = open(base.path(), no_auto_checkpoint(Durability::Os), None);
        for _ in 0..40 {
            w.step(&repo, &mut model, true);
        }
    }
    let log = log_files(base.path())[0].clone();
    let frames = frame_offsets(&log);
    assert_eq!(frames.len(), 41, "header + 40 commits");

    // A flipped byte inside record 20 of the last file, with valid records after it.
    let work = tempfile::tempdir().expect("tempdir");
    copy_dir(base.path(), work.path());
    let target = log_files(work.path())[0].clone();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&target).expect("open");
    let at = frames[20] as u64 + 12;
    let mut b = [0u8; 1];
    f.read_at(&mut b, at).expect("read");
    f.write_all_at(&[b[0] ^ 0x40], at).expect("write");
    drop(f);
    let err = WalRepository::open(work.path(), config(Durability::Os), &ContentRepository::in_memory(), None)
        .expect_err("corruption must be reported");
    let msg = err.to_string();
    assert!(matches!(err, RepoError::Corrupt(_)), "{msg}");
    assert!(msg.contains(&target.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {}", frames[20])), "{msg}");

    // The same damage in a file that is not the last one (after a restart) is also an error,
    // even at its very last record.
    let work = tempfile::tempdir().expect("tempdir");
    copy_dir(base.path(), work.path());
    drop(open(work.path(), no_auto_checkpoint(Durability::Os), None));
    let target = log_files(work.path())[0].clone();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&target).expect("open");
    let at = frames[40] as u64 + 9;
    f.read_at(&mut b, at).expect("read");
    f.write_all_at(&[b[0] ^ 1], at).expect("write");
    drop(f);
    let msg = WalRepository::open(work.path(), config(Durability::Os), &ContentRepository::in_memory(), None)
        .expect_err("corruption must be reported")
        .to_string();
    assert!(msg.contains(&target.display().to_string()) && msg.contains(&format!("offset {}", frames[40])), "{msg}");

    // A missing log file in the middle is reported too.
    let work = tempfile::tempdir().expect("tempdir");
    copy_dir(base.path(), work.path());
    drop(open(work.path(), no_auto_checkpoint(Durability::Os), None));
    drop(open(work.path(), no_auto_checkpoint(Durability::Os), None));
    std::fs::remove_file(&log_files(work.path())[1]).expect("remove");
    let err = WalRepository::open(work.path(), config(Durability::Os), &ContentRepository::in_memory(), None)
        .expect_err("gap must be reported");
    assert!(err.to_string().contains("not contiguous"), "{err}");
}

#[test]
fn corrupt_snapshot_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::default();
    let mut w = Workload::new(77);
    {
        let (repo, _) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
        for _ in 0..300 {
            w.step(&repo, &mut model, false);
        }
        repo.checkpoint().expect("checkpoint");
    }
    let snap = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .expect("snapshot exists");
    let (_r, rec) = open(dir.path(), no_auto_checkpoint(Durability::Os), None);
    assert_eq!(view(&rec), model.view());
    drop(_r);
    let len = std::fs::metadata(&snap).expect("stat").len();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&snap).expect("open");
    let mut b = [0u8; 1];
    f.read_at(&mut b, len / 2).expect("read");
    f.write_all_at(&[b[0] ^ 0x10], len / 2).expect("write");
    let err = WalRepository::open(dir.path(), config(Durability::Os), &ContentRepository::in_memory(), None)
        .expect_err("corrupt snapshot must be reported");
    assert!(err.to_string().contains(&snap.display().to_string()), "{err}");
}

// ---------------------------------------------------------------------------------------
// Group commit

#[test]
fn group_commit_from_8_threads_loses_nothing() {
    for durability in [Durability::Os, Durability::Fsync] {
        let dir = tempfile::tempdir().expect("tempdir");
        let per_thread: u64 = if durability == Durability::Os { 1500 } else { 150 };
        let c = ContentRepository::in_memory();
        let (repo, _) = open(dir.path(), config(durability), Some(0));
        let seqs: Vec<Vec<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u64)
                .map(|t| {
                    let repo = repo.clone();
                    let c = c.clone();
                    s.spawn(move || {
                        let queue = format!("q{t}");
                        let mut seqs = Vec::new();
                        for i in 0..per_thread {
                            let f = flowfile(t * 1_000_000 + i, &c);
                            let mut changes = vec![RepoChange::Enqueue { queue: &queue, flowfile: &f }];
                            if i >= 2 {
                                let old = flowfile(t * 1_000_000 + i - 2, &c).id;
                                changes.push(RepoChange::Dequeue { queue: &queue, id: old });
                            }
                            seqs.push(repo.commit(&changes, &[event(t * 1_000_000 + i, f.id)]).expect("commit"));
                        }
                        seqs
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let mut all: Vec<u64> = seqs.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len() as u64, 8 * per_thread, "every commit got its own seq");
        let stats = repo.stats();
        assert_eq!(stats.commits, 8 * per_thread);
        assert!(stats.groups < stats.commits, "commits were grouped: {stats:?}");
        eprintln!("{durability:?}: {} commits in {} groups", stats.commits, stats.groups);
        drop(repo);
        let (_repo, rec) = open(dir.path(), config(durability), Some(0));
        assert_eq!(rec.queues.len(), 8);
        for (q, ffs) in &rec.queues {
            let t: u64 = q[1..].parse().expect("queue name");
            let want: Vec<u64> = (per_thread - 2..per_thread).map(|i| t * 1_000_000 + i).collect();
            let got: Vec<u64> = ffs.iter().map(|f| f.attr("n").expect("n").parse().expect("number")).collect();
            assert_eq!(got, want, "queue {q}");
        }
        assert_eq!(rec.provenance.len() as u64, 8 * per_thread, "every commit's events are back");
        let seqs: Vec<u64> = rec.provenance.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, all);
    }
}

#[test]
fn provenance_sink_gets_events_in_seq_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let (repo, _) = open(dir.path(), config(Durability::Os), Some(0));
    type Received = Vec<(u64, Vec<ProvenanceEvent>)>;
    let got: Arc<parking_lot::Mutex<Received>> = Arc::default();
    let sink = got.clone();
    repo.set_provenance_sink(Box::new(move |seq, events| sink.lock().push((seq, events))));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let repo = repo.clone();
            let c = c.clone();
            s.spawn(move || {
                for i in 0..300 {
                    let f = flowfile(t * 1000 + i, &c);
                    let e = event(t * 1000 + i, f.id);
                    repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[e]).expect("commit");
                }
            });
        }
    });
    drop(repo); // the writer has handed everything over once it stopped
    let got = got.lock();
    assert_eq!(got.len(), 1200);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "strictly increasing seqs");
    for (_, events) in got.iter() {
        assert_eq!(events.len(), 1);
        assert_eq!(events[0], event(events[0].id, events[0].flowfile_uuid));
    }
}

// ---------------------------------------------------------------------------------------
// Provenance retention

#[test]
fn events_survive_checkpoints_until_provenance_persisted_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let cfg = WalConfig { max_log_file_bytes: 4 << 10, ..no_auto_checkpoint(Durability::Os) };
    let mut sent = Vec::new();
    {
        let (repo, _) = open(dir.path(), cfg.clone(), Some(0));
        for i in 0..200u64 {
            let f = flowfile(i, &c);
            let events = vec![event(i * 2, f.id), event(i * 2 + 1, f.id)];
            let seq = repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &events).expect("commit");
            sent.push((seq, events));
            if i == 150 {
                repo.provenance_persisted(40);
            }
        }
        let files_before = log_files(dir.path()).len();
        repo.checkpoint().expect("checkpoint");
        let files_after = log_files(dir.path()).len();
        assert!(files_after < files_before, "files up to the watermark deleted ({files_before} -> {files_after})");
        assert!(files_after > 3, "files with unpersisted events kept");
    }
    // Reopen with the store's watermark: exactly the events above it come back, intact.
    let (repo, rec) = open(dir.path(), cfg.clone(), Some(120));
    let want: Vec<_> = sent.iter().filter(|(s, _)| *s > 120).cloned().collect();
    assert_eq!(rec.provenance, want);
    assert_eq!(rec.queues[0].1.len(), 200);
    // Once provenance has everything, a checkpoint leaves only the new file.
    repo.provenance_persisted(200);
    repo.checkpoint().expect("checkpoint");
    assert_eq!(log_files(dir.path()).len(), 1, "{:?}", log_files(dir.path()));
    drop(repo);
    let (repo, rec) = open(dir.path(), cfg.clone(), Some(200));
    assert!(rec.provenance.is_empty());
    assert_eq!(rec.queues[0].1.len(), 200);
    drop(repo);
    // With provenance off, nothing is kept or returned.
    let (repo, rec) = open(dir.path(), cfg, None);
    assert!(rec.provenance.is_empty());
    drop(repo);
}

#[test]
fn seqs_continue_above_the_provenance_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let (repo, rec) = open(dir.path(), config(Durability::Os), Some(1000));
    assert_eq!(rec.last_seq, 0);
    let f = flowfile(1, &c);
    assert_eq!(repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit"), 1001);
    assert!(repo.disk_bytes() > 0);
}

#[test]
fn open_durable_keeps_state_for_a_later_full_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let f = flowfile(2, &c);
    {
        let repo = open_durable(dir.path(), Durability::Fsync).expect("open");
        assert_eq!(repo.durability(), Durability::Fsync);
        repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit");
    }
    drop(open_durable(dir.path(), Durability::Os).expect("reopen"));
    let (_r, rec) = open(dir.path(), config(Durability::Os), None);
    assert_eq!(view(&rec)["q"], vec![fingerprint(&f)]);
    assert_eq!(open_durable(dir.path(), Durability::Memory).expect("memory").durability(), Durability::Memory);
}

// ---------------------------------------------------------------------------------------
// Disk full

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` until writes fail with "no space".
fn fill(path: &Path) -> std::fs::File {
    let mut f = std::fs::File::create(path).expect("filler");
    for chunk in [64usize << 10, 4 << 10, 1] {
        let block = vec![0x5a; chunk];
        loop {
            match f.write(&block) {
                Ok(n) if n == chunk => {}
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling failed: {e}"),
            }
        }
    }
    f
}

#[test]
fn disk_full_fails_commits_without_corrupting_the_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let status = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"]).arg(&mnt).output();
    match status {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            if std::env::var_os("CI").is_some() {
                panic!("cannot mount a tmpfs for the disk-full test (needs root): {why}");
            }
            eprintln!(
                "SKIPPED disk_full_fails_commits_without_corrupting_the_log: cannot mount tmpfs (needs root): {why}"
            );
            return;
        }
    }
    let _unmount = Unmount(mnt.clone());
    let dir = mnt.join("flowfiles");
    let c = ContentRepository::in_memory();
    let mut model = Model::default();
    let mut n = 0u64;
    // Records with 2 KiB of inline content, so a full disk shows quickly.
    let big = |n: u64| {
        let mut f = flowfile(n, &c);
        f.content = Content::Memory(Bytes::from(vec![(n % 251) as u8; 2048]));
        f
    };
    {
        let (repo, _) = open(&dir, no_auto_checkpoint(Durability::Fsync), Some(0));
        for _ in 0..20 {
            let f = big(n);
            n += 1;
            let ch = [RepoChange::Enqueue { queue: "q", flowfile: &f }];
            repo.commit(&ch, &[event(n, f.id)]).expect("commit with space");
            model.apply(&ch);
        }
        let filler = mnt.join("filler");
        let file = fill(&filler);
        let mut failures = 0;
        for i in 0..40 {
            let f = big(n);
            n += 1;
            let ch = if i % 3 == 0 && !model.queues["q"].is_empty() {
                let head = model.queues["q"][0].id;
                vec![RepoChange::Dequeue { queue: "q", id: head }, RepoChange::Enqueue { queue: "q2", flowfile: &f }]
            } else {
                vec![RepoChange::Enqueue { queue: "q", flowfile: &f }]
            };
            match repo.commit(&ch, &[event(n, f.id)]) {
                Ok(_) => model.apply(&ch),
                Err(RepoError::Io(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                    failures += 1;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert!(failures >= 35, "commits fail while the disk is full ({failures} of 40)");
        assert!(repo.checkpoint().is_err(), "a checkpoint cannot be written on a full disk");
        assert!(repo.stats().failed_groups >= 35);

        // While still full: the log on disk is intact and holds exactly what was committed.
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(&dir, copy.path());
        let (_r, rec) = open(copy.path(), no_auto_checkpoint(Durability::Os), Some(0));
        assert_eq!(view(&rec), model.view(), "log not corrupted by failed writes");
        drop(_r);

        // Space returns: commits and checkpoints succeed again.
        drop(file);
        std::fs::remove_file(&filler).expect("remove filler");
        for _ in 0..30 {
            let f = big(n);
            n += 1;
            let ch = [RepoChange::Enqueue { queue: "q", flowfile: &f }];
            repo.commit(&ch, &[event(n, f.id)]).expect("commit after space returned");
            model.apply(&ch);
        }
        repo.checkpoint().expect("checkpoint after space returned");
        let f = big(n);
        let ch = [
            RepoChange::Dequeue { queue: "q", id: model.queues["q"][0].id },
            RepoChange::Enqueue { queue: "q3", flowfile: &f },
        ];
        repo.commit(&ch, &[]).expect("commit");
        model.apply(&ch);
    }
    let (repo, rec) = open(&dir, no_auto_checkpoint(Durability::Fsync), Some(0));
    assert_eq!(view(&rec), model.view(), "recovery returns exactly the committed state");
    drop(repo);
}

// ---------------------------------------------------------------------------------------
// kill -9

const CRASH_ENV: &str = "SLUICE_WAL_CRASH_DIR";
const CRASH_THREADS: u64 = 4;

fn crash_uuid(t: u64, i: u64) -> Uuid {
    Uuid::from_u128((u128::from(t + 1) << 64) | u128::from(i))
}

/// The child side of `kill_9_loses_no_acknowledged_commit`: commits forever from several
/// threads, printing every acknowledged commit. Does nothing unless started by that test.
#[test]
#[ignore = "child process of kill_9_loses_no_acknowledged_commit"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_ENV).map(PathBuf::from) else {
        return;
    };
    let content = ContentRepository::open(&dir.join("content"), Default::default()).expect("content repository");
    let cfg =
        WalConfig { checkpoint_log_bytes: 256 << 10, max_log_file_bytes: 64 << 10, ..WalConfig::new(Durability::Os) };
    let (repo, rec) = WalRepository::open(&dir.join("flowfiles"), cfg, &content, Some(0)).expect("open");
    // Continue after what an earlier round left queued.
    let resume: Vec<u64> = (0..CRASH_THREADS)
        .map(|t| {
            rec.queues
                .iter()
                .find(|(q, _)| *q == format!("q{t}"))
                .and_then(|(_, ffs)| ffs.last())
                .map_or(0, |f| f.attr("i").and_then(|i| i.parse::<u64>().ok()).map_or(0, |i| i + 1))
        })
        .collect();
    drop(rec);
    let deadline = Instant::now() + Duration::from_secs(120);
    std::thread::scope(|s| {
        for t in 0..CRASH_THREADS {
            let (repo, content) = (repo.clone(), content.clone());
            let start = resume[t as usize];
            s.spawn(move || {
                let queue = format!("q{t}");
                let mut i = start;
                while Instant::now() < deadline {
                    let data = content.write_bytes(Bytes::from(format!("payload {t} {i}"))).expect("content");
                    let mut f = FlowFile::new(data);
                    f.id = crash_uuid(t, i);
                    f.set_attr("i", &i.to_string());
                    let mut changes = vec![RepoChange::Enqueue { queue: &queue, flowfile: &f }];
                    if i >= 3 {
                        changes.push(RepoChange::Dequeue { queue: &queue, id: crash_uuid(t, i - 3) });
                    }
                    repo.commit(&changes, &[event(i, f.id)]).expect("commit");
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ack {t} {i}");
                    let _ = out.flush();
                    i += 1;
                }
            });
        }
    });
}

#[test]
fn kill_9_loses_no_acknowledged_commit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    for round in 0..3 {
        let mut child = std::process::Command::new(&exe)
            .args(["repository::tests::crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CRASH_ENV, tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let mut acked = [None::<u64>; CRASH_THREADS as usize];
        let mut count = 0;
        let note = |line: &str, acked: &mut [Option<u64>]| {
            let mut parts = line.split(' ');
            if parts.next() != Some("ack") {
                return false;
            }
            let t: Option<usize> = parts.next().and_then(|x| x.parse().ok());
            let i: Option<u64> = parts.next().and_then(|x| x.parse().ok());
            if let (Some(t), Some(i)) = (t, i) {
                acked[t] = acked[t].max(Some(i));
            }
            true
        };
        let started = Instant::now();
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if note(&line.expect("line"), &mut acked) {
                count += 1;
            }
            if count >= 3000 + round * 1500 || started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        child.kill().expect("kill -9");
        // Acks printed before the kill are still in the pipe.
        for line in lines.map_while(Result::ok) {
            note(&line, &mut acked);
        }
        let _ = child.wait();
        assert!(count > 100, "child made progress ({count} acks)");

        let content = ContentRepository::open(&tmp.path().join("content"), Default::default()).expect("content");
        let (repo, rec) = WalRepository::open(&tmp.path().join("flowfiles"), config(Durability::Os), &content, Some(0))
            .expect("recover");
        for t in 0..CRASH_THREADS {
            let queue = format!("q{t}");
            let Some(a) = acked[t as usize] else { continue };
            let ffs = &rec.queues.iter().find(|(q, _)| *q == queue).expect("queue recovered").1;
            let ids: Vec<u64> = ffs.iter().map(|f| f.attr("i").expect("i").parse().expect("number")).collect();
            let last = *ids.last().expect("non-empty");
            // Every acknowledged commit is there; at most the one in flight beyond.
            assert!(last == a || last == a + 1, "thread {t}: acked {a}, recovered up to {last}");
            let want: Vec<u64> = (last.saturating_sub(2)..=last).collect();
            assert_eq!(ids, want, "thread {t} queue state");
            for (f, i) in ffs.iter().zip(&ids) {
                assert_eq!(f.id, crash_uuid(t, *i));
                let bytes = f.content.to_bytes().expect("content readable after crash");
                assert_eq!(&bytes[..], format!("payload {t} {i}").as_bytes());
            }
            // Every acknowledged commit's provenance event is back too (none were persisted).
            let mut seen: Vec<u64> = rec
                .provenance
                .iter()
                .flat_map(|(_, evs)| evs)
                .filter(|e| e.flowfile_uuid.as_u128() >> 64 == u128::from(t + 1))
                .map(|e| e.id)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            let missing: Vec<u64> = (0..=a).filter(|i| seen.binary_search(i).is_err()).collect();
            if !missing.is_empty() {
                for p in log_files(&tmp.path().join("flowfiles")) {
                    let image = std::fs::read(&p).expect("read");
                    let mut pos = 0;
                    let mut desc = Vec::new();
                    loop {
                        match record::read_frame(&image, pos) {
                            Frame::Valid { payload, next } => {
                                if let Ok(h) = record::commit_head(payload) {
                                    let evs = sluice_provenance::decode_events(h.events).unwrap_or_default();
                                    let mine: Vec<u64> = evs
                                        .iter()
                                        .filter(|e| e.flowfile_uuid.as_u128() >> 64 == 1)
                                        .map(|e| e.id)
                                        .collect();
                                    if !mine.is_empty() {
                                        desc.push(format!("s{}:{:?}", h.seq, mine));
                                    }
                                }
                                pos = next;
                            }
                            other => {
                                desc.push(format!("{other:?} at {pos} of {}", image.len()));
                                break;
                            }
                        }
                    }
                    eprintln!(
                        "FILE {} {}",
                        p.display(),
                        desc.iter().take(3).chain(desc.iter().rev().take(3)).cloned().collect::<Vec<_>>().join(" ")
                    );
                }
            }
            assert!(missing.is_empty(), "round {round} thread {t}: events of commits 0..={a}, missing {missing:?}");
            assert_eq!(seen[..=a as usize], (0..=a).collect::<Vec<_>>()[..]);
        }
        eprintln!(
            "round {round}: {count} acks; {} log files; recovered {} queued",
            repo.stats().log_files,
            repo.stats().queued
        );
        // The next round's child recovers this state, continues, and is killed again.
        drop(repo);
    }
}

#[test]
fn a_kept_log_file_is_read_whole_after_its_successor_was_deleted() {
    // Empty log files are deleted at checkpoints while older ones with unpersisted events
    // stay: the length recorded in a later file's header must not be applied to them.
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let mut sent = Vec::new();
    {
        let (repo, _) = open(dir.path(), config(Durability::Os), Some(0));
        for i in 0..3 {
            let f = flowfile(i, &c);
            let events = vec![event(i, f.id)];
            sent.push((
                repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &events).expect("commit"),
                events,
            ));
        }
    }
    drop(open(dir.path(), config(Durability::Os), Some(0)));
    {
        let (repo, _) = open(dir.path(), config(Durability::Os), Some(0));
        repo.checkpoint().expect("checkpoint");
    }
    let names: Vec<String> =
        log_files(dir.path()).iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["log-0000000001.wal", "log-0000000004.wal"]);
    let (_repo, rec) = open(dir.path(), config(Durability::Os), Some(0));
    assert_eq!(rec.provenance, sent);
    assert_eq!(rec.queues[0].1.len(), 3);
}

#[test]
fn checkpoints_run_by_time_and_by_log_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = ContentRepository::in_memory();
    let cfg = WalConfig {
        checkpoint_interval: Duration::from_millis(100),
        checkpoint_log_bytes: 32 << 10,
        ..config(Durability::Os)
    };
    let (repo, _) = open(dir.path(), cfg, None);
    let f = flowfile(1, &c);
    repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &f }], &[]).expect("commit");
    let deadline = Instant::now() + Duration::from_secs(5);
    while repo.stats().checkpoints == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(repo.stats().checkpoints, 1, "a timed checkpoint ran");
    // Size: 32 KiB of log triggers the next one without waiting for the interval.
    let big = FlowFile { content: Content::Memory(Bytes::from(vec![1u8; 40 << 10])), ..flowfile(2, &c) };
    repo.commit(&[RepoChange::Enqueue { queue: "q", flowfile: &big }], &[]).expect("commit");
    let deadline = Instant::now() + Duration::from_secs(5);
    while repo.stats().checkpoints < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(repo.stats().checkpoints >= 2);
    drop(repo);
    let (_r, rec) = open(dir.path(), config(Durability::Os), None);
    assert_eq!(rec.queues[0].1.len(), 2);
}
