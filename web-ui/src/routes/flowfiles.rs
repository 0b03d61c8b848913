//! Queued flowfiles: attributes and content.

use std::io::Read;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::limits::ApiPath;
use crate::openapi::ErrorBody;

/// A queued flowfile.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FlowFileAnswer {
    /// Uuid.
    uuid: String,
    /// Attributes.
    attributes: std::collections::BTreeMap<String, String>,
    /// Content size.
    size: u64,
    /// The connection it is queued in.
    connection_id: String,
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|e| ApiError::bad_request(format!("'{text}' is not a flowfile uuid: {e}")))
}

/// A queued flowfile's attributes.
#[utoipa::path(get, path = "/api/flowfiles/{uuid}", tag = "flowfiles", params(("uuid" = String, Path)),
    responses((status = 200, body = FlowFileAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_one(
    State(s): State<AppState>,
    ApiPath(uuid): ApiPath<String>,
) -> Result<Json<FlowFileAnswer>, ApiError> {
    let id = parse_uuid(&uuid)?;
    let (ff, conn) =
        s.controller.find_flowfile(id).ok_or_else(|| ApiError::not_found(format!("no queued flowfile '{uuid}'")))?;
    Ok(Json(FlowFileAnswer {
        uuid: ff.id.to_string(),
        attributes: ff.attributes.to_btree(),
        size: ff.size(),
        connection_id: conn,
    }))
}

/// Streams a blocking reader as a response body (64 KiB chunks from the blocking pool).
pub(crate) fn stream_reader(mut reader: Box<dyn Read + Send>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; 64 << 10];
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reading content failed");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// A queued flowfile's content (raw bytes; `Content-Type` from `mime.type`).
#[utoipa::path(get, path = "/api/flowfiles/{uuid}/content", tag = "flowfiles", params(("uuid" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn content(State(s): State<AppState>, ApiPath(uuid): ApiPath<String>) -> Result<Response, ApiError> {
    let id = parse_uuid(&uuid)?;
    let (ff, queue) =
        s.controller.find_flowfile(id).ok_or_else(|| ApiError::not_found(format!("no queued flowfile '{uuid}'")))?;
    let of = sluice_engine::flow::Download {
        flowfile: ff.id,
        attributes: ff.attributes.shared().clone(),
        content: ff.content.location(),
        size: ff.size(),
        lineage_start_millis: ff.lineage_start_millis,
    };
    s.controller.record_download(of, (&queue, &format!("queue {queue}")), "content of a queued flowfile")?;
    let mime = ff
        .attr("mime.type")
        .filter(|m| m.parse::<axum::http::HeaderValue>().is_ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let reader =
        blocking(move || ff.content.reader().map_err(|e| ApiError::internal(format!("reading content: {e}")))).await?;
    Ok(([(header::CONTENT_TYPE, mime)], stream_reader(reader)).into_response())
}
