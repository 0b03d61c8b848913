//! The WebSocket hub behind `/api/ws`.
//!
//! - Status: one snapshot per tick, built once (on the blocking pool) and serialized once,
//!   published through a `watch` channel: every client sends the latest one, and a client
//!   that is behind simply skips to the newest, so status never queues up.
//! - Events (flow changes, bulletins): the engine's synchronous listeners serialize each one
//!   once into a bounded `broadcast` channel; a client that falls further behind than the
//!   buffer gets `{"type":"resync"}` instead of the missed events.
//! - Each send has a timeout and the server pings; a client that cannot take a message in
//!   time, or stays silent, is dropped, so a slow client never slows the others and never
//!   holds more than one message.
//! - Client messages: `{"type":"ping"}` → `{"type":"pong"}`; anything else gets an
//!   `{"type":"error"}` reply and the connection stays open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use sluice_engine::FlowController;
use sluice_engine::flow::view::{ConnectionStatus, FlowView};
use sluice_engine::node::RunState;
use sluice_engine::status::ProcessorStatus;
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::{AppState, WebConfig};

/// Counters of the hub (also exported by `/metrics`).
#[derive(Default, Debug)]
pub struct HubStats {
    /// Messages sent to clients.
    pub messages_sent: AtomicU64,
    /// Bytes of those messages.
    pub bytes_sent: AtomicU64,
    /// Clients dropped for being too slow or silent.
    pub clients_dropped: AtomicU64,
    /// `resync` messages sent to lagging clients.
    pub resyncs: AtomicU64,
    /// Status snapshots built.
    pub status_builds: AtomicU64,
    /// Time spent building the last status snapshot (µs), serialization included.
    pub last_status_build_micros: AtomicU64,
    /// Total time spent building status snapshots (µs).
    pub status_build_micros_total: AtomicU64,
    /// Bytes of the last status message.
    pub last_status_bytes: AtomicU64,
}

/// Fan-out of status and events to WebSocket clients.
pub struct Hub {
    status: watch::Sender<Option<Utf8Bytes>>,
    events: broadcast::Sender<Utf8Bytes>,
    closing: watch::Sender<bool>,
    clients: AtomicUsize,
    max_clients: usize,
    send_timeout: Duration,
    ping_interval: Duration,
    max_message_bytes: usize,
    controller: Arc<FlowController>,
    /// Counters.
    pub stats: HubStats,
}

#[derive(Serialize)]
struct StatusMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp_millis: i64,
    revision: u64,
    processors: Vec<ProcessorFigures<'a>>,
    connections: Vec<ConnectionFigures<'a>>,
}

#[derive(Serialize)]
struct ProcessorFigures<'a> {
    id: &'a str,
    state: RunState,
    active_tasks: usize,
    status: &'a ProcessorStatus,
    validation_errors: &'a [String],
    bulletin_count: usize,
}

#[derive(Serialize)]
struct ConnectionFigures<'a> {
    id: &'a str,
    status: &'a ConnectionStatus,
}

/// The `status` message for a snapshot (sensitive values already hidden in it).
pub fn status_message(view: &FlowView, timestamp_millis: i64) -> String {
    let msg = StatusMessage {
        kind: "status",
        timestamp_millis,
        revision: view.revision,
        processors: view
            .processors
            .iter()
            .map(|p| ProcessorFigures {
                id: &p.id,
                state: p.state,
                active_tasks: p.active_tasks,
                status: &p.status,
                validation_errors: &p.validation_errors,
                bulletin_count: p.bulletin_count,
            })
            .collect(),
        connections: view.connections.iter().map(|c| ConnectionFigures { id: &c.id, status: &c.status }).collect(),
    };
    serde_json::to_string(&msg).unwrap_or_default()
}

/// Builds one status message from the live flow: the snapshot with sensitive values hidden.
pub fn build_status(controller: &FlowController) -> String {
    let view = crate::routes::masked_snapshot(controller);
    status_message(&view, sluice_engine::flowfile::now_millis())
}

impl Hub {
    /// Creates the hub, bridges the engine's listeners into it and spawns the status ticker
    /// (which builds nothing while no client is connected, and ends when the hub is dropped).
    pub fn start(controller: Arc<FlowController>, config: &WebConfig) -> Arc<Hub> {
        let (status, _) = watch::channel(None);
        let (events, _) = broadcast::channel(config.ws_event_buffer.max(1));
        let (closing, _) = watch::channel(false);
        let hub = Arc::new(Hub {
            status,
            events: events.clone(),
            closing,
            clients: AtomicUsize::new(0),
            max_clients: config.ws_max_connections,
            send_timeout: config.ws_send_timeout,
            ping_interval: config.ws_ping_interval,
            max_message_bytes: config.ws_max_message_bytes,
            controller: controller.clone(),
            stats: HubStats::default(),
        });
        let tx = events.clone();
        controller.subscribe(move |c| {
            if tx.receiver_count() == 0 {
                return;
            }
            let msg = serde_json::json!({"type": "flow", "revision": c.revision, "change": {"kind": c.kind, "id": c.id, "action": c.action}});
            let _ = tx.send(Utf8Bytes::from(msg.to_string()));
        });
        let tx = events;
        controller.bulletins().subscribe(move |b| {
            if tx.receiver_count() == 0 {
                return;
            }
            let msg = serde_json::json!({"type": "bulletin", "bulletin": b});
            let _ = tx.send(Utf8Bytes::from(msg.to_string()));
        });
        let weak = Arc::downgrade(&hub);
        let period = config.status_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(hub) = weak.upgrade() else { return };
                if *hub.closing.borrow() {
                    return;
                }
                if hub.status.receiver_count() == 0 {
                    // Nobody listens: build nothing, and do not keep an old snapshot for the next client.
                    hub.status.send_replace(None);
                    continue;
                }
                let h = hub.clone();
                let built = tokio::task::spawn_blocking(move || {
                    let start = Instant::now();
                    let text = build_status(&h.controller);
                    (text, start.elapsed())
                })
                .await;
                match built {
                    Ok((text, took)) => {
                        let micros = took.as_micros() as u64;
                        hub.stats.status_builds.fetch_add(1, Ordering::Relaxed);
                        hub.stats.last_status_build_micros.store(micros, Ordering::Relaxed);
                        hub.stats.status_build_micros_total.fetch_add(micros, Ordering::Relaxed);
                        hub.stats.last_status_bytes.store(text.len() as u64, Ordering::Relaxed);
                        hub.status.send_replace(Some(Utf8Bytes::from(text)));
                    }
                    Err(e) => tracing::error!(error = %e, "building the status snapshot failed"),
                }
            }
        });
        hub
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Tells every client to close (at shutdown) and stops the ticker.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    fn try_admit(self: &Arc<Self>) -> Option<ClientSlot> {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_clients).then_some(n + 1))
            .ok()
            .map(|_| ClientSlot(self.clone()))
    }
}

