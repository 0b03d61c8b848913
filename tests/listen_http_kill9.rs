//! ListenHTTP answers 200 only after the flowfile is committed, so nothing it acknowledged may
//! be lost across `kill -9`. The real `sluice` binary runs ListenHTTP → a stopped LogAttribute
//! (so everything received stays queued). Several client threads POST distinct bodies of
//! varied sizes (binary, up to ~4 KiB) and record which ones got 200; the process is SIGKILLed
//! while requests are still in flight, at a different point in each of `ROUNDS` rounds, and
//! restarted on the same data dir and flow. After every restart the queue is read through
//! `GET /api/connections/{id}/queue` and `GET /api/flowfiles/{uuid}/content`: every body that
//! got a 200, in any round so far, must be queued byte for byte, and no body may be queued
//! twice. Extra bodies that never got their 200 are allowed (the commit can land before the
//! answer is written) and are counted.

mod child;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use child::{Sluice, free_port, start};

const ROUNDS: usize = 3;
const THREADS: usize = 6;
/// Upper bound of POSTs per thread and round; the kill comes long before.
const PER_THREAD: usize = 150;
/// The kill comes once this many bodies got their 200 in the round (index = round).
const KILL_AFTER_ACKS: [usize; ROUNDS] = [60, 150, 240];
const DURABILITY: &str = "os";

fn flow(ingest_port: u16) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "name": "listen http kill -9",
        "processors": [
            {
                "id": "listen", "type": "ListenHTTP", "name": "listen",
                "properties": {
                    "Hostname": "127.0.0.1",
                    "Listening Port": ingest_port.to_string(),
                    "Base Path": "ingest",
                    "Container Queue Size": "1000"
                },
                "state": "RUNNING",
                "auto_terminated_relationships": [],
                "scheduling": { "strategy": "TIMER_DRIVEN", "period": "0 sec", "concurrent_tasks": 1 }
            },
            {
                "id": "hold", "type": "LogAttribute", "name": "hold",
                "properties": {},
                "state": "STOPPED",
                "auto_terminated_relationships": ["success"],
                "scheduling": { "strategy": "TIMER_DRIVEN", "period": "0 sec", "concurrent_tasks": 1 }
            }
        ],
        "connections": [
            { "id": "received", "source": "listen", "relationships": ["success"], "destination": "hold",
              "back_pressure_object_threshold": 100000, "back_pressure_data_size_threshold": "1 GB" }
        ]
    })
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    let r = client().get(format!("http://127.0.0.1:{port}{path}")).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().ok()
}

/// Waits for the API and for ListenHTTP's port to accept connections.
fn wait_ready(s: &mut Sluice, ingest_port: u16, log: &Path) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if let Some(status) = s.child.try_wait().unwrap() {
            panic!("sluice exited with {status} before it was ready; log:\n{}", fs::read_to_string(log).unwrap());
        }
        if get_json(s.port, "/api/health").is_some() && TcpStream::connect(("127.0.0.1", ingest_port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("sluice not ready after 30 s; log:\n{}", fs::read_to_string(log).unwrap());
}

/// A distinct body: a header naming it, then 0..4 KiB of bytes that depend on it.
fn body(round: usize, thread: usize, i: usize) -> Vec<u8> {
    let mut b = format!("round {round} thread {thread} post {i}\n").into_bytes();
    let len = (i * 977 + thread * 131 + round * 29) % 4096;
    b.extend((0..len).map(|k| (k * 31 + i * 7 + thread * 3 + round) as u8));
    b
}

/// Every queued body in the connection, with how often it is there.
fn queued_bodies(port: u16) -> HashMap<Vec<u8>, usize> {
    let q = get_json(port, "/api/connections/received/queue?limit=10000").expect("queue listing");
    let list = q["flowfiles"].as_array().expect("flowfiles");
    assert_eq!(q["total"].as_u64(), Some(list.len() as u64), "the whole queue fits in one page");
    let c = client();
    let mut bodies = HashMap::new();
    for ff in list {
        let uuid = ff["uuid"].as_str().unwrap();
        let r = c.get(format!("http://127.0.0.1:{port}/api/flowfiles/{uuid}/content")).send().unwrap();
        assert!(r.status().is_success(), "content of {uuid}: {}", r.status());
        *bodies.entry(r.bytes().unwrap().to_vec()).or_insert(0) += 1;
    }
    bodies
}

/// Checks every acknowledged body is queued exactly once; returns (queued, unacknowledged
/// extras).
fn verify(port: u16, acked: &BTreeSet<Vec<u8>>, when: &str) -> (usize, usize) {
    let bodies = queued_bodies(port);
    let missing = acked.iter().filter(|b| !bodies.contains_key(*b)).count();
    let dup: Vec<String> = bodies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(b, n)| {
            format!("{n}x {}", String::from_utf8_lossy(&b[..b.iter().position(|c| *c == b'\n').unwrap_or(0)]))
        })
        .collect();
    let first_missing = acked
        .iter()
        .find(|b| !bodies.contains_key(*b))
        .map(|b| String::from_utf8_lossy(&b[..40.min(b.len())]).into_owned());
    assert_eq!(
        missing,
        0,
        "{when}: {missing} of {} acknowledged bodies are not queued (e.g. {first_missing:?})",
        acked.len()
    );
    assert!(dup.is_empty(), "{when}: bodies queued more than once: {dup:?}");
    let total: usize = bodies.values().sum();
    (total, total - acked.len())
}

