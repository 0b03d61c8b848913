//! The whole flow: health, the live flow, export and replace, start/stop all, processor
//! types, labels, bulletins, system figures.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_engine::flow::definition::{LabelDef, Position};
use sluice_engine::flow::view::FlowView;

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::{ApiJson, ApiPath, ApiQuery, LimitedBody, OptionalJson};
use crate::openapi::{ErrorBody, FlowViewSchema, Json as AnyJson};

/// `GET /api/health`.
#[utoipa::path(get, path = "/api/health", tag = "flow", responses((status = 200, body = crate::openapi::Health)))]
pub(crate) async fn health(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "uptime_millis": s.controller.uptime().as_millis() as u64}))
}

/// The whole live flow with status and revisions.
#[utoipa::path(get, path = "/api/flow", tag = "flow", responses((status = 200, body = FlowViewSchema)))]
pub(crate) async fn get_flow(State(s): State<AppState>) -> Result<Json<FlowView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || Ok(Json(super::masked_snapshot(&c)))).await
}

/// The flow definition file (sensitive values only as encrypted references).
#[utoipa::path(get, path = "/api/flow/export", tag = "flow",
    responses((status = 200, body = AnyJson, description = "the flow file (docs/flow-format.md), as an attachment")))]
pub(crate) async fn export(State(s): State<AppState>) -> Response {
    let mut def = s.controller.export();
    crate::secrets::mask_unsealed_flow(&mut def, s.controller.registry(), s.controller.secret_store().as_ref());
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"flow.json\""),
        ],
        def.to_pretty_json(),
    )
        .into_response()
}

/// Replaces the whole flow; connections that keep their id keep their flowfiles.
#[utoipa::path(put, path = "/api/flow", tag = "flow", request_body(content = AnyJson, description = "a flow definition"),
    responses((status = 200, body = FlowViewSchema), (status = 400, body = ErrorBody, description = "invalid: details [{path, message}]"),
              (status = 409, body = ErrorBody, description = "a connection holding flowfiles would disappear"), (status = 413, body = ErrorBody)))]
pub(crate) async fn put_flow(
    State(s): State<AppState>,
    LimitedBody(body): LimitedBody,
) -> Result<Json<FlowView>, ApiError> {
    if crate::limits::json_depth(&body, crate::limits::MAX_JSON_DEPTH) > crate::limits::MAX_JSON_DEPTH {
        return Err(ApiError::bad_request("JSON nested too deeply"));
    }
    let text = std::str::from_utf8(&body).map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?;
    let mut def = sluice_engine::flow::parse_flow(text).map_err(sluice_engine::EngineError::from)?;
    let c = s.controller.clone();
    blocking(move || {
        crate::secrets::restore_masked_flow(&mut def, &c.export(), c.registry()).map_err(ApiError::bad_request)?;
        c.load(def)?;
        Ok(Json(super::masked_snapshot(&c)))
    })
    .await
}

/// Which processors to start or stop (none = all).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ids {
    /// Processor ids.
    #[serde(default)]
    ids: Option<Vec<String>>,
}

/// What start/stop all did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StartAnswer {
    /// Processors started.
    started: Vec<String>,
    /// Why others were not, by id.
    errors: BTreeMap<String, String>,
}

/// What stop all did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StopAnswer {
    /// Processors stopped.
    stopped: Vec<String>,
    /// Why others were not, by id.
    errors: BTreeMap<String, String>,
}

fn targets(s: &AppState, ids: Option<Vec<String>>) -> Vec<String> {
    ids.unwrap_or_else(|| s.controller.nodes().iter().map(|n| n.id.to_string()).collect())
}

/// Starts the given processors (all when none are given).
#[utoipa::path(post, path = "/api/flow/start", tag = "flow", request_body(content = Ids), responses((status = 200, body = StartAnswer), (status = 400, body = ErrorBody)))]
pub(crate) async fn start_all(
    State(s): State<AppState>,
    OptionalJson(body): OptionalJson<Ids>,
) -> Result<Json<StartAnswer>, ApiError> {
    let ids = targets(&s, body.ids);
    let c = s.controller.clone();
    blocking(move || {
        let mut ans = StartAnswer { started: Vec::new(), errors: BTreeMap::new() };
        for id in ids {
            match c.start_processor(&id) {
                Ok(_) => ans.started.push(id),
                Err(e) => {
                    ans.errors.insert(id, e.to_string());
                }
            }
        }
        Ok(Json(ans))
    })
    .await
}

