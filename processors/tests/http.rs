//! HTTP processors against real servers and clients over 127.0.0.1: ListenHTTP with a
//! reqwest client, HandleHttpRequest/HandleHttpResponse round trips in the real engine, and
//! InvokeHTTP against a local axum server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_engine::flow::definition::{ConnectionDef, ProcessorDef};
use sluice_engine::node::{RunState, Scheduling};
use sluice_engine::provenance::EventType;
use sluice_engine::testing::TestRunner;
use sluice_engine::{EngineConfig, FlowController, FlowDefinition};
use sluice_processors::io::{block_on, runtime};
use sluice_processors::registry;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Triggers the processor until `done` holds (at most 10 s).
fn run_until(r: &mut TestRunner, mut done: impl FnMut(&mut TestRunner) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(r) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        r.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

fn listen_http(port: u16) -> TestRunner {
    let mut r = TestRunner::new(registry(), "ListenHTTP");
    r.set_property("Listening Port", &port.to_string()).set_property("Hostname", "127.0.0.1");
    r
}

#[test]
fn listen_http_answers_only_after_commit_with_headers_as_attributes() {
    let port = free_port();
    let mut r = listen_http(port);
    r.set_property("HTTP Headers to receive as Attributes (Regex)", "x-.*");
    r.run(1).unwrap(); // starts the server
    let url = format!("http://127.0.0.1:{port}/contentListener?a=1");
    let req = client()
        .post(&url)
        .header("X-Trace", "abc")
        .header("Other", "no")
        .header("Content-Type", "text/plain")
        .body("hello");
    let pending = runtime().spawn(async move { req.send().await.map(|r| r.status().as_u16()) });
    // Received but not yet in the flow: no answer.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!pending.is_finished(), "answered before the flowfile was committed");
    run_until(&mut r, |r| r.count("success") == 1);
    assert_eq!(block_on(pending).unwrap().unwrap(), 200);
    let ff = &r.output("success")[0];
    assert_eq!(TestRunner::content(ff), "hello");
    assert_eq!(ff.attr("x-trace"), Some("abc"));
    assert_eq!(ff.attr("other"), None);
    assert_eq!(ff.attr("http.method"), Some("POST"));
    assert_eq!(ff.attr("http.request.uri"), Some("/contentListener?a=1"));
    assert_eq!(ff.attr("http.remote.host"), Some("127.0.0.1"));
    assert_eq!(ff.attr("mime.type"), Some("text/plain"));
    let ev = r.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event_type, EventType::Receive);
    assert_eq!(ev[0].transit_uri.as_deref(), Some(format!("http://127.0.0.1:{port}/contentListener?a=1").as_str()));
}

#[test]
fn listen_http_limits_body_size_paths_and_methods() {
    let port = free_port();
    let mut r = listen_http(port);
    r.set_property("Max Request Body Size", "1 KB").set_property("Return Code", "202");
    r.run(1).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let (big, wrong_path, get) = block_on(async {
        let big = c
            .post(format!("{base}/contentListener"))
            .body(vec![b'x'; 10 * 1024])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let wrong = c.post(format!("{base}/elsewhere")).body("x").send().await.unwrap().status().as_u16();
        let get = c.get(format!("{base}/contentListener")).send().await.unwrap().status().as_u16();
        (big, wrong, get)
    });
    assert_eq!((big, wrong_path, get), (413, 404, 405));
    r.run(3).unwrap();
    assert_eq!(r.count("success"), 0, "refused requests never become flowfiles");
    // Within the limit: accepted with the configured return code.
    let c2 = c.clone();
    let url = format!("{base}/contentListener/");
    let ok =
        runtime().spawn(async move { c2.post(url).body(vec![b'y'; 1024]).send().await.unwrap().status().as_u16() });
    run_until(&mut r, |r| r.count("success") == 1);
    assert_eq!(block_on(ok).unwrap(), 202);
}

#[test]
fn listen_http_streams_large_bodies_through_a_temporary_file() {
    let port = free_port();
    let mut r = listen_http(port);
    r.run(1).unwrap();
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let url = format!("http://127.0.0.1:{port}/contentListener");
    let pending = runtime().spawn(async move { client().post(url).body(body).send().await.unwrap().status().as_u16() });
    run_until(&mut r, |r| r.count("success") == 1);
    assert_eq!(block_on(pending).unwrap(), 200);
    let ff = &r.output("success")[0];
    assert_eq!(ff.size(), expected.len() as u64);
    assert!(ff.content.to_bytes().unwrap() == expected);
}

