//! Sluice's web layer: the REST API (`routes/`), the WebSocket hub (`ws`), `/metrics`,
//! authentication and cross-site checks (`auth`), TLS (`tls`), input limits (`limits`),
//! sensitive values (`secrets`), the generated OpenAPI document (`openapi`), and the
//! editor's static files embedded in the binary. It drives the engine only through
//! `FlowController`.

mod assets;
pub mod auth;
mod error;
pub mod limits;
pub mod metrics;
mod openapi;
mod routes;
pub mod secrets;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use sluice_engine::FlowController;

pub use auth::{AuthConfig, AuthSetupError, check_listen_policy};
pub use error::ApiError;
pub use tls::TlsConfig;

/// Settings of the web server.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Authentication; None = off (only allowed on loopback, see [`check_listen_policy`]).
    pub auth: Option<AuthConfig>,
    /// TLS certificate and key; None = plain HTTP.
    pub tls: Option<TlsConfig>,
    /// How often the WebSocket status snapshot is built and sent.
    pub status_interval: Duration,
    /// Most WebSocket clients at once (503 beyond).
    pub ws_max_connections: usize,
    /// Largest WebSocket message a client may send.
    pub ws_max_message_bytes: usize,
    /// A client that cannot take a message within this time is dropped.
    pub ws_send_timeout: Duration,
    /// How often the server pings each client; one silent for two intervals is dropped.
    pub ws_ping_interval: Duration,
    /// Flow and bulletin events buffered for slow clients (a client further behind gets `resync`).
    pub ws_event_buffer: usize,
    /// Answer any `Host` header without authentication (default: only loopback names, against DNS rebinding).
    pub allow_any_host: bool,
    /// The data dir, shown by `GET /api/system`.
    pub data_dir: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            max_body_bytes: 10 << 20,
            auth: None,
            tls: None,
            status_interval: Duration::from_secs(1),
            ws_max_connections: 1000,
            ws_max_message_bytes: 64 << 10,
            ws_send_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(20),
            ws_event_buffer: 1024,
            allow_any_host: false,
            data_dir: None,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub controller: Arc<FlowController>,
    /// Settings.
    pub config: Arc<WebConfig>,
    /// Sessions and tokens (None when authentication is off).
    pub auth: Option<Arc<auth::Auth>>,
    /// The WebSocket hub.
    pub hub: Arc<ws::Hub>,
    /// When the web layer started.
    pub started: Instant,
}

/// The whole application router, and the hub behind `/api/ws` (close it to end WebSocket
/// connections at shutdown). Must be called within a Tokio runtime (the hub's status ticker
/// is spawned).
pub fn router(controller: Arc<FlowController>, config: WebConfig) -> (Router, Arc<ws::Hub>) {
    let hub = ws::Hub::start(controller.clone(), &config);
    let state = AppState {
        controller,
        auth: config.auth.clone().map(|a| Arc::new(auth::Auth::new(a))),
        config: Arc::new(config.clone()),
        hub: hub.clone(),
        started: Instant::now(),
    };
    let (api, _doc) = routes::api_router().split_for_parts();
    let app = api
        .merge(assets::routes())
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::middleware))
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn(log_request))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(error::panic_response))
        .with_state(state);
    (app, hub)
}

/// One debug line per request: method, path, status, time.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    tracing::debug!(%method, path, status, micros = start.elapsed().as_micros() as u64, "request");
    res
}

/// Serves until `shutdown` resolves (over TLS when `config.tls` is set); WebSocket clients
/// are told to close at shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    controller: Arc<FlowController>,
    config: WebConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = config.tls.clone();
    let (app, hub) = router(controller, config);
    let shutdown = async move {
        shutdown.await;
        hub.close_all();
    };
    match tls {
        Some(t) => tls::serve_tls(listener, app, &t, shutdown).await,
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// The OpenAPI document of the API, as served at `/api/openapi.json`.
pub fn openapi_json() -> serde_json::Value {
    let (_, doc) = routes::api_router().split_for_parts();
    serde_json::to_value(doc).unwrap_or_default()
}
