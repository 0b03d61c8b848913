//! Workload a, HTTP ingest: the peer's `lib/drive-a.js` against `flows/http-ingest.json`.
//! oha POSTs the same 400 bodies of 1,024 bytes (level error, warn, info or debug) with the
//! same arguments (`-z 20s -c 64 -m POST -T application/json -Z bodies.jsonl -w -t 30s`) after
//! the same 3 s warm-up. Sluice answers 200 once the body is committed to the flow (durably,
//! in `os` mode); PutFile then appends it as a line to `errors.jsonl` or `other.jsonl`, as
//! the peer's file nodes do. After the run the queues are drained and every acknowledged
//! request must be exactly one intact line in the file its level routes to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::engine::{Engine, free_port, shipped_flow};
use super::{Check, Outcome, PeerOptions, metric, round};

/// The peer's defaults (env knobs of `drive-a.js` with the same names).
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The peer's `makeBodies()`: 400 JSON lines of exactly `body_bytes` bytes.
pub fn bodies(body_bytes: usize) -> Result<String> {
    let levels = ["error", "warn", "info", "debug"];
    let mut out = String::new();
    for i in 0..400 {
        let head = format!(
            r#"{{"level":"{}","id":{i},"source":"sluice-peer-bench","ts":"2026-01-01T00:00:00Z","msg":""#,
            levels[i % 4]
        );
        let pad = body_bytes
            .checked_sub(head.len() + 2)
            .with_context(|| format!("BENCH_A_BODY_BYTES={body_bytes} is too small"))?;
        out.push_str(&head);
        out.push_str(&"x".repeat(pad));
        out.push_str("\"}\n");
    }
    Ok(out)
}

/// Files in `dir` (0 when it does not exist yet).
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file())).count()).unwrap_or(0)
}

/// Newline-terminated lines in `file` (0 when it does not exist yet).
fn count_lines(file: &Path) -> usize {
    std::fs::read(file).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

/// Parses every line of `file`: (lines, not valid JSON, level in the wrong file).
fn scan(file: &Path, belongs: impl Fn(&str) -> bool) -> Result<(u64, u64, u64)> {
    let (mut lines, mut corrupt, mut misrouted) = (0, 0, 0);
    let Ok(bytes) = std::fs::read(file) else { return Ok((0, 0, 0)) };
    for line in bytes.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        match serde_json::from_slice::<Value>(line) {
            Ok(v) if belongs(v["level"].as_str().unwrap_or("")) => {}
            Ok(_) => misrouted += 1,
            Err(_) => corrupt += 1,
        }
    }
    Ok((lines, corrupt, misrouted))
}

fn run_oha(oha: &Path, url: &str, bodies: &Path, seconds: u64, concurrency: u64, out: &Path) -> Result<Value> {
    let mut cmd = Command::new(oha);
    cmd.args(["-z", &format!("{seconds}s"), "-c", &concurrency.to_string(), "-m", "POST", "-T", "application/json"])
        .arg("-Z")
        .arg(bodies)
        .args(["-w", "-t", "30s", "--no-tui", "--output-format", "json", "-o"])
        .arg(out);
    if let Ok(threads) = std::env::var("BENCH_A_THREADS") {
        cmd.args(["--worker-threads", &threads]);
    }
    cmd.arg(url);
    let status = cmd.status().with_context(|| {
        format!(
            "running {} (oha 1.16.0; build it with `cargo install oha --locked --version 1.16.0` or pass --oha)",
            oha.display()
        )
    })?;
    if !status.success() {
        bail!("oha failed: {status}");
    }
    Ok(serde_json::from_slice(&std::fs::read(out)?)?)
}

