//! Throughput of ListenTCP in the real engine: a flow ListenTCP (Max Batch Size B) →
//! UpdateAttribute (auto-terminated), fed by C client connections writing 100-byte lines
//! as fast as they can for D seconds. Prints lines/s delivered into the flow (counted from
//! the bytes the sink took: every line is 100 bytes plus a delimiter inside a batch).
//!
//! `cargo run --release -p sluice-processors --example tcp_bench -- [seconds] [connections] [batch]`

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_engine::flow::definition::{ConnectionDef, ProcessorDef};
use sluice_engine::node::{RunState, Scheduling};
use sluice_engine::{EngineConfig, FlowController, FlowDefinition};

fn main() {
    let nums: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seconds = nums.first().copied().unwrap_or(10);
    let conns = nums.get(1).copied().unwrap_or(4) as usize;
    let batch = nums.get(2).copied().unwrap_or(1000);

    let controller =
        FlowController::new(EngineConfig { provenance: true, ..Default::default() }, sluice_processors::registry())
            .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let def_proc = |id: &str, ty: &str, props: Vec<(&str, String)>, auto: Vec<&str>| ProcessorDef {
        id: id.into(),
        type_name: ty.into(),
        name: id.into(),
        position: Default::default(),
        properties: props.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        state: RunState::Running,
        auto_terminated_relationships: auto.into_iter().map(String::from).collect(),
        scheduling: Scheduling::default(),
        retry: None,
        comments: String::new(),
    };
    let mut def = FlowDefinition::default();
    def.processors.push(def_proc(
        "listen",
        "ListenTCP",
        vec![
            ("Port", port.to_string()),
            ("Local Network Interface", "127.0.0.1".into()),
            ("Max Batch Size", batch.to_string()),
            ("Max Number of TCP Connections", (conns + 1).to_string()),
        ],
        vec![],
    ));
    def.processors.push(def_proc("sink", "UpdateAttribute", vec![], vec!["success"]));
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
    controller.load(def).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let line = [b'x'; 100];
    let started = Instant::now();
    let writers: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut w = BufWriter::with_capacity(256 * 1024, s);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        w.write_all(&line).unwrap();
                        w.write_all(b"\n").unwrap();
                    }
                    n += 1000;
                }
                w.flush().unwrap();
                sent.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let write_secs = started.elapsed().as_secs_f64();
    let sink = controller.nodes().into_iter().find(|n| &*n.id == "sink").unwrap();
    let total = sent.load(Ordering::Relaxed);
    let lines = |s: &sluice_engine::status::ProcessorStatus| (s.bytes_in + s.flowfiles_in) / 101;
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines(&sink.counters.snapshot()) < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let all_secs = started.elapsed().as_secs_f64();
    let st = sink.counters.snapshot();
    println!("ListenTCP (batch {batch}) -> UpdateAttribute, {conns} connections, 100-byte lines, {seconds} s");
    println!("  lines sent {total}, delivered {} in {} flowfiles", lines(&st), st.flowfiles_in);
    println!(
        "  {:.0} lines/s ({:.1} MB/s) over the whole run incl. drain ({all_secs:.1} s); sending took {write_secs:.1} s",
        lines(&st) as f64 / all_secs,
        st.bytes_in as f64 / all_secs / 1e6
    );
    controller.shutdown();
}