#[test]
fn listen_http_retries_a_busy_port_and_releases_it_on_stop() {
    let port = free_port();
    let blocker = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut r = listen_http(port);
    r.run(1).unwrap(); // cannot bind: reported, not fatal
    assert!(r.bulletins().iter().any(|b| b.contains("cannot listen")), "{:?}", r.bulletins());
    drop(blocker);
    r.run(1).unwrap(); // binds now
    let url = format!("http://127.0.0.1:{port}/contentListener");
    let u = url.clone();
    let pending =
        runtime().spawn(async move { client().post(u).body("after retry").send().await.unwrap().status().as_u16() });
    run_until(&mut r, |r| r.count("success") == 1);
    assert_eq!(block_on(pending).unwrap(), 200);
    // Stopping releases the port; starting again binds it again.
    r.controller.unprepare("under-test").unwrap();
    let probe = std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released on stop");
    drop(probe);
    r.run(1).unwrap();
    let pending = runtime()
        .spawn(async move { client().post(url).body("after restart").send().await.unwrap().status().as_u16() });
    run_until(&mut r, |r| r.count("success") == 2);
    assert_eq!(block_on(pending).unwrap(), 200);
}

#[test]
fn listen_http_answers_503_when_stopped_with_requests_waiting() {
    let port = free_port();
    let mut r = listen_http(port);
    r.run(1).unwrap();
    let url = format!("http://127.0.0.1:{port}/contentListener");
    let pending =
        runtime().spawn(async move { client().post(url).body("never taken").send().await.unwrap().status().as_u16() });
    std::thread::sleep(Duration::from_millis(300));
    r.controller.unprepare("under-test").unwrap();
    assert_eq!(block_on(pending).unwrap(), 503);
    assert_eq!(r.count("success"), 0);
}

fn proc_def(id: &str, ty: &str, props: &[(&str, &str)], state: RunState, auto: &[&str]) -> ProcessorDef {
    ProcessorDef {
        id: id.into(),
        type_name: ty.into(),
        name: id.into(),
        position: Default::default(),
        properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        state,
        auto_terminated_relationships: auto.iter().map(|s| s.to_string()).collect(),
        scheduling: Scheduling::default(),
        retry: None,
        comments: String::new(),
    }
}

fn conn_def(id: &str, from: &str, rel: &str, to: &str, threshold: u64) -> ConnectionDef {
    ConnectionDef {
        id: id.into(),
        name: String::new(),
        source: from.into(),
        relationships: vec![rel.into()],
        destination: to.into(),
        back_pressure_object_threshold: threshold,
        back_pressure_data_size_threshold: "1 GB".into(),
        prioritizers: Vec::new(),
        flowfile_expiration: "0 sec".into(),
        bends: Vec::new(),
    }
}

fn engine(def: FlowDefinition) -> Arc<FlowController> {
    let c = FlowController::new(EngineConfig { workers: 2, ..Default::default() }, registry()).unwrap();
    c.load(def).unwrap();
    c
}

