//! ConsumeNATS throughput: publishes N messages to a local nats-server with async-nats, then
//! consumes them through the processor on the real engine (TestRunner: in-memory
//! repositories, provenance on) and prints messages per second, for JetStream (durable pull
//! consumer, acknowledged after each commit) and core NATS.
//!
//! `cargo run --release -p sluice-processors --example nats_bench [N] [payload bytes]`
//! Uses SLUICE_TEST_NATS_URL when set, otherwise starts nats-server with
//! scripts/start-nats.sh on a free port and stops it at the end.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use sluice_engine::testing::TestRunner;
use sluice_processors::{io, registry};

struct Server {
    url: String,
    dir: Option<std::path::PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-nats.sh");
            let _ = Command::new("bash").arg(script).arg("stop").arg(dir).output();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn server() -> Server {
    if let Ok(url) = std::env::var("SLUICE_TEST_NATS_URL")
        && !url.is_empty()
    {
        return Server { url, dir: None };
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let dir = std::env::temp_dir().join(format!("sluice-nats-bench-{}", uuid::Uuid::new_v4()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-nats.sh");
    let out = Command::new("bash").arg(script).arg(port.to_string()).arg(&dir).output().expect("run start-nats.sh");
    assert!(out.status.success(), "start-nats.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    Server { url: String::from_utf8_lossy(&out.stdout).trim().to_string(), dir: Some(dir) }
}

fn queued(r: &TestRunner) -> u64 {
    r.controller.find_connection("out-success").map(|c| c.queued_count()).unwrap_or(0)
}

/// Triggers the processor until `n` flowfiles came out (or 120 s passed); returns the count.
/// Consumes until `n` flowfiles are queued, or (core NATS, which is at most once and drops
/// messages for a slow consumer) until nothing new arrived for 2 s. Returns the count and the
/// time of the last arrival since `t0`.
fn drain(r: &mut TestRunner, n: u64, t0: Instant) -> (u64, Duration) {
    let end = Instant::now() + Duration::from_secs(120);
    let (mut last, mut last_at) = (0u64, t0.elapsed());
    while queued(r) < n && Instant::now() < end {
        if !r.run_until_idle(1000).map(|_| true).unwrap_or(false) {
            break;
        }
        let q = queued(r);
        if q > last {
            (last, last_at) = (q, t0.elapsed());
        } else if t0.elapsed() - last_at > Duration::from_secs(2) {
            break;
        }
        if q < n {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    (queued(r), last_at)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let srv = server();
    let payload = bytes::Bytes::from(vec![b'x'; size]);
    println!("nats_bench: {n} messages of {size} bytes, server {}", srv.url);

    // ---- JetStream: publish everything first, then consume through the processor.
    let stream = format!("BENCH{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let subject = format!("bench.{stream}");
    let client = io::block_on(async_nats::connect(&srv.url)).expect("connect");
    let js = {
        let _rt = io::runtime().enter();
        jetstream::new(client.clone())
    };
    let t0 = Instant::now();
    io::block_on(async {
        js.get_or_create_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("stream");
        let mut acks = Vec::with_capacity(1000);
        for _ in 0..n {
            acks.push(js.publish(subject.clone(), payload.clone()).await.expect("publish"));
            if acks.len() == 1000 {
                for a in acks.drain(..) {
                    a.await.expect("ack");
                }
            }
        }
        for a in acks {
            a.await.expect("ack");
        }
    });
    let pub_s = t0.elapsed().as_secs_f64();
    println!("  published to JetStream in {pub_s:.2} s ({:.0} msg/s)", n as f64 / pub_s);

    let mut r = TestRunner::new(registry(), "ConsumeNATS");
    r.set_property("Server URLs", &srv.url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", &subject);
    r.set_property("Stream Name", &stream);
    r.set_property("Durable Name", "bench");
    r.set_property("Batch Size", "1000");
    r.set_property("Max Buffered Messages", "10000");
    let t1 = Instant::now();
    let (got, took) = drain(&mut r, n, t1);
    let secs = took.as_secs_f64();
    println!("  ConsumeNATS JetStream: {got} flowfiles in {secs:.2} s = {:.0} messages/s", got as f64 / secs);
    drop(r);

    // ---- Core: the processor subscribes, then a publisher sends while it consumes.
    let subject = format!("benchcore.{stream}");
    let mut r = TestRunner::new(registry(), "ConsumeNATS");
    r.set_property("Server URLs", &srv.url);
    r.set_property("Subject", &subject);
    r.set_property("Batch Size", "1000");
    r.set_property("Max Buffered Messages", "100000");
    r.run(1).expect("subscribes");
    let publisher = {
        let client = client.clone();
        let payload = payload.clone();
        let subject = subject.clone();
        std::thread::spawn(move || {
            io::block_on(async {
                for _ in 0..n {
                    client.publish(subject.clone(), payload.clone()).await.expect("publish");
                }
                client.flush().await.expect("flush");
            })
        })
    };
    let t2 = Instant::now();
    let (got, took) = drain(&mut r, n, t2);
    let secs = took.as_secs_f64();
    let _ = publisher.join();
    println!(
        "  ConsumeNATS core:      {got} flowfiles in {secs:.2} s = {:.0} messages/s (publishing concurrently; \
         core NATS is at most once: {} of {n} dropped for a slow consumer)",
        got as f64 / secs,
        n - got
    );
}
