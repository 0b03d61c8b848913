//! Load test of ListenHTTP in the real engine: a flow ListenHTTP → PutFile (when the type
//! is registered; otherwise ListenHTTP → UpdateAttribute, auto-terminated) and a reqwest
//! load generator with N concurrent clients posting small bodies for D seconds. Prints
//! requests/s (every one answered 200 after its flowfile was committed), p50/p99 latency,
//! and how many flowfiles reached the sink.
//!
//! `cargo run --release -p sluice-processors --example http_bench -- [seconds] [clients] [body bytes] [--durable]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sluice_engine::flow::definition::{ConnectionDef, ProcessorDef};
use sluice_engine::node::{RunState, Scheduling};
use sluice_engine::repository::Durability;
use sluice_engine::{EngineConfig, FlowController, FlowDefinition};

fn proc_def(id: &str, ty: &str, props: &[(&str, String)], auto: &[&str]) -> ProcessorDef {
    ProcessorDef {
        id: id.into(),
        type_name: ty.into(),
        name: id.into(),
        position: Default::default(),
        properties: props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        state: RunState::Running,
        auto_terminated_relationships: auto.iter().map(|s| s.to_string()).collect(),
        scheduling: Scheduling::default(),
        retry: None,
        comments: String::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let durable = args.iter().any(|a| a == "--durable");
    let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let seconds = nums.first().copied().unwrap_or(10);
    let clients = nums.get(1).copied().unwrap_or(64) as usize;
    let body_size = nums.get(2).copied().unwrap_or(100) as usize;

    let dir = tempfile::tempdir().expect("temp dir");
    let registry = sluice_processors::registry();
    let has_put_file = registry.get("PutFile").is_some();
    let config = EngineConfig {
        data_dir: durable.then(|| dir.path().join("data")),
        durability: if durable { Durability::Os } else { Durability::Memory },
        provenance: true,
        ..Default::default()
    };
    let controller = FlowController::new(config, registry).expect("engine");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut def = FlowDefinition::default();
    def.processors.push(proc_def(
        "listen",
        "ListenHTTP",
        &[
            ("Listening Port", port.to_string()),
            ("Hostname", "127.0.0.1".into()),
            ("Container Queue Size", "1000".into()),
        ],
        &[],
    ));
    let sink = if has_put_file {
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        def.processors.push(proc_def(
            "sink",
            "PutFile",
            &[("Directory", out.display().to_string()), ("Conflict Resolution Strategy", "replace".into())],
            &["success", "failure"],
        ));
        "PutFile"
    } else {
        def.processors.push(proc_def("sink", "UpdateAttribute", &[], &["success"]));
        "UpdateAttribute (auto-terminated; PutFile is not registered)"
    };
    def.connections.push(ConnectionDef {
        id: "c".into(),
        name: String::new(),
        source: "listen".into(),
        relationships: vec!["success".into()],
        destination: "sink".into(),
        back_pressure_object_threshold: 10_000,
        back_pressure_data_size_threshold: "1 GB".into(),
        prioritizers: Vec::new(),
        flowfile_expiration: "0 sec".into(),
        bends: Vec::new(),
    });
    controller.load(def).expect("flow loads");
    std::thread::sleep(Duration::from_millis(200));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/contentListener");
    let body = bytes::Bytes::from(vec![b'x'; body_size]);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let results: Vec<(Vec<u32>, u64)> = rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, url, body, stop) = (client.clone(), url.clone(), body.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match client.post(&url).body(body.clone()).send().await {
                        Ok(r) if r.status() == 200 => lat.push(t.elapsed().as_micros() as u32),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat: Vec<u32> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    let errors: u64 = results.iter().map(|(_, e)| *e).sum();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0) as f64
            / 1000.0
    };
    // Let the sink finish what is queued.
    let deadline = Instant::now() + Duration::from_secs(10);
    while controller.find_connection("c").map(|c| c.queued_count()).unwrap_or(0) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sunk =
        controller.nodes().iter().find(|n| &*n.id == "sink").map(|n| n.counters.snapshot().flowfiles_in).unwrap_or(0);
    println!(
        "ListenHTTP -> {sink}, {clients} clients, {body_size} B bodies, {seconds} s, repository: {}",
        if durable { "durable (os)" } else { "memory" }
    );
    println!(
        "  requests answered 200: {} ({:.0} requests/s); errors/non-200: {errors}",
        lat.len(),
        lat.len() as f64 / elapsed
    );
    println!("  latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", pct(0.50), pct(0.99), pct(1.0));
    println!("  flowfiles taken by the sink: {sunk}");
    controller.shutdown();
}
