//! Crash safety: a child process writes provenance and is killed with SIGKILL at a random moment;
//! on reopen, everything up to the last durable WAL sequence number it reported is there, and
//! blocks and index agree.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sluice_provenance::{AttrStr, EventType, ProvenanceConfig, ProvenanceRepository, Query};
use uuid::Uuid;

const CHILD_ENV: &str = "SLUICE_PROV_CRASH_CHILD_DIR";

fn config() -> ProvenanceConfig {
    ProvenanceConfig { block_events: 200, flush_interval: Duration::from_millis(5), ..ProvenanceConfig::default() }
}

/// Events in the batch with WAL sequence `seq`.
fn batch_len(seq: u64) -> u64 {
    1 + seq % 37
}

/// Child mode: only does something when the parent test starts this binary with `CHILD_ENV`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let repo = ProvenanceRepository::open(Path::new(&dir), config()).unwrap();
    let mut seq = repo.durable_wal_seq();
    let stdout = std::io::stdout();
    loop {
        seq += 1;
        let n = batch_len(seq);
        let first = repo.allocate_ids(n);
        let events = (0..n)
            .map(|i| {
                let mut e = common::event(first + i, EventType::Create, Uuid::new_v4(), "Gen", 1);
                let mut attrs = e.updated_attributes.as_ref().clone();
                attrs.push((AttrStr::new("seq"), AttrStr::from(seq.to_string())));
                attrs.push((AttrStr::new("idx"), AttrStr::from(i.to_string())));
                e.updated_attributes = Arc::new(attrs);
                e
            })
            .collect();
        repo.submit(events, seq);
        if seq.is_multiple_of(20) {
            repo.flush().unwrap();
            let mut out = stdout.lock();
            writeln!(out, "DURABLE {}", repo.durable_wal_seq()).unwrap();
            out.flush().unwrap();
        }
    }
}

fn random_u64() -> u64 {
    Uuid::new_v4().as_u128() as u64
}

#[test]
fn kill_9_loses_nothing_that_was_reported_durable() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last_durable = 0u64;
    for round in 0..4 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("DURABLE ") {
                    let _ = tx.send(n.trim().parse::<u64>().unwrap());
                }
            }
        });
        // Wait until the child has made progress, then kill it at a random moment.
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("child reported nothing");
        std::thread::sleep(Duration::from_millis(50 + random_u64() % 700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let reported = rx.try_iter().fold(first, u64::max);
        assert!(reported >= last_durable);
        last_durable = reported;

        let repo = ProvenanceRepository::open(dir.path(), config()).unwrap();
        assert!(
            repo.durable_wal_seq() >= last_durable,
            "round {round}: durable {} < reported {last_durable}",
            repo.durable_wal_seq()
        );
        let report = repo.verify().unwrap();
        assert!(report.is_consistent(), "round {round}: {report:?}");
        let all = repo.query(&Query { limit: usize::MAX, ..Query::default() }).unwrap();
        assert_eq!(report.events, all.events.len() as u64);
        let mut by_seq: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for e in &all.events {
            let seq: u64 = e.attribute("seq").unwrap().parse().unwrap();
            let idx: u64 = e.attribute("idx").unwrap().parse().unwrap();
            by_seq.entry(seq).or_default().insert(idx);
        }
        for seq in 1..=last_durable {
            let got = by_seq.get(&seq).map_or(0, |s| s.len() as u64);
            assert_eq!(got, batch_len(seq), "round {round}: seq {seq} incomplete");
        }
        // Ids stay unique across restarts.
        let unique: BTreeSet<u64> = all.events.iter().map(|e| e.id).collect();
        assert_eq!(unique.len(), all.events.len());
        eprintln!(
            "round {round}: reported durable {last_durable}, reopened durable {}, {} events",
            repo.durable_wal_seq(),
            all.events.len()
        );
    }
}
