//! Engine core behaviour: back pressure, no loss or duplication, rollback, retry, cron,
//! flow file errors, and live graph changes.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sluice_engine::flow::view::{NewConnection, NewProcessor, ProcessorPatch};
use sluice_engine::node::{RunState, Scheduling};
use sluice_engine::schedule::{Clock, ManualClock, Strategy};
use sluice_engine::{EngineConfig, FlowController};

fn engine() -> Arc<FlowController> {
    FlowController::new(EngineConfig { workers: 2, provenance: false, ..Default::default() }, registry()).unwrap()
}

#[test]
fn fan_out_fan_in_of_a_million_loses_and_duplicates_nothing() {
    let fc = engine();
    let k = key("fan");
    let n = 1_000_000u64;
    let total = n.to_string();
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", &total), ("Batch", "1000"), ("Key", &k)], RunState::Running),
            proc("split", "Split", &[], RunState::Running),
            proc("even", "Pass", &[], RunState::Running),
            proc("odd", "Pass", &[], RunState::Running),
            proc("sink", "Collector", &[("Key", &k)], RunState::Running),
        ],
        vec![
            conn("c1", "src", &["success"], "split", 10_000),
            conn("c2", "split", &["even"], "even", 10_000),
            conn("c3", "split", &["odd"], "odd", 10_000),
            conn("c4", "even", &["success"], "sink", 10_000),
            conn("c5", "odd", &["success"], "sink", 10_000),
        ],
    ))
    .unwrap();
    assert!(wait_until(Duration::from_secs(120), || seen(&k).len() as u64 >= n), "only {} arrived", seen(&k).len());
    std::thread::sleep(Duration::from_millis(100));
    let ids = seen(&k);
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len() as u64, n, "duplicates or extra flowfiles");
    assert_eq!(unique.len() as u64, n, "duplicated flowfiles");
    for c in fc.connections() {
        assert_eq!(c.queued_count(), 0, "connection {} not drained", c.id);
    }
    fc.shutdown();
}

#[test]
fn an_error_rolls_back_and_returns_inputs_penalized_with_a_bulletin() {
    let fc = engine();
    let k = key("rb");
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", "3"), ("Batch", "3"), ("Key", &k)], RunState::Stopped),
            proc("fail", "Failing", &[], RunState::Stopped),
            proc("sink", "Collector", &[("Key", &k)], RunState::Stopped),
        ],
        vec![conn("in", "src", &["success"], "fail", 100), conn("out", "fail", &["success"], "sink", 100)],
    ))
    .unwrap();
    fc.trigger_once("src").unwrap();
    let input = fc.find_connection("in").unwrap();
    assert_eq!(input.queued_count(), 3);
    let err = fc.trigger_once("fail").unwrap_err().to_string();
    assert!(err.contains("deliberate failure"), "{err}");
    assert_eq!(input.queued_count(), 3, "the input was lost");
    let listing = fc.list_queue("in", 0, 10).unwrap();
    assert_eq!(listing.flowfiles.iter().filter(|f| f.penalized).count(), 1, "the failed input is not penalized");
    assert_eq!(fc.find_connection("out").unwrap().queued_count(), 0);
    let b = fc.bulletins().recent(Some("fail"), 10);
    assert!(b.iter().any(|b| b.message.contains("deliberate failure")), "no bulletin: {b:?}");
    fc.shutdown();
}

