//! Runs every example flow in `flows/` with the real `sluice` binary and checks that it
//! does what its description promises. Each test validates the shipped file, writes a copy
//! with its paths, ports and endpoints (and, where the shipped schedule is minutes or hours,
//! its scheduling) pointed at test values, starts `sluice run --flow <copy>`, drives it from
//! the outside and checks the outcome.
//!
//! The S3 and NATS tests need servers: SLUICE_TEST_S3_ENDPOINT / SLUICE_TEST_NATS_URL, or
//! ones started with scripts/start-s3.sh / scripts/start-nats.sh. When none can be had the
//! test is skipped with a message, unless the environment variable CI is set: then it fails.
//!
//! The tests take a lock so that they run one at a time: the throughput flow uses every core
//! it can get, and the other tests check timings.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Helpers

/// One test at a time (see the module comment).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn flow_path(name: &str) -> PathBuf {
    repo().join("flows").join(format!("{name}.json"))
}

/// A port nothing listens on right now (TCP and UDP).
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = l.local_addr().expect("local addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls `f` every 50 ms until it returns Some; panics naming `what` after `timeout`.
fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= end {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sluice validate FILE` must accept the file.
fn validate(file: &Path) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_sluice")).arg("validate").arg(file).output().expect("run sluice validate");
    assert!(
        out.status.success(),
        "sluice validate {} failed:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped flow, validated, as JSON to modify.
fn shipped(name: &str) -> Value {
    let path = flow_path(name);
    validate(&path);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let flow: Value = serde_json::from_str(&text).expect("flow JSON");
    assert!(
        flow["description"].as_str().is_some_and(|d| d.len() > 40),
        "{name}.json needs a description for people reading it"
    );
    flow
}

fn set_param(flow: &mut Value, name: &str, value: &str) {
    let params = flow["parameters"].as_object_mut().expect("the flow has parameters");
    assert!(params.contains_key(name), "the flow has no parameter '{name}'");
    params.insert(name.into(), Value::String(value.into()));
}

fn processor<'a>(flow: &'a mut Value, id: &str) -> &'a mut Value {
    flow["processors"]
        .as_array_mut()
        .expect("processors")
        .iter_mut()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no processor '{id}'"))
}

fn set_scheduling(flow: &mut Value, id: &str, field: &str, value: &str) {
    processor(flow, id)["scheduling"][field] = Value::String(value.into());
}

/// A running `sluice run` on a copy of a flow; killed when dropped (its log is printed
/// when the test is failing).
struct Sluice {
    child: Child,
    base: String,
    log: PathBuf,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Sluice {
    fn start(flow: &Value) -> Sluice {
        Sluice::start_with_env(flow, &[])
    }

    /// Starts it with extra environment variables.
    fn start_with_env(flow: &Value, env: &[(&str, &str)]) -> Sluice {
        let dir = tempfile::tempdir().expect("temp dir");
        let flow_file = dir.path().join("flow.json");
        fs::write(&flow_file, serde_json::to_string_pretty(flow).unwrap()).expect("write the flow copy");
        validate(&flow_file);
        let port = free_port();
        let log = dir.path().join("sluice.log");
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg("--flow")
            .arg(&flow_file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("SLUICE_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start sluice");
        let mut s = Sluice {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("sluice exited during start-up ({status}):\n{}", s.log_text());
            }
            if s.http.get(format!("{}/api/health", s.base)).send().is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(Instant::now() < end, "sluice not ready after 30 s:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        // Loading the flow must not rewrite it (`--flow` saves edits only).
        let on_disk: Value = serde_json::from_str(&fs::read_to_string(&flow_file).unwrap()).unwrap();
        assert_eq!(&on_disk, flow, "sluice rewrote the flow file while loading it");
        s
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.base)).send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    fn post(&self, path: &str) {
        let r = self.http.post(format!("{}{path}", self.base)).send().unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
    }

    /// A per-processor counter from /metrics (cumulative since start).
    fn metric(&self, name: &str, component: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        let prefix = format!("{name}{{component_id=\"{component}\",");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no metric {name} for {component} in /metrics"));
        line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).expect("metric value") as u64
    }

    /// Provenance events matching the query (newest first).
    fn events(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/api/provenance?{query}"))["events"].as_array().cloned().unwrap_or_default()
    }

    /// Every connection is empty, nothing in flight.
    fn drained(&self) -> bool {
        let flow = self.get("/api/flow");
        flow["connections"].as_array().unwrap().iter().all(|c| {
            c["status"]["queued_count"].as_u64() == Some(0) && c["status"]["in_flight"].as_u64().unwrap_or(0) == 0
        })
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- last lines of the sluice log ---");
            for l in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{l}");
            }
        }
    }
}

/// What to do when a server the test needs cannot be had: fail under CI, else skip.
fn unavailable(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is needed and could not be started (CI is set, so this fails): {why}");
    }
    eprintln!("SKIPPED: {what} could not be started: {why}");
}

fn script(name: &str) -> PathBuf {
    repo().join("scripts").join(name)
}

/// An S3 server: SLUICE_TEST_S3_ENDPOINT, or moto started by scripts/start-s3.sh (stopped
/// when dropped, or when this test process ends).
struct S3Server {
    endpoint: String,
    pid: Option<String>,
}

impl S3Server {
    fn start() -> Result<S3Server, String> {
        if let Ok(e) = std::env::var("SLUICE_TEST_S3_ENDPOINT")
            && !e.trim().is_empty()
        {
            return Ok(S3Server { endpoint: e.trim().trim_end_matches('/').to_string(), pid: None });
        }
        let pid_file = std::env::temp_dir().join(format!("sluice-flows-s3-{}.pid", uuid::Uuid::new_v4()));
        let out = Command::new("bash")
            .arg(script("start-s3.sh"))
            .env("S3_PARENT_PID", std::process::id().to_string())
            .env("S3_PID_FILE", &pid_file)
            .output()
            .map_err(|e| format!("cannot run scripts/start-s3.sh: {e}"))?;
        let pid = fs::read_to_string(&pid_file).ok().map(|p| p.trim().to_string());
        let _ = fs::remove_file(&pid_file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let endpoint = stdout.lines().last().unwrap_or_default().trim().to_string();
        if !out.status.success() || !endpoint.starts_with("http://") {
            return Err(format!(
                "scripts/start-s3.sh failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(S3Server { endpoint, pid })
    }

    /// One unsigned request (moto's server mode accepts them).
    fn request(&self, method: reqwest::Method, path: &str, body: &[u8]) -> u16 {
        reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.endpoint))
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .unwrap_or_else(|e| panic!("S3 request {path}: {e}"))
            .status()
            .as_u16()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(pid) = &self.pid {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

/// A NATS server: SLUICE_TEST_NATS_URL, or nats-server started by scripts/start-nats.sh
/// (stopped when dropped).
struct NatsServer {
    url: String,
    dir: Option<tempfile::TempDir>,
}

impl NatsServer {
    fn start() -> Result<NatsServer, String> {
        if let Ok(u) = std::env::var("SLUICE_TEST_NATS_URL")
            && !u.trim().is_empty()
        {
            return Ok(NatsServer { url: u.trim().to_string(), dir: None });
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let out = Command::new("bash")
            .arg(script("start-nats.sh"))
            .arg(port.to_string())
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run scripts/start-nats.sh: {e}"))?;
        let url = String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or("").to_string();
        let server = NatsServer { url, dir: Some(dir) };
        if !out.status.success() || !server.url.starts_with("nats://") {
            return Err(format!(
                "scripts/start-nats.sh failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(server)
    }

    fn host_port(&self) -> String {
        let rest = self.url.trim_start_matches("nats://");
        rest.rsplit('@').next().unwrap_or(rest).split(',').next().unwrap_or(rest).to_string()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new("bash").arg(script("start-nats.sh")).arg("stop").arg(dir.path()).output();
        }
    }
}

/// A bare NATS subscriber (the protocol is text: CONNECT, SUB, then MSG frames) that
/// collects (subject, payload) pairs on a thread.
struct Subscriber {
    stream: TcpStream,
    messages: Arc<Mutex<Vec<(String, String)>>>,
}

impl Subscriber {
    fn connect(host_port: &str, subject: &str) -> Subscriber {
        let stream = TcpStream::connect(host_port).unwrap_or_else(|e| panic!("connect to NATS at {host_port}: {e}"));
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("NATS INFO");
        assert!(line.starts_with("INFO"), "NATS greeting: {line}");
        let mut w = stream.try_clone().unwrap();
        write!(w, "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB {subject} 1\r\nPING\r\n").unwrap();
        // The PONG confirms the subscription is registered.
        loop {
            line.clear();
            reader.read_line(&mut line).expect("NATS PONG");
            if line.starts_with("PONG") {
                break;
            }
            assert!(!line.starts_with("-ERR"), "NATS refused the subscription: {line}");
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.starts_with("PING") {
                    let _ = w.write_all(b"PONG\r\n");
                } else if let Some(rest) = line.strip_prefix("MSG ") {
                    // MSG <subject> <sid> [reply-to] <#bytes>
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let len: usize = parts.last().and_then(|n| n.parse().ok()).unwrap_or(0);
                    let mut payload = vec![0u8; len + 2];
                    if reader.read_exact(&mut payload).is_err() {
                        return;
                    }
                    payload.truncate(len);
                    sink.lock().unwrap().push((parts[0].to_string(), String::from_utf8_lossy(&payload).into_owned()));
                }
            }
        });
        Subscriber { stream, messages }
    }

    fn received(&self) -> Vec<(String, String)> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The files in a directory, by name (empty when it does not exist). Hidden files are left
/// out: PutFile writes `.NAME.RANDOM.tmp` and renames it when complete.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(rd) = fs::read_dir(dir) else { return BTreeMap::new() };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.path().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap_or_default()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// demo.json

#[test]
fn demo_shows_activity_at_once_routes_retries_and_fails() {
    let _serial = serial();
    let mut flow = shipped("demo");
    // Every charge is declined: each urgent order is retried 3 times and then takes the
    // failure path.
    set_param(&mut flow, "decline_percent", "100");
    let s = Sluice::start(&flow);
    let ready = Instant::now();

    // Visible activity within a second: orders generated and routed.
    eventually(Duration::from_secs(1), "orders generated and logged within a second of start", || {
        (s.metric("sluice_processor_flowfiles_out_total", "generate-orders") >= 5
            && s.metric("sluice_processor_flowfiles_in_total", "log-normal")
                + s.metric("sluice_processor_flowfiles_in_total", "charge-card")
                >= 1)
            .then_some(())
    });
    println!("demo: activity {} ms after ready", ready.elapsed().as_millis());

    // Routing: both routes used.
    eventually(Duration::from_secs(10), "normal and urgent orders", || {
        (s.metric("sluice_processor_flowfiles_in_total", "log-normal") > 0
            && s.metric("sluice_processor_flowfiles_in_total", "charge-card") > 0)
            .then_some(())
    });

    // Retry, then the failure path: the declined order was held back 250 + 500 + 1000 ms.
    let dropped = eventually(Duration::from_secs(10), "a declined order at 'Log declined'", || {
        let ev = s.events("component=log-declined&type=DROP&limit=10");
        (!ev.is_empty()).then_some(ev)
    });
    for e in &dropped {
        let waited = e["timestamp_millis"].as_i64().unwrap() - e["lineage_start_millis"].as_i64().unwrap();
        assert!(waited >= 1750, "a declined order reached the failure path after {waited} ms, before its 3 retries");
    }
    assert!(s.log_text().contains("payment declined after 3 retries"), "the failure path logs a warning");
    assert_eq!(s.metric("sluice_processor_flowfiles_in_total", "log-urgent"), 0, "no charge was approved");
}

// ---------------------------------------------------------------------------------------
// http-ingest.json

/// A JSON body of exactly `size` bytes, like the peer's workload a.
fn ingest_body(level: Option<&str>, id: usize, size: usize) -> String {
    let mut rec = serde_json::json!({"id": id, "source": "sluice-flows-test", "msg": ""});
    if let Some(l) = level {
        rec["level"] = Value::String(l.into());
    }
    let pad = size - serde_json::to_string(&rec).unwrap().len();
    rec["msg"] = Value::String("x".repeat(pad));
    serde_json::to_string(&rec).unwrap()
}

#[test]
fn http_ingest_routes_posted_documents_to_two_line_files() {
    let _serial = serial();
    let mut flow = shipped("http-ingest");
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    set_param(&mut flow, "ingest_port", &port.to_string());
    set_param(&mut flow, "output_dir", out.path().to_str().unwrap());
    let s = Sluice::start(&flow);
    let url = format!("http://127.0.0.1:{port}/ingest");

    let levels = ["error", "warn", "info", "debug"];
    let mut sent: BTreeMap<u64, String> = BTreeMap::new();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let post = |body: String| {
        // The listener binds when the processor is scheduled; give it a moment.
        eventually(Duration::from_secs(5), "ListenHTTP accepting the POST", || {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .ok()
                .map(|r| r.status().as_u16())
        })
    };
    for i in 0..40 {
        let body = ingest_body(Some(levels[i % 4]), i, 1024);
        assert_eq!(post(body.clone()), 200, "POST {i}");
        sent.insert(i as u64, body);
    }
    let no_level = ingest_body(None, 40, 256);
    assert_eq!(post(no_level.clone()), 200);
    sent.insert(40, no_level);
    assert_eq!(post("this is not JSON".into()), 200);
    let wrong_path = client.post(format!("http://127.0.0.1:{port}/elsewhere")).body("{}").send().unwrap();
    assert_eq!(wrong_path.status().as_u16(), 404, "other paths are not ingested");

    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(out.path().join(name))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (errors, other, invalid) = eventually(Duration::from_secs(15), "every document written", || {
        let (e, o) = (lines("errors.jsonl"), lines("other.jsonl"));
        let i = files_in(&out.path().join("invalid"));
        (e.len() == 10 && o.len() == 31 && i.len() == 1).then_some((e, o, i))
    });
    let mut seen = BTreeSet::new();
    for (file, lines) in [("errors.jsonl", &errors), ("other.jsonl", &other)] {
        for text in lines {
            let doc: Value = serde_json::from_str(text).expect("a written line is the JSON posted");
            let id = doc["id"].as_u64().unwrap();
            assert_eq!(sent.get(&id), Some(text), "document {id} written byte for byte");
            let is_error = doc["level"] == "error";
            assert_eq!(is_error, file == "errors.jsonl", "document {id} (level {}) misrouted to {file}", doc["level"]);
            assert!(seen.insert(id), "document {id} written twice");
        }
    }
    assert!(std::fs::read_to_string(out.path().join("other.jsonl")).unwrap().ends_with("}\n"), "one line per record");
    assert_eq!(seen.len(), 41, "every document written once");
    assert_eq!(invalid.values().next().unwrap(), b"this is not JSON");
    eventually(Duration::from_secs(5), "one RECEIVE event per accepted POST", || {
        (s.events("component=listen&type=RECEIVE&limit=100").len() == 42).then_some(())
    });
}

// ---------------------------------------------------------------------------------------
// throughput.json

#[test]
fn throughput_routes_every_generated_flowfile() {
    let _serial = serial();
    let flow = shipped("throughput");
    let s = Sluice::start(&flow);
    let t0 = Instant::now();
    eventually(Duration::from_secs(20), "a second of work and 20,000 flowfiles routed", || {
        (t0.elapsed() >= Duration::from_secs(1)
            && s.metric("sluice_processor_flowfiles_in_total", "route-level") >= 20_000)
            .then_some(())
    });
    s.post("/api/processors/generate/stop");
    eventually(Duration::from_secs(20), "the queues to drain", || s.drained().then_some(()));
    let secs = t0.elapsed().as_secs_f64();

    let generated = s.metric("sluice_processor_flowfiles_out_total", "generate");
    let updated_in = s.metric("sluice_processor_flowfiles_in_total", "set-attributes");
    let updated_out = s.metric("sluice_processor_flowfiles_out_total", "set-attributes");
    let routed = s.metric("sluice_processor_flowfiles_in_total", "route-level");
    println!("throughput: {generated} flowfiles in {secs:.1} s ({:.0}/s)", generated as f64 / secs);
    assert_eq!(generated % 1000, 0, "generated in batches of batch_size (1000)");
    assert_eq!((updated_in, updated_out, routed), (generated, generated, generated), "none lost, none duplicated");

    // Both routes, in about equal shares (the level alternates), and the attribute is set.
    let sample = s.events("component=route-level&type=DROP&limit=1000");
    assert_eq!(sample.len(), 1000);
    let errors = sample.iter().filter(|e| e["relationship"] == "error").count();
    let others = sample.iter().filter(|e| e["relationship"] == "unmatched").count();
    assert_eq!(errors + others, 1000);
    assert!((400..=600).contains(&errors), "error route got {errors} of 1000");
    let id = sample[0]["id"].as_u64().unwrap();
    let event = s.get(&format!("/api/provenance/events/{id}"));
    let attrs = if event["updated_attributes"].get("attr").is_some() {
        &event["updated_attributes"]
    } else {
        &event["previous_attributes"]
    };
    assert_eq!(attrs["attr"], "bench", "UpdateAttribute set attr: {event}");
}

// ---------------------------------------------------------------------------------------
// file-to-file.json

/// Lower-case words and newlines from a fixed-seed xorshift, like the peer's inputs.
fn text_file(seed: u32, size: usize) -> Vec<u8> {
    let mut s = seed.max(1);
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    let mut buf = Vec::with_capacity(size);
    let mut col = 0;
    for j in 0..size {
        let c = if j == size - 1 || col >= 72 + (rnd() % 8) {
            col = 0;
            b'\n'
        } else if rnd() % 6 == 0 {
            col += 1;
            b' '
        } else {
            col += 1;
            b'a' + (rnd() % 26) as u8
        };
        buf.push(c);
    }
    buf
}

#[test]
fn file_to_file_transforms_every_file() {
    let _serial = serial();
    let mut flow = shipped("file-to-file");
    let root = tempfile::tempdir().unwrap();
    let (input, output, staging) = (root.path().join("in"), root.path().join("out"), root.path().join("staging"));
    fs::create_dir_all(&input).unwrap();
    fs::create_dir_all(&staging).unwrap();
    set_param(&mut flow, "input_dir", input.to_str().unwrap());
    set_param(&mut flow, "output_dir", output.to_str().unwrap());

    // Files appear whole: written elsewhere, then renamed in.
    let mut expected = BTreeMap::new();
    let mut drop_file = |i: usize| {
        let name = format!("in-{i:03}.txt");
        let content = if i == 0 { Vec::new() } else { text_file(i as u32 + 42, 4096) };
        fs::write(staging.join(&name), &content).unwrap();
        fs::rename(staging.join(&name), input.join(&name)).unwrap();
        let mut want = format!("X-Sluice-Source: {name}\n").into_bytes();
        want.extend(String::from_utf8(content).unwrap().to_uppercase().into_bytes());
        expected.insert(name, want);
    };
    for i in 0..40 {
        drop_file(i);
    }
    let s = Sluice::start(&flow);
    eventually(Duration::from_secs(15), "the first 40 outputs", || (files_in(&output).len() >= 40).then_some(()));
    // Files placed while it runs are picked up by a later listing.
    for i in 40..50 {
        drop_file(i);
    }
    let got = eventually(Duration::from_secs(15), "all 50 outputs, each correct", || {
        let got = files_in(&output);
        (got == expected).then_some(got)
    });
    assert_eq!(got.len(), 50);
    assert_eq!(files_in(&input).len(), 50, "the input is left in place");
    // Each file is taken once: nothing more is written on later listings.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.metric("sluice_processor_flowfiles_in_total", "put"), 50, "each file written once");
    assert_eq!(s.metric("sluice_processor_flowfiles_in_total", "log-failure"), 0, "no failures");
}

// ---------------------------------------------------------------------------------------
// s3-sensor.json

#[test]
fn s3_sensor_logs_arrival_and_gives_up_on_timeout() {
    let _serial = serial();
    let shipped_flow = shipped("s3-sensor");
    assert_eq!(processor(&mut shipped_flow.clone(), "poke")["scheduling"]["period"], "5 mins");
    let server = match S3Server::start() {
        Ok(s) => s,
        Err(why) => return unavailable("an S3 server", &why),
    };
    let bucket = format!("sluice-sensor-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    assert_eq!(server.request(reqwest::Method::PUT, &format!("/{bucket}"), b""), 200, "bucket created");
    let key = "incoming/ready.csv";

    // The test's copies poke every 300 ms instead of every 5 minutes.
    let sensor = |key: &str, timeout_seconds: &str| {
        let mut f = shipped_flow.clone();
        set_param(&mut f, "s3_endpoint", &server.endpoint);
        set_param(&mut f, "bucket", &bucket);
        set_param(&mut f, "key", key);
        set_param(&mut f, "timeout_seconds", timeout_seconds);
        set_scheduling(&mut f, "poke", "period", "300 ms");
        set_scheduling(&mut f, "poke", "penalty", "100 ms");
        // Credentials come from the AWS environment (moto takes any).
        Sluice::start_with_env(&f, &[("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")])
    };
    let waiting = sensor(key, "60");
    let giving_up = sensor("incoming/never.csv", "1");

    // Not there yet: it keeps poking and logs nothing.
    eventually(Duration::from_secs(10), "three pokes", || {
        (waiting.metric("sluice_processor_tasks_total", "poke") >= 3).then_some(())
    });
    assert_eq!(waiting.metric("sluice_processor_flowfiles_in_total", "log-arrived"), 0);
    assert!(!waiting.log_text().contains("arrived"));

    let content = b"id,value\n1,42\n";
    assert_eq!(server.request(reqwest::Method::PUT, &format!("/{bucket}/{key}"), content), 200, "object put");
    let line = format!("S3 object s3://{bucket}/{key} arrived ({} bytes", content.len());
    eventually(Duration::from_secs(10), "the arrival log line", || waiting.log_text().contains(&line).then_some(()));
    // Provenance is indexed a moment after the log line.
    eventually(Duration::from_secs(5), "the arrival's provenance event", || {
        (waiting.events("component=log-arrived&type=DROP&limit=5").len() == 1).then_some(())
    });
    // The run is over: no more pokes.
    let pokes = waiting.metric("sluice_processor_tasks_total", "poke");
    std::thread::sleep(Duration::from_millis(800));
    assert!(waiting.drained(), "nothing waits after the object arrived");
    assert!(waiting.metric("sluice_processor_tasks_total", "poke") <= pokes + 3);
    assert_eq!(waiting.metric("sluice_processor_flowfiles_in_total", "log-timed-out"), 0);

    // The other sensor gives up after its 1 s timeout.
    eventually(Duration::from_secs(10), "the time-out warning", || {
        giving_up.log_text().contains("S3 sensor gave up").then_some(())
    });
    assert_eq!(giving_up.metric("sluice_processor_flowfiles_in_total", "log-arrived"), 0);
    assert!(giving_up.metric("sluice_processor_tasks_total", "poke") >= 2, "it poked before giving up");
}

// ---------------------------------------------------------------------------------------
// task-notify.json

#[test]
fn task_notify_publishes_success_and_failure_after_retries() {
    let _serial = serial();
    let mut flow = shipped("task-notify");
    assert_eq!(processor(&mut flow, "run-task")["properties"]["Command Timeout"], "3600 sec");
    let server = match NatsServer::start() {
        Ok(s) => s,
        Err(why) => return unavailable("a NATS server", &why),
    };
    let sub = Subscriber::connect(&server.host_port(), "tasks.>");
    let port = free_port();
    set_param(&mut flow, "nats_url", &server.url);
    set_param(&mut flow, "start_port", &port.to_string());
    set_param(&mut flow, "retry_interval_ms", "200");
    set_param(&mut flow, "backoff_rate", "2");
    set_param(&mut flow, "max_retries", "2");
    // The input is an exit code, or "sleep" for a command that outlives its timeout.
    set_param(&mut flow, "task_command", "sh");
    set_param(
        &mut flow,
        "task_arguments",
        "-c;\"read code; echo ran with $code; echo complaint >&2; [ $code = sleep ] && sleep 30; exit $code\"",
    );
    // The test's copy times out after 1 s instead of an hour.
    processor(&mut flow, "run-task")["properties"]["Command Timeout"] = Value::String("1 sec".into());
    let s = Sluice::start(&flow);

    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for input in ["0", "3", "sleep"] {
        let status = eventually(Duration::from_secs(5), "ListenHTTP accepting the execution", || {
            client.post(format!("http://127.0.0.1:{port}/start")).body(input).send().ok().map(|r| r.status().as_u16())
        });
        assert_eq!(status, 200, "execution with input {input} started");
    }
    let msgs = eventually(Duration::from_secs(20), "three notifications", || {
        let m = sub.received();
        (m.len() >= 3).then_some(m)
    });
    let by_output: BTreeMap<String, (String, Value)> = msgs
        .iter()
        .map(|(subject, payload)| {
            let v: Value =
                serde_json::from_str(payload).unwrap_or_else(|e| panic!("notification JSON: {e}: {payload}"));
            (v["task.output"].as_str().unwrap_or_default().trim().to_string(), (subject.clone(), v))
        })
        .collect();

    let (subject, ok) = &by_output["ran with 0"];
    assert_eq!(subject, "tasks.succeeded");
    assert_eq!(ok["task.status"], "SUCCEEDED");
    assert_eq!(ok["task.attempt"], "1", "no retry after a success");
    assert_eq!(ok["execution.status"], "0");

    let (subject, failed) = &by_output["ran with 3"];
    assert_eq!(subject, "tasks.failed");
    assert_eq!(failed["task.status"], "FAILED");
    assert_eq!(failed["execution.status"], "3");
    assert_eq!(failed["task.attempt"], "3", "the first attempt and max_retries (2) retries");
    assert!(failed["execution.error"].as_str().unwrap().contains("complaint"), "stderr is reported");
    let num = |v: &Value, k: &str| v[k].as_str().and_then(|s| s.parse::<i64>().ok()).unwrap();
    let took = num(failed, "task.finished") - num(failed, "task.started");
    assert!(took >= 600, "retries waited 200 ms, then 400 ms (back-off); the execution took {took} ms");

    let (subject, timed_out) = &by_output["ran with sleep"];
    assert_eq!(subject, "tasks.failed");
    assert_eq!(timed_out["task.attempt"], "3");
    assert!(
        timed_out["execution.error"].as_str().unwrap().contains("timed out"),
        "the time-out is the reason: {timed_out}"
    );
    assert_eq!(s.metric("sluice_processor_flowfiles_in_total", "log-undelivered"), 0);
    assert_eq!(msgs.len(), 3, "one notification per execution");
}

// ---------------------------------------------------------------------------------------
// syslog-archive.json

/// The archives written so far: name → decompressed lines.
fn archives(dir: &Path) -> BTreeMap<String, Vec<String>> {
    files_in(dir)
        .into_iter()
        .map(|(name, gz)| {
            let mut child = Command::new("gzip")
                .arg("-dc")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("gzip (to decompress the archives)");
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || stdin.write_all(&gz));
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{name} is not a valid gzip file");
            let text = String::from_utf8(out.stdout).expect("utf-8 archive");
            assert!(text.ends_with('\n'), "{name}: one message per line");
            (name, text.lines().map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn syslog_archive_batches_by_count_and_by_age() {
    let _serial = serial();
    let mut flow = shipped("syslog-archive");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    set_param(&mut flow, "syslog_port", &port.to_string());
    set_param(&mut flow, "merge_max_count", "5");
    set_param(&mut flow, "merge_max_age", "3 sec");
    set_param(&mut flow, "archive_dir", dir.path().to_str().unwrap());
    let s = Sluice::start(&flow);

    // TCP accepting means the listeners are up (the UDP one starts alongside).
    let mut tcp =
        eventually(Duration::from_secs(5), "the TCP listener", || TcpStream::connect(("127.0.0.1", port)).ok());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Five messages: a full batch, archived without waiting for its age (MergeContent looks
    // again after its 1 s yield at the latest).
    let batch: Vec<String> =
        (0..5).map(|i| format!("<34>1 2026-12-07T03:00:0{i}.000Z host app 123 ID47 - udp message {i}")).collect();
    let t0 = Instant::now();
    for m in &batch {
        udp.send_to(m.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    let first = eventually(Duration::from_secs(5), "the first archive", || {
        let a = archives(dir.path());
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(first.len(), 1);
    let (name, lines) = first.iter().next().unwrap();
    assert!(name.starts_with("syslog-") && name.ends_with(".log.gz"), "archive name {name}");
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, batch, "the full batch holds the five messages");
    let full_after = t0.elapsed();
    println!("syslog: full batch archived after {} ms", full_after.as_millis());
    assert!(full_after < Duration::from_millis(2500), "the full batch did not wait for its age ({full_after:?})");

    // Two more (one over TCP, one that is not syslog): archived when the oldest is 3 s old.
    let tcp_msg = "<13>Dec  7 03:00:00 host app: tcp message";
    tcp.write_all(format!("{tcp_msg}\n").as_bytes()).unwrap();
    udp.send_to(b"not a syslog message", ("127.0.0.1", port)).unwrap();
    let t1 = Instant::now();
    let all = eventually(Duration::from_secs(10), "the second archive", || {
        let a = archives(dir.path());
        (a.len() == 2).then_some(a)
    });
    let waited = t1.elapsed();
    let second: Vec<&Vec<String>> = all.iter().filter(|(n, _)| *n != name).map(|(_, l)| l).collect();
    let mut got = second[0].clone();
    got.sort();
    let mut want = vec![tcp_msg.to_string(), "not a syslog message".to_string()];
    want.sort();
    assert_eq!(got, want, "the partial batch holds the TCP message and the invalid one");
    println!("syslog: partial batch archived after {} ms", waited.as_millis());
    assert!(waited >= Duration::from_millis(2900), "the partial batch waited for its age ({waited:?})");
    assert_eq!(s.metric("sluice_processor_flowfiles_in_total", "log-failure"), 0);
}
