//! `sluice bench`: measured figures of the engine, printed as `name value` lines.
//!
//! `core`: GenerateFlowFile → UpdateAttribute → RouteOnAttribute → auto-terminated with
//! 1 KiB shared content, the engine-core pipeline of the design brief, beside a bare
//! crossbeam-channel baseline run in the same minute (cross-thread throughput on shared
//! machines drifts, so the ratio is the figure to compare).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_engine::flow::definition::{ConnectionDef, FlowDefinition, ProcessorDef};
use sluice_engine::node::{RunState, Scheduling};
use sluice_engine::repository::Durability;
use sluice_engine::{EngineConfig, FlowController};

/// Options of the core benchmark.
pub struct CoreOptions {
    /// How long to measure.
    pub seconds: f64,
    /// Durability (memory, os, fsync); os and fsync use `data_dir`.
    pub durability: Durability,
    /// Whether provenance is on.
    pub provenance: bool,
    /// Data dir for durable modes (a temp dir if None).
    pub data_dir: Option<PathBuf>,
    /// Worker threads.
    pub workers: usize,
}

fn processor(id: &str, ty: &str, props: &[(&str, &str)], auto: &[&str]) -> ProcessorDef {
    ProcessorDef {
        id: id.into(),
        type_name: ty.into(),
        name: id.into(),
        position: Default::default(),
        properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        state: RunState::Running,
        auto_terminated_relationships: auto.iter().map(|s| s.to_string()).collect(),
        scheduling: Scheduling { period: "0 sec".into(), ..Default::default() },
        retry: None,
        comments: String::new(),
    }
}

fn connection(id: &str, src: &str, rel: &str, dst: &str) -> ConnectionDef {
    ConnectionDef {
        id: id.into(),
        name: String::new(),
        source: src.into(),
        relationships: vec![rel.into()],
        destination: dst.into(),
        back_pressure_object_threshold: 10_000,
        back_pressure_data_size_threshold: "1 GB".into(),
        prioritizers: Vec::new(),
        flowfile_expiration: "0 sec".into(),
        bends: Vec::new(),
    }
}

/// The pipeline of the core benchmark.
pub fn core_flow(batch: usize) -> FlowDefinition {
    let batch = batch.to_string();
    FlowDefinition {
        processors: vec![
            processor(
                "generate",
                "GenerateFlowFile",
                &[("File Size", "1 KB"), ("Batch Size", &batch), ("Unique FlowFiles", "false")],
                &[],
            ),
            processor(
                "update",
                "UpdateAttribute",
                &[("stage", "updated"), ("kind", "${filename:substring(0, 1)}")],
                &[],
            ),
            processor(
                "route",
                "RouteOnAttribute",
                &[("updated", "${stage:equals('updated')}")],
                &["updated", "unmatched"],
            ),
        ],
        connections: vec![
            connection("c1", "generate", "success", "update"),
            connection("c2", "update", "success", "route"),
        ],
        ..Default::default()
    }
}

/// CPU time (user + system) this process has used, in seconds.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses): utime is the 14th field.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// What one run of the core pipeline measured.
pub struct CoreResult {
    /// Flowfiles per second through the last processor.
    pub flowfiles_per_s: f64,
    /// CPU microseconds the whole process spent per flowfile (robust to a busy machine).
    pub cpu_us_per_flowfile: f64,
}

/// Runs the core pipeline; returns flowfiles/s through the last processor.
pub fn run_core(opts: &CoreOptions) -> anyhow::Result<CoreResult> {
    let tmp;
    let data_dir = match (&opts.data_dir, opts.durability) {
        (_, Durability::Memory) => None,
        (Some(d), _) => Some(d.clone()),
        (None, _) => {
            tmp = tempfile::tempdir()?;
            Some(tmp.path().to_path_buf())
        }
    };
    let config = EngineConfig {
        data_dir,
        durability: opts.durability,
        provenance: opts.provenance,
        workers: opts.workers,
        ..Default::default()
    };
    let fc = FlowController::new(config, sluice_processors::registry())?;
    fc.load(core_flow(1000)).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0, cpu0) = (counter(&fc), Instant::now(), cpu_seconds());
    std::thread::sleep(Duration::from_secs_f64(opts.seconds));
    let (c1, t1, cpu1) = (counter(&fc), Instant::now(), cpu_seconds());
    fc.shutdown();
    let n = (c1 - c0).max(1) as f64;
    Ok(CoreResult { flowfiles_per_s: n / (t1 - t0).as_secs_f64(), cpu_us_per_flowfile: (cpu1 - cpu0) * 1e6 / n })
}

fn counter(fc: &Arc<FlowController>) -> u64 {
    fc.nodes().iter().find(|n| &*n.id == "route").map(|n| n.counters.snapshot().flowfiles_in).unwrap_or(0)
}

/// A bare 3-stage crossbeam chain moving batches of 100 `u64`s: the machine's
/// cross-thread ceiling right now.
pub fn baseline(seconds: f64) -> f64 {
    let (tx1, rx1) = crossbeam_channel::bounded::<Vec<u64>>(100);
    let (tx2, rx2) = crossbeam_channel::bounded::<Vec<u64>>(100);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let producer = std::thread::spawn(move || {
        let mut i = 0u64;
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            let v: Vec<u64> = (i..i + 100).collect();
            i += 100;
            if tx1.send(v).is_err() {
                break;
            }
        }
    });
    let middle = std::thread::spawn(move || {
        for mut v in rx1 {
            for x in v.iter_mut() {
                *x = x.wrapping_mul(3);
            }
            if tx2.send(v).is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        if let Ok(v) = rx2.recv_timeout(Duration::from_millis(100)) {
            n += v.len() as u64;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(rx2);
    let _ = producer.join();
    let _ = middle.join();
    n as f64 / t0.elapsed().as_secs_f64()
}