#[test]
fn listen_http_back_pressure_answers_503_and_every_200_is_queued() {
    let port = free_port();
    let p = port.to_string();
    let mut def = FlowDefinition::default();
    def.processors.push(proc_def(
        "listen",
        "ListenHTTP",
        &[
            ("Listening Port", &p),
            ("Hostname", "127.0.0.1"),
            ("Request Acceptance Timeout", "500 ms"),
            ("Container Queue Size", "20"),
        ],
        RunState::Running,
        &[],
    ));
    def.processors.push(proc_def("log", "LogAttribute", &[], RunState::Stopped, &["success"]));
    def.connections.push(conn_def("queue", "listen", "success", "log", 50));
    let controller = engine(def);
    let url = format!("http://127.0.0.1:{port}/contentListener");
    // 64 concurrent clients, 8 requests each.
    let statuses: Vec<u16> = block_on(async {
        let c = client();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let c = c.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for j in 0..8 {
                    let s = match c.post(&url).body(format!("{i}-{j}")).send().await {
                        // A 503 must tell the client when to come back.
                        Ok(r) if r.status() == 503 && r.headers().get("retry-after").is_none() => 1,
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    out.push(s);
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        ok + unavailable,
        statuses.len(),
        "only 200 and 503 with Retry-After expected (1 = no Retry-After): {statuses:?}"
    );
    let queued = controller.find_connection("queue").unwrap().queued_count() as usize;
    assert!(queued >= 50, "the connection reached its threshold ({queued})");
    assert!(unavailable > 0, "back pressure must refuse some requests");
    assert_eq!(ok, queued, "every 200 is a queued flowfile");
    controller.shutdown();
}

#[test]
fn handle_http_request_and_response_round_trip() {
    let port = free_port();
    let p = port.to_string();
    let mut def = FlowDefinition::default();
    def.processors.push(proc_def(
        "request",
        "HandleHttpRequest",
        &[
            ("Listening Port", &p),
            ("Hostname", "127.0.0.1"),
            ("Allowed Paths", "/api/.*"),
            ("Request Expiration", "2 sec"),
        ],
        RunState::Running,
        &[],
    ));
    def.processors.push(proc_def(
        "response",
        "HandleHttpResponse",
        &[
            ("HTTP Status Code", "${http.query.param.status}"),
            ("X-Echo", "${http.headers.x-in}"),
            ("X-Method", "${http.method}"),
        ],
        RunState::Running,
        &["success", "failure"],
    ));
    def.connections.push(conn_def("c", "request", "success", "response", 10_000));
    let controller = engine(def);
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let (status, echo, method, ct, body) = block_on(async {
        let r = c
            .post(format!("{base}/api/things?status=201&name=a%20b"))
            .header("X-In", "hi")
            .header("Content-Type", "text/plain")
            .body("ping")
            .send()
            .await
            .unwrap();
        let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), h("x-echo"), h("x-method"), h("content-type"), r.text().await.unwrap())
    });
    assert_eq!(status, 201);
    assert_eq!(echo.as_deref(), Some("hi"));
    assert_eq!(method.as_deref(), Some("POST"));
    assert_eq!(ct.as_deref(), Some("text/plain"));
    assert_eq!(body, "ping");
    // A large body streams through both halves.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let expected = big.clone();
    let got = block_on(async {
        c.put(format!("{base}/api/big?status=200")).body(big).send().await.unwrap().bytes().await.unwrap()
    });
    assert!(got.as_ref() == expected.as_slice(), "large body echoed intact");
    // Paths and methods that are not allowed.
    let (not_found, not_allowed) = block_on(async {
        let a = c.get(format!("{base}/other")).send().await.unwrap().status().as_u16();
        let b = c.patch(format!("{base}/api/x")).send().await.unwrap().status().as_u16();
        (a, b)
    });
    assert_eq!((not_found, not_allowed), (404, 405));
    controller.shutdown();
}

#[test]
fn handle_http_request_times_out_with_504_when_nothing_answers() {
    let port = free_port();
    let p = port.to_string();
    let mut def = FlowDefinition::default();
    def.processors.push(proc_def(
        "request",
        "HandleHttpRequest",
        &[("Listening Port", &p), ("Hostname", "127.0.0.1"), ("Request Expiration", "300 ms")],
        RunState::Running,
        &[],
    ));
    // The response processor is stopped: the flowfile waits, the client times out.
    def.processors.push(proc_def("response", "HandleHttpResponse", &[], RunState::Stopped, &["success", "failure"]));
    def.connections.push(conn_def("c", "request", "success", "response", 10_000));
    let controller = engine(def);
    let status =
        block_on(async { client().get(format!("http://127.0.0.1:{port}/x")).send().await.unwrap().status().as_u16() });
    assert_eq!(status, 504);
    // Answering later finds no waiting request: failure, with the reason.
    controller.start_processor("response").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while controller.find_connection("c").unwrap().queued_count() > 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    controller.shutdown();
}

#[test]
fn handle_http_response_fails_without_a_waiting_request() {
    let mut r = TestRunner::new(registry(), "HandleHttpResponse");
    r.set_property("HTTP Status Code", "${status}");
    r.enqueue("no context", &[("status", "200")]);
    r.enqueue("unknown", &[("http.context.identifier", "does-not-exist"), ("status", "200")]);
    r.enqueue("bad status", &[("http.context.identifier", "x"), ("status", "abc")]);
    r.run(3).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 3);
    for ff in &failed {
        assert!(ff.attr("handlehttpresponse.error").is_some());
    }
    assert!(failed[0].attr("handlehttpresponse.error").unwrap().contains("http.context.identifier"));
    assert!(failed[1].attr("handlehttpresponse.error").unwrap().contains("no request is waiting"));
    assert!(failed[2].attr("handlehttpresponse.error").unwrap().contains("not an HTTP status code"));
}

