//! Provenance: search, one event, content before and after, replay, lineage.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_engine::flow::Download;
use sluice_engine::provenance::{ContentRef, EventType, ProvenanceEvent, ProvenanceRepository, Query};

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::{ApiPath, ApiQuery};
use crate::openapi::{ErrorBody, EventDetailSchema, EventList, LineageSchema};

fn repo(s: &AppState) -> Result<Arc<ProvenanceRepository>, ApiError> {
    s.controller
        .runtime()
        .provenance
        .clone()
        .ok_or_else(|| ApiError::not_found("provenance is turned off on this server"))
}

fn prov_err(e: sluice_engine::provenance::ProvenanceError) -> ApiError {
    ApiError::internal(format!("provenance repository: {e}"))
}

/// A provenance search.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Search {
    /// Events of this flowfile (as itself, a parent or a child).
    flowfile: Option<String>,
    /// Events of this component (id or name).
    component: Option<String>,
    /// Event type, e.g. CREATE, ROUTE, DROP.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// `NAME:VALUE`: the attribute had this value before or after.
    attribute: Option<String>,
    /// At or after (ms since epoch).
    since: Option<i64>,
    /// At or before (ms since epoch).
    until: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
    /// Only events with an id below this (the previous page's `next_before`).
    before: Option<u64>,
}

fn query(q: Search) -> Result<Query, ApiError> {
    let nonempty = |o: Option<String>| o.filter(|v| !v.is_empty());
    let flowfile = nonempty(q.flowfile).map(|f| super::flowfiles::parse_uuid(&f)).transpose()?;
    let event_type = nonempty(q.event_type)
        .map(|t| t.parse::<EventType>().map_err(|e| ApiError::bad_request(format!("type: {e}"))))
        .transpose()?;
    let attribute = nonempty(q.attribute)
        .map(|a| {
            a.split_once(':')
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| ApiError::bad_request(format!("attribute: '{a}' must be NAME:VALUE")))
        })
        .transpose()?;
    Ok(Query {
        flowfile,
        component: nonempty(q.component),
        event_type,
        attribute,
        since_millis: q.since,
        until_millis: q.until,
        limit: q.limit.unwrap_or(100).min(1000),
        before_id: q.before,
    })
}

/// Searches events, newest first.
#[utoipa::path(get, path = "/api/provenance", tag = "provenance", params(Search),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "provenance is off")))]
pub(crate) async fn search(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<Search>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let p = repo(&s)?;
    blocking(move || {
        let r = p.query(&q).map_err(prov_err)?;
        let events: Vec<_> = r.events.iter().map(|e| e.summary_json()).collect();
        Ok(Json(serde_json::json!({"events": events, "next_before": r.next_before_id})))
    })
    .await
}

fn find(p: &ProvenanceRepository, id: u64) -> Result<ProvenanceEvent, ApiError> {
    p.event(id).map_err(prov_err)?.ok_or_else(|| ApiError::not_found(format!("no provenance event {id}")))
}

/// The content an event started from. An event that leaves the content as it was (a route, a
/// drop, a send...) records only its output, which is then its input too.
fn input_content(e: &ProvenanceEvent) -> Option<ContentRef> {
    let unchanged = matches!(
        e.event_type,
        EventType::Route
            | EventType::Drop
            | EventType::Expire
            | EventType::AttributesModified
            | EventType::Send
            | EventType::Clone
            | EventType::Download
            | EventType::Replay
    );
    e.previous_content.or(if unchanged { e.updated_content } else { None })
}

fn available(s: &AppState, loc: Option<ContentRef>) -> bool {
    match loc {
        Some(l) if l.len == 0 => true,
        Some(l) => s.controller.runtime().content.read_archived(l).ok().flatten().is_some(),
        None => false,
    }
}

