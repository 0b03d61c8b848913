//! `sluice bench peer`: Sluice's versions of the Node-RED peer benchmark's three workloads
//! (`../shared/bench/node-red/`), with the same load, the same correctness checks and the same
//! metric names, so the two can be run back to back and compared as ratios.
//!
//! Every workload starts a fresh `sluice run` (this binary) with the shipped flow of `flows/`
//! that mirrors it (parameters pointed at a scratch dir), in the default configuration
//! (durability `os`, provenance on) unless told otherwise, and records what the peer's
//! `lib/bench.js` records: start-up to port and to ready, idle and peak RSS, the engine's CPU
//! seconds, the CPU seconds everything else on the machine used meanwhile, and wall time.

mod c_input;
mod engine;
mod procfs;
mod report;
mod workload_a;
mod workload_b;
mod workload_c;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};

pub use engine::EngineArgs;
use engine::{Engine, shipped_flow};

/// What `sluice bench peer` was asked to do.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// The engine under test.
    pub engine: EngineArgs,
    /// Scratch dir (data dirs, outputs, the c input).
    pub work: PathBuf,
    /// The oha binary for workload a (the peer pins 1.16.0).
    pub oha: PathBuf,
    /// The peer's `results/latest.json`, to print ratios against.
    pub node_red: Option<PathBuf>,
    /// Where to write the results as JSON.
    pub out: Option<PathBuf>,
}

/// One metric: name without the workload prefix, value, unit.
pub type Metric = (String, f64, &'static str);

/// One correctness check.
pub struct Check {
    /// `<workload>.<what>`.
    pub name: String,
    /// Whether it held.
    pub pass: bool,
    /// Figures behind it.
    pub detail: Value,
}

/// What a workload body returns.
pub struct Outcome {
    /// Workload metrics (the common ones are added around them).
    pub metrics: Vec<Metric>,
    /// Checks that nothing was lost or corrupted.
    pub checks: Vec<Check>,
    /// Anything else worth keeping in the JSON.
    pub details: Value,
}

fn metric(name: &str, value: f64, unit: &'static str) -> Metric {
    (name.to_string(), value, unit)
}

/// A figure as JSON the way the peer writes it: whole numbers without a fraction, NaN as null.
fn number(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 { json!(v as i64) } else { json!(v) }
}

/// Removes outputs once every workload has run, as the peer's `run.sh` tidies them
/// (`KEEP_WORK=1` keeps them). Not between workloads: on ext4 without a journal (this
/// machine's disk) creating files within 15-120 s of deleting many is several times slower,
/// since the allocator skips recently deleted inodes, and workload a leaves one file per
/// request (80,000 and more) where the peer appends lines to two files.
fn tidy(dirs: &[PathBuf]) {
    if std::env::var("KEEP_WORK").as_deref() != Ok("1") {
        for dir in dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Runs one workload around `body` with the peer's common bookkeeping.
fn run_workload(
    opts: &PeerOptions,
    workload: &str,
    flow: Value,
    body: impl FnOnce(&mut Engine) -> Result<Outcome>,
) -> Result<Value> {
    eprintln!("=== workload {workload} ===");
    let dir = opts.work.join(format!("engine-{workload}"));
    let mut engine = Engine::start(&opts.engine, &flow, &dir)?;
    eprintln!("sluice pid {} ready in {:.1} ms", engine.pid, engine.startup_ready_ms);
    let (idle_rss, _) = procfs::mem_kib(engine.pid)?;
    let cpu0 = procfs::cpu_seconds(engine.pid)?;
    let host0 = procfs::host_busy_seconds()?;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let t0 = Instant::now();
    let out = body(&mut engine)?;
    engine.check_alive()?;
    let cpu = procfs::cpu_seconds(engine.pid)? - cpu0;
    let host = procfs::host_busy_seconds()? - host0;
    let wall = t0.elapsed().as_secs_f64();
    let (_, hwm) = procfs::mem_kib(engine.pid)?;
    let mut metrics = vec![
        metric("startup_port_ms", round(engine.startup_port_ms, 1), "ms"),
        metric("startup_ready_ms", round(engine.startup_ready_ms, 1), "ms"),
    ];
    metrics.extend(out.metrics);
    metrics.extend([
        metric("rss_idle_mib", procfs::mib(idle_rss), "MiB"),
        metric("rss_peak_mib", procfs::mib(hwm), "MiB"),
        metric("cpu_s", round(cpu, 2), "s"),
        metric("host_other_cpu_s", round((host - cpu).max(0.0), 2), "s"),
        metric("wall_s", round(wall, 2), "s"),
    ]);
    engine.stop()?;
    Ok(json!({
        "workload": workload,
        "metrics": metrics.iter().map(|(n, v, u)| json!({"name": format!("{workload}.{n}"), "value": number(*v), "unit": u})).collect::<Vec<_>>(),
        "checks": out.checks.iter().map(|c| json!({"name": c.name, "pass": c.pass, "detail": c.detail})).collect::<Vec<_>>(),
        "details": {"loadavg_before": loadavg.split_whitespace().take(3).collect::<Vec<_>>(), "run": out.details},
    }))
}

/// Runs the given workloads (`a`, `b`, `c`) one after the other, prints `name value unit`
/// lines and the checks, writes the JSON, prints ratios when given the peer's results.
/// Returns whether every check passed.
pub fn run(opts: &PeerOptions, workloads: &[String]) -> Result<bool> {
    std::fs::create_dir_all(&opts.work)?;
    let mut results = serde_json::Map::new();
    for w in workloads {
        let result = match w.as_str() {
            "a" => {
                let (flow, body) = workload_a::prepare(opts)?;
                run_workload(opts, "a", flow, body)?
            }
            "b" => {
                let flow = shipped_flow(include_str!("../../flows/throughput.json"), &[], &[("generate", "STOPPED")])?;
                run_workload(opts, "b", flow, workload_b::body)?
            }
            "c" => {
                let (flow, body) = workload_c::prepare(opts)?;
                run_workload(opts, "c", flow, body)?
            }
            other => bail!("unknown workload '{other}' (a, b, c or all)"),
        };
        results.insert(w.clone(), result);
    }
    tidy(&[opts.work.join("a").join("out"), opts.work.join("c").join("out")]);
    report::finish(opts, results)
}