// ---- InvokeHTTP against a local axum server ----

fn axum_server() -> u16 {
    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::any;
    let app = Router::new()
        .route(
            "/ok",
            any(|headers: HeaderMap, body: axum::body::Bytes| async move {
                let mut h = HeaderMap::new();
                h.insert("x-server", "axum".parse().unwrap());
                h.insert("content-type", "text/plain".parse().unwrap());
                if let Some(v) = headers.get("x-from-attr") {
                    h.insert("x-seen", v.clone());
                }
                if let Some(v) = headers.get("x-dynamic") {
                    h.insert("x-dyn", v.clone());
                }
                (h, body)
            }),
        )
        .route("/missing", any(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route("/busy", any(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }))
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        // The large-body test echoes 5 MiB; axum's default limit is 2 MB.
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(l, app).await.unwrap();
    });
    port
}

fn invoke(url: &str) -> TestRunner {
    let mut r = TestRunner::new(registry(), "InvokeHTTP");
    r.set_property("Remote URL", url);
    r
}

#[test]
fn invoke_http_routes_by_status() {
    let port = axum_server();
    // 200: Original and Response.
    let mut r = invoke(&format!("http://127.0.0.1:{port}/ok"));
    r.set_property("HTTP Method", "POST")
        .set_property("Attributes to Send", "x-from-.*")
        .set_property("X-Dynamic", "${dyn}");
    r.enqueue("hello", &[("x-from-attr", "attr-value"), ("dyn", "dynamic-value"), ("mime.type", "text/plain")]);
    r.run(1).unwrap();
    let orig = r.output("Original");
    let resp = r.output("Response");
    assert_eq!((orig.len(), resp.len()), (1, 1));
    assert_eq!(orig[0].attr("invokehttp.status.code"), Some("200"));
    assert_eq!(orig[0].attr("invokehttp.status.message"), Some("OK"));
    assert_eq!(orig[0].attr("invokehttp.request.url"), Some(format!("http://127.0.0.1:{port}/ok").as_str()));
    assert!(orig[0].attr("invokehttp.tx.id").is_some());
    assert_eq!(TestRunner::content(&resp[0]), "hello");
    assert_eq!(resp[0].attr("x-server"), Some("axum"));
    assert_eq!(resp[0].attr("x-seen"), Some("attr-value"));
    assert_eq!(resp[0].attr("x-dyn"), Some("dynamic-value"));
    assert_eq!(resp[0].attr("mime.type"), Some("text/plain"));
    assert_eq!(resp[0].attr("invokehttp.tx.id"), orig[0].attr("invokehttp.tx.id"));
    assert!(r.events().iter().any(|e| e.event_type == EventType::Fetch && e.flowfile_uuid == resp[0].id));

    // 404: No Retry; 503: Retry.
    let mut r = invoke(&format!("http://127.0.0.1:{port}/${{path}}"));
    r.enqueue("", &[("path", "missing")]);
    r.enqueue("", &[("path", "busy")]);
    r.run(2).unwrap();
    let nr = r.output("No Retry");
    let retry = r.output("Retry");
    assert_eq!((nr.len(), retry.len(), r.count("Response")), (1, 1, 0));
    assert_eq!(nr[0].attr("invokehttp.status.code"), Some("404"));
    assert_eq!(retry[0].attr("invokehttp.status.code"), Some("503"));
    assert!(retry[0].penalty_until_millis > 0, "Retry is penalized");

    // Always Output Response gives the body of a 404 too.
    let mut r = invoke(&format!("http://127.0.0.1:{port}/missing"));
    r.set_property("Always Output Response", "true");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    assert_eq!(TestRunner::content(&r.output("Response")[0]), "no such thing");
}

#[test]
fn invoke_http_streams_large_bodies_both_ways() {
    let port = axum_server();
    let mut r = invoke(&format!("http://127.0.0.1:{port}/ok"));
    r.set_property("HTTP Method", "PUT");
    let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    r.enqueue(body.clone(), &[]);
    r.run(1).unwrap();
    let resp = r.output("Response");
    let codes: Vec<_> =
        r.output("No Retry").iter().map(|f| f.attr("invokehttp.status.code").map(str::to_string)).collect();
    assert_eq!(resp.len(), 1, "no response; No Retry got status {codes:?}");
    assert!(resp[0].content.to_bytes().unwrap() == body);
}

