//! Repository behaviour with real sled on disk: persistence, queries, pagination, lineage,
//! retention under concurrent writes, backpressure, JSON views.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_provenance::{
    EventType, LineageNode, ProvenanceConfig, ProvenanceError, ProvenanceEvent, ProvenanceRepository, ProvenanceStore,
    Query, ScanVisitor, SledStore, StoreBatch,
};
use uuid::Uuid;

fn config(block_events: usize) -> ProvenanceConfig {
    ProvenanceConfig { block_events, flush_interval: Duration::from_millis(20), ..ProvenanceConfig::default() }
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn events_persist_across_reopen_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    {
        let repo = ProvenanceRepository::open(dir.path(), config(16)).unwrap();
        for batch in 0..10u64 {
            let first = repo.allocate_ids(7);
            let events: Vec<_> = (0..7).map(|i| common::full_event(first + i)).collect();
            written.extend(events.clone());
            repo.submit(events, batch + 1);
        }
        repo.flush().unwrap();
        assert_eq!(repo.durable_wal_seq(), 10);
        // Dropping the last handle closes the repository.
    }
    let repo = ProvenanceRepository::open(dir.path(), config(16)).unwrap();
    assert_eq!(repo.durable_wal_seq(), 10);
    let stats = repo.stats();
    assert_eq!(stats.events, 70);
    assert_eq!(stats.blocks, 5, "70 events in blocks of 16: 4 full + 1 partial");
    for e in &written {
        assert_eq!(repo.event(e.id).unwrap().as_ref(), Some(e), "event {}", e.id);
    }
    let all = repo.query(&Query { limit: 1000, ..Query::default() }).unwrap();
    let mut expect = written.clone();
    expect.reverse();
    assert_eq!(all.events, expect);
    assert_eq!(all.next_before_id, None);
    // Ids continue after the highest stored id.
    assert_eq!(repo.allocate_ids(1), 70);
    assert!(repo.verify().unwrap().is_consistent());
}

/// A deterministic data set: 60 flowfiles × 5 events each, submitted in shuffled batches so that
/// neighbouring blocks' id ranges overlap (ids are allocated before submit).
struct DataSet {
    events: Vec<ProvenanceEvent>,
    flowfiles: Vec<Uuid>,
}

fn build_dataset(repo: &ProvenanceRepository, base_ts: i64) -> DataSet {
    let comps = ["GetFile", "UpdateAttribute", "RouteOnAttribute", "PutFile", "LogAttribute"];
    let types = [EventType::Receive, EventType::AttributesModified, EventType::Route, EventType::Send, EventType::Drop];
    let flowfiles: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    let mut batches = Vec::new();
    let mut all = Vec::new();
    for (step, (comp, ty)) in comps.iter().zip(types).enumerate() {
        for chunk in flowfiles.chunks(6) {
            let first = repo.allocate_ids(chunk.len() as u64);
            let mut batch = Vec::new();
            for (i, ff) in chunk.iter().enumerate() {
                let id = first + i as u64;
                let mut e = common::event(id, ty, *ff, comp, base_ts + id as i64 * 10);
                // One attribute nobody configured an index for: only some flowfiles carry it,
                // and on ATTRIBUTES_MODIFIED it is only in the *previous* attributes.
                let ffi = flowfiles.iter().position(|f| f == ff).unwrap();
                if ffi % 7 == 0 {
                    let mut v = e.updated_attributes.as_ref().clone();
                    v.push(("customer".into(), "acme".into()));
                    let with = Arc::new(v);
                    if step == 1 {
                        e.previous_attributes = Some(with);
                    } else {
                        e.previous_attributes = Some(with.clone());
                        e.updated_attributes = with;
                    }
                }
                batch.push(e);
            }
            all.extend(batch.clone());
            batches.push(batch);
        }
    }
    // Shuffle submission order a little: swap neighbours.
    for i in (0..batches.len() - 1).step_by(3) {
        batches.swap(i, i + 1);
    }
    for (seq, b) in batches.into_iter().enumerate() {
        repo.submit(b, seq as u64 + 1);
    }
    repo.flush().unwrap();
    DataSet { events: all, flowfiles }
}

fn ids(events: &[ProvenanceEvent]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}

