//! Sluice's web layer: the REST API, the WebSocket hub, `/metrics`, and the editor's static
//! files embedded in the binary. It drives the engine only through `FlowController`.

mod api;
mod assets;
mod error;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use sluice_engine::FlowController;

pub use error::ApiError;

/// Settings of the web server.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { max_body_bytes: 10 << 20 }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub controller: Arc<FlowController>,
    /// Settings.
    pub config: Arc<WebConfig>,
}

/// The whole application router.
pub fn router(controller: Arc<FlowController>, config: WebConfig) -> Router {
    let state = AppState { controller, config: Arc::new(config.clone()) };
    api::routes()
        .merge(assets::routes())
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    controller: Arc<FlowController>,
    config: WebConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(controller, config);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}
