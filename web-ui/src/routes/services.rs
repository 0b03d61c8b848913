//! Controller services: list, add, read, change (with revision), remove, enable, disable.
//! Sensitive values are masked exactly as for processors.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sluice_engine::FlowController;
use sluice_engine::flow::{NewService, ServicePatch, ServiceView};

use super::processors::{NoBody, RevisionQuery};
use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::openapi::{ErrorBody, NewServiceSchema, ServiceListSchema, ServicePatchSchema, ServiceViewSchema};

/// Hides the sensitive values of a service view, and in its validation errors.
fn mask(c: &FlowController, mut v: ServiceView) -> ServiceView {
    if let Some(t) = c.registry().service_type(&v.type_name) {
        crate::secrets::mask_properties(
            &t.descriptor,
            c.secret_store().as_ref(),
            &mut v.properties,
            &mut v.validation_errors,
        );
    }
    v
}

/// A conflict answered with the service's current state in `details`.
fn with_current(c: &FlowController, id: &str, e: ApiError) -> ApiError {
    if e.status == StatusCode::CONFLICT
        && let Ok(v) = c.service(id)
    {
        return e.with_details(serde_json::to_value(mask(c, v)).unwrap_or_default());
    }
    e
}

/// Every controller service.
#[utoipa::path(get, path = "/api/controller-services", tag = "controller services",
    responses((status = 200, body = ServiceListSchema)))]
pub(crate) async fn list(State(s): State<AppState>) -> Json<serde_json::Value> {
    let c = s.controller.clone();
    let services: Vec<ServiceView> = c.services().into_iter().map(|v| mask(&c, v)).collect();
    Json(serde_json::json!({ "controller_services": services }))
}

/// Adds a controller service (disabled unless `"enabled": true`).
#[utoipa::path(post, path = "/api/controller-services", tag = "controller services", request_body(content = NewServiceSchema),
    responses((status = 201, body = ServiceViewSchema), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "id already used"), (status = 413, body = ErrorBody)))]
pub(crate) async fn create(
    State(s): State<AppState>,
    ApiJson(mut req): ApiJson<NewService>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        if let (Some(t), Some(props)) = (c.registry().service_type(&req.type_name), req.properties.as_mut()) {
            crate::secrets::drop_masked_new(&t.descriptor, props);
        }
        let v = c.add_service(req)?;
        Ok((StatusCode::CREATED, Json(mask(&c, v))))
    })
    .await
}

/// One controller service.
#[utoipa::path(get, path = "/api/controller-services/{id}", tag = "controller services", params(("id" = String, Path)),
    responses((status = 200, body = ServiceViewSchema), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_one(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ServiceView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || Ok(Json(mask(&c, c.service(&id)?)))).await
}

/// Changes a controller service; properties only while it is disabled (409 otherwise), and
/// a stale `revision` is 409 with the current service in `details`.
#[utoipa::path(patch, path = "/api/controller-services/{id}", tag = "controller services", params(("id" = String, Path)), request_body(content = ServicePatchSchema),
    responses((status = 200, body = ServiceViewSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "stale revision, or enabled"), (status = 413, body = ErrorBody)))]
pub(crate) async fn patch(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut patch): ApiJson<ServicePatch>,
) -> Result<Json<ServiceView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let current = c.service(&id)?;
        if let (Some(t), Some(props)) = (c.registry().service_type(&current.type_name), patch.properties.as_mut()) {
            crate::secrets::drop_masked_patch(&t.descriptor, props);
        }
        match c.update_service(&id, patch) {
            Ok(v) => Ok(Json(mask(&c, v))),
            Err(e) => Err(with_current(&c, &id, e.into())),
        }
    })
    .await
}

/// Removes a disabled controller service that no processor references (409 otherwise).
#[utoipa::path(delete, path = "/api/controller-services/{id}", tag = "controller services", params(("id" = String, Path), RevisionQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "stale revision, enabled, or referenced")))]
pub(crate) async fn delete(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> Result<StatusCode, ApiError> {
    let c = s.controller.clone();
    blocking(move || match c.remove_service(&id, q.revision) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(with_current(&c, &id, e.into())),
    })
    .await
}

/// Enables a controller service: 400 with the reasons when it is invalid or its client
/// cannot be built.
#[utoipa::path(post, path = "/api/controller-services/{id}/enable", tag = "controller services", params(("id" = String, Path)),
    responses((status = 200, body = ServiceViewSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn enable(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(_body): OptionalJson<NoBody>,
) -> Result<Json<ServiceView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || {
        let hidden = hidden_values(&c, &id);
        match c.enable_service(&id) {
            Ok(v) => Ok(Json(mask(&c, v))),
            Err(e) => {
                let mut e: ApiError = e.into();
                e.message = crate::secrets::scrub(&e.message, &hidden);
                Err(e)
            }
        }
    })
    .await
}

/// Disables a controller service: 409 while a running processor uses it.
#[utoipa::path(post, path = "/api/controller-services/{id}/disable", tag = "controller services", params(("id" = String, Path)),
    responses((status = 200, body = ServiceViewSchema), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "used by running processors")))]
pub(crate) async fn disable(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(_body): OptionalJson<NoBody>,
) -> Result<Json<ServiceView>, ApiError> {
    let c = s.controller.clone();
    blocking(move || match c.disable_service(&id) {
        Ok(v) => Ok(Json(mask(&c, v))),
        Err(e) => Err(with_current(&c, &id, e.into())),
    })
    .await
}

/// The plain sensitive values of a service, to scrub from error messages.
fn hidden_values(c: &FlowController, id: &str) -> Vec<(String, String)> {
    let Ok(v) = c.service(id) else { return Vec::new() };
    let Some(t) = c.registry().service_type(&v.type_name) else { return Vec::new() };
    crate::secrets::plain_sensitive_values(&t.descriptor, c.secret_store().as_ref(), &v.properties)
}
