//! `sluice provenance` against a real data dir: the shipped throughput flow runs for a moment
//! in `sluice run`, is stopped, and the CLI finds its events by component, type, attribute
//! and flowfile, as a table and as the API's JSON; bad arguments and a locked store are
//! clear errors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sluice(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().expect("run sluice");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn searches_a_stopped_data_dir_and_refuses_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/flows/throughput.json");
    let flow_copy = dir.path().join("flow.json");
    std::fs::copy(flow, &flow_copy).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--flow", flow_copy.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it route some flowfiles, then ask while it runs: the store is held.
    let t0 = Instant::now();
    let mut held = None;
    while t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(300));
        let (ok, _, err) = sluice(&["provenance", "--data-dir", data.to_str().unwrap(), "--limit", "1"]);
        if !ok && err.contains("holds the store") {
            held = Some(err);
            break;
        }
    }
    assert!(held.is_some(), "a running engine's store is refused with a clear message");
    sigterm(child.id());
    assert!(child.wait().unwrap().success(), "clean stop on SIGTERM");

    let d = data.to_str().unwrap();
    let (ok, table, err) = sluice(&["provenance", "--data-dir", d, "--component", "route-level", "--limit", "5"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("Route on level")).collect();
    assert_eq!(rows.len(), 5, "{table}");
    assert!(table.lines().next().unwrap().contains("FLOWFILE"));
    assert!(table.contains("more match"), "{table}");

    let (ok, json, err) = sluice(&[
        "provenance",
        "--data-dir",
        d,
        "--type",
        "DROP",
        "--attribute",
        "level=error",
        "--limit",
        "3",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    for e in events {
        assert_eq!(e["event_type"], "DROP");
        assert_eq!(e["relationship"], "error", "level=error was routed to error");
    }
    // One flowfile's whole story: CREATE by the generator, ATTRIBUTES_MODIFIED by UpdateAttribute,
    // ROUTE by RouteOnAttribute, DROP with the route's relationship.
    let uuid = events[0]["flowfile_uuid"].as_str().unwrap();
    let (ok, json, _) = sluice(&["provenance", "--data-dir", d, "--flowfile", uuid, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let types: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["DROP", "ROUTE", "ATTRIBUTES_MODIFIED", "CREATE"], "newest first");
    assert!(v["events"].as_array().unwrap().iter().all(|e| e["flowfile_uuid"] == uuid));

    for (args, says) in [
        (vec!["--type", "NOPE"], "--type 'NOPE'"),
        (vec!["--attribute", "novalue"], "is not NAME=VALUE"),
        (vec!["--flowfile", "xyz"], "is not a UUID"),
    ] {
        let mut all = vec!["provenance", "--data-dir", d];
        all.extend(args);
        let (ok, _, err) = sluice(&all);
        assert!(!ok && err.contains(says), "{err}");
        assert!(!err.contains("Stack backtrace"), "errors are messages, not crashes: {err}");
    }
    let (ok, _, err) = sluice(&["provenance", "--data-dir", dir.path().join("nope").to_str().unwrap()]);
    assert!(!ok && err.contains("no provenance store"), "{err}");
}

fn sigterm(pid: u32) {
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
}
