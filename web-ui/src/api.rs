//! REST routes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/flow", get(flow))
        .route("/api/processor-types", get(processor_types))
}

async fn health(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "uptime_millis": s.controller.uptime().as_millis() as u64}))
}

async fn flow(State(s): State<AppState>) -> Json<sluice_engine::flow::view::FlowView> {
    Json(s.controller.snapshot())
}

async fn processor_types(State(s): State<AppState>) -> Json<serde_json::Value> {
    let types: Vec<_> = s.controller.registry().descriptors().map(|d| d.as_ref().clone()).collect();
    Json(serde_json::json!({ "processor_types": types }))
}