fn expected(ds: &DataSet, f: impl Fn(&ProvenanceEvent) -> bool) -> Vec<u64> {
    let mut v: Vec<u64> = ds.events.iter().filter(|e| f(e)).map(|e| e.id).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

/// Runs `q` page by page (page size `page`) and returns all ids, checking each page's order.
fn paged(repo: &ProvenanceRepository, q: &Query, page: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut q = q.clone();
    q.limit = page;
    loop {
        let r = repo.query(&q).unwrap();
        let page_ids = ids(&r.events);
        assert!(page_ids.windows(2).all(|w| w[0] > w[1]), "newest first: {page_ids:?}");
        assert!(page_ids.len() <= page);
        out.extend(page_ids);
        match r.next_before_id {
            Some(b) => q.before_id = Some(b),
            None => break,
        }
    }
    out
}

#[test]
fn queries_filter_and_paginate_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ProvenanceRepository::open(dir.path(), config(32)).unwrap();
    let base = 1_700_000_000_000;
    let ds = build_dataset(&repo, base);
    assert_eq!(repo.stats().events, 300);
    assert!(repo.stats().blocks >= 9);

    // By flowfile.
    let ff = ds.flowfiles[13];
    let r = repo.query(&Query { flowfile: Some(ff), ..Query::default() }).unwrap();
    assert_eq!(ids(&r.events), expected(&ds, |e| e.flowfile_uuid == ff));
    assert_eq!(r.events.len(), 5);
    assert!(r.scanned_blocks < repo.stats().blocks as usize, "the flowfile filter pruned blocks");

    // By component id and by component name, paginated.
    let want = expected(&ds, |e| &*e.component_name == "RouteOnAttribute");
    assert_eq!(want.len(), 60);
    for comp in ["RouteOnAttribute", "id-RouteOnAttribute"] {
        let q = Query { component: Some(comp.into()), ..Query::default() };
        assert_eq!(paged(&repo, &q, 7), want);
        assert_eq!(paged(&repo, &q, 60), want);
        assert_eq!(paged(&repo, &q, 1000), want);
    }

    // By event type.
    let q = Query { event_type: Some("send".parse().unwrap()), ..Query::default() };
    assert_eq!(paged(&repo, &q, 11), expected(&ds, |e| e.event_type == EventType::Send));

    // Time range (inclusive both ends).
    let (since, until) = (base + 500, base + 1500);
    let q = Query { since_millis: Some(since), until_millis: Some(until), ..Query::default() };
    let want = expected(&ds, |e| e.timestamp_millis >= since && e.timestamp_millis <= until);
    assert_eq!(want.len(), 101);
    assert_eq!(paged(&repo, &q, 13), want);

    // Attribute name=value on previous or updated attributes.
    let q = Query { attribute: Some(("customer".into(), "acme".into())), ..Query::default() };
    let want = expected(&ds, |e| {
        let hit = |m: &sluice_provenance::AttrMap| m.iter().any(|(k, v)| &**k == "customer" && &**v == "acme");
        hit(&e.updated_attributes) || e.previous_attributes.as_ref().is_some_and(hit)
    });
    assert_eq!(want.len(), 9 * 5);
    assert_eq!(paged(&repo, &q, 4), want);
    let none =
        repo.query(&Query { attribute: Some(("customer".into(), "globex".into())), ..Query::default() }).unwrap();
    assert!(none.events.is_empty());

    // Combined criteria and the all-events listing.
    let q = Query {
        attribute: Some(("customer".into(), "acme".into())),
        event_type: Some(EventType::AttributesModified),
        component: Some("UpdateAttribute".into()),
        ..Query::default()
    };
    let r = repo.query(&q).unwrap();
    assert_eq!(r.events.len(), 9);
    assert!(r.events.iter().all(|e| e.previous_attributes.is_some() && e.attribute("customer").is_none()));
    assert_eq!(paged(&repo, &Query::default(), 37), expected(&ds, |_| true));

    // A small limit stops early instead of decoding everything.
    let r = repo.query(&Query { limit: 3, ..Query::default() }).unwrap();
    assert_eq!(ids(&r.events), expected(&ds, |_| true)[..3].to_vec());
    assert!(r.scanned_blocks <= 2, "scanned {}", r.scanned_blocks);
}

