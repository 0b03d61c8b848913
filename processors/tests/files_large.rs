//! Large content through the file processors with bounded memory: a 2 GB file flows
//! ListFile → FetchFile → PutFile through a running engine with a data directory (durable
//! repositories, OS durability), while this process stays under 100 MiB of resident memory
//! (sampled during the run and checked against the kernel's high-water mark), and the
//! written file is byte-identical to the source (compared through SHA-256 computed while
//! streaming). In its own test binary so that nothing else inflates the process's memory.
//!
//! Ignored by default (it writes 6 GB to disk); CI runs it with `--ignored`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_engine::repository::Durability;
use sluice_engine::{EngineConfig, FlowController, FlowDefinition};

const SIZE: u64 = 2 * 1024 * 1024 * 1024;
const LIMIT_KIB: u64 = 100 * 1024;

/// A field of /proc/self/status in KiB.
fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes `size` pseudo-random bytes (a random 1 MiB block, varied per block) and returns
/// their SHA-256.
fn write_source(path: &Path, size: u64) -> io::Result<Vec<u8>> {
    let mut block = vec![0u8; 1 << 20];
    rand::rng().fill_bytes(&mut block);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < size {
        block[..8].copy_from_slice(&i.to_le_bytes());
        let n = (size - written).min(block.len() as u64) as usize;
        w.write_all(&block[..n])?;
        hasher.update(&block[..n]);
        written += n as u64;
        i += 1;
    }
    w.flush()?;
    Ok(hasher.finalize().to_vec())
}

fn sha256_of(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&buf[..n]);
    }
}

#[test]
#[ignore = "writes 6 GB; run with --ignored"]
fn a_2_gb_file_flows_list_fetch_put_in_under_100_mib() {
    let root = tempfile::tempdir_in(
        std::env::var("SLUICE_LARGE_TEST_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    let src = root.path().join("in");
    let dst = root.path().join("out");
    let data = root.path().join("data");
    fs::create_dir_all(&src).unwrap();
    let expected = write_source(&src.join("big.bin"), SIZE).unwrap();
    let before = status_kib("VmRSS:");

    let def: FlowDefinition = serde_json::from_value(serde_json::json!({
        "version": 1,
        "processors": [
            { "id": "list", "type": "ListFile", "state": "RUNNING",
              "properties": { "Input Directory": src.display().to_string() },
              "scheduling": { "period": "1 sec" } },
            { "id": "fetch", "type": "FetchFile", "state": "RUNNING",
              "auto_terminated_relationships": ["not.found", "permission.denied", "failure"] },
            { "id": "put", "type": "PutFile", "state": "RUNNING",
              "properties": { "Directory": dst.display().to_string() },
              "auto_terminated_relationships": ["success", "failure"] }
        ],
        "connections": [
            { "id": "listed", "source": "list", "relationships": ["success"], "destination": "fetch" },
            { "id": "fetched", "source": "fetch", "relationships": ["success"], "destination": "put" }
        ]
    }))
    .expect("flow definition");
    let config =
        EngineConfig { data_dir: Some(data.clone()), durability: Durability::Os, workers: 2, ..Default::default() };
    let fc: Arc<FlowController> = FlowController::new(config, sluice_processors::registry()).expect("engine starts");

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                peak.fetch_max(status_kib("VmRSS:"), Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    fc.load(def).expect("flow loads");
    let out = dst.join("big.bin");
    // PutFile renames into place: the file exists only once complete.
    while !out.exists() {
        assert!(started.elapsed() < Duration::from_secs(1800), "the file did not arrive within 30 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    sampler.join().unwrap();
    fc.shutdown();
    let hwm = status_kib("VmHWM:");
    let sampled = peak.load(Ordering::Acquire);
    eprintln!(
        "2 GiB ListFile → FetchFile → PutFile in {:.1} s ({:.0} MiB/s); RSS before {} KiB, sampled peak {} KiB, VmHWM {} KiB",
        elapsed.as_secs_f64(),
        SIZE as f64 / 1048576.0 / elapsed.as_secs_f64(),
        before,
        sampled,
        hwm
    );
    assert_eq!(fs::metadata(&out).unwrap().len(), SIZE);
    assert!(sampled < LIMIT_KIB, "resident memory peaked at {sampled} KiB during the run");
    assert!(hwm < LIMIT_KIB, "the process's high-water mark is {hwm} KiB");
    assert_eq!(sha256_of(&out).unwrap(), expected, "byte-identical");
    let leftovers: Vec<_> = fs::read_dir(&dst).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}
