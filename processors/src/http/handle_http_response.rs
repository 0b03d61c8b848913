//! HandleHttpResponse: the second half of a request-reply flow. It answers the request a
//! HandleHttpRequest received (found by the flowfile's `http.context.identifier`) with the
//! flowfile's content as the body, a status code (expressions allowed) and headers from
//! dynamic properties and selected attributes. Content above 1 MiB is streamed to the
//! client in 64 KiB chunks; the flowfile routes to `success` once it was handed over, or to
//! `failure` with `handlehttpresponse.error` when the request is unknown or expired, the
//! status code is invalid, or the client went away.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use regex::Regex;
use sluice_engine::{
    DynamicProperties, FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{RespBody, full_body};
use super::context_map;
use super::handle_http_request::CONTEXT_ID;

/// Feeds a streamed response body, frame by frame.
type FrameSender = tokio::sync::mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

const STATUS: &str = "HTTP Status Code";
const ATTRS_REGEX: &str = "Attributes to add to the HTTP Response (Regex)";
/// The attribute that says why a response could not be sent.
pub const ERROR_ATTR: &str = "handlehttpresponse.error";

/// Content up to this size is sent in one piece; larger content is streamed.
const IN_MEMORY: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// How long one chunk may wait for a slow client before the response is abandoned.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(HandleHttpResponse::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "HandleHttpResponse",
        "Answers the HTTP request that a HandleHttpRequest received, identified by the flowfile's http.context.identifier: the \
         flowfile's content is the body, with the configured status code and headers (dynamic properties). Routes to failure \
         when the request has expired or the client is gone.",
    )
    .tags(&["http", "https", "response", "egress", "web service"])
    .property(
        PropertyDescriptor::new(STATUS)
            .description("The HTTP status code of the response (100-599); expressions are evaluated per flowfile")
            .required()
            .expression_language()
            .default_value("200"),
    )
    .property(
        PropertyDescriptor::new(ATTRS_REGEX)
            .description("Attributes whose names match this regular expression are sent as response headers")
            .validator(Validator::Regex),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose response was sent"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose response could not be sent (unknown or expired request, invalid status, client gone); see handlehttpresponse.error",
    ))
    .dynamic(DynamicProperties {
        name_meaning: "A response header name".into(),
        value_meaning: "The header value (expressions evaluated per flowfile); empty values are not sent".into(),
        expression_language: true,
        creates_relationships: false,
    })
}

/// The processor.
#[derive(Default)]
pub struct HandleHttpResponse {
    attrs: Option<Regex>,
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    tracing::warn!("HandleHttpResponse: {why}");
    ff.set_attr(ERROR_ATTR, why);
    session.transfer(ff, crate::FAILURE);
}

impl Processor for HandleHttpResponse {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.attrs = match ctx.property(ATTRS_REGEX).filter(|s| !s.is_empty()) {
            Some(r) => Some(Regex::new(r).map_err(|e| ProcessError::Config(format!("'{ATTRS_REGEX}': {e}")))?),
            None => None,
        };
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(ff) = session.get() else { return Ok(()) };
        let Some(id) = ff.attr(CONTEXT_ID).map(str::to_string) else {
            fail(
                session,
                ff,
                "the flowfile has no http.context.identifier attribute (it did not come from HandleHttpRequest)",
            );
            return Ok(());
        };
        let status_text = match ctx.evaluate(STATUS, &ff) {
            Ok(v) => v.unwrap_or_default(),
            Err(e) => {
                fail(session, ff, &e.to_string());
                return Ok(());
            }
        };
        let status = match status_text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(s) => s,
            None => {
                fail(session, ff, &format!("'{status_text}' is not an HTTP status code (100-599)"));
                return Ok(());
            }
        };
        let mut headers = hyper::HeaderMap::new();
        if let Some(re) = &self.attrs {
            for (k, v) in ff.attributes.iter() {
                if re.is_match(k)
                    && let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v))
                {
                    headers.insert(n, v);
                }
            }
        }
        let dynamic: Vec<String> = ctx.dynamic_properties().map(|(k, _)| k.to_string()).collect();
        for name in dynamic {
            let value = match ctx.evaluate(&name, &ff) {
                Ok(v) => v.unwrap_or_default(),
                Err(e) => {
                    fail(session, ff, &e.to_string());
                    return Ok(());
                }
            };
            if value.is_empty() {
                continue;
            }
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => {
                    fail(session, ff, &format!("'{name}: {value}' is not a valid HTTP header"));
                    return Ok(());
                }
            }
        }
        if !headers.contains_key(hyper::header::CONTENT_TYPE)
            && let Some(v) = ff.attr("mime.type").and_then(|m| HeaderValue::from_str(m).ok())
        {
            headers.insert(hyper::header::CONTENT_TYPE, v);
        }
        let Some(responder) = context_map::take(&id) else {
            fail(
                session,
                ff,
                &format!(
                    "no request is waiting for context {id}: it expired, was answered already, or its client left"
                ),
            );
            return Ok(());
        };
        let size = ff.size();
        let transit = ff
            .attr("http.request.url")
            .map(str::to_string)
            .unwrap_or_else(|| format!("http://{}", ff.attr("http.remote.host").unwrap_or("client")));
        let streamed = size > IN_MEMORY;
        let (body, feed): (RespBody, Option<FrameSender>) = if streamed {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
            let stream =
                futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            (StreamBody::new(stream).boxed(), Some(tx))
        } else {
            (full_body(session.read_bytes(&ff)?), None)
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        if streamed {
            resp.headers_mut().insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(size));
        }
        if responder.send(resp).is_err() {
            fail(session, ff, "the client went away before the response could be sent");
            return Ok(());
        }
        if let Some(tx) = feed {
            let mut reader = session.read(&ff)?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.try_send(Err(std::io::Error::other(e.to_string())));
                        return Err(e.into());
                    }
                };
                let chunk = Frame::data(Bytes::copy_from_slice(&buf[..n]));
                let sent = crate::io::block_on(async { tokio::time::timeout(SEND_TIMEOUT, tx.send(Ok(chunk))).await });
                if !matches!(sent, Ok(Ok(()))) {
                    fail(session, ff, "the client stopped reading the response before it was complete");
                    return Ok(());
                }
            }
        }
        session.mark_sent(&ff, &transit);
        session.transfer(ff, crate::SUCCESS);
        Ok(())
    }
}
