//! Swapping: a backlog above the swap threshold waits on disk, comes back in FIFO order with
//! its content, survives a restart, and leaves no swap file behind once drained.

mod common;

use std::sync::LazyLock;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sluice_engine::node::RunState;
use sluice_engine::repository::Durability;
use sluice_engine::{
    EngineConfig, FlowController, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
};

/// `(seq, content)` of each flowfile the recorder saw.
type Seen = Mutex<Vec<(u64, Vec<u8>)>>;
static ORDER: LazyLock<Seen> = LazyLock::new(|| Mutex::new(Vec::new()));

/// Records each flowfile's `seq` attribute and content, in arrival order.
struct Recorder;
impl Processor for Recorder {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in s.get_batch(1000) {
            let seq = ff.attr("seq").and_then(|v| v.parse().ok()).expect("seq attribute");
            let body = s.read_bytes(&ff)?.to_vec();
            ORDER.lock().push((seq, body));
            s.remove(ff);
        }
        Ok(())
    }
}

const TOTAL: u64 = 30_000;
const THRESHOLD: usize = 1_000;

fn engine(dir: &std::path::Path) -> std::sync::Arc<FlowController> {
    let mut r = registry();
    r.register(ProcessorDescriptor::new("Recorder", "records seq"), || Box::new(Recorder));
    let config = EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        durability: Durability::Os,
        provenance: false,
        workers: 2,
        swap_threshold: THRESHOLD,
        ..Default::default()
    };
    FlowController::new(config, r).unwrap()
}

fn swap_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("swap")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_large_backlog_swaps_to_disk_and_returns_in_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("swap");
    let def = |source: RunState, sink: RunState| {
        flow(
            vec![
                proc("src", "CountingSource", &[("Total", &TOTAL.to_string()), ("Batch", "500"), ("Key", &k)], source),
                proc("sink", "Recorder", &[], sink),
            ],
            vec![conn("c", "src", &["success"], "sink", 1_000_000)],
        )
    };

    let fc = engine(dir.path());
    fc.load(def(RunState::Running, RunState::Stopped)).unwrap();
    let c = fc.find_connection("c").unwrap();
    assert!(wait_until(Duration::from_secs(30), || c.queued_count() == TOTAL), "queued {}", c.queued_count());
    let files = swap_files(dir.path());
    // Everything beyond the threshold is on disk, in files of threshold/2 flowfiles.
    assert!(files >= (TOTAL as usize - THRESHOLD) / (THRESHOLD / 2) - 1, "only {files} swap files");
    // Listing reaches into swap files and keeps FIFO order.
    let page = c.list(20_000, 3);
    let seqs: Vec<&str> = page.iter().map(|f| f.attr("seq").unwrap()).collect();
    assert_eq!(seqs, ["20000", "20001", "20002"]);
    let deep = page[0].id;
    assert!(c.find(deep).is_some(), "find does not see swapped flowfiles");
    fc.shutdown();
    drop(fc);

    // Restart: the flowfile repository restores the backlog; it swaps again on the way in.
    // The source stays stopped: a new instance would count from zero again.
    let fc = engine(dir.path());
    fc.load(def(RunState::Stopped, RunState::Stopped)).unwrap();
    let c = fc.find_connection("c").unwrap();
    assert_eq!(c.queued_count(), TOTAL);
    assert!(swap_files(dir.path()) > 10, "recovery did not swap the backlog");

    ORDER.lock().clear();
    fc.start_processor("sink").unwrap();
    assert!(wait_until(Duration::from_secs(60), || ORDER.lock().len() as u64 >= TOTAL), "got {}", ORDER.lock().len());
    assert!(wait_until(Duration::from_secs(5), || c.queued_count() == 0));
    let order = ORDER.lock();
    assert_eq!(order.len() as u64, TOTAL);
    for (i, (seq, body)) in order.iter().enumerate() {
        assert_eq!(*seq, i as u64, "out of order at {i}");
        assert_eq!(body, format!("payload-{seq}").as_bytes(), "content of {seq}");
    }
    assert_eq!(swap_files(dir.path()), 0, "swap files left after the queue drained");
    fc.shutdown();
}
