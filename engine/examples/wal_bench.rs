//! Benchmark of the durable flowfile repository (write-ahead log with group commit).
//!
//! ```text
//! cargo run --release -p sluice-engine --example wal_bench -- [--seconds 3] [--batch 1] [--flowfiles 1000000] [--dir PATH]
//! ```
//!
//! Prints commits/s and records/s (flowfile changes) for `os` and `fsync` durability with 1
//! and 4 committing threads, then the time to recover `--flowfiles` queued flowfiles, from the
//! log alone and from a checkpoint. A commit is one session moving `--batch` flowfiles from
//! one connection to the next: a dequeue and an enqueue per flowfile, one provenance event
//! per flowfile.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_engine::FlowFile;
use sluice_engine::content::ContentRepository;
use sluice_engine::provenance::{ContentRef, EventType, ProvenanceEvent};
use sluice_engine::repository::{Durability, FlowFileRepository, RepoChange, WalConfig, WalRepository};

struct Args {
    seconds: f64,
    batch: usize,
    flowfiles: usize,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { seconds: 3.0, batch: 1, flowfiles: 1_000_000, dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--batch" => a.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--flowfiles" => a.flowfiles = value()?.parse().map_err(|e| format!("--flowfiles: {e}"))?,
            "--dir" => a.dir = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn flowfile(content: &ContentRepository, n: u64) -> FlowFile {
    let c = content.claim_existing(ContentRef { segment: 1 + n / 1000, offset: (n % 1000) * 1024, len: 1024 });
    let mut ff = FlowFile::new(c);
    ff.set_attr("mime.type", "application/json");
    ff
}

fn event(ff: &FlowFile) -> ProvenanceEvent {
    ProvenanceEvent {
        id: 0,
        event_type: EventType::Route,
        timestamp_millis: ff.entry_millis,
        duration_millis: 0,
        flowfile_uuid: ff.id,
        parent_uuids: Vec::new(),
        child_uuids: Vec::new(),
        component_id: Arc::from("5f1e2d3c-processor"),
        component_type: Arc::from("RouteOnAttribute"),
        component_name: Arc::from("Route"),
        relationship: Some(Arc::from("matched")),
        details: None,
        transit_uri: None,
        previous_attributes: None,
        updated_attributes: ff.attributes.shared().clone(),
        previous_content: None,
        updated_content: ff.content.location(),
        size: ff.size(),
        lineage_start_millis: ff.lineage_start_millis,
        flow_revision: Arc::from("r1"),
        source_queue_id: Some(Arc::from("conn-a")),
    }
}

fn throughput(base: &std::path::Path, durability: Durability, threads: usize, args: &Args) -> Result<(), String> {
    let dir = base.join(format!("tp-{durability:?}-{threads}"));
    let content = ContentRepository::in_memory();
    let (repo, _) = WalRepository::open(&dir, WalConfig::new(durability), &content, None).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let mut lat_max = Duration::ZERO;
    let started = Instant::now();
    std::thread::scope(|s| -> Result<(), String> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (repo, content, stop, commits) = (repo.clone(), content.clone(), stop.clone(), commits.clone());
                let batch = args.batch;
                s.spawn(move || -> Result<Duration, String> {
                    let (from, to) = (format!("conn-{t}-a"), format!("conn-{t}-b"));
                    // Flowfiles start in `from`; each commit moves a batch on to `to` and back.
                    let mut queued: Vec<FlowFile> =
                        (0..batch as u64).map(|i| flowfile(&content, t as u64 * 1_000_000 + i)).collect();
                    let mut flip = false;
                    let mut worst = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        let (src, dst) = if flip { (&to, &from) } else { (&from, &to) };
                        for f in &mut queued {
                            f.queued_millis += 1;
                        }
                        let mut changes: Vec<RepoChange<'_>> = Vec::with_capacity(2 * batch);
                        changes.extend(queued.iter().map(|f| RepoChange::Dequeue { queue: src, id: f.id }));
                        changes.extend(queued.iter().map(|f| RepoChange::Enqueue { queue: dst, flowfile: f }));
                        let events: Vec<ProvenanceEvent> = queued.iter().map(event).collect();
                        let t0 = Instant::now();
                        repo.commit(&changes, &events).map_err(|e| e.to_string())?;
                        worst = worst.max(t0.elapsed());
                        commits.fetch_add(1, Ordering::Relaxed);
                        flip = !flip;
                    }
                    Ok(worst)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(args.seconds));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let worst = h.join().map_err(|_| "bench thread panicked".to_string())??;
            lat_max = lat_max.max(worst);
        }
        Ok(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    let stats = repo.stats();
    let n = commits.load(Ordering::Relaxed) as f64;
    println!(
        "{:<6} {:>2} thr  batch {:>4}: {:>9.0} commits/s {:>10.0} records/s  {:>5.1} commits/group  {:>4.0} B/commit  max latency {:>6.2} ms",
        format!("{durability:?}").to_lowercase(),
        threads,
        args.batch,
        n / secs,
        n * 2.0 * args.batch as f64 / secs,
        stats.commits as f64 / stats.groups.max(1) as f64,
        stats.log_bytes as f64 / stats.commits.max(1) as f64,
        lat_max.as_secs_f64() * 1000.0,
    );
    drop(repo);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn recovery(base: &std::path::Path, args: &Args) -> Result<(), String> {
    let dir = base.join("recovery");
    let content = ContentRepository::in_memory();
    let cfg = WalConfig {
        checkpoint_log_bytes: u64::MAX,
        checkpoint_interval: Duration::from_secs(1 << 30),
        ..WalConfig::new(Durability::Os)
    };
    let t0 = Instant::now();
    {
        let (repo, _) = WalRepository::open(&dir, cfg.clone(), &content, None).map_err(|e| e.to_string())?;
        let per_commit = 1000;
        let mut n = 0u64;
        while (n as usize) < args.flowfiles {
            let k = per_commit.min(args.flowfiles - n as usize) as u64;
            let ffs: Vec<FlowFile> = (n..n + k).map(|i| flowfile(&content, i)).collect();
            let queue = format!("conn-{}", n / 250_000);
            let changes: Vec<RepoChange<'_>> =
                ffs.iter().map(|f| RepoChange::Enqueue { queue: &queue, flowfile: f }).collect();
            repo.commit(&changes, &[]).map_err(|e| e.to_string())?;
            n += k;
        }
        println!(
            "wrote {} queued flowfiles in {:.2} s ({} log bytes, {:.0} B/flowfile)",
            args.flowfiles,
            t0.elapsed().as_secs_f64(),
            repo.disk_bytes(),
            repo.disk_bytes() as f64 / args.flowfiles.max(1) as f64
        );
    }
    for round in ["log only", "snapshot", "snapshot"] {
        let content = ContentRepository::in_memory();
        let t = Instant::now();
        let (repo, rec) = WalRepository::open(&dir, cfg.clone(), &content, None).map_err(|e| e.to_string())?;
        let took = t.elapsed();
        let count: usize = rec.queues.iter().map(|(_, q)| q.len()).sum();
        if count != args.flowfiles {
            return Err(format!("recovered {count} flowfiles, expected {}", args.flowfiles));
        }
        println!(
            "recovery ({round:<10}): {count} flowfiles in {:>6.0} ms  (disk {} bytes)",
            took.as_secs_f64() * 1000.0,
            repo.disk_bytes()
        );
        if round == "log only" {
            let t = Instant::now();
            repo.checkpoint().map_err(|e| e.to_string())?;
            println!(
                "checkpoint of {count} flowfiles: {:.0} ms, of which commits were held up {:.0} ms",
                t.elapsed().as_secs_f64() * 1000.0,
                repo.stats().checkpoint_stall_micros as f64 / 1000.0
            );
        }
        drop(rec);
        drop(repo);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wal_bench: {e}");
            std::process::exit(2);
        }
    };
    let tmp;
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => match tempfile::tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("wal_bench: no temp dir: {e}");
                std::process::exit(1);
            }
        },
    };
    println!("wal_bench in {}", base.display());
    for durability in [Durability::Os, Durability::Fsync] {
        for threads in [1, 4] {
            if let Err(e) = throughput(&base, durability, threads, &args) {
                eprintln!("wal_bench: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Err(e) = recovery(&base, &args) {
        eprintln!("wal_bench: {e}");
        std::process::exit(1);
    }
}
