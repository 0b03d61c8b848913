//! `sluice bench peer` end to end at a small scale: the real binary starts `sluice run` for
//! workloads b and c (and a when oha is available), drives the shipped flows, prints the
//! peer's metric names and passes its loss checks; a broken check makes it exit 3.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("bench").arg("peer").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sluice bench peer");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn value(stdout: &str, name: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some(name)).then(|| parts.next().unwrap().parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
}

#[test]
fn workloads_b_and_c_run_and_check_their_outputs() {
    let work = tempfile::tempdir().unwrap();
    let out_json = work.path().join("results.json");
    let (code, stdout, stderr) = run(
        &["b", "c", "--work", work.path().to_str().unwrap(), "--out", out_json.to_str().unwrap()],
        &[
            ("BENCH_B_N", "20000"),
            ("BENCH_B_BURST_N", "5000"),
            ("BENCH_C_FILES", "300"),
            ("BENCH_C_FILE_BYTES", "2048"),
        ],
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    for check in ["b.exactly_n_arrived", "b.burst_exactly_n_arrived", "c.all_files_written", "c.outputs_correct"] {
        assert!(stdout.contains(&format!("check.{check} 1 bool")), "{check} in:\n{stdout}");
    }
    assert!(value(&stdout, "b.messages") >= 20000.0);
    assert!(value(&stdout, "b.msgs_per_s") > 0.0);
    assert_eq!(value(&stdout, "c.files_written"), 300.0);
    assert_eq!(value(&stdout, "c.files_mismatched"), 0.0);
    for common in ["startup_ready_ms", "rss_idle_mib", "rss_peak_mib", "cpu_s", "host_other_cpu_s", "wall_s"] {
        assert!(value(&stdout, &format!("c.{common}")) >= 0.0);
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    assert_eq!(json["engine"]["durability"], "os");
    assert_eq!(json["engine"]["provenance"], true);
    // Outputs are removed after the run, the generated input stays for the next one.
    assert!(!work.path().join("c").join("out").exists());
    assert_eq!(std::fs::read_dir(work.path().join("c-input")).unwrap().count(), 300);
}

#[test]
fn workload_a_runs_under_oha_when_it_is_installed() {
    let oha = std::env::var("OHA").unwrap_or_else(|_| "oha".into());
    if Command::new(&oha).arg("--version").output().is_err() {
        // oha is the peer's pinned load generator, built from crates.io on demand by the
        // benchmark scripts; CI does not build it (minutes of compile for one test).
        eprintln!("skipping: no oha ({oha})");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        &["a", "--work", work.path().to_str().unwrap(), "--oha", &oha],
        &[("BENCH_A_DURATION_S", "2"), ("BENCH_A_WARMUP_S", "1"), ("BENCH_A_CONCURRENCY", "8")],
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(value(&stdout, "a.requests_ok") > 0.0);
    assert_eq!(value(&stdout, "a.lines_missing"), 0.0);
    assert_eq!(value(&stdout, "a.errors"), 0.0);
}

#[test]
fn an_unknown_workload_or_missing_oha_is_a_clear_error() {
    let (code, _, stderr) = run(&["x"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("unknown workload 'x'"), "{stderr}");
    let work = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run(&["a", "--work", work.path().to_str().unwrap(), "--oha", "/nonexistent/oha"], &[("BENCH_A_WARMUP_S", "0")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("/nonexistent/oha") && stderr.contains("cargo install oha"), "{stderr}");
}
