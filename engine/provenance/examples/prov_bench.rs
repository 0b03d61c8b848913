//! Provenance benchmarks: codec speed, writer throughput into sled, and query / lineage latency
//! over a large store.
//!
//! ```text
//! cargo run --release -p sluice-provenance --example prov_bench -- [--events N] [--dir PATH]
//!     [--batch EVENTS_PER_SUBMIT] [--block EVENTS_PER_BLOCK]
//! ```
//! Default 1,000,000 events in a temporary directory; `--events 10000000` for the large case.
//! Events follow a realistic flow: GetFile RECEIVE → UpdateAttribute ATTRIBUTES_MODIFIED →
//! RouteOnAttribute ROUTE → (every 20th: SplitText FORK into 2, MergeContent JOIN back) →
//! PutFile SEND → DROP, five attributes each, processed in waves of 100 flowfiles like the
//! engine's batched sessions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_provenance::{
    AttrMap, AttrStr, ContentRef, EventType, ProvenanceConfig, ProvenanceEvent, ProvenanceRepository, Query,
    decode_events, encode_events,
};
use uuid::Uuid;

struct Args {
    events: u64,
    dir: Option<PathBuf>,
    batch: usize,
    block: usize,
}

fn parse_args() -> Args {
    let mut a = Args { events: 1_000_000, dir: None, batch: 100, block: ProvenanceConfig::default().block_events };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--events" => a.events = v().parse().expect("--events N"),
            "--dir" => a.dir = Some(PathBuf::from(v())),
            "--batch" => a.batch = v().parse().expect("--batch N"),
            "--block" => a.block = v().parse().expect("--block N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// One processor of the simulated flow.
struct Component {
    id: Arc<str>,
    kind: Arc<str>,
    name: Arc<str>,
}

impl Component {
    fn new(kind: &str, name: &str) -> Self {
        Component { id: Arc::from(Uuid::new_v4().to_string()), kind: Arc::from(kind), name: Arc::from(name) }
    }
}

/// Generates the events of a realistic flow, wave by wave.
struct FlowGen {
    get: Component,
    update: Component,
    route: Component,
    split: Component,
    merge: Component,
    put: Component,
    k_uuid: AttrStr,
    k_filename: AttrStr,
    k_path: AttrStr,
    k_mime: AttrStr,
    k_offset: AttrStr,
    k_tenant: AttrStr,
    v_path: AttrStr,
    v_mime: AttrStr,
    rel_matched: Arc<str>,
    rel_splits: Arc<str>,
    rel_merged: Arc<str>,
    rel_success: Arc<str>,
    revision: Arc<str>,
    queue: Arc<str>,
    tenants: Vec<AttrStr>,
    next_id: u64,
    ts: i64,
    n_flowfile: u64,
    /// (parent, child1, child2, merged) of some split-and-merge, for the lineage benchmark.
    pub sample_lineage: Vec<(Uuid, Uuid, Uuid, Uuid)>,
}

/// Id, type and time of an event being generated.
struct Stamp(u64, EventType, i64);

fn new_ev(
    Stamp(id, t, ts): Stamp,
    ff: Uuid,
    c: &Component,
    attrs: AttrMap,
    prev: Option<AttrMap>,
    revision: &Arc<str>,
    queue: &Arc<str>,
) -> ProvenanceEvent {
    ProvenanceEvent {
        id,
        event_type: t,
        timestamp_millis: ts,
        duration_millis: 1,
        flowfile_uuid: ff,
        parent_uuids: Vec::new(),
        child_uuids: Vec::new(),
        component_id: c.id.clone(),
        component_type: c.kind.clone(),
        component_name: c.name.clone(),
        relationship: None,
        details: None,
        transit_uri: None,
        previous_attributes: prev,
        updated_attributes: attrs,
        previous_content: None,
        updated_content: Some(ContentRef { segment: id >> 12, offset: (id & 4095) * 1024, len: 1024 }),
        size: 1024,
        lineage_start_millis: ts - 3,
        flow_revision: revision.clone(),
        source_queue_id: Some(queue.clone()),
    }
}

impl FlowGen {
    fn new(start_id: u64, start_ts: i64) -> Self {
        let s = |x: &str| -> Arc<str> { Arc::from(x) };
        FlowGen {
            get: Component::new("GetFile", "Ingest orders from /data/in"),
            update: Component::new("UpdateAttribute", "Tag tenant"),
            route: Component::new("RouteOnAttribute", "Route by tenant"),
            split: Component::new("SplitText", "Split large batches"),
            merge: Component::new("MergeContent", "Re-merge batches"),
            put: Component::new("PutFile", "Write to /data/out"),
            k_uuid: AttrStr::new("uuid"),
            k_filename: AttrStr::new("filename"),
            k_path: AttrStr::new("path"),
            k_mime: AttrStr::new("mime.type"),
            k_offset: AttrStr::new("source.offset"),
            k_tenant: AttrStr::new("tenant"),
            v_path: AttrStr::new("/data/in/orders/"),
            v_mime: AttrStr::new("application/json"),
            rel_matched: s("matched"),
            rel_splits: s("splits"),
            rel_merged: s("merged"),
            rel_success: s("success"),
            revision: s("3f9a2c1"),
            queue: s(&Uuid::new_v4().to_string()),
            tenants: (0..20).map(|i| AttrStr::from(format!("tenant-{i:02}"))).collect(),
            next_id: start_id,
            ts: start_ts,
            n_flowfile: 0,
            sample_lineage: Vec::new(),
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn base_attrs(&mut self, ff: Uuid) -> AttrMap {
        self.n_flowfile += 1;
        let n = self.n_flowfile;
        Arc::new(vec![
            (self.k_uuid.clone(), AttrStr::from(ff.to_string())),
            (self.k_filename.clone(), AttrStr::from(format!("orders-{n:010}.json"))),
            (self.k_path.clone(), self.v_path.clone()),
            (self.k_mime.clone(), self.v_mime.clone()),
            (self.k_offset.clone(), AttrStr::from(n.to_string())),
        ])
    }

    /// One wave of `n` flowfiles through the flow; each stage is one batch, as the engine
    /// commits them. Calls `emit` per stage batch.
    fn wave(&mut self, n: usize, emit: &mut dyn FnMut(Vec<ProvenanceEvent>)) {
        self.ts += 5;
        let ts = self.ts;
        let (rev, q) = (self.revision.clone(), self.queue.clone());
        let ffs: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
        let mut attrs: Vec<AttrMap> = ffs.iter().map(|f| self.base_attrs(*f)).collect();
        // RECEIVE
        let mut b = Vec::with_capacity(n);
        for (f, a) in ffs.iter().zip(&attrs) {
            let mut e = new_ev(Stamp(self.id(), EventType::Receive, ts), *f, &self.get, a.clone(), None, &rev, &q);
            e.transit_uri = Some(format!("file:///data/in/orders/{}", a[1].1));
            b.push(e);
        }
        emit(b);
        // ATTRIBUTES_MODIFIED: add tenant
        let mut b = Vec::with_capacity(n);
        for (i, (f, a)) in ffs.iter().zip(attrs.iter_mut()).enumerate() {
            let mut v = a.as_ref().clone();
            v.push((self.k_tenant.clone(), self.tenants[i % self.tenants.len()].clone()));
            let new: AttrMap = Arc::new(v);
            let e = new_ev(
                Stamp(self.id(), EventType::AttributesModified, ts + 1),
                *f,
                &self.update,
                new.clone(),
                Some(a.clone()),
                &rev,
                &q,
            );
            *a = new;
            b.push(e);
        }
        emit(b);
        // ROUTE
        let mut b = Vec::with_capacity(n);
        for (f, a) in ffs.iter().zip(&attrs) {
            let mut e = new_ev(
                Stamp(self.id(), EventType::Route, ts + 2),
                *f,
                &self.route,
                a.clone(),
                Some(a.clone()),
                &rev,
                &q,
            );
            e.relationship = Some(self.rel_matched.clone());
            b.push(e);
        }
        emit(b);
        // Every 20th flowfile: FORK into 2 children, JOIN them back into a merged flowfile.
        let mut outs: Vec<(Uuid, AttrMap)> = Vec::with_capacity(n + n / 10);
        let mut fork_b = Vec::new();
        let mut join_b = Vec::new();
        for (i, (f, a)) in ffs.iter().zip(&attrs).enumerate() {
            if i % 20 != 7 {
                outs.push((*f, a.clone()));
                continue;
            }
            let (c1, c2, m) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let mut e = new_ev(
                Stamp(self.id(), EventType::Fork, ts + 3),
                *f,
                &self.split,
                a.clone(),
                Some(a.clone()),
                &rev,
                &q,
            );
            e.child_uuids = vec![c1, c2];
            e.relationship = Some(self.rel_splits.clone());
            fork_b.push(e);
            let mut e = new_ev(
                Stamp(self.id(), EventType::Drop, ts + 3),
                *f,
                &self.split,
                a.clone(),
                Some(a.clone()),
                &rev,
                &q,
            );
            e.details = Some("Auto-Terminated by original relationship".into());
            fork_b.push(e);
            let ma = self.base_attrs(m);
            let mut e = new_ev(Stamp(self.id(), EventType::Join, ts + 4), m, &self.merge, ma.clone(), None, &rev, &q);
            e.parent_uuids = vec![c1, c2];
            e.relationship = Some(self.rel_merged.clone());
            join_b.push(e);
            for c in [c1, c2] {
                let ca = self.base_attrs(c);
                join_b.push(new_ev(
                    Stamp(self.id(), EventType::Drop, ts + 4),
                    c,
                    &self.merge,
                    ca.clone(),
                    Some(ca),
                    &rev,
                    &q,
                ));
            }
            if self.sample_lineage.len() < 1000 {
                self.sample_lineage.push((*f, c1, c2, m));
            }
            outs.push((m, ma));
        }
        if !fork_b.is_empty() {
            emit(fork_b);
            emit(join_b);
        }
        // SEND and DROP
        let mut b = Vec::with_capacity(outs.len() * 2);
        for (f, a) in &outs {
            let mut e =
                new_ev(Stamp(self.id(), EventType::Send, ts + 5), *f, &self.put, a.clone(), Some(a.clone()), &rev, &q);
            e.transit_uri = Some(format!("file:///data/out/{}", a[1].1));
            e.relationship = Some(self.rel_success.clone());
            b.push(e);
            let e =
                new_ev(Stamp(self.id(), EventType::Drop, ts + 5), *f, &self.put, a.clone(), Some(a.clone()), &rev, &q);
            b.push(e);
        }
        emit(b);
    }
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn bench_codec() {
    let mut g = FlowGen::new(0, now_millis());
    let mut events = Vec::new();
    while events.len() < 200_000 {
        g.wave(100, &mut |b| events.extend(b));
    }
    let blocks: Vec<&[ProvenanceEvent]> = events.chunks(1024).collect();
    let n = events.len() as u64;
    // Warm up, then best of 3.
    let mut best_enc = Duration::MAX;
    let mut encoded = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        encoded = blocks.iter().map(|b| encode_events(b)).collect::<Vec<_>>();
        best_enc = best_enc.min(t.elapsed());
    }
    let raw: usize = encoded.iter().map(|b| b.len()).sum();
    let t = Instant::now();
    let compressed: Vec<Vec<u8>> = encoded.iter().map(|b| lz4_compress(b)).collect();
    let t_lz4 = t.elapsed();
    let comp: usize = compressed.iter().map(|b| b.len()).sum();
    let mut best_dec = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut c = 0;
        for b in &encoded {
            c += decode_events(b).unwrap().len();
        }
        assert_eq!(c as u64, n);
        best_dec = best_dec.min(t.elapsed());
    }
    println!("codec ({n} events, ~5-6 attributes, blocks of 1024, one core):");
    println!(
        "  encode_events  {} events/s  ({:.0} ns/event)",
        rate(n, best_enc),
        best_enc.as_nanos() as f64 / n as f64
    );
    println!("  decode_events  {} events/s", rate(n, best_dec));
    println!(
        "  lz4 compress   {} events/s; {:.1} B/event raw, {:.1} B/event compressed (x{:.1})",
        rate(n, t_lz4),
        raw as f64 / n as f64,
        comp as f64 / n as f64,
        raw as f64 / comp as f64
    );
}

fn lz4_compress(b: &[u8]) -> Vec<u8> {
    // Same call as the block writer.
    lz4_flex::block::compress_prepend_size(b)
}

/// CPU seconds used so far by each thread whose name starts with `prefix`, summed.
fn thread_cpu_secs(prefix: &str) -> f64 {
    let mut total = 0.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += ticks / 100.0;
        }
    }
    total
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args = parse_args();
    bench_codec();

    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    let config = ProvenanceConfig { block_events: args.block, ..ProvenanceConfig::default() };

    // Generation alone (to compare with the writer).
    {
        let mut g = FlowGen::new(0, now_millis());
        let t = Instant::now();
        let mut c = 0u64;
        while c < 300_000 {
            g.wave(100, &mut |b| c += b.len() as u64);
        }
        println!("event generation alone: {} events/s (producer thread)", rate(c, t.elapsed()));
    }

    let rss_before = rss_mib();
    let repo = ProvenanceRepository::open(&dir, config.clone()).unwrap();
    let start_id = repo.allocate_ids(0);
    let target = args.events;
    let batch = args.batch;
    let start_ts = now_millis() - (target as i64 / 20).max(1);
    let t = Instant::now();
    let producer = {
        let repo = repo.clone();
        std::thread::spawn(move || {
            let mut g = FlowGen::new(start_id, start_ts);
            let mut submitted = 0u64;
            let mut seq = 0u64;
            let mut pending: Vec<ProvenanceEvent> = Vec::with_capacity(batch * 2);
            while submitted < target {
                g.wave(100, &mut |b| {
                    pending.extend(b);
                    while pending.len() >= batch {
                        let rest = pending.split_off(batch);
                        let full = std::mem::replace(&mut pending, rest);
                        submitted += full.len() as u64;
                        seq += 1;
                        repo.submit(full, seq);
                    }
                });
            }
            if !pending.is_empty() {
                submitted += pending.len() as u64;
                seq += 1;
                repo.submit(std::mem::take(&mut pending), seq);
            }
            (submitted, g.sample_lineage)
        })
    };
    let mut last = 0;
    let (submitted, samples) = loop {
        if producer.is_finished() {
            break producer.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let s = repo.stats();
        if s.events_written >= last + 2_000_000 {
            last = s.events_written;
            println!(
                "  ... writer time so far: build {} ms, sled apply {} ms, sled flush {} ms",
                s.writer_build_millis, s.writer_store_millis, s.writer_sync_millis
            );
            println!("  ... {} events written, {:.1} s", s.events_written, t.elapsed().as_secs_f64());
        }
    };
    let t_submit = t.elapsed();
    repo.flush().unwrap();
    let t_all = t.elapsed();
    let s = repo.stats();
    if submitted > 0 {
        println!(
            "writer: {submitted} events in {:.2} s (submit done at {:.2} s) = {} events/s into sled, flushed",
            t_all.as_secs_f64(),
            t_submit.as_secs_f64(),
            rate(submitted, t_all)
        );
        println!(
            "  CPU seconds: writer thread {:.2} ({} events per writer CPU-second), sled threads {:.2}, producer+main {:.2}",
            thread_cpu_secs("sluice-prov-wri"),
            rate(submitted, Duration::from_secs_f64(thread_cpu_secs("sluice-prov-wri").max(0.01))),
            thread_cpu_secs("sled"),
            thread_cpu_secs("prov_bench")
        );
        println!(
            "  submits that waited for the writer: {} (total {} ms): {}",
            s.writer_waits,
            s.writer_wait_millis,
            if s.writer_waits > 0 { "writer-bound" } else { "producer-bound: the writer kept up" }
        );
        println!(
            "  stored: {} events, {} blocks, {:.1} B/event stored, sled on disk {:.1} MiB, RSS {:.0} MiB",
            s.events,
            s.blocks,
            s.stored_bytes as f64 / s.events as f64,
            s.disk_bytes as f64 / 1048576.0,
            rss_mib()
        );
    }
    drop(repo);

    // Reopen: rebuild the in-memory index.
    let t = Instant::now();
    let repo = ProvenanceRepository::open(&dir, config).unwrap();
    let s = repo.stats();
    println!(
        "reopen (index rebuild of {} blocks, {} events): {}, RSS {:.0} MiB (was {:.0} MiB before the first open)",
        s.blocks,
        s.events,
        ms(t.elapsed()),
        rss_mib(),
        rss_before
    );

    // A split-and-merge from the middle of the history (found by query, so that `--events 0`
    // on an existing `--dir` measures a fresh process).
    let mid = repo.allocate_ids(0) / 2;
    let join = repo
        .query(&Query { event_type: Some(EventType::Join), before_id: Some(mid), limit: 1, ..Query::default() })
        .unwrap()
        .events
        .pop()
        .expect("a JOIN event");
    let d = join.flowfile_uuid;
    let fork = repo
        .query(&Query { flowfile: Some(join.parent_uuids[0]), event_type: Some(EventType::Fork), ..Query::default() })
        .unwrap()
        .events
        .pop()
        .expect("the FORK event");
    let a = fork.flowfile_uuid;
    let old_flowfile = samples.first().map_or(a, |s| s.0);
    for (label, start) in [("parent", a), ("merged", d)] {
        for round in ["cold", "warm"] {
            let t = Instant::now();
            let l = repo.lineage(start).unwrap();
            let el = t.elapsed();
            println!(
                "lineage of a split-and-merge {label} flowfile ({round}): {} ({} nodes, {} edges, {} flowfiles)",
                ms(el),
                l.nodes.len(),
                l.edges.len(),
                l.flowfiles().len()
            );
            assert_eq!(l.flowfiles().len(), 4);
        }
    }
    let q = Query { component: Some("Write to /data/out".into()), limit: 1000, ..Query::default() };
    for round in ["cold", "warm"] {
        let t = Instant::now();
        let r = repo.query(&q).unwrap();
        println!(
            "newest 1000 events of one component ({round}): {} ({} events, {} blocks decoded)",
            ms(t.elapsed()),
            r.events.len(),
            r.scanned_blocks
        );
    }
    let t = Instant::now();
    let r = repo.query(&Query { flowfile: Some(old_flowfile), ..Query::default() }).unwrap();
    println!(
        "events of one old flowfile: {} ({} events, {} blocks decoded)",
        ms(t.elapsed()),
        r.events.len(),
        r.scanned_blocks
    );
    let t = Instant::now();
    let r = repo
        .query(&Query { attribute: Some(("filename".into(), "orders-0000000042.json".into())), ..Query::default() })
        .unwrap();
    println!(
        "attribute filename=<one old file> (checks every block's filter): {} ({} events, {} blocks decoded)",
        ms(t.elapsed()),
        r.events.len(),
        r.scanned_blocks
    );
    let t = Instant::now();
    let r = repo.query(&Query { event_type: Some(EventType::Join), limit: 100, ..Query::default() }).unwrap();
    println!("newest 100 JOIN events: {} ({} blocks decoded)", ms(t.elapsed()), r.scanned_blocks);
    let t = Instant::now();
    let e = repo.event(mid / 2).unwrap();
    println!("event by id: {} (found: {})", ms(t.elapsed()), e.is_some());
    let t = Instant::now();
    let removed = repo.enforce_retention().unwrap();
    println!("retention pass with nothing to remove: {} ({removed} removed)", ms(t.elapsed()));
}