fn lineage_fixture(repo: &ProvenanceRepository) -> (Uuid, Uuid, Uuid, Uuid, u64, u64) {
    let (a, b, c, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let noise = |repo: &ProvenanceRepository, n: u64| {
        let first = repo.allocate_ids(n);
        let ev: Vec<_> =
            (0..n).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "Noise", 10)).collect();
        repo.submit(ev, 0);
    };
    let one = |repo: &ProvenanceRepository, ty, ff, comp: &str| {
        let mut e = common::event(repo.allocate_ids(1), ty, ff, comp, 20);
        if ty == EventType::Fork {
            e.child_uuids = vec![b, c];
        }
        if ty == EventType::Join {
            e.parent_uuids = vec![b, c];
        }
        let id = e.id;
        repo.submit(vec![e], 0);
        id
    };
    noise(repo, 50);
    one(repo, EventType::Receive, a, "GetFile");
    noise(repo, 50);
    let fork = one(repo, EventType::Fork, a, "SplitText");
    one(repo, EventType::Drop, a, "SplitText");
    noise(repo, 50);
    one(repo, EventType::Route, b, "Route");
    noise(repo, 50);
    one(repo, EventType::Route, c, "Route");
    noise(repo, 50);
    let join = one(repo, EventType::Join, d, "MergeContent");
    one(repo, EventType::Drop, b, "MergeContent");
    one(repo, EventType::Drop, c, "MergeContent");
    noise(repo, 50);
    one(repo, EventType::Send, d, "PutFile");
    one(repo, EventType::Drop, d, "PutFile");
    noise(repo, 50);
    repo.flush().unwrap();
    (a, b, c, d, fork, join)
}

fn reachable(edges: &[(String, String)], from: &str, to: &str) -> bool {
    let mut adj: HashMap<&str, Vec<&str>> = HashMap::new();
    for (f, t) in edges {
        adj.entry(f).or_default().push(t);
    }
    let mut seen = HashSet::from([from]);
    let mut q = VecDeque::from([from]);
    while let Some(n) = q.pop_front() {
        if n == to {
            return true;
        }
        for m in adj.get(n).into_iter().flatten() {
            if seen.insert(m) {
                q.push_back(m);
            }
        }
    }
    false
}

#[test]
fn lineage_of_split_and_merge_reaches_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ProvenanceRepository::open(dir.path(), config(32)).unwrap();
    let (a, b, c, d, fork, join) = lineage_fixture(&repo);
    let all: BTreeSet<Uuid> = [a, b, c, d].into();
    for start in [a, d, b] {
        let l = repo.lineage(start).unwrap();
        assert!(!l.truncated);
        let ffs: BTreeSet<Uuid> = l.flowfiles().into_iter().collect();
        assert_eq!(ffs, all, "lineage of {start} has exactly the four flowfiles");
        let evs = l.event_ids();
        assert!(evs.contains(&fork) && evs.contains(&join), "fork and join present");
        // No noise.
        assert!(l.nodes.iter().all(|n| match n {
            LineageNode::Event { component_name, .. } => &**component_name != "Noise",
            LineageNode::Flowfile { .. } => true,
        }));
        let ids: HashSet<&str> = l.nodes.iter().map(|n| n.id()).collect();
        assert!(l.edges.iter().all(|(f, t)| ids.contains(f.as_str()) && ids.contains(t.as_str())));
        // A's history leads forward through the fork, B and C, the join, to D's last event.
        let ff = |u: Uuid| format!("ff:{u}");
        assert!(reachable(&l.edges, &ff(a), &format!("ev:{fork}")));
        assert!(reachable(&l.edges, &format!("ev:{fork}"), &ff(b)));
        assert!(reachable(&l.edges, &format!("ev:{fork}"), &ff(c)));
        assert!(reachable(&l.edges, &ff(b), &format!("ev:{join}")));
        assert!(reachable(&l.edges, &ff(c), &format!("ev:{join}")));
        assert!(reachable(&l.edges, &ff(a), &ff(b)));
        let d_last = l
            .nodes
            .iter()
            .filter_map(|n| match n {
                LineageNode::Event { event_id, flowfile_uuid, .. } if *flowfile_uuid == d => Some(*event_id),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(reachable(&l.edges, &ff(a), &format!("ev:{d_last}")));
        let json = serde_json::to_value(&l).unwrap();
        assert!(json["nodes"][0]["kind"] == "flowfile");
        assert!(json["edges"][0]["from"].is_string() && json["edges"][0]["to"].is_string());
    }
    // A bound truncates.
    let l = repo.lineage_bounded(a, 3).unwrap();
    assert!(l.truncated && l.nodes.len() <= 3);
}

#[test]
fn retention_removes_oldest_blocks_while_writing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ProvenanceRepository::open(
        dir.path(),
        ProvenanceConfig {
            max_age: Duration::from_secs(3600),
            block_events: 100,
            flush_interval: Duration::from_millis(10),
            ..ProvenanceConfig::default()
        },
    )
    .unwrap();
    let old_ts = now_millis() - 2 * 3600 * 1000;
    for _ in 0..30 {
        let first = repo.allocate_ids(100);
        let ev = (0..100).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "Old", old_ts)).collect();
        repo.submit(ev, 0);
    }
    repo.flush().unwrap();
    assert_eq!(repo.stats().events, 3000);

    // A writer keeps going while retention runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (repo, stop) = (repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut written = Vec::new();
            while !stop.load(Ordering::Relaxed) || written.len() < 5000 {
                let first = repo.allocate_ids(50);
                let ev: Vec<_> = (0..50)
                    .map(|i| common::event(first + i, EventType::Send, Uuid::new_v4(), "New", now_millis()))
                    .collect();
                written.extend(ev.iter().map(|e| e.id));
                repo.submit(ev, 0);
            }
            written
        })
    };
    let mut removed = 0;
    while removed < 30 {
        removed += repo.enforce_retention().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let new_ids = writer.join().unwrap();
    repo.flush().unwrap();
    assert_eq!(repo.enforce_retention().unwrap(), 0);

    let old = repo.query(&Query { component: Some("Old".into()), ..Query::default() }).unwrap();
    assert!(old.events.is_empty(), "old blocks are gone");
    let new = repo.query(&Query { component: Some("New".into()), limit: usize::MAX, ..Query::default() }).unwrap();
    let mut got = ids(&new.events);
    got.reverse();
    assert_eq!(got, new_ids, "every new event is queryable");
    assert_eq!(repo.stats().events, new_ids.len() as u64);
    assert!(repo.verify().unwrap().is_consistent());

    // Size-based retention keeps the newest blocks within the limit.
    drop(repo);
    let repo = ProvenanceRepository::open(
        dir.path(),
        ProvenanceConfig { max_bytes: 20_000, block_events: 100, ..ProvenanceConfig::default() },
    )
    .unwrap();
    let before = repo.stats();
    assert!(before.stored_bytes > 20_000);
    let newest = *new_ids.last().unwrap();
    repo.enforce_retention().unwrap();
    let after = repo.stats();
    assert!(after.stored_bytes <= 20_000 && after.blocks >= 1, "{after:?}");
    assert!(repo.event(newest).unwrap().is_some(), "the newest block stays");
    assert!(repo.verify().unwrap().is_consistent());
}