/// Nothing ListenHTTP acknowledged is lost across `ROUNDS` SIGKILLs with requests in flight.
#[test]
fn listen_http_loses_nothing_it_acknowledged_across_kill_9() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("sluice.log");
    let flow_file = dir.path().join("flow.json");
    let ingest_port = free_port();
    fs::write(&flow_file, serde_json::to_vec_pretty(&flow(ingest_port)).unwrap()).unwrap();
    let url = format!("http://127.0.0.1:{ingest_port}/ingest");

    let acked: Arc<Mutex<BTreeSet<Vec<u8>>>> = Arc::default();
    let mut cut_off = 0;
    for round in 0..=ROUNDS {
        let mut s = start(&flow_file, &data, &log, DURABILITY);
        wait_ready(&mut s, ingest_port, &log);
        let (queued, extra) = verify(s.port, &acked.lock().unwrap(), &format!("after kill {round}"));
        println!(
            "start {round}: {queued} queued, all {} acknowledged among them, {extra} without a 200",
            acked.lock().unwrap().len()
        );
        // After the last kill: the check above was the last one.
        let Some(&target) = KILL_AFTER_ACKS.get(round) else {
            s.child.kill().unwrap();
            s.child.wait().unwrap();
            break;
        };

        let stop = Arc::new(AtomicBool::new(false));
        let round_acks = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let senders: Vec<_> = (0..THREADS)
            .map(|t| {
                let (stop, round_acks, finished, errors, refused, acked, url) = (
                    stop.clone(),
                    round_acks.clone(),
                    finished.clone(),
                    errors.clone(),
                    refused.clone(),
                    acked.clone(),
                    url.clone(),
                );
                std::thread::spawn(move || {
                    let c = client();
                    for i in 0..PER_THREAD {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let b = body(round, t, i);
                        match c.post(&url).body(b.clone()).send() {
                            Ok(r) if r.status() == reqwest::StatusCode::OK => {
                                acked.lock().unwrap().insert(b);
                                round_acks.fetch_add(1, Ordering::AcqRel);
                            }
                            Ok(_) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            // Refused or cut off: the kill (a request is only sent while
                            // the process is up, so this is in flight or after the kill).
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    finished.fetch_add(1, Ordering::AcqRel);
                })
            })
            .collect();
        let wait0 = Instant::now();
        while round_acks.load(Ordering::Acquire) < target {
            assert!(
                wait0.elapsed() < Duration::from_secs(15),
                "only {} acks in 15 s",
                round_acks.load(Ordering::Acquire)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let running = THREADS - finished.load(Ordering::Acquire);
        s.child.kill().unwrap(); // SIGKILL
        stop.store(true, Ordering::Release);
        s.child.wait().unwrap();
        for h in senders {
            h.join().unwrap();
        }
        assert_eq!(running, THREADS, "every sender still had requests to make at the kill");
        cut_off += errors.load(Ordering::Relaxed);
        println!(
            "kill {}: after {} acks this round ({} in the end, {} cut off or refused by the kill, {} answered but not 200), \
             {running} senders in flight",
            round + 1,
            target,
            round_acks.load(Ordering::Acquire),
            errors.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed)
        );
    }
    let n = acked.lock().unwrap().len();
    assert!(cut_off > 0, "the kills cut off no request: none was in flight");
    assert!(n >= KILL_AFTER_ACKS.iter().sum::<usize>(), "{n} acknowledged in all");
    println!("{n} acknowledged bodies, none lost across {ROUNDS} kills, in {:.1} s", t0.elapsed().as_secs_f64());
}
