//! Connections: add, read, change (with revision), remove, list and empty the queue.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_engine::FlowController;
use sluice_engine::flow::view::{ConnectionPatch, ConnectionView, NewConnection, QueueListing};

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::{ApiJson, ApiPath, ApiQuery};
use crate::openapi::{ConnectionPatchSchema, ConnectionViewSchema, ErrorBody, NewConnectionSchema, QueueListingSchema};

fn with_current(c: &FlowController, id: &str, e: ApiError) -> ApiError {
    if e.status == StatusCode::CONFLICT
        && let Ok(v) = c.connection(id)
    {
        return e.with_details(serde_json::to_value(v).unwrap_or_default());
    }
    e
}

fn check_bends(bends: Option<&Vec<sluice_engine::flow::definition::Position>>) -> Result<(), ApiError> {
    if bends.is_some_and(|b| b.iter().any(|p| !p.x.is_finite() || !p.y.is_finite())) {
        return Err(ApiError::bad_request("bends: x and y must be finite numbers"));
    }
    Ok(())
}

/// Connects two processors.
#[utoipa::path(post, path = "/api/connections", tag = "connections", request_body(content = NewConnectionSchema),
    responses((status = 201, body = ConnectionViewSchema), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "id already used"), (status = 413, body = ErrorBody)))]
pub(crate) async fn create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<NewConnection>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    check_bends(req.bends.as_ref())?;
    let c = s.controller.clone();
    blocking(move || Ok((StatusCode::CREATED, Json(c.add_connection(req)?)))).await
}

/// One connection with its queue figures.
#[utoipa::path(get, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = ConnectionViewSchema), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_one(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(s.controller.connection(&id)?))
}

/// Changes a connection; a stale `revision` is refused with 409 and the current connection
/// in `details`.
#[utoipa::path(patch, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path)), request_body(content = ConnectionPatchSchema),
    responses((status = 200, body = ConnectionViewSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "stale revision (details: the current connection), or moving a non-empty one")))]
pub(crate) async fn patch(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ConnectionPatch>,
) -> Result<Json<ConnectionView>, ApiError> {
    check_bends(patch.bends.as_ref())?;
    let c = s.controller.clone();
    blocking(move || c.update_connection(&id, patch).map(Json).map_err(|e| with_current(&c, &id, e.into()))).await
}

/// The revision a removal was decided on.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevisionQuery {
    /// The revision the client last saw (stale = 409).
    revision: Option<u64>,
}

/// Removes an empty connection.
#[utoipa::path(delete, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path), RevisionQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "stale revision, or it holds flowfiles")))]
pub(crate) async fn delete(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> Result<StatusCode, ApiError> {
    let c = s.controller.clone();
    blocking(move || match c.remove_connection(&id, q.revision) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(with_current(&c, &id, e.into())),
    })
    .await
}

/// A page of a queue.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// First position (default 0).
    offset: Option<usize>,
    /// Page size (default 100, at most 10000).
    limit: Option<usize>,
}

/// Lists queued flowfiles.
#[utoipa::path(get, path = "/api/connections/{id}/queue", tag = "connections", params(("id" = String, Path), Page),
    responses((status = 200, body = QueueListingSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_queue(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<Page>,
) -> Result<Json<QueueListing>, ApiError> {
    let c = s.controller.clone();
    blocking(move || Ok(Json(c.list_queue(&id, p.offset.unwrap_or(0), p.limit.unwrap_or(100).min(10_000))?))).await
}

/// How many flowfiles were dropped.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Dropped {
    /// Count.
    dropped: usize,
}

/// Empties a queue (each flowfile gets a DROP provenance event).
#[utoipa::path(delete, path = "/api/connections/{id}/queue", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = Dropped), (status = 404, body = ErrorBody)))]
pub(crate) async fn empty_queue(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Dropped>, ApiError> {
    let c = s.controller.clone();
    blocking(move || Ok(Json(Dropped { dropped: c.empty_queue(&id)? }))).await
}
