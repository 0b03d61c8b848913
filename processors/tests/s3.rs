//! The S3 processors against a real S3-compatible server (moto's server mode). The server
//! is found through SLUICE_TEST_S3_ENDPOINT; when that is unset, these tests start one with
//! scripts/start-s3.sh (which installs moto if needed). If no server can be had, the tests
//! fail: they never skip silently.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_engine::node::Scheduling;
use sluice_engine::testing::TestRunner;
use uuid::Uuid;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-s3.sh")
}

/// Starts a server with scripts/start-s3.sh; it stops when this test process ends.
fn start_server(require_auth: bool) -> String {
    let out = Command::new("bash")
        .arg(script())
        .env("S3_PARENT_PID", std::process::id().to_string())
        .env("S3_REQUIRE_AUTH", if require_auth { "1" } else { "0" })
        .output()
        .expect("scripts/start-s3.sh runs");
    assert!(
        out.status.success(),
        "scripts/start-s3.sh could not start an S3 server (set SLUICE_TEST_S3_ENDPOINT to use another):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let endpoint = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(endpoint.starts_with("http://"), "unexpected output of scripts/start-s3.sh: {stdout}");
    endpoint
}

/// The shared test server.
fn endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| match std::env::var("SLUICE_TEST_S3_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_string(),
        _ => start_server(false),
    })
}

/// A server that checks signatures and knows no access key.
fn auth_endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| start_server(true))
}

/// One raw HTTP request to the server (bucket creation needs no signature on moto).
fn http(endpoint: &str, method: &str, path: &str) -> String {
    let hostport = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(hostport).expect("S3 server reachable");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

/// A new bucket with a unique name.
fn bucket(name: &str) -> String {
    let b = format!("sluice-{name}-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let resp = http(endpoint(), "PUT", &format!("/{b}"));
    assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "bucket created: {resp}");
    b
}

fn configure(r: &mut TestRunner, endpoint: &str, bucket: &str) {
    r.set_property("Bucket", bucket);
    r.set_property("Region", "us-east-1");
    r.set_property("Access Key ID", "testing");
    r.set_property("Secret Access Key", "testing");
    r.set_property("Endpoint Override URL", endpoint);
    r.set_property("Communications Timeout", "10 secs");
}

fn runner(ty: &str, bucket: &str) -> TestRunner {
    let mut r = TestRunner::new(sluice_processors::registry(), ty);
    configure(&mut r, endpoint(), bucket);
    r
}

fn put(bucket: &str, key: &str, content: &[u8]) {
    let mut r = runner("PutS3Object", bucket);
    r.enqueue(content.to_vec(), &[("filename", key)]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 1, "put {key}: {:?}", r.output("failure").first().map(|f| f.attributes.to_btree()));
}

/// A port nothing listens on.
fn dead_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn put_fetch_range_and_delete() {
    let b = bucket("roundtrip");
    let mut p = runner("PutS3Object", &b);
    p.set_property("Object Key", "dir/${filename}");
    p.set_property("Content Type", "text/plain");
    p.set_property("team", "${owner}");
    p.enqueue("hello, object store", &[("filename", "greeting.txt"), ("owner", "ops")]);
    p.run(1).unwrap();
    let out = p.output("success");
    assert_eq!(out.len(), 1, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));
    assert_eq!(out[0].attr("s3.bucket"), Some(b.as_str()));
    assert_eq!(out[0].attr("s3.key"), Some("dir/greeting.txt"));
    assert!(out[0].attr("s3.etag").is_some_and(|e| !e.is_empty() && !e.contains('"')));
    assert_eq!(out[0].attr("s3.contenttype"), Some("text/plain"));
    let send =
        p.events().into_iter().find(|e| e.event_type == sluice_engine::provenance::EventType::Send).expect("SEND");
    assert_eq!(send.transit_uri.as_deref(), Some(format!("s3://{b}/dir/greeting.txt").as_str()));

    let mut f = runner("FetchS3Object", &b);
    f.enqueue("", &[("filename", "dir/greeting.txt")]);
    f.run(1).unwrap();
    let out = f.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(TestRunner::content(&out[0]), "hello, object store");
    assert_eq!(out[0].attr("mime.type"), Some("text/plain"));
    assert_eq!(out[0].attr("team"), Some("ops"), "user metadata comes back as attributes");
    assert_eq!(out[0].attr("s3.length"), Some("19"));
    assert!(out[0].attr("s3.lastModified").unwrap().parse::<i64>().unwrap() > 1_600_000_000_000);
    assert!(f.events().iter().any(|e| e.event_type == sluice_engine::provenance::EventType::Fetch));

    let mut f = runner("FetchS3Object", &b);
    f.set_property("Range Start", "7 B");
    f.set_property("Range Length", "6 B");
    f.enqueue("", &[("filename", "dir/greeting.txt")]);
    f.run(1).unwrap();
    assert_eq!(TestRunner::content(&f.output("success")[0]), "object");

    let mut d = runner("DeleteS3Object", &b);
    d.enqueue("", &[("filename", "dir/greeting.txt")]);
    d.enqueue("", &[("filename", "never/existed")]);
    d.run(1).unwrap();
    assert_eq!(d.count("success"), 2, "deleting a missing object succeeds, as in S3");

    // The object is gone: fetching it is a failure that says so.
    let mut f = runner("FetchS3Object", &b);
    f.enqueue("", &[("filename", "dir/greeting.txt")]);
    f.run(1).unwrap();
    let failed = f.output("failure");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attr("s3.exception"), Some("NotFound"));
    assert_eq!(failed[0].attr("s3.statusCode"), Some("404"));
    assert_eq!(failed[0].attr("s3.errorCode"), Some("NoSuchKey"));
    assert!(failed[0].attr("s3.errorMessage").is_some());
}