/// Stops the given processors (all when none are given).
#[utoipa::path(post, path = "/api/flow/stop", tag = "flow", request_body(content = Ids), responses((status = 200, body = StopAnswer), (status = 400, body = ErrorBody)))]
pub(crate) async fn stop_all(
    State(s): State<AppState>,
    OptionalJson(body): OptionalJson<Ids>,
) -> Result<Json<StopAnswer>, ApiError> {
    let ids = targets(&s, body.ids);
    let c = s.controller.clone();
    blocking(move || {
        let mut ans = StopAnswer { stopped: Vec::new(), errors: BTreeMap::new() };
        for id in ids {
            match c.stop_processor(&id) {
                Ok(_) => ans.stopped.push(id),
                Err(e) => {
                    ans.errors.insert(id, e.to_string());
                }
            }
        }
        Ok(Json(ans))
    })
    .await
}

/// Every processor type's descriptor, and every controller service type's (with the API it provides).
#[utoipa::path(get, path = "/api/processor-types", tag = "flow", responses((status = 200, body = crate::openapi::ProcessorTypes)))]
pub(crate) async fn processor_types(State(s): State<AppState>) -> Json<serde_json::Value> {
    let types: Vec<_> = s.controller.registry().descriptors().map(|d| d.as_ref().clone()).collect();
    let services: Vec<serde_json::Value> = s
        .controller
        .registry()
        .service_types()
        .map(|t| {
            let mut v = serde_json::to_value(t.descriptor.as_ref()).unwrap_or_default();
            v["provides"] = serde_json::Value::String(t.provides.clone());
            v
        })
        .collect();
    Json(serde_json::json!({ "processor_types": types, "controller_service_types": services }))
}

/// A label's content.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelBody {
    /// Text.
    text: String,
    /// Position.
    #[serde(default)]
    #[schema(value_type = crate::openapi::PositionSchema)]
    position: Position,
    /// Width and height.
    #[serde(default)]
    size: Option<(f64, f64)>,
}

/// Adds or replaces a label.
#[utoipa::path(put, path = "/api/labels/{id}", tag = "flow", params(("id" = String, Path)), request_body(content = LabelBody),
    responses((status = 200, body = crate::openapi::LabelSchema), (status = 400, body = ErrorBody)))]
pub(crate) async fn put_label(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LabelBody>,
) -> Result<Json<LabelDef>, ApiError> {
    if !body.position.x.is_finite() || !body.position.y.is_finite() {
        return Err(ApiError::bad_request("position: x and y must be finite numbers"));
    }
    let label = LabelDef { id, text: body.text, position: body.position, size: body.size };
    let c = s.controller.clone();
    let l = label.clone();
    blocking(move || Ok(c.set_label(l, false)?)).await?;
    Ok(Json(label))
}

/// Removes a label.
#[utoipa::path(delete, path = "/api/labels/{id}", tag = "flow", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_label(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let Some(label) = c.export().labels.into_iter().find(|l| l.id == id) else {
            return Err(ApiError::not_found(format!("no label '{id}'")));
        };
        c.set_label(label, true)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Bulletin filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BulletinQuery {
    /// Only this component's.
    component: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// Recent warnings and errors, newest first.
#[utoipa::path(get, path = "/api/bulletins", tag = "flow", params(BulletinQuery), responses((status = 200, body = crate::openapi::Bulletins), (status = 400, body = ErrorBody)))]
pub(crate) async fn bulletins(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<BulletinQuery>,
) -> Json<serde_json::Value> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let b = s.controller.bulletins().recent(q.component.as_deref().filter(|c| !c.is_empty()), limit);
    Json(serde_json::json!({ "bulletins": b }))
}

/// Version, uptime, repositories, memory.
#[utoipa::path(get, path = "/api/system", tag = "flow", responses((status = 200, body = crate::openapi::System)))]
pub(crate) async fn system(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let c = s.controller.clone();
    let data_dir = s.config.data_dir.clone();
    let hub = s.hub.clone();
    blocking(move || {
        let rt = c.runtime();
        let prov = rt.provenance.as_ref().map(|p| p.stats());
        let content = rt.content.stats();
        let proc = crate::metrics::ProcessFigures::read();
        Ok(Json(serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_millis": c.uptime().as_millis() as u64,
            "durability": rt.flowfiles.durability(),
            "provenance": prov.is_some(),
            "data_dir": data_dir.map(|d| d.display().to_string()),
            "rss_bytes": proc.rss_bytes,
            "cpu_seconds": proc.cpu_seconds,
            "websocket_clients": hub.clients(),
            "repositories": {
                "content": {"segments": content.segments, "live_bytes": content.live_bytes, "archived_bytes": content.archived_bytes},
                "flowfiles": {"disk_bytes": rt.flowfiles.disk_bytes()},
                "provenance": prov,
            },
        })))
    })
    .await
}