/// Holds one of the limited client places; released on drop.
struct ClientSlot(Arc<Hub>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `GET /api/ws`: upgrades to the live feed.
#[utoipa::path(get, path = "/api/ws", tag = "live",
    description = "WebSocket: server sends `hello`, `status` (about once a second), `flow`, `bulletin`, `resync`; \
                   client may send `{\"type\":\"ping\"}`. See docs/api.md.",
    responses((status = 101, description = "switching to WebSocket"), (status = 401, body = crate::openapi::ErrorBody),
              (status = 503, body = crate::openapi::ErrorBody, description = "too many WebSocket clients")))]
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::bad_request(format!("a WebSocket handshake is required: {}", e.body_text()))
                .into_response();
        }
    };
    let hub = state.hub.clone();
    let Some(slot) = hub.try_admit() else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("too many WebSocket clients (limit {})", hub.max_clients),
        )
        .into_response();
    };
    ws.max_message_size(hub.max_message_bytes)
        .max_frame_size(hub.max_message_bytes)
        .on_upgrade(move |socket| client(socket, hub, slot))
}

enum Outcome {
    Ok,
    Gone,
}

async fn send(hub: &Hub, tx: &mut futures_util::stream::SplitSink<WebSocket, Message>, msg: Message) -> Outcome {
    let len = match &msg {
        Message::Text(t) => t.len(),
        _ => 0,
    };
    match tokio::time::timeout(hub.send_timeout, tx.send(msg)).await {
        Ok(Ok(())) => {
            hub.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
            hub.stats.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
            Outcome::Ok
        }
        Ok(Err(_)) => Outcome::Gone,
        Err(_) => {
            hub.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("dropping a WebSocket client that did not take a message in {:?}", hub.send_timeout);
            Outcome::Gone
        }
    }
}

fn error_message(error: &str) -> Message {
    Message::Text(Utf8Bytes::from(serde_json::json!({"type": "error", "error": error}).to_string()))
}

/// What a client's text message asks for: the reply to send.
pub fn reply_to(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => match v.get("type").and_then(|t| t.as_str()) {
            Some("ping") => r#"{"type":"pong"}"#.to_string(),
            Some(other) => serde_json::json!({"type": "error", "error": format!("unknown message type '{other}' (only \"ping\" is understood)")}).to_string(),
            None => serde_json::json!({"type": "error", "error": "a message needs a \"type\""}).to_string(),
        },
        Err(e) => serde_json::json!({"type": "error", "error": format!("malformed JSON: {e}")}).to_string(),
    }
}

async fn client(socket: WebSocket, hub: Arc<Hub>, _slot: ClientSlot) {
    let (mut tx, mut rx) = socket.split();
    let mut status = hub.status.subscribe();
    let mut events = hub.events.subscribe();
    let mut closing = hub.closing.subscribe();
    let hello = serde_json::json!({"type": "hello", "revision": hub.controller.revision()}).to_string();
    if let Outcome::Gone = send(&hub, &mut tx, Message::Text(hello.into())).await {
        return;
    }
    let current = status.borrow_and_update().clone();
    if let Some(text) = current
        && let Outcome::Gone = send(&hub, &mut tx, Message::Text(text)).await
    {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + hub.ping_interval, hub.ping_interval);
    let mut last_heard = Instant::now();
    loop {
        let out = tokio::select! {
            _ = closing.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Message::Close(None))).await;
                return;
            }
            changed = status.changed() => {
                if changed.is_err() { return; }
                let text = status.borrow_and_update().clone();
                match text { Some(t) => Message::Text(t), None => continue }
            }
            ev = events.recv() => match ev {
                Ok(text) => Message::Text(text),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    hub.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(missed = n, "WebSocket client lagged; sending resync");
                    Message::Text(Utf8Bytes::from_static(r#"{"type":"resync"}"#))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = rx.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(t))) => Message::Text(reply_to(t.as_str()).into()),
                    Some(Ok(Message::Binary(_))) => error_message("send text (JSON) messages"),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "WebSocket read failed; closing");
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > hub.ping_interval * 2 + hub.send_timeout {
                    hub.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("dropping a silent WebSocket client");
                    return;
                }
                Message::Ping(bytes::Bytes::new())
            }
        };
        if let Outcome::Gone = send(&hub, &mut tx, out).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(reply_to(r#"{"type":"ping"}"#), r#"{"type":"pong"}"#);
        assert!(reply_to("{nope").contains(r#""type":"error""#));
        assert!(reply_to(r#"{"type":"x"}"#).contains("unknown message type"));
        assert!(reply_to("[]").contains("needs a"));
    }
}
