//! Back pressure, alone in its own test binary so that its memory figure is its own.

mod common;

use std::time::Duration;

use common::*;
use sluice_engine::node::RunState;
use sluice_engine::{EngineConfig, FlowController};

#[test]
fn back_pressure_stops_the_source_at_the_threshold() {
    let fc =
        FlowController::new(EngineConfig { workers: 2, provenance: false, ..Default::default() }, registry()).unwrap();
    let k = key("bp");
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", "1000000"), ("Batch", "100"), ("Key", &k)], RunState::Running),
            proc("sink", "Collector", &[("Key", &k)], RunState::Stopped),
        ],
        vec![conn("c", "src", &["success"], "sink", 1000)],
    ))
    .unwrap();
    let c = fc.find_connection("c").unwrap();
    assert!(wait_until(Duration::from_secs(5), || c.queued_count() >= 1000));
    // Stable: the source is no longer scheduled.
    let triggers = || TRIGGERS.lock().get(&k).copied().unwrap_or(0);
    let t1 = triggers();
    let rss1 = rss_bytes();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(triggers(), t1, "the source kept being triggered under back pressure");
    let q = c.queued_count();
    assert!((1000..=1100).contains(&q), "queue {q} overshot the threshold by more than one batch");
    assert!(rss_bytes() <= rss1 + 8 * 1024 * 1024, "memory grew under back pressure");
    // Draining resumes the source.
    fc.start_processor("sink").unwrap();
    assert!(wait_until(Duration::from_secs(5), || seen(&k).len() > 5000));
    fc.shutdown();
}