#[test]
fn invoke_http_failures_connection_refused_timeout_and_bad_input() {
    let dead = free_port();
    let mut r = invoke(&format!("http://127.0.0.1:{dead}/x"));
    r.enqueue("", &[]);
    r.run(1).unwrap();
    let f = r.output("Failure");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].attr("invokehttp.java.exception.class"), Some("ConnectException"));
    assert!(r.bulletins().iter().any(|b| b.contains("request failed")));

    let port = axum_server();
    let mut r = invoke(&format!("http://127.0.0.1:{port}/slow"));
    r.set_property("Socket Read Timeout", "300 ms");
    r.enqueue("", &[]);
    let t = Instant::now();
    r.run(1).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "the read timeout applies");
    let f = r.output("Failure");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].attr("invokehttp.java.exception.class"), Some("SocketTimeoutException"));

    let mut r = invoke("${url}");
    r.set_property("HTTP Method", "${method}");
    r.enqueue("", &[("url", "not a url"), ("method", "GET")]);
    r.enqueue("", &[("url", "ftp://example/x"), ("method", "GET")]);
    r.enqueue("", &[("url", "http://127.0.0.1:1/"), ("method", "BREW")]);
    r.run(3).unwrap();
    let f = r.output("Failure");
    assert_eq!(f.len(), 3);
    assert!(f.iter().all(|ff| ff.attr("invokehttp.java.exception.message").is_some()));
}

#[test]
fn invoke_http_server_lost_between_requests() {
    // A server that answers once and goes away: the next request fails cleanly.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").unwrap();
    });
    let mut r = invoke(&format!("http://127.0.0.1:{port}/"));
    r.enqueue("", &[]);
    r.run(1).unwrap();
    server.join().unwrap();
    assert_eq!(TestRunner::content(&r.output("Response")[0]), "ok");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("Failure"), 1);
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in
/// `dir`; returns the CA and the server's certificate and key (DER) for the server.
fn test_pki(
    dir: &std::path::Path,
) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::CertificateDer<'static>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Sluice test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let cli_key = KeyPair::generate().unwrap();
    let mut cli_params = CertificateParams::new(vec!["sluice-client".to_string()]).unwrap();
    cli_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cli = cli_params.signed_by(&cli_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), cli.pem()).unwrap();
    std::fs::write(dir.join("client.key"), cli_key.serialize_pem()).unwrap();
    (ca.der().clone(), srv.der().clone(), srv_key.serialize_der())
}

/// An HTTPS server on 127.0.0.1 answering "secure" at any path; with `client_ca` it asks
/// for a client certificate signed by that CA (mutual TLS).
fn https_server(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
    client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
) -> u16 {
    use axum::routing::any;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.into());
    let mut config = builder.with_single_cert(vec![cert], key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/{*p}", any(|| async { "secure" }));
    runtime().spawn(async move {
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        axum_server::from_tcp_rustls(listener, tls).serve(app.into_make_service()).await.unwrap();
    });
    port
}

/// InvokeHTTP over TLS with a StandardSSLContextService: a server signed by a private CA is
/// refused without the service (Failure) and reached with it; a server asking for a client
/// certificate is reached only when the service presents one; a service whose files are
/// missing or incomplete stays disabled and the processor is invalid, naming it.
#[test]
fn invoke_http_tls_with_an_ssl_context_service() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let port = https_server(cert.clone(), key.clone(), None);
    let mtls_port = https_server(cert, key, Some(ca));
    let p = |f: &str| dir.path().join(f).display().to_string();
    let trust = [("Trusted CA Certificates", p("ca.pem")), ("Use System Trust Store", "false".to_string())];
    let with_client =
        [trust[0].clone(), trust[1].clone(), ("Client Certificate", p("client.pem")), ("Client Key", p("client.key"))];
    let call = |port: u16, service: Option<&[(&str, String)]>| {
        let mut r = invoke(&format!("https://127.0.0.1:{port}/x"));
        if let Some(props) = service {
            let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
            r.add_service("tls", "StandardSSLContextService", &props);
            r.set_property("SSL Context Service", "tls");
        }
        r.enqueue("", &[]);
        r.run(1).unwrap();
        r
    };

    let mut r = call(port, None);
    let failed = r.output("Failure");
    assert_eq!(failed.len(), 1, "a private CA is not trusted by default");
    let mut r = call(port, Some(&trust));
    assert_eq!(r.count("Response"), 1, "{:?}", r.output("Failure").first().map(|f| f.attributes.clone()));
    assert_eq!(TestRunner::content(&r.output("Response")[0]), "secure");

    assert_eq!(call(mtls_port, Some(&trust)).count("Failure"), 1, "no client certificate: the handshake fails");
    let mut r = call(mtls_port, Some(&with_client));
    assert_eq!(r.count("Response"), 1, "{:?}", r.output("Failure").first().map(|f| f.attributes.clone()));

    let mut r = invoke(&format!("https://127.0.0.1:{port}/x"));
    r.add_service("tls", "StandardSSLContextService", &[("Trusted CA Certificates", "/no/such/ca.pem")]);
    r.set_property("SSL Context Service", "tls");
    let errs = r.validation_errors();
    assert!(errs.iter().any(|e| e.contains("controller service 'tls' is disabled")), "{errs:?}");
    let view = r.controller.service("tls").unwrap();
    assert!(view.validation_errors.iter().any(|e| e.contains("cannot read /no/such/ca.pem")), "{view:?}");
    let mut r = invoke(&format!("https://127.0.0.1:{port}/x"));
    r.add_service("tls", "StandardSSLContextService", &[("Client Certificate", &p("client.pem"))]);
    r.set_property("SSL Context Service", "tls");
    r.validation_errors();
    let view = r.controller.service("tls").unwrap();
    assert!(view.validation_errors.iter().any(|e| e.contains("go together")), "{view:?}");
}