#[test]
fn invalid_input_goes_to_failure() {
    let b = bucket("invalid");
    let mut p = runner("PutS3Object", &b);
    p.set_property("Object Key", "${key}");
    p.enqueue("x", &[("key", "a/../b")]);
    p.enqueue("x", &[]);
    p.run(1).unwrap();
    let failed = p.output("failure");
    assert_eq!(
        failed.len(),
        2,
        "{:?} {:?}",
        failed.iter().map(|f| f.attributes.to_btree()).collect::<Vec<_>>(),
        p.output("success").iter().map(|f| f.attributes.to_btree()).collect::<Vec<_>>()
    );
    assert!(failed[0].attr("s3.errorMessage").unwrap().contains("invalid object key"));
    assert!(failed[1].attr("s3.errorMessage").unwrap().contains("empty"));
    let mut f = runner("FetchS3Object", &b);
    f.set_property("Range Length", "lots");
    f.enqueue("", &[("filename", "k")]);
    f.run(1).unwrap();
    assert!(f.output("failure")[0].attr("s3.errorMessage").unwrap().contains("Range Length"));
    let mut missing_bucket = runner("FetchS3Object", &format!("{b}-does-not-exist"));
    missing_bucket.enqueue("", &[("filename", "k")]);
    missing_bucket.run(1).unwrap();
    assert_eq!(missing_bucket.count("failure"), 1);
}

/// 20 MiB of random bytes: a multipart upload (8 MB parts) and a streamed fetch, compared
/// byte for byte through their hashes.
#[test]
fn a_20_mib_object_goes_up_in_parts_and_comes_back_identical() {
    let b = bucket("large");
    let mut data = vec![0u8; 20 << 20];
    rand::rng().fill_bytes(&mut data);
    let expected = Sha256::digest(&data);
    let mut p = runner("PutS3Object", &b);
    p.enqueue(data, &[("filename", "big.bin")]);
    p.run(1).unwrap();
    let out = p.output("success");
    assert_eq!(out.len(), 1, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));
    // A multipart ETag is the hash of the parts' hashes followed by the part count.
    assert!(out[0].attr("s3.etag").unwrap().ends_with("-3"), "uploaded in 3 parts: {:?}", out[0].attr("s3.etag"));

    let mut f = runner("FetchS3Object", &b);
    f.enqueue("", &[("filename", "big.bin")]);
    f.run(1).unwrap();
    let out = f.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].size(), 20 << 20);
    let mut hasher = Sha256::new();
    let mut reader = out[0].content.reader().unwrap();
    std::io::copy(&mut reader, &mut hasher).unwrap();
    assert_eq!(hasher.finalize(), expected, "byte-identical");
}

