//! Disk full, on the whole engine: a flow streams into a data dir on a small tmpfs; the disk is
//! filled up. The engine keeps running and says why in a bulletin; once space returns the flow
//! resumes by itself; every flowfile the source committed is delivered exactly once; and the
//! data dir opens again cleanly. The sink reads every flowfile's content back from the segment
//! files (the in-memory copy of small content is turned off) and checks it byte for byte against
//! what the source wrote. Needs root (mount); skipped outside CI without it, fails in CI.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sluice_engine::content::ContentRepositoryConfig;
use sluice_engine::node::RunState;
use sluice_engine::repository::Durability;
use sluice_engine::{
    EngineConfig, FlowController, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor,
};

/// Deliveries whose content was not what the source wrote (`payload-<seq>`), by `Key`.
static MISMATCHES: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// A sink like `Collector` that first reads each flowfile's content through its stream and checks
/// it is exactly `payload-<seq>` as `CountingSource` wrote it; it records the uuid of what it
/// checked under its `Key` and every difference in `MISMATCHES`.
struct ContentCheck;
impl Processor for ContentCheck {
    fn on_trigger(&self, ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        let key = ctx.property("Key").unwrap_or("default").to_string();
        let batch = s.get_batch(1000);
        let mut ids = Vec::with_capacity(batch.len());
        let mut bad = Vec::new();
        for ff in batch {
            let mut got = Vec::new();
            s.read(&ff)?.read_to_end(&mut got)?;
            let want = format!("payload-{}", ff.attr("seq").unwrap_or("?"));
            if got != want.as_bytes() {
                bad.push(format!("{}: {:?} instead of {want:?}", ff.id, String::from_utf8_lossy(&got)));
            }
            ids.push(ff.id);
            s.remove(ff);
        }
        MISMATCHES.lock().extend(bad);
        SEEN.lock().entry(key).or_default().extend(ids);
        Ok(())
    }
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn engine(dir: &Path) -> Arc<FlowController> {
    let config = EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        durability: Durability::Os,
        provenance: false,
        workers: 2,
        // No in-memory copy of small content: the sink's reads come from the segment files.
        content_config: ContentRepositoryConfig { cache_limit: 0, ..Default::default() },
        ..Default::default()
    };
    let mut r = registry();
    r.register(
        ProcessorDescriptor::new("ContentCheck", "checks content").property(PropertyDescriptor::new("Key")),
        || Box::new(ContentCheck),
    );
    FlowController::new(config, r).unwrap()
}

/// Writes zeros until the file system says it is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

/// A full disk pauses a flow without stopping the engine and with a bulletin; it resumes by itself
/// once space returns; every flowfile the source committed is delivered once, with content read
/// back from disk byte-identical to what the source wrote; the data dir opens again cleanly.
#[test]
fn a_full_disk_pauses_the_flow_loses_nothing_and_it_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"]).arg(&mnt).output();
    match out {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot mount a tmpfs for the disk-full test (needs root): {why}"
            );
            eprintln!("SKIPPED: cannot mount tmpfs (needs root): {why}");
            return;
        }
    }
    let _unmount = Unmount(mnt.clone());
    let data = mnt.join("data");
    let k = key("full");
    let def = |src: RunState| {
        flow(
            vec![
                proc("src", "CountingSource", &[("Total", "100000000"), ("Batch", "50"), ("Key", &k)], src),
                proc("sink", "ContentCheck", &[("Key", &k)], RunState::Running),
            ],
            vec![conn("c", "src", &["success"], "sink", 10_000)],
        )
    };
    let fc = engine(&data);
    fc.load(def(RunState::Running)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || seen(&k).len() > 2_000), "the flow did not start");

    let filler = mnt.join("filler");
    fill(&filler);
    let full_bulletin = || {
        fc.bulletins()
            .recent(None, 100)
            .iter()
            .any(|b| b.message.contains("No space left") || b.message.contains("os error 28"))
    };
    assert!(wait_until(Duration::from_secs(15), full_bulletin), "no bulletin about the full disk");
    // Still alive: the API answers and the processors are still running.
    let snap = fc.snapshot();
    assert!(snap.processors.iter().all(|p| p.state == RunState::Running));

    // Space returns: the flow resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let before = seen(&k).len();
    assert!(
        wait_until(Duration::from_secs(20), || seen(&k).len() > before + 2_000),
        "the flow did not resume after space returned ({} -> {})",
        before,
        seen(&k).len()
    );

    // Stop the source, let the queue drain: everything the source committed arrived once.
    fc.stop_processor("src").unwrap();
    let c = fc.find_connection("c").unwrap();
    assert!(wait_until(Duration::from_secs(20), || c.queued_count() == 0), "queue did not drain");
    std::thread::sleep(Duration::from_millis(200));
    // The collector records in on_trigger, before its commit: a commit the full disk refused
    // rolled back and was delivered again, so its list may repeat ids. What counts is what was
    // committed: every flowfile the source committed was taken by a committed sink session
    // exactly once, and the collector saw each of them.
    let got = seen(&k);
    let unique: std::collections::HashSet<_> = got.iter().collect();
    let counter = |id: &str, f: fn(&sluice_engine::status::ProcessorCounters) -> &std::sync::atomic::AtomicU64| {
        f(&fc.nodes().into_iter().find(|n| &*n.id == id).unwrap().counters).load(Ordering::Acquire)
    };
    let produced = counter("src", |c| &c.flowfiles_out);
    let consumed = counter("sink", |c| &c.flowfiles_in);
    assert_eq!(consumed, produced, "the source committed {produced}, the sink committed {consumed}");
    assert_eq!(unique.len() as u64, produced, "the sink saw {} distinct of {produced}", unique.len());
    let mismatches = MISMATCHES.lock().clone();
    assert!(
        mismatches.is_empty(),
        "{} deliveries had content other than the source wrote, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    println!(
        "committed {produced}, sink deliveries {} all with the content written (re-deliveries after refused \
         commits: {})",
        got.len(),
        got.len() - unique.len()
    );
    fc.shutdown();
    drop(fc);

    // The data dir opens again: nothing corrupt, nothing left queued.
    let fc = engine(&data);
    fc.load(def(RunState::Stopped)).unwrap();
    assert_eq!(fc.find_connection("c").unwrap().queued_count(), 0);
    fc.shutdown();
}