/// A store that is slow to write, to make the writer fall behind.
struct SlowStore {
    inner: SledStore,
    delay: Duration,
}

impl ProvenanceStore for SlowStore {
    fn apply(&self, batch: StoreBatch) -> Result<(), ProvenanceError> {
        std::thread::sleep(self.delay);
        self.inner.apply(batch)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenanceError> {
        self.inner.get(key)
    }
    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), ProvenanceError> {
        self.inner.scan_prefix(prefix, visit)
    }
    fn flush(&self) -> Result<(), ProvenanceError> {
        self.inner.flush()
    }
    fn size_on_disk(&self) -> u64 {
        self.inner.size_on_disk()
    }
}

#[test]
fn submit_blocks_instead_of_dropping_when_the_writer_falls_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = SlowStore { inner: SledStore::open(dir.path()).unwrap(), delay: Duration::from_millis(30) };
    let repo = ProvenanceRepository::open_with_store(
        Arc::new(store),
        ProvenanceConfig {
            block_events: 10,
            channel_capacity: 1,
            flush_interval: Duration::from_millis(10),
            ..ProvenanceConfig::default()
        },
    )
    .unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let waited = Arc::new(parking_lot_free::Max::default());
    {
        let (fired, waited) = (fired.clone(), waited.clone());
        repo.set_backpressure_hook(Box::new(move |d| {
            fired.fetch_add(1, Ordering::Relaxed);
            waited.record(d);
        }));
    }
    let t = std::time::Instant::now();
    for seq in 1..=20u64 {
        let first = repo.allocate_ids(10);
        let ev = (0..10).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "P", 1)).collect();
        repo.submit(ev, seq);
    }
    // 20 blocks at 30 ms each cannot be queued in a 1-slot channel without waiting.
    assert!(t.elapsed() >= Duration::from_millis(300), "submit did not block");
    assert!(fired.load(Ordering::Relaxed) > 0, "hook fired");
    assert!(waited.get() >= Duration::from_millis(5));
    let stats = repo.stats();
    assert!(stats.writer_waits > 0 && stats.writer_waits == fired.load(Ordering::Relaxed) as u64);
    repo.flush().unwrap();
    assert_eq!(repo.stats().events, 200, "nothing dropped");
    assert_eq!(repo.durable_wal_seq(), 20);
}