#[test]
fn list_s3_lists_only_new_objects_after_a_restart() {
    let b = bucket("list");
    put(&b, "logs/one.log", b"1");
    put(&b, "logs/two.log", b"22");
    put(&b, "other/skip.txt", b"x");
    put(&b, "logs/deeper/three.log", b"333");
    let data = tempfile::tempdir().unwrap();
    let seen: HashSet<Uuid>;
    {
        let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "ListS3", data.path());
        configure(&mut r, endpoint(), &b);
        r.set_property("Prefix", "logs/");
        r.run(1).unwrap();
        let out = r.output("success");
        let mut keys: Vec<&str> = out.iter().map(|f| f.attr("filename").unwrap()).collect();
        keys.sort();
        assert_eq!(keys, ["logs/deeper/three.log", "logs/one.log", "logs/two.log"]);
        let two = out.iter().find(|f| f.attr("filename") == Some("logs/two.log")).unwrap();
        assert_eq!(two.attr("s3.bucket"), Some(b.as_str()));
        assert_eq!(two.attr("s3.length"), Some("2"));
        assert_eq!(two.attr("s3.region"), Some("us-east-1"));
        assert!(two.attr("s3.etag").is_some() && two.attr("s3.lastModified").is_some());
        seen = out.iter().map(|f| f.id).collect();
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 3, "nothing new on the second run");
        r.controller.shutdown();
    }
    put(&b, "logs/four.log", b"4444");
    let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "ListS3", data.path());
    configure(&mut r, endpoint(), &b);
    r.set_property("Prefix", "logs/");
    r.run(1).unwrap();
    let fresh: Vec<String> = r
        .output("success")
        .into_iter()
        .filter(|f| !seen.contains(&f.id))
        .map(|f| f.attr("filename").unwrap().to_string())
        .collect();
    assert_eq!(fresh, ["logs/four.log"], "only the object added while stopped");

    // One level only with a delimiter; a raw (non-directory) prefix.
    let mut r = runner("ListS3", &b);
    r.set_property("Prefix", "logs/t");
    r.set_property("Delimiter", "/");
    r.run(1).unwrap();
    let keys: Vec<String> = r.output("success").iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
    assert_eq!(keys, ["logs/two.log"]);
    let mut r = runner("ListS3", &b);
    r.set_property("Minimum Object Age", "1 hour");
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 0, "everything is younger than an hour");
}

/// A server that rejects the credentials: failure with the status and S3's error code, and
/// an error bulletin; ListS3 posts a bulletin and lists nothing.
#[test]
fn bad_credentials_go_to_failure_with_a_bulletin() {
    let ep = auth_endpoint();
    let mut p = TestRunner::new(sluice_processors::registry(), "PutS3Object");
    configure(&mut p, ep, "any-bucket");
    p.enqueue("x", &[("filename", "k")]);
    p.run(1).unwrap();
    let failed = p.output("failure");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attr("s3.exception"), Some("AccessDenied"));
    assert_eq!(failed[0].attr("s3.statusCode"), Some("403"));
    assert_eq!(failed[0].attr("s3.errorCode"), Some("InvalidAccessKeyId"));
    assert!(p.bulletins().iter().any(|b| b.contains("credentials rejected")), "{:?}", p.bulletins());

    let mut f = TestRunner::new(sluice_processors::registry(), "FetchS3Object");
    configure(&mut f, ep, "any-bucket");
    f.enqueue("", &[("filename", "k")]);
    f.run(1).unwrap();
    assert_eq!(f.output("failure")[0].attr("s3.statusCode"), Some("403"));

    let mut l = TestRunner::new(sluice_processors::registry(), "ListS3");
    configure(&mut l, ep, "any-bucket");
    l.run(1).unwrap();
    assert_eq!(l.count("success"), 0);
    assert!(l.bulletins().iter().any(|b| b.contains("credentials rejected")), "{:?}", l.bulletins());
}

