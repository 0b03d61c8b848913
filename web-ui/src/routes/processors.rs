//! Processors: add, read, change (with revision), remove, start, stop, validate a proposed
//! change, throughput history.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_engine::FlowController;
use sluice_engine::flow::view::{NewProcessor, ProcessorPatch, ProcessorView};
use sluice_engine::node::ProcessorNode;

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::openapi::{ErrorBody, NewProcessorSchema, ProcessorPatchSchema, ProcessorViewSchema};

fn node(c: &FlowController, id: &str) -> Result<Arc<ProcessorNode>, ApiError> {
    c.nodes().into_iter().find(|n| *n.id == *id).ok_or_else(|| ApiError::not_found(format!("no processor '{id}'")))
}

fn view(c: &FlowController, id: &str) -> Result<ProcessorView, ApiError> {
    let mut v = c.processor(id)?;
    super::mask(c, &mut v);
    Ok(v)
}

/// A conflict answered with the component's current state in `details`.
fn with_current(c: &FlowController, id: &str, e: ApiError) -> ApiError {
    if e.status == StatusCode::CONFLICT
        && let Ok(v) = view(c, id)
    {
        return e.with_details(serde_json::to_value(v).unwrap_or_default());
    }
    e
}

/// Adds a processor.
#[utoipa::path(post, path = "/api/processors", tag = "processors", request_body(content = NewProcessorSchema),
    responses((status = 201, body = ProcessorViewSchema), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "id already used"), (status = 413, body = ErrorBody)))]
pub(crate) async fn create(
    State(s): State<AppState>,
    ApiJson(mut req): ApiJson<NewProcessor>,
) -> Result<(StatusCode, Json<ProcessorView>), ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        if let (Some(t), Some(props)) = (c.registry().get(&req.type_name), req.properties.as_mut()) {
            crate::secrets::drop_masked_new(&t.descriptor, props);
        }
        if let Some(p) = &req.position
            && (!p.x.is_finite() || !p.y.is_finite())
        {
            return Err(ApiError::bad_request("position: x and y must be finite numbers"));
        }
        let mut v = c.add_processor(req)?;
        super::mask(&c, &mut v);
        Ok((StatusCode::CREATED, Json(v)))
    })
    .await
}

/// One processor with status.
#[utoipa::path(get, path = "/api/processors/{id}", tag = "processors", params(("id" = String, Path)),
    responses((status = 200, body = ProcessorViewSchema), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_one(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProcessorView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || view(&c, &id).map(Json)).await
}

/// Changes a processor; a stale `revision` is refused with 409 and the current processor
/// in `details`.
#[utoipa::path(patch, path = "/api/processors/{id}", tag = "processors", params(("id" = String, Path)), request_body(content = ProcessorPatchSchema),
    responses((status = 200, body = ProcessorViewSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "stale revision: details is the current processor"), (status = 413, body = ErrorBody)))]
pub(crate) async fn patch(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut patch): ApiJson<ProcessorPatch>,
) -> Result<Json<ProcessorView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let n = node(&c, &id)?;
        if let Some(props) = patch.properties.as_mut() {
            crate::secrets::drop_masked_patch(&n.descriptor, props);
        }
        if let Some(p) = &patch.position
            && (!p.x.is_finite() || !p.y.is_finite())
        {
            return Err(ApiError::bad_request("position: x and y must be finite numbers"));
        }
        match c.update_processor(&id, patch) {
            Ok(mut v) => {
                super::mask(&c, &mut v);
                Ok(Json(v))
            }
            Err(e) => Err(with_current(&c, &id, e.into())),
        }
    })
    .await
}

/// The revision a removal was decided on.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevisionQuery {
    /// The revision the client last saw (stale = 409).
    pub(crate) revision: Option<u64>,
}

/// Removes a processor and its (empty) connections.
#[utoipa::path(delete, path = "/api/processors/{id}", tag = "processors", params(("id" = String, Path), RevisionQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "stale revision, or a connection holds flowfiles")))]
pub(crate) async fn delete(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> Result<StatusCode, ApiError> {
    let c = s.controller.clone();
    blocking(move || match c.remove_processor(&id, q.revision) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(with_current(&c, &id, e.into())),
    })
    .await
}

/// The body of start and stop: nothing, or `{}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoBody {}

/// Starts a processor; an invalid one is refused (400) with the reasons.
#[utoipa::path(post, path = "/api/processors/{id}/start", tag = "processors", params(("id" = String, Path)),
    responses((status = 200, body = ProcessorViewSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "disabled")))]
pub(crate) async fn start(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(_body): OptionalJson<NoBody>,
) -> Result<Json<ProcessorView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let mut v = c.start_processor(&id).map_err(|e| scrub_error(&c, &id, e.into()))?;
        super::mask(&c, &mut v);
        Ok(Json(v))
    })
    .await
}