/// Big batches (thousands of events per submit) are bounded by the event count, not by the
/// channel's batch capacity: a generous channel still holds at most `max_in_flight_events`.
#[test]
fn events_in_flight_are_bounded_by_count_whatever_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = SlowStore { inner: SledStore::open(dir.path()).unwrap(), delay: Duration::from_millis(20) };
    let repo = Arc::new(
        ProvenanceRepository::open_with_store(
            Arc::new(store),
            ProvenanceConfig {
                block_events: 100,
                channel_capacity: 1000,
                max_in_flight_events: 500,
                flush_interval: Duration::from_millis(10),
                ..ProvenanceConfig::default()
            },
        )
        .unwrap(),
    );
    let waits = Arc::new(AtomicUsize::new(0));
    {
        let waits = waits.clone();
        repo.set_backpressure_hook(Box::new(move |_| {
            waits.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let t = std::time::Instant::now();
    // 10 batches of 300 events: with 500 allowed in flight, at most one batch waits in the
    // channel beside the one being written, so submitting cannot run ahead of ~3 blocks/60 ms.
    for seq in 1..=10u64 {
        let first = repo.allocate_ids(300);
        let ev = (0..300).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "P", 1)).collect();
        repo.submit(ev, seq);
    }
    // 30 blocks at 20 ms each; with a batch-count bound alone all ten would have been taken at
    // once. At least (3000 - 2 * 300) / 100 = 24 blocks must be written before the last submit
    // returns.
    assert!(t.elapsed() >= Duration::from_millis(24 * 20), "submit ran ahead: {:?}", t.elapsed());
    assert!(waits.load(Ordering::Relaxed) >= 5, "waits {}", waits.load(Ordering::Relaxed));
    // One batch larger than the bound is still taken when nothing else is in flight.
    repo.flush().unwrap();
    let first = repo.allocate_ids(800);
    repo.submit((0..800).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "P", 1)).collect(), 11);
    repo.flush().unwrap();
    assert_eq!(repo.stats().events, 3800, "nothing dropped");
    assert_eq!(repo.durable_wal_seq(), 11);
}

/// Tiny helper: the maximum duration recorded, without extra dependencies.
mod parking_lot_free {
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    pub struct Max(Mutex<Duration>);
    impl Max {
        pub fn record(&self, d: Duration) {
            let mut m = self.0.lock().unwrap();
            *m = (*m).max(d);
        }
        pub fn get(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }
}

#[test]
fn json_views_have_the_documented_fields() {
    let repo = ProvenanceRepository::in_memory(config(8)).unwrap();
    let e = common::full_event(repo.allocate_ids(1));
    repo.submit(vec![e.clone()], 1);
    repo.flush().unwrap();
    let got = repo.event(e.id).unwrap().unwrap();
    let s = got.summary_json();
    let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let want: BTreeSet<&str> = [
        "id",
        "event_type",
        "timestamp_millis",
        "duration_millis",
        "flowfile_uuid",
        "parent_uuids",
        "child_uuids",
        "component_id",
        "component_type",
        "component_name",
        "relationship",
        "details",
        "transit_uri",
        "size",
        "lineage_start_millis",
        "flow_revision",
        "source_queue_id",
    ]
    .into();
    assert_eq!(keys, want);
    assert_eq!(s["event_type"], "FORK");
    assert_eq!(s["flowfile_uuid"], e.flowfile_uuid.to_string());
    let d = got.detail_json();
    assert_eq!(d["updated_attributes"]["colour"], "red");
    assert_eq!(d["previous_attributes"]["colour"], "blue");
    assert_eq!(d["updated_content"]["segment"], u64::MAX);
    assert_eq!(d["previous_content"]["len"], 3);
    assert_eq!(d["id"], e.id);
    let mut plain = e.clone();
    plain.previous_attributes = None;
    plain.previous_content = None;
    assert!(plain.detail_json()["previous_attributes"].is_null());
    assert!(plain.detail_json()["previous_content"].is_null());
    assert_eq!("content_modified".parse::<EventType>().unwrap(), EventType::ContentModified);
    assert_eq!("ADDINFO".parse::<EventType>().unwrap(), EventType::AddInfo);
    assert!("nope".parse::<EventType>().is_err());
    for t in EventType::ALL {
        assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
    }
}

#[test]
fn partial_blocks_are_written_by_the_flush_interval() {
    let repo = ProvenanceRepository::in_memory(config(1024)).unwrap();
    let e = common::event(repo.allocate_ids(1), EventType::Create, Uuid::new_v4(), "Gen", 5);
    repo.submit(vec![e.clone()], 3);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while repo.durable_wal_seq() < 3 {
        assert!(std::time::Instant::now() < deadline, "interval flush did not happen");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(repo.event(e.id).unwrap(), Some(e));
    repo.close();
    assert!(matches!(repo.flush(), Err(ProvenanceError::Closed)));
}

/// A store whose writes fail while `failing` is set.
struct FlakyStore {
    inner: SledStore,
    failing: Arc<AtomicBool>,
}

impl ProvenanceStore for FlakyStore {
    fn apply(&self, batch: StoreBatch) -> Result<(), ProvenanceError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(ProvenanceError::Storage("disk on fire".into()));
        }
        self.inner.apply(batch)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenanceError> {
        self.inner.get(key)
    }
    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), ProvenanceError> {
        self.inner.scan_prefix(prefix, visit)
    }
    fn flush(&self) -> Result<(), ProvenanceError> {
        self.inner.flush()
    }
    fn size_on_disk(&self) -> u64 {
        self.inner.size_on_disk()
    }
}