/// With the server down, PutS3Object keeps the flowfile queued, posts a bulletin and
/// yields: running on the real scheduler with a 5 s yield, it tries once in 2 s instead of
/// spinning; once the server is back, the same flowfile goes through.
#[test]
fn server_down_yields_with_a_bulletin_and_retries_later() {
    let b = bucket("down");
    let dead = dead_endpoint();
    let mut p = TestRunner::new(sluice_processors::registry(), "PutS3Object");
    configure(&mut p, &dead, &b);
    p.set_scheduling(Scheduling { r#yield: "5 sec".into(), ..Default::default() });
    p.enqueue("survives the outage", &[("filename", "later.txt")]);
    p.run(1).unwrap();
    assert_eq!(p.count("failure"), 0, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));
    assert_eq!(p.input_queue().len(), 1, "the flowfile waits in its queue");
    assert!(p.bulletins().iter().any(|m| m.contains("unavailable") && m.contains("yielding")), "{:?}", p.bulletins());

    p.controller.start_processor("under-test").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    p.controller.stop_processor("under-test").unwrap();
    let node = p.controller.nodes().into_iter().find(|n| &*n.id == "under-test").unwrap();
    let tasks = node.counters.tasks.load(Ordering::Relaxed);
    assert!((1..=3).contains(&tasks), "yielded instead of spinning: {tasks} tasks in 2 s (1 before the start)");
    assert_eq!(p.input_queue().len(), 1);

    // Back up: the next trigger delivers it.
    p.set_property("Endpoint Override URL", endpoint());
    p.run(1).unwrap();
    assert_eq!(p.count("success"), 1);
    let mut f = runner("FetchS3Object", &b);
    f.enqueue("", &[("filename", "later.txt")]);
    f.run(1).unwrap();
    assert_eq!(TestRunner::content(&f.output("success")[0]), "survives the outage");

    // Fetch and list behave the same way while it is down.
    let mut f = TestRunner::new(sluice_processors::registry(), "FetchS3Object");
    configure(&mut f, &dead, &b);
    f.enqueue("", &[("filename", "later.txt")]);
    f.run(1).unwrap();
    assert_eq!(f.count("failure") + f.count("success"), 0);
    assert_eq!(f.input_queue().len(), 1);
    let mut l = TestRunner::new(sluice_processors::registry(), "ListS3");
    configure(&mut l, &dead, &b);
    l.run(1).unwrap();
    assert_eq!(l.count("success"), 0);
    assert!(l.bulletins().iter().any(|m| m.contains("unavailable")), "{:?}", l.bulletins());
}

/// A server of one test's own, on `port` (a free one when None), whose pid scripts/start-s3.sh
/// writes to `pid_file`; it also stops when this test process ends.
fn start_own_server(port: Option<u16>, pid_file: &std::path::Path) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(script());
    if let Some(p) = port {
        cmd.arg(p.to_string());
    }
    let out = cmd
        .env("S3_PARENT_PID", std::process::id().to_string())
        .env("S3_PID_FILE", pid_file)
        .env("S3_REQUIRE_AUTH", "0")
        .output()
        .expect("scripts/start-s3.sh runs");
    assert!(out.status.success(), "scripts/start-s3.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let endpoint = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(endpoint.starts_with("http://"), "unexpected output of scripts/start-s3.sh: {stdout}");
    endpoint
}

/// Kills (SIGKILL) the server whose pid is in `pid_file` and waits until its port refuses
/// connections.
fn kill_own_server(pid_file: &std::path::Path, endpoint: &str) {
    let pid = std::fs::read_to_string(pid_file).expect("pid file").trim().to_string();
    let st = Command::new("kill").args(["-9", &pid]).status().expect("kill runs");
    assert!(st.success(), "kill -9 {pid}");
    let hostport = endpoint.trim_start_matches("http://").to_string();
    let t0 = std::time::Instant::now();
    while TcpStream::connect(&hostport).is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the S3 server on {hostport} still answers after kill -9");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The S3 server is lost in mid-stream: PutS3Object (on the real scheduler, 5 s yield) has
/// put one object when its own moto server is killed with SIGKILL; three more flowfiles then
/// stay queued (none to failure), a bulletin says S3 is unavailable and the processor yields
/// (at most 2 tasks in 2 s, where a spinning one would make hundreds) instead of spinning. A
/// new server on the same port (moto keeps its objects in memory, so the bucket is created
/// again) receives all three without any re-triggering by hand, byte for byte.
#[test]
fn server_lost_mid_stream_keeps_flowfiles_queued_and_delivers_them_to_a_restarted_server() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("s3.pid");
    let ep = start_own_server(None, &pid_file);
    let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
    let b = format!("sluice-lost-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let create_bucket = |ep: &str| {
        let resp = http(ep, "PUT", &format!("/{b}"));
        assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "bucket created: {resp}");
    };
    create_bucket(&ep);

    let mut p = TestRunner::new(sluice_processors::registry(), "PutS3Object");
    configure(&mut p, &ep, &b);
    p.set_scheduling(Scheduling { r#yield: "5 sec".into(), ..Default::default() });
    p.enqueue("before the outage", &[("filename", "first.txt")]);
    p.run(1).unwrap();
    assert_eq!(p.count("success"), 1, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));

    kill_own_server(&pid_file, &ep);
    let bodies: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let mut c = vec![0u8; 1000 + i * 1000];
            rand::rng().fill_bytes(&mut c);
            (format!("during-{i}.bin"), c)
        })
        .collect();
    for (k, c) in &bodies {
        p.enqueue(c.clone(), &[("filename", k)]);
    }
    p.run(1).unwrap();
    assert_eq!(p.count("failure"), 0, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));
    assert_eq!(p.count("success"), 1);
    assert_eq!(p.input_queue().len(), 3, "the flowfiles wait in their queue");
    let bulletins = p.bulletins();
    assert!(bulletins.iter().any(|m| m.contains("unavailable") && m.contains("yielding")), "{bulletins:?}");

    let node = p.controller.nodes().into_iter().find(|n| &*n.id == "under-test").unwrap();
    let before = node.counters.tasks.load(Ordering::Relaxed);
    p.controller.start_processor("under-test").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let tasks = node.counters.tasks.load(Ordering::Relaxed) - before;
    println!("server down: {tasks} tasks in 2 s with a 5 s yield; {} bulletins", p.bulletins().len());
    assert!(tasks <= 2, "yielded instead of spinning: {tasks} tasks in 2 s");
    assert_eq!(p.input_queue().len(), 3);
    assert_eq!(p.count("failure"), 0);

    // A new server on the same port, while the processor keeps running: once its yield is
    // over it delivers everything queued.
    let ep2 = start_own_server(Some(port), &pid_file);
    assert_eq!(ep2, ep, "restarted on the same port");
    create_bucket(&ep2);
    let t0 = std::time::Instant::now();
    while p.count("success") < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} delivered, {} queued, {} failed after the restart; {:?}",
            p.count("success"),
            p.input_queue().len(),
            p.count("failure"),
            p.bulletins()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("server back: all 3 queued flowfiles delivered {:.1} s after the restart", t0.elapsed().as_secs_f64());
    p.controller.stop_processor("under-test").unwrap();
    assert_eq!(p.count("failure"), 0);
    assert_eq!(p.input_queue().len(), 0);

    let mut f = TestRunner::new(sluice_processors::registry(), "FetchS3Object");
    configure(&mut f, &ep2, &b);
    for (k, _) in &bodies {
        f.enqueue("", &[("filename", k)]);
    }
    f.run_until_idle(10).unwrap();
    let fetched = f.output("success");
    assert_eq!(fetched.len(), 3, "{:?}", f.output("failure").first().map(|f| f.attributes.to_btree()));
    for ff in &fetched {
        let (_, want) = bodies.iter().find(|(k, _)| Some(k.as_str()) == ff.attr("filename")).unwrap();
        assert_eq!(&ff.content.to_bytes().unwrap()[..], &want[..], "{:?}", ff.attr("filename"));
    }
    kill_own_server(&pid_file, &ep2);
}