/// A processor that panics is a failed task, not a dead worker thread: its inputs stay
/// queued (penalized), a bulletin names the panic, and the rest of the flow keeps running on
/// the same two workers.
#[test]
fn a_panicking_processor_loses_nothing_and_the_workers_survive() {
    let fc = engine();
    let (kp, k) = (key("panic-src"), key("after-panic"));
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", "4"), ("Batch", "4"), ("Key", &kp)], RunState::Running),
            proc("boom", "Panicking", &[], RunState::Running),
            proc("sink0", "Collector", &[("Key", &kp)], RunState::Stopped),
        ],
        vec![conn("in", "src", &["success"], "boom", 100), conn("out", "boom", &["success"], "sink0", 100)],
    ))
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || fc
            .bulletins()
            .recent(Some("boom"), 10)
            .iter()
            .filter(|b| b.message.contains("panicked: deliberate panic"))
            .count()
            >= 2),
        "bulletins: {:?}",
        fc.bulletins().recent(Some("boom"), 10)
    );
    assert_eq!(fc.find_connection("in").unwrap().queued_count(), 4, "every input is still queued");
    assert!(fc.list_queue("in", 0, 10).unwrap().flowfiles.iter().any(|f| f.penalized));
    // More panics than workers have happened; the other flow still runs.
    let more = flow(
        vec![
            proc("src", "CountingSource", &[("Total", "4"), ("Batch", "4"), ("Key", &kp)], RunState::Stopped),
            proc("boom", "Panicking", &[], RunState::Running),
            proc("sink0", "Collector", &[("Key", &kp)], RunState::Stopped),
            proc("src2", "CountingSource", &[("Total", "500"), ("Batch", "50"), ("Key", &k)], RunState::Running),
            proc("sink", "Collector", &[("Key", &k)], RunState::Running),
        ],
        vec![
            conn("in", "src", &["success"], "boom", 100),
            conn("out", "boom", &["success"], "sink0", 100),
            conn("c2", "src2", &["success"], "sink", 1000),
        ],
    );
    fc.load(more).unwrap();
    assert!(wait_until(Duration::from_secs(20), || seen(&k).len() >= 500), "only {} arrived", seen(&k).len());
    fc.shutdown();
}

#[test]
fn retry_requeues_with_doubling_backoff_then_routes_on() {
    let clock = ManualClock::new(1_000_000);
    let fc = FlowController::new(
        EngineConfig { workers: 1, provenance: false, clock: clock.clone(), ..Default::default() },
        registry(),
    )
    .unwrap();
    let k = key("retry");
    let mut failing = proc("f", "AlwaysFailure", &[], RunState::Stopped);
    failing.retry = Some(retry(&["failure"], 3, "10 mins"));
    failing.auto_terminated_relationships = vec!["success".into()];
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", "1"), ("Batch", "1"), ("Key", &k)], RunState::Stopped),
            failing,
            proc("sink", "Collector", &[("Key", &k)], RunState::Stopped),
        ],
        vec![conn("in", "src", &["success"], "f", 100), conn("failed", "f", &["failure"], "sink", 100)],
    ))
    .unwrap();
    fc.trigger_once("src").unwrap();
    let input = fc.find_connection("in").unwrap();
    let failed = fc.find_connection("failed").unwrap();
    // penalty is 100 ms: back-off 100, 200, 400 ms, then the flowfile routes on.
    for backoff in [100i64, 200, 400] {
        assert!(fc.trigger_once("f").unwrap(), "the flowfile should be ready");
        assert_eq!(input.queued_count(), 1, "retried flowfile should be back in its input queue");
        assert_eq!(failed.queued_count(), 0);
        clock.advance(Duration::from_millis(backoff as u64 - 1));
        assert!(!fc.trigger_once("f").unwrap(), "retried before its back-off of {backoff} ms ended");
        clock.advance(Duration::from_millis(1));
    }
    assert!(fc.trigger_once("f").unwrap());
    assert_eq!(input.queued_count(), 0);
    assert_eq!(failed.queued_count(), 1, "after 3 retries the flowfile routes on to failure");
    let _ = clock.now_millis();
    fc.shutdown();
}