/// One event with attributes before and after.
#[utoipa::path(get, path = "/api/provenance/events/{id}", tag = "provenance", params(("id" = u64, Path)),
    responses((status = 200, body = EventDetailSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn event(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = repo(&s)?;
    blocking(move || {
        let e = find(&p, id)?;
        let mut v = e.detail_json();
        v["content_available"] =
            serde_json::json!({"input": available(&s, input_content(&e)), "output": available(&s, e.updated_content)});
        Ok(Json(v))
    })
    .await
}

async fn content(s: AppState, id: u64, input: bool) -> Result<Response, ApiError> {
    let p = repo(&s)?;
    let reader = blocking(move || {
        let e = find(&p, id)?;
        let which = if input { "input" } else { "output" };
        let loc = if input { input_content(&e) } else { e.updated_content };
        let Some(loc) = loc else {
            return Err(ApiError::not_found(format!("event {id} has no {which} content in the content repository")));
        };
        let reader: Box<dyn std::io::Read + Send> = if loc.len == 0 {
            Box::new(std::io::empty())
        } else {
            s.controller
                .runtime()
                .content
                .read_archived(loc)
                .map_err(|e| ApiError::internal(format!("reading content: {e}")))?
                .ok_or_else(|| {
                    ApiError::not_found(format!("content aged out of the content repository ({which} of event {id})"))
                })?
        };
        let of = Download {
            flowfile: e.flowfile_uuid,
            attributes: if input {
                e.previous_attributes.clone().unwrap_or(e.updated_attributes.clone())
            } else {
                e.updated_attributes.clone()
            },
            content: Some(loc),
            size: loc.len,
            lineage_start_millis: e.lineage_start_millis,
        };
        s.controller.record_download(
            of,
            (&e.component_id, &e.component_name),
            &format!("{which} content of provenance event {id}"),
        )?;
        Ok(reader)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], super::flowfiles::stream_reader(reader)).into_response())
}

/// The content as it was before the event.
#[utoipa::path(get, path = "/api/provenance/events/{id}/content/input", tag = "provenance", params(("id" = u64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody, description = "no content, or aged out")))]
pub(crate) async fn content_input(State(s): State<AppState>, ApiPath(id): ApiPath<u64>) -> Result<Response, ApiError> {
    content(s, id, true).await
}

/// The content as it was after the event.
#[utoipa::path(get, path = "/api/provenance/events/{id}/content/output", tag = "provenance", params(("id" = u64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody, description = "no content, or aged out")))]
pub(crate) async fn content_output(State(s): State<AppState>, ApiPath(id): ApiPath<u64>) -> Result<Response, ApiError> {
    content(s, id, false).await
}

/// What a replay created.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Replayed {
    /// The new flowfile.
    flowfile_uuid: String,
    /// The queue it was put in.
    connection_id: String,
}

/// Puts the event's input flowfile (attributes and content as they were) back into the
/// queue it came from.
#[utoipa::path(post, path = "/api/provenance/events/{id}/replay", tag = "provenance", params(("id" = u64, Path)),
    responses((status = 200, body = Replayed), (status = 400, body = ErrorBody, description = "the event has no source queue"),
              (status = 404, body = ErrorBody, description = "no event, queue gone, or content aged out")))]
pub(crate) async fn replay(State(s): State<AppState>, ApiPath(id): ApiPath<u64>) -> Result<Json<Replayed>, ApiError> {
    let p = repo(&s)?;
    blocking(move || {
        let e = find(&p, id)?;
        let Some(queue) = e.source_queue_id.clone() else {
            return Err(ApiError::bad_request(format!(
                "event {id} ({}) did not take its flowfile from a queue; nothing to replay into",
                e.event_type.as_str()
            )));
        };
        let rt = s.controller.runtime();
        let loc = e.previous_content.or(e.updated_content);
        let content = match loc {
            Some(l) if l.len > 0 => {
                if rt.content.read_archived(l).map_err(|x| ApiError::internal(x.to_string()))?.is_none() {
                    return Err(ApiError::not_found(format!(
                        "the content of event {id} aged out of the content repository"
                    )));
                }
                rt.content.claim_existing(l)
            }
            _ if e.size > 0 => {
                return Err(ApiError::not_found(format!(
                    "the content of event {id} was not kept; it cannot be replayed"
                )));
            }
            _ => sluice_engine::Content::Empty,
        };
        let attrs = sluice_engine::Attributes::from_shared(
            e.previous_attributes.clone().unwrap_or_else(|| e.updated_attributes.clone()),
        );
        let new_id = s.controller.replay(&queue, attrs, content, e.flowfile_uuid)?;
        Ok(Json(Replayed { flowfile_uuid: new_id.to_string(), connection_id: queue.to_string() }))
    })
    .await
}

/// The lineage graph of a flowfile.
#[utoipa::path(get, path = "/api/provenance/lineage/{uuid}", tag = "provenance", params(("uuid" = String, Path)),
    responses((status = 200, body = LineageSchema), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn lineage(
    State(s): State<AppState>,
    ApiPath(uuid): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = super::flowfiles::parse_uuid(&uuid)?;
    let p = repo(&s)?;
    blocking(move || {
        let l = p.lineage(id).map_err(prov_err)?;
        if l.event_ids().is_empty() {
            return Err(ApiError::not_found(format!("no provenance events for flowfile {uuid}")));
        }
        Ok(Json(serde_json::to_value(&l).unwrap_or_default()))
    })
    .await
}