/// Stops a processor (running tasks finish first).
#[utoipa::path(post, path = "/api/processors/{id}/stop", tag = "processors", params(("id" = String, Path)),
    responses((status = 200, body = ProcessorViewSchema), (status = 404, body = ErrorBody)))]
pub(crate) async fn stop(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(_body): OptionalJson<NoBody>,
) -> Result<Json<ProcessorView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let mut v = c.stop_processor(&id)?;
        super::mask(&c, &mut v);
        Ok(Json(v))
    })
    .await
}

/// Hides sensitive values in an error's message and details (start errors list validation
/// reasons).
fn scrub_error(c: &FlowController, id: &str, mut e: ApiError) -> ApiError {
    let Ok(n) = node(c, id) else { return e };
    let hidden = hidden_values(c, &n);
    if hidden.is_empty() {
        return e;
    }
    e.message = crate::secrets::scrub(&e.message, &hidden);
    if let serde_json::Value::Array(items) = &mut e.details {
        for it in items.iter_mut() {
            if let Some(serde_json::Value::String(m)) = it.get_mut("message") {
                *m = crate::secrets::scrub(m, &hidden);
            }
        }
    }
    e
}

fn hidden_values(c: &FlowController, n: &ProcessorNode) -> Vec<(String, String)> {
    crate::secrets::plain_sensitive_values(&n.descriptor, c.secret_store().as_ref(), &n.config().properties)
}

/// A proposed change of properties.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateBody {
    /// Properties to set (null removes).
    #[serde(default)]
    properties: BTreeMap<String, Option<String>>,
}

/// Why the processor would be invalid.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ValidationAnswer {
    /// Reasons (empty when valid).
    validation_errors: Vec<String>,
}

/// Validates a proposed change without applying it.
#[utoipa::path(post, path = "/api/processors/{id}/validate", tag = "processors", params(("id" = String, Path)), request_body(content = ValidateBody),
    responses((status = 200, body = ValidationAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn validate(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ValidateBody>,
) -> Result<Json<ValidationAnswer>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let n = node(&c, &id)?;
        let d = n.descriptor.clone();
        let cfg = n.config();
        let mut props = cfg.properties.clone();
        let sensitive = |k: &str| d.find_property(k).is_some_and(|p| p.sensitive);
        for (k, v) in body.properties {
            match v {
                Some(v) if v == crate::secrets::MASK && sensitive(&k) => {}
                Some(v) => {
                    props.insert(k, v);
                }
                None => {
                    props.remove(&k);
                }
            }
        }
        let mut hidden = Vec::new();
        let store = c.secret_store();
        for (k, v) in props.iter_mut() {
            if sensitive(k) && !v.is_empty() {
                if let Some(st) = store.as_ref().filter(|st| st.is_sealed(v)) {
                    *v = st.reveal(v).unwrap_or_default();
                }
                hidden.push((k.clone(), v.clone()));
            }
        }
        let conns = c.connections();
        let connected: Vec<String> = conns
            .iter()
            .filter(|x| *x.source_id == *id)
            .filter_map(|x| c.connection(&x.id).ok())
            .flat_map(|v| v.relationships)
            .collect();
        let has_incoming = conns.iter().any(|x| *x.destination_id == *id);
        let mut errs = sluice_engine::flow::load::processor_issues(
            &d,
            &props,
            &cfg.scheduling,
            &cfg.auto_terminated,
            &connected,
            has_incoming,
        );
        if errs.is_empty() {
            let resolved = c.resolve_properties(&d, &props).unwrap_or_else(|e| {
                errs.push(e);
                BTreeMap::new()
            });
            if errs.is_empty() {
                match sluice_engine::ProcessContext::new(
                    n.id.clone(),
                    Arc::from(cfg.name.as_str()),
                    d.clone(),
                    &resolved,
                ) {
                    Ok(ctx) => {
                        if let Some(instance) = c.registry().create(&d.type_name) {
                            errs.extend(instance.validate(&ctx));
                        }
                    }
                    Err(e) => errs.push(e.to_string()),
                }
            }
        }
        let validation_errors = errs.iter().map(|e| crate::secrets::scrub(e, &hidden)).collect();
        Ok(Json(ValidationAnswer { validation_errors }))
    })
    .await
}

/// Throughput over the last 5 minutes.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct History {
    /// Flowfiles out per second, oldest first.
    flowfiles_out_per_second: Vec<u64>,
}

/// Per-second throughput of the last 5 minutes (sparklines).
#[utoipa::path(get, path = "/api/processors/{id}/history", tag = "processors", params(("id" = String, Path)),
    responses((status = 200, body = History), (status = 404, body = ErrorBody)))]
pub(crate) async fn history(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<History>, ApiError> {
    let n = node(&s.controller, &id)?;
    Ok(Json(History { flowfiles_out_per_second: n.history.out_rate() }))
}