#[test]
fn a_failing_store_applies_back_pressure_and_recovers_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let repo = ProvenanceRepository::open_with_store(
        Arc::new(FlakyStore { inner: SledStore::open(dir.path()).unwrap(), failing: failing.clone() }),
        ProvenanceConfig {
            block_events: 10,
            channel_capacity: 2,
            flush_interval: Duration::from_millis(10),
            ..ProvenanceConfig::default()
        },
    )
    .unwrap();
    let submitter = {
        let repo = repo.clone();
        std::thread::spawn(move || {
            for seq in 1..=30u64 {
                let first = repo.allocate_ids(10);
                let ev = (0..10).map(|i| common::event(first + i, EventType::Route, Uuid::new_v4(), "P", 1)).collect();
                repo.submit(ev, seq);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    assert!(!submitter.is_finished(), "submit blocks while the store fails");
    assert!(repo.stats().write_errors > 0);
    assert_eq!(repo.stats().events, 0);
    failing.store(false, Ordering::Relaxed);
    submitter.join().unwrap();
    repo.flush().unwrap();
    assert_eq!(repo.stats().events, 300, "nothing lost");
    assert_eq!(repo.durable_wal_seq(), 30);

    // Closing while the store fails for good does not hang.
    failing.store(true, Ordering::Relaxed);
    let first = repo.allocate_ids(1);
    repo.submit(vec![common::event(first, EventType::Drop, Uuid::new_v4(), "P", 1)], 31);
    let t = std::time::Instant::now();
    repo.close();
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn large_events_make_smaller_blocks_and_sled_writes_no_unsynced_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ProvenanceRepository::open(dir.path(), config(1024)).unwrap();
    // ~3 KiB of incompressible-ish text per event: 1024 of them would be a 3 MiB block.
    let mut all = Vec::new();
    for _ in 0..20 {
        let first = repo.allocate_ids(100);
        let ev: Vec<_> = (0..100)
            .map(|i| {
                let mut e = common::event(first + i, EventType::Receive, Uuid::new_v4(), "Big", 1);
                let big: String = (0..100).map(|_| Uuid::new_v4().simple().to_string()).collect();
                e.details = Some(big);
                e
            })
            .collect();
        all.extend(ev.clone());
        repo.submit(ev, 0);
    }
    repo.flush().unwrap();
    let s = repo.stats();
    assert_eq!(s.events, 2000);
    // ~6 MiB of events in blocks of at most 1 MiB (segment files) rather than one 6 MiB block.
    assert!(s.blocks >= 6, "blocks were capped in size: {} blocks", s.blocks);
    for e in all.iter().step_by(97) {
        assert_eq!(repo.event(e.id).unwrap().as_ref(), Some(e));
    }
    let blobs = std::fs::read_dir(dir.path().join("blobs")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs, 0, "sled 0.34 never fsyncs blob files: none may be written");
}