#[test]
fn cron_schedules_fire_as_written() {
    // 2026-01-01T10:00:30Z
    let start = 1_767_261_630_000i64;
    let clock = ManualClock::new(start);
    let fc = FlowController::new(
        EngineConfig { workers: 1, provenance: false, clock: clock.clone(), ..Default::default() },
        registry(),
    )
    .unwrap();
    let k = key("cron");
    let mut src = proc("src", "CountingSource", &[("Total", "1000"), ("Batch", "1"), ("Key", &k)], RunState::Running);
    src.scheduling =
        Scheduling { strategy: Strategy::CronDriven, period: "0 */5 * * * ?".into(), ..Default::default() };
    src.auto_terminated_relationships = vec!["success".into()];
    fc.load(flow(vec![src], vec![])).unwrap();
    let triggers = || TRIGGERS.lock().get(&k).copied().unwrap_or(0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(triggers(), 0, "fired before its first time");
    // Next fire times: 10:05:00, 10:10:00, ...
    for i in 1..=4u64 {
        let fire = start - 30_000 + (i as i64) * 300_000;
        clock.set(fire - 1000);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(triggers(), i - 1, "fired early before fire time {i}");
        clock.set(fire);
        assert!(wait_until(Duration::from_secs(2), || triggers() == i), "did not fire at time {i}: {}", triggers());
    }
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(triggers(), 4, "fired more than once per time");
    fc.shutdown();
}

#[test]
fn malformed_and_invalid_flow_files_are_refused_naming_the_element() {
    use sluice_engine::flow::load::{check_processors, check_structure};
    use sluice_engine::flow::parse_flow;
    let e = parse_flow("{\"version\": 1,\n \"processors\": [ }").unwrap_err();
    assert!(e.issues[0].path.starts_with("line 2"), "{e}");
    let e = parse_flow(
        r#"{"version": 1, "processors": [{"id": "a", "type": "X", "scheduling": {"concurrent_tasks": "many"}}]}"#,
    )
    .unwrap_err();
    assert!(e.issues[0].path.contains("processors[0].scheduling.concurrent_tasks"), "{e}");
    let e = parse_flow(r#"{"processors": []}"#).unwrap_err();
    assert_eq!(e.issues[0].path, "version");
    let e = parse_flow(r#"{"version": 1, "processors": [{"id": "a", "type": "X", "colour": "red"}]}"#).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");

    let r = registry();
    let def = parse_flow(
        r#"{"version": 1, "processors": [
            {"id": "g", "type": "GenerateFlowFile"},
            {"id": "x", "type": "NoSuchProcessor"}
          ],
          "connections": [{"id": "c", "source": "g", "relationships": ["sucess"], "destination": "missing"}]}"#,
    )
    .unwrap();
    let e = check_structure(&def, &r).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("processors[1].type: unknown processor type 'NoSuchProcessor'"), "{text}");
    assert!(text.contains("connections[0].destination"), "{text}");
    assert!(text.contains("connections[0].relationships[0]") && text.contains("sucess"), "{text}");

    let def = parse_flow(r#"{"version": 1, "processors": [{"id": "g", "type": "GenerateFlowFile", "properties": {"Batch Size": "lots"}}]}"#).unwrap();
    check_structure(&def, &r).unwrap();
    let issues = check_processors(&def, &r);
    assert!(
        issues
            .iter()
            .any(|i| i.path == "processors[0].properties.Batch Size" && i.message.contains("not a whole number")),
        "{issues:?}"
    );
    assert!(issues.iter().any(|i| i.message.contains("relationship 'success' is not connected")), "{issues:?}");

    // The controller refuses an invalid flow as a whole and keeps the old one.
    let fc = engine();
    // Whether this first load succeeds does not matter here; the bad one below must fail.
    let _ = fc.load(def.clone());
    let bad = parse_flow(r#"{"version": 1, "processors": [{"id": "x", "type": "Nope"}]}"#).unwrap();
    assert!(fc.load(bad).is_err());
    fc.shutdown();
}

#[test]
fn an_invalid_processor_cannot_start_and_says_why() {
    let fc = engine();
    let p = fc
        .add_processor(NewProcessor {
            type_name: "GenerateFlowFile".into(),
            id: Some("g".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(p.validation_errors.iter().any(|e| e.contains("'success' is not connected")), "{:?}", p.validation_errors);
    let err = fc.start_processor("g").unwrap_err().to_string();
    assert!(err.contains("cannot start") && err.contains("success"), "{err}");
    let patch = ProcessorPatch {
        properties: Some([("Batch Size".to_string(), Some("0".to_string()))].into()),
        ..Default::default()
    };
    let p = fc.update_processor("g", patch).unwrap();
    assert!(p.validation_errors.iter().any(|e| e.contains("Batch Size")), "{:?}", p.validation_errors);
    fc.shutdown();
}

#[test]
fn changing_the_graph_while_it_runs_loses_nothing() {
    let fc = engine();
    let k = key("live");
    let n = 200_000u64;
    let total = n.to_string();
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", &total), ("Batch", "500"), ("Key", &k)], RunState::Running),
            proc("a", "Pass", &[], RunState::Running),
            proc("b", "UpdateAttribute", &[("x", "1")], RunState::Running),
            proc("sink", "Collector", &[("Key", &k)], RunState::Running),
        ],
        vec![
            conn("c1", "src", &["success"], "a", 5000),
            conn("c2", "a", &["success"], "b", 5000),
            conn("c3", "b", &["success"], "sink", 5000),
        ],
    ))
    .unwrap();
    let mut extra = 0;
    while (seen(&k).len() as u64) < n / 2 {
        // Reconfigure b (restarts it), stop and start a, add and remove side branches.
        let rev = fc.processor("b").unwrap().revision;
        fc.update_processor(
            "b",
            ProcessorPatch {
                revision: Some(rev),
                properties: Some([("x".to_string(), Some(extra.to_string()))].into()),
                ..Default::default()
            },
        )
        .unwrap();
        fc.stop_processor("a").unwrap();
        fc.start_processor("a").unwrap();
        let side = format!("side{extra}");
        fc.add_processor(NewProcessor {
            type_name: "LogAttribute".into(),
            id: Some(side.clone()),
            ..Default::default()
        })
        .unwrap();
        let c = fc
            .add_connection(NewConnection {
                source: "b".into(),
                destination: side.clone(),
                relationships: vec!["success".into()],
                ..Default::default()
            })
            .unwrap();
        // The side branch receives clones; empty it and remove it again.
        fc.empty_queue(&c.id).unwrap();
        let mut removed = false;
        for _ in 0..50 {
            match fc.remove_connection(&c.id, None) {
                Ok(()) => {
                    removed = true;
                    break;
                }
                Err(_) => {
                    fc.empty_queue(&c.id).unwrap();
                }
            }
        }
        assert!(removed, "could not remove an emptied connection");
        fc.remove_processor(&side, None).unwrap();
        extra += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        wait_until(Duration::from_secs(60), || seen(&k).len() as u64 >= n),
        "only {} of {n} arrived",
        seen(&k).len()
    );
    std::thread::sleep(Duration::from_millis(100));
    let ids = seen(&k);
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len() as u64, n, "lost flowfiles");
    assert_eq!(ids.len() as u64, n, "duplicated flowfiles");
    assert!(extra > 0);
    fc.shutdown();
}

#[test]
fn a_connection_with_queued_flowfiles_cannot_be_removed() {
    let fc = engine();
    let k = key("rm");
    fc.load(flow(
        vec![
            proc("src", "CountingSource", &[("Total", "10"), ("Batch", "10"), ("Key", &k)], RunState::Stopped),
            proc("sink", "Collector", &[("Key", &k)], RunState::Stopped),
        ],
        vec![conn("c", "src", &["success"], "sink", 100)],
    ))
    .unwrap();
    fc.trigger_once("src").unwrap();
    let err = fc.remove_connection("c", None).unwrap_err();
    assert!(matches!(err, sluice_engine::EngineError::Conflict(_)), "{err}");
    assert!(fc.remove_processor("sink", None).is_err());
    assert_eq!(fc.empty_queue("c").unwrap(), 10);
    fc.remove_connection("c", None).unwrap();
    fc.shutdown();
}

#[test]
fn stale_revisions_are_refused() {
    let fc = engine();
    let p = fc.add_processor(NewProcessor { type_name: "LogAttribute".into(), ..Default::default() }).unwrap();
    let patch = |rev| ProcessorPatch { revision: Some(rev), name: Some(format!("n{rev}")), ..Default::default() };
    let p2 = fc.update_processor(&p.id, patch(p.revision)).unwrap();
    assert!(p2.revision > p.revision);
    let err = fc.update_processor(&p.id, patch(p.revision)).unwrap_err();
    assert!(matches!(err, sluice_engine::EngineError::Conflict(_)), "{err}");
    fc.shutdown();
}