/// Credentials from an AWSCredentialsProviderControllerService: PutS3Object and
/// FetchS3Object take their keys from the shared service and round-trip an object; keys set
/// both on the processor and through the service are refused; a service with keys the
/// server does not know gives the same 403 routing as keys on the processor.
#[test]
fn s3_processors_use_an_aws_credentials_service() {
    let b = bucket("creds");
    let shared = |ty: &str, ep: &str, key_id: &str| {
        let mut r = TestRunner::new(sluice_processors::registry(), ty);
        configure(&mut r, ep, &b);
        r.remove_property("Access Key ID").remove_property("Secret Access Key");
        r.add_service(
            "aws",
            "AWSCredentialsProviderControllerService",
            &[("Access Key ID", key_id), ("Secret Access Key", "testing")],
        );
        r.set_property("AWS Credentials Provider service", "aws");
        r
    };
    let mut p = shared("PutS3Object", endpoint(), "testing");
    p.enqueue("through the service", &[("filename", "svc.txt")]);
    p.run(1).unwrap();
    assert_eq!(p.count("success"), 1, "{:?}", p.output("failure").first().map(|f| f.attributes.to_btree()));
    let mut f = shared("FetchS3Object", endpoint(), "testing");
    f.enqueue("", &[("filename", "svc.txt")]);
    f.run(1).unwrap();
    assert_eq!(TestRunner::content(&f.output("success")[0]), "through the service");

    f.set_property("Access Key ID", "testing").set_property("Secret Access Key", "testing");
    f.enqueue("", &[("filename", "svc.txt")]);
    let err = f.run(1).unwrap_err();
    assert!(err.contains("not both"), "{err}");

    let mut denied = shared("PutS3Object", auth_endpoint(), "unknown-key");
    denied.enqueue("x", &[("filename", "k")]);
    denied.run(1).unwrap();
    assert_eq!(denied.output("failure")[0].attr("s3.statusCode"), Some("403"));
}
