//! The WebSocket hub with real clients.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &Server) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", s.addr)).await.expect("ws connect");
    ws
}

/// The next text message whose type is `kind` (others skipped), within `secs`.
async fn next_of(ws: &mut Ws, kind: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no '{kind}' message in {secs} s"))
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

fn rss_bytes() -> u64 {
    sluice_web::metrics::ProcessFigures::read().rss_bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_pings_and_malformed_input() {
    let s = start().await;
    let (g, _, _, _, _) = s.small_flow("1 sec").await;
    let mut ws = connect(&s).await;
    let hello = next_of(&mut ws, "hello", 5).await;
    assert!(hello["revision"].as_u64().unwrap() > 0);
    let st = next_of(&mut ws, "status", 5).await;
    assert_eq!(st["processors"].as_array().unwrap().len(), 3);
    let p = &st["processors"][0];
    for k in ["id", "state", "active_tasks", "status", "validation_errors", "bulletin_count"] {
        assert!(p.get(k).is_some(), "status processor lacks {k}");
    }
    assert!(st["connections"][0]["status"]["queued_count"].is_u64());
    assert!(st["timestamp_millis"].is_i64() && st["revision"].is_u64());

    // a change by another client arrives as a flow event
    let (code, v) = s.patch(&format!("/api/processors/{g}"), json!({"name": "renamed"})).await;
    assert_eq!(code, 200, "{v}");
    let ev = next_of(&mut ws, "flow", 5).await;
    assert_eq!(ev["change"]["kind"], "processor");
    assert_eq!(ev["change"]["id"], g);
    assert_eq!(ev["change"]["action"], "changed");
    assert_eq!(ev["revision"], s.get_json("/api/flow").await.1["revision"]);

    s.controller.bulletins().post(sluice_engine::Level::Error, &g, "renamed", "boom");
    let b = next_of(&mut ws, "bulletin", 5).await;
    assert_eq!(b["bulletin"]["message"], "boom");
    assert_eq!(b["bulletin"]["level"], "ERROR");

    ws.send(Message::Text(r#"{"type":"ping"}"#.into())).await.unwrap();
    next_of(&mut ws, "pong", 5).await;
    for bad in ["{not json", r#"{"type":"subscribe"}"#, "[]", ""] {
        ws.send(Message::Text(bad.into())).await.unwrap();
        let e = next_of(&mut ws, "error", 5).await;
        assert!(e["error"].is_string());
    }
    ws.send(Message::Binary(vec![1u8, 2, 3].into())).await.unwrap();
    next_of(&mut ws, "error", 5).await;
    // still open
    ws.send(Message::Text(r#"{"type":"ping"}"#.into())).await.unwrap();
    next_of(&mut ws, "pong", 5).await;

    // too large a message closes the connection (the limit), others are unaffected
    ws.send(Message::Text("x".repeat(200_000).into())).await.ok();
    let mut closed = false;
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                closed = true;
                break;
            }
            Ok(Some(Ok(_))) => continue,
            Err(_) => break,
        }
    }
    assert!(closed, "an oversized message closes the connection");
    let mut ws2 = connect(&s).await;
    next_of(&mut ws2, "hello", 5).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_client_gets_resync() {
    let s = start_with(|c| c.ws_event_buffer = 8).await;
    let mut ws = connect(&s).await;
    next_of(&mut ws, "hello", 5).await;
    let c = s.controller.clone();
    tokio::task::spawn_blocking(move || {
        for i in 0..5000 {
            c.bulletins().post(sluice_engine::Level::Info, "", "test", format!("burst {i}"));
        }
    })
    .await
    .unwrap();
    let r = next_of(&mut ws, "resync", 10).await;
    assert_eq!(r, json!({"type": "resync"}));
    // and it keeps working afterwards
    ws.send(Message::Text(r#"{"type":"ping"}"#.into())).await.unwrap();
    next_of(&mut ws, "pong", 5).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let s = start_with(|c| c.ws_max_connections = 2).await;
    let _a = connect(&s).await;
    let _b = connect(&s).await;
    let third = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", s.addr)).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    drop(_a);
    // the place is freed once the server sees the close
    eventually(
        5,
        || async { tokio_tungstenite::connect_async(format!("ws://{}/api/ws", s.addr)).await.is_ok() },
        "a freed place",
    )
    .await;
    s.stop().await;
}

/// 50 clients get status at 0.9 Hz or better while a flow runs; a client that stops reading
/// is dropped without slowing the others or growing the server's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_and_a_stalled_one() {
    // Small socket buffers so that a client that stops reading blocks the server's sends soon.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_send_buffer_size(16 << 10).unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(1024).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let controller = controller(dir.path());
    let config = sluice_web::WebConfig {
        ws_send_timeout: Duration::from_secs(2),
        ws_ping_interval: Duration::from_secs(2),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let s = start_on(dir, controller, config, Some(listener)).await;
    s.small_flow("20 ms").await;
    // Bulk up the status message (about 40 KB) with stopped processors.
    for i in 0..150 {
        s.add(json!({"type": "UpdateAttribute", "name": format!("idle {i}"), "properties": {"a": "b"}})).await;
    }
    let (code, v) = s.post("/api/flow/start", json!({})).await;
    assert_eq!(code, 200, "{v}");

    // The stalled client: tiny receive buffer, handshake, then never reads again.
    let raw = tokio::net::TcpSocket::new_v4().unwrap();
    raw.set_recv_buffer_size(4096).unwrap();
    let stream = raw.connect(s.addr).await.unwrap();
    let (stalled, _) = tokio_tungstenite::client_async(format!("ws://{}/api/ws", s.addr), stream).await.unwrap();

    let rss_before = rss_bytes();
    let run = Duration::from_secs(12);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let mut ws = connect(&s).await;
        tasks.push(tokio::spawn(async move {
            let end = Instant::now() + run;
            let mut stamps = Vec::new();
            while Instant::now() < end {
                match tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        if t.as_str().starts_with(r#"{"type":"status""#) {
                            stamps.push(Instant::now());
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => panic!("a reading client was disconnected"),
                    Err(_) => break,
                }
            }
            stamps
        }));
    }
    let mut worst = f64::MAX;
    for t in tasks {
        let stamps = t.await.unwrap();
        assert!(stamps.len() >= 5, "too few status messages: {}", stamps.len());
        let span = stamps.last().unwrap().duration_since(stamps[0]).as_secs_f64();
        let rate = (stamps.len() - 1) as f64 / span;
        worst = worst.min(rate);
    }
    let rss_after = rss_bytes();
    eprintln!("worst client status rate {worst:.3} Hz; rss {} -> {} MB", rss_before >> 20, rss_after >> 20);
    assert!(worst >= 0.9, "a client got status at {worst:.3} Hz");
    assert!(rss_after < rss_before + (64 << 20), "memory grew from {rss_before} to {rss_after}");

    // The stalled client has been dropped (send timeout or silence).
    let metrics = s.get("/metrics").await.text().await.unwrap();
    let dropped: f64 = metrics
        .lines()
        .find(|l| l.starts_with("sluice_websocket_clients_dropped_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(dropped >= 1.0, "the stalled client was not dropped");
    drop(stalled);
    s.post("/api/flow/stop", json!({})).await;
    s.stop().await;
}