/// The flow and the driver of workload a.
pub fn prepare(opts: &PeerOptions) -> Result<(Value, impl FnOnce(&mut Engine) -> Result<Outcome>)> {
    let dir = opts.work.join("a");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let out: PathBuf = dir.join("out");
    let port = free_port()?;
    let flow = shipped_flow(
        include_str!("../../flows/http-ingest.json"),
        &[
            ("ingest_host", "127.0.0.1".into()),
            ("ingest_port", port.to_string()),
            ("ingest_path", "ingest".into()),
            ("output_dir", out.display().to_string()),
        ],
        &[],
    )?;
    let oha = opts.oha.clone();
    let body = move |engine: &mut Engine| -> Result<Outcome> {
        let duration = knob("BENCH_A_DURATION_S", 20);
        let concurrency = knob("BENCH_A_CONCURRENCY", 64);
        let body_bytes = knob("BENCH_A_BODY_BYTES", 1024) as usize;
        let warmup = knob("BENCH_A_WARMUP_S", 3);
        let bodies_path = dir.join("bodies.jsonl");
        std::fs::write(&bodies_path, bodies(body_bytes)?)?;
        let url = format!("http://127.0.0.1:{port}/ingest");
        let (err_file, other_file, invalid_dir) =
            (out.join("errors.jsonl"), out.join("other.jsonl"), out.join("invalid"));
        let written_now = || count_lines(&err_file) + count_lines(&other_file) + count_files(&invalid_dir);
        if warmup > 0 {
            run_oha(&oha, &url, &bodies_path, warmup, concurrency, &dir.join("oha-warmup.json"))?;
            engine.wait_drained(Duration::from_secs(120))?;
        }
        let before = written_now();
        let res = run_oha(&oha, &url, &bodies_path, duration, concurrency, &dir.join("oha.json"))?;
        engine.wait_drained(Duration::from_secs(300))?;
        let written = (written_now() - before) as u64;

        let codes = res["statusCodeDistribution"].as_object().cloned().unwrap_or_default();
        let sum = |pred: &dyn Fn(&str) -> bool| -> u64 {
            codes.iter().filter(|(c, _)| pred(c)).map(|(_, n)| n.as_u64().unwrap_or(0)).sum()
        };
        let ok = sum(&|c| c.starts_with('2'));
        let non2xx = sum(&|c| !c.starts_with('2'));
        let transport: u64 = res["errorDistribution"]
            .as_object()
            .map(|m| m.values().map(|n| n.as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        let (_, err_corrupt, err_misrouted) = scan(&err_file, |l| l == "error")?;
        let (_, other_corrupt, other_misrouted) = scan(&other_file, |l| l != "error")?;
        let invalid = count_files(&invalid_dir) as u64;
        let secs = res["summary"]["total"].as_f64().context("oha JSON has no summary.total")?;
        let p = &res["latencyPercentiles"];
        let ms = |v: &Value| v.as_f64().map(|s| round(s * 1000.0, 2)).unwrap_or(f64::NAN);
        let corrupt = err_corrupt + other_corrupt + invalid;
        let misrouted = err_misrouted + other_misrouted;
        Ok(Outcome {
            metrics: vec![
                metric("requests_per_s", round(ok as f64 / secs, 1), "req/s"),
                metric("latency_p50_ms", ms(&p["p50"]), "ms"),
                metric("latency_p99_ms", ms(&p["p99"]), "ms"),
                metric("latency_p999_ms", ms(&p["p99.9"]), "ms"),
                metric("latency_max_ms", ms(&res["summary"]["slowest"]), "ms"),
                metric("requests_ok", ok as f64, "count"),
                metric("errors", (non2xx + transport) as f64, "count"),
                metric("lines_written", written as f64, "count"),
                metric("lines_missing", ok.saturating_sub(written) as f64, "count"),
                metric("lines_unacked", written.saturating_sub(ok) as f64, "count"),
                metric("lines_corrupt", corrupt as f64, "count"),
                metric("lines_misrouted", misrouted as f64, "count"),
            ],
            checks: vec![
                Check {
                    name: "a.no_errors".into(),
                    pass: non2xx + transport == 0,
                    detail: json!({"codes": codes, "errors": res["errorDistribution"]}),
                },
                Check {
                    name: "a.every_ack_written".into(),
                    pass: written == ok,
                    detail: json!({"ok": ok, "written": written}),
                },
                Check {
                    name: "a.lines_intact_and_routed".into(),
                    pass: corrupt + misrouted == 0,
                    detail: json!({"corrupt": corrupt, "misrouted": misrouted}),
                },
            ],
            details: json!({
                "duration_s": duration, "concurrency": concurrency, "body_bytes": body_bytes, "warmup_s": warmup,
                "oha_total_s": secs, "oha_success_rate": res["summary"]["successRate"],
            }),
        })
    };
    Ok((flow, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_are_the_peers() {
        let text = super::bodies(1024).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 400);
        assert!(lines.iter().all(|l| l.len() == 1024));
        assert!(lines[1].starts_with(
            r#"{"level":"warn","id":1,"source":"sluice-peer-bench","ts":"2026-01-01T00:00:00Z","msg":"xxx"#
        ));
        let v: serde_json::Value = serde_json::from_str(lines[399]).unwrap();
        assert_eq!(v["level"], "debug");
        assert!(super::bodies(50).is_err());
    }
}
