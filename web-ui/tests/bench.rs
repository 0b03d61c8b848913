//! Measurements (ignored by default; run with
//! `cargo test --release -p sluice-web --test bench -- --ignored --nocapture`):
//! the cost of one status tick with 500 processors and 500 connections, and WebSocket
//! fan-out to 100 clients (server CPU and bytes per second).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use sluice_engine::FlowController;
use sluice_engine::flow::view::{NewConnection, NewProcessor};

/// 500 UpdateAttribute processors in a ring of 500 connections (all valid, idle).
fn big_flow(c: &FlowController) {
    let ids: Vec<String> = (0..500)
        .map(|i| {
            let req = NewProcessor {
                type_name: "UpdateAttribute".into(),
                name: Some(format!("step {i}")),
                properties: Some(
                    [("step".to_string(), format!("{i}")), ("when".to_string(), "${now()}".to_string())].into(),
                ),
                ..Default::default()
            };
            c.add_processor(req).unwrap().id
        })
        .collect();
    for i in 0..500 {
        c.add_connection(NewConnection {
            source: ids[i].clone(),
            destination: ids[(i + 1) % 500].clone(),
            relationships: vec!["success".into()],
            ..Default::default()
        })
        .unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore]
fn status_tick_cost_500_processors_500_connections() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    big_flow(&c);
    for (label, running) in [("stopped (validated every tick)", false), ("running", true)] {
        if running {
            for n in c.nodes() {
                c.start_processor(&n.id).unwrap();
            }
        }
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let text = sluice_web::ws::build_status(&c);
            times.push(t.elapsed());
            bytes = text.len();
        }
        let snap: Vec<Duration> = (0..30)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(c.snapshot());
                t.elapsed()
            })
            .collect();
        println!(
            "status tick, 500 processors {label}, 500 connections: build+serialize median {:.2} ms (snapshot alone {:.2} ms), message {} KB",
            median(times).as_secs_f64() * 1e3,
            median(snap).as_secs_f64() * 1e3,
            bytes / 1024
        );
    }
    let t = Instant::now();
    let m = sluice_web::metrics::render(&c, None);
    println!("/metrics render: {:.2} ms, {} KB", t.elapsed().as_secs_f64() * 1e3, m.len() / 1024);
    c.shutdown();
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += (ut + st) / 100.0;
        }
    }
    total
}

#[test]
#[ignore]
fn websocket_fanout_100_clients() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srv-io")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = controller(dir.path());
    big_flow(&c);
    for n in c.nodes() {
        c.start_processor(&n.id).unwrap();
    }
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let cc: Arc<FlowController> = c.clone();
    server_rt.spawn(sluice_web::serve(listener, cc, sluice_web::WebConfig::default(), async move {
        let _ = rx.await;
    }));
    let secs = 15.0;
    let (received_bytes, messages, server_cpu, wall) = client_rt.block_on(async move {
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws")).await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut bytes = 0usize;
                let mut n = 0usize;
                let end = Instant::now() + Duration::from_secs_f64(secs + 1.0);
                while let Ok(Some(Ok(m))) =
                    tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next()).await
                {
                    bytes += m.len();
                    n += 1;
                }
                (bytes, n)
            }));
        }
        // measure a steady window once everyone is connected
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu0 = thread_cpu("srv-io");
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs - 1.0)).await;
        let server_cpu = thread_cpu("srv-io") - cpu0;
        let wall = t0.elapsed().as_secs_f64();
        let mut total = (0, 0);
        for t in tasks {
            let (b, n) = t.await.unwrap();
            total.0 += b;
            total.1 += n;
        }
        (total.0, total.1, server_cpu, wall)
    });
    let span = secs + 1.0;
    println!(
        "WebSocket fan-out, 100 clients, 500 processors + 500 connections: {:.1} MB/s sent ({:.0} messages/s), server runtime CPU {:.1}% of one core (status build included)",
        received_bytes as f64 / span / 1e6,
        messages as f64 / span,
        server_cpu / wall * 100.0
    );
    let _ = tx.send(());
    c.shutdown();
}