/// A server that answers with the request's method, demands basic authentication
/// (sluice / s3cret) and records the client port of every request, to see connections reused.
fn method_server() -> (u16, Arc<std::sync::Mutex<Vec<u16>>>) {
    use axum::extract::ConnectInfo;
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::routing::any;
    let ports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ports.clone();
    let app = axum::Router::new().route(
        "/m",
        any(
            move |method: Method,
                  ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
                  headers: HeaderMap,
                  body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(peer.port());
                    // "sluice:s3cret" in base64.
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic c2x1aWNlOnMzY3JldA==")
                    {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [("www-authenticate", "Basic realm=\"test\"")],
                            String::new(),
                        );
                    }
                    (StatusCode::OK, [("x-method", "")], format!("{method} {}", body.len()))
                }
            },
        ),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(l, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    });
    (port, ports)
}

/// Every method InvokeHTTP offers reaches the server as that method (a body only with POST,
/// PUT and PATCH; HEAD answers without one); wrong or missing basic-auth credentials give a
/// 401 routed to No Retry; and the requests of one processor reuse one kept-alive connection.
#[test]
fn invoke_http_every_method_basic_auth_and_connection_reuse() {
    let (port, ports) = method_server();
    let mut r = invoke(&format!("http://127.0.0.1:{port}/m"));
    r.set_property("HTTP Method", "${m}")
        .set_property("Basic Authentication Username", "sluice")
        .set_property("Basic Authentication Password", "s3cret");
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    for m in methods {
        r.enqueue("12345", &[("m", m)]);
    }
    r.run(methods.len()).unwrap();
    let orig = r.output("Original");
    assert_eq!(
        orig.len(),
        methods.len(),
        "no retry: {:?}",
        r.output("No Retry").iter().map(|f| f.attributes.to_btree()).collect::<Vec<_>>()
    );
    let mut bodies: Vec<String> = r.output("Response").iter().map(TestRunner::content).collect();
    bodies.sort();
    let mut want: Vec<String> =
        ["DELETE 0", "GET 0", "OPTIONS 0", "PATCH 5", "POST 5", "PUT 5"].iter().map(|s| s.to_string()).collect();
    want.push(String::new()); // HEAD: the answer has no body
    want.sort();
    assert_eq!(bodies, want);
    let distinct: std::collections::HashSet<u16> = ports.lock().unwrap().iter().copied().collect();
    assert_eq!(distinct.len(), 1, "7 requests over one kept-alive connection: {:?}", ports.lock().unwrap());

    for (user, pass) in [(None, None), (Some("sluice"), Some("wrong"))] {
        let mut r = invoke(&format!("http://127.0.0.1:{port}/m"));
        if let (Some(u), Some(p)) = (user, pass) {
            r.set_property("Basic Authentication Username", u).set_property("Basic Authentication Password", p);
        }
        r.enqueue("", &[]);
        r.run(1).unwrap();
        let nr = r.output("No Retry");
        assert_eq!(nr.len(), 1, "bad credentials ({user:?}): No Retry");
        assert_eq!(nr[0].attr("invokehttp.status.code"), Some("401"));
    }
}
