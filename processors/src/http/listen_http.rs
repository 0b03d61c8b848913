//! ListenHTTP: an HTTP server whose POSTed bodies become flowfiles. The client is answered
//! only after the session that holds its flowfile has committed, so a 200 means the data
//! is in the flow (and, with the durable repository, survives `kill -9`).
//!
//! How a request travels: the handler (on the shared I/O runtime) reads the body (kept in
//! memory up to 256 KiB, spilled to an anonymous temporary file beyond and streamed from it
//! into the content repository by `write_with`), then puts it with a oneshot "ack" into a
//! bounded inbox and wakes the processor. `on_trigger` claims waiting requests, creates
//! their flowfiles and registers a commit callback (`ProcessSession::on_commit`) that
//! completes the acks with the commit's outcome. When the flow cannot take data (back
//! pressure: the processor is not scheduled while its outgoing connection is full) the
//! inbox fills up; a request that finds it full for 100 ms, or that no trigger claimed
//! within "Request Acceptance Timeout", is withdrawn and answered 503 with `Retry-After`,
//! so every 200 corresponds to exactly one committed flowfile.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use regex::Regex;
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};
use tokio::sync::oneshot;

use super::common::{
    BodyData, BodyError, ConnInfo, HttpServer, Inbox, RateLimiter, RespBody, bind_address, collect_body,
    empty_response, host_of, next_id, text_response, unavailable,
};

const PORT: &str = "Listening Port";
const HOSTNAME: &str = "Hostname";
const BASE_PATH: &str = "Base Path";
const MAX_RATE: &str = "Max Data to Receive per Second";
const MAX_BODY: &str = "Max Request Body Size";
const HEADERS_REGEX: &str = "HTTP Headers to receive as Attributes (Regex)";
const RETURN_CODE: &str = "Return Code";
const QUEUE_SIZE: &str = "Container Queue Size";
const ACCEPT_TIMEOUT: &str = "Request Acceptance Timeout";

/// Requests turned into flowfiles per trigger at most.
const BATCH: usize = 100;
/// How long a request waits for room in a full inbox before it is refused.
const FULL_WAIT: Duration = Duration::from_millis(100);

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListenHttp::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ListenHTTP",
        "Starts an HTTP server and turns the body of every POST to the Base Path into a flowfile, with selected request headers \
         as attributes. The client is answered (Return Code, 200 by default) only after the flowfile is committed to the flow; \
         when the flow applies back pressure the client gets 503 with Retry-After, and a body larger than Max Request Body Size \
         gets 413.",
    )
    .tags(&["ingest", "http", "https", "rest", "listen", "server"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(PORT)
            .description("The port to listen on; 0 picks a free port, reported in a bulletin")
            .required()
            .validator(Validator::Port),
    )
    .property(
        PropertyDescriptor::new(HOSTNAME)
            .description("The IP address to listen on (e.g. 127.0.0.1); all interfaces when empty. Not in NiFi's ListenHTTP.")
            .validator(Validator::Any),
    )
    .property(
        PropertyDescriptor::new(BASE_PATH)
            .description("The path requests must be sent to (http://host:port/<Base Path>); other paths get 404")
            .required()
            .default_value("contentListener")
            .validator(Validator::NonEmpty),
    )
    .property(
        PropertyDescriptor::new(MAX_RATE)
            .description("The most data per second read from all clients together (e.g. 10 MB); unlimited when empty")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(MAX_BODY)
            .description("The largest request body accepted (e.g. 100 MB); larger bodies are answered 413. Unlimited when empty")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(HEADERS_REGEX)
            .description(
                "Request headers whose (lower-case) names match this regular expression become attributes of the same name",
            )
            .validator(Validator::Regex),
    )
    .property(
        PropertyDescriptor::new(RETURN_CODE)
            .description("The HTTP status code answered once the flowfile is committed")
            .required()
            .default_value("200")
            .validator(Validator::Integer { min: 100, max: 599 }),
    )
    .property(
        PropertyDescriptor::new(QUEUE_SIZE)
            .description(
                "How many received requests may wait for the processor to turn them into flowfiles; when full, new requests \
                 get 503. Not in NiFi's ListenHTTP (HandleHttpRequest's name for the same idea).",
            )
            .required()
            .default_value("100")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(ACCEPT_TIMEOUT)
            .description(
                "How long a received request may wait to be taken into the flow (back pressure stops the processor) before \
                 it is answered 503 with Retry-After and discarded. Not in NiFi.",
            )
            .required()
            .default_value("5 sec")
            .validator(Validator::TimePeriod),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Every received request body"))
}

/// Immutable per-run configuration shared with the request handlers.
struct Shared {
    inbox: Inbox<Received>,
    path: String,
    max_body: Option<u64>,
    limiter: Option<RateLimiter>,
    headers: Option<Regex>,
    return_code: StatusCode,
    accept_timeout: Duration,
}

/// A request waiting to become a flowfile.
struct Received {
    attrs: Vec<(String, String)>,
    body: BodyData,
    transit_uri: String,
    ack: oneshot::Sender<bool>,
}

/// The processor.
#[derive(Default)]
pub struct ListenHttp {
    shared: Option<Arc<Shared>>,
    server: Mutex<Option<HttpServer>>,
}

impl ListenHttp {
    /// Binds the server if it is not running; a failure is reported and retried later.
    fn ensure_server(&self, ctx: &ProcessContext) -> Result<bool, ProcessError> {
        let mut server = self.server.lock();
        if server.is_some() {
            return Ok(true);
        }
        let Some(shared) = self.shared.clone() else { return Ok(false) };
        let port = ctx.int(PORT)?.unwrap_or(0) as u16;
        let addr = bind_address(ctx.property(HOSTNAME), port).map_err(ProcessError::Config)?;
        let handler = move |req: Request<Incoming>, conn: ConnInfo| handle(shared.clone(), req, conn);
        match HttpServer::bind(addr, handler) {
            Ok(s) => {
                tracing::info!(processor = %ctx.name, "ListenHTTP listening on {}", s.local_addr());
                if port == 0 {
                    ctx.bulletin(Level::Info, format!("listening on {}", s.local_addr()));
                }
                *server = Some(s);
                Ok(true)
            }
            Err(e) => {
                ctx.bulletin(Level::Warning, format!("cannot listen on {addr}: {e}; retrying"));
                ctx.yield_now();
                Ok(false)
            }
        }
    }
}

impl Processor for ListenHttp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        if let Some(old) = self.server.lock().take() {
            old.shutdown();
        }
        let headers = match ctx.property(HEADERS_REGEX).filter(|s| !s.is_empty()) {
            Some(r) => Some(Regex::new(r).map_err(|e| ProcessError::Config(format!("'{HEADERS_REGEX}': {e}")))?),
            None => None,
        };
        let code = ctx.int(RETURN_CODE)?.unwrap_or(200);
        let return_code =
            StatusCode::from_u16(code as u16).map_err(|_| ProcessError::Config(format!("'{RETURN_CODE}': {code}")))?;
        let path = ctx.property(BASE_PATH).unwrap_or("contentListener").trim().trim_matches('/').to_string();
        let shared = Shared {
            inbox: Inbox::new(ctx.int(QUEUE_SIZE)?.unwrap_or(100).max(1) as usize, ctx.waker()),
            path: format!("/{path}"),
            max_body: ctx.data_size(MAX_BODY)?,
            limiter: ctx.data_size(MAX_RATE)?.map(RateLimiter::new),
            headers,
            return_code,
            accept_timeout: ctx.duration(ACCEPT_TIMEOUT)?.unwrap_or(Duration::from_secs(5)),
        };
        self.shared = Some(Arc::new(shared));
        self.ensure_server(ctx)?;
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        if !self.ensure_server(ctx)? {
            return Ok(());
        }
        let Some(shared) = &self.shared else { return Ok(()) };
        let claimed = shared.inbox.take(BATCH);
        if claimed.is_empty() {
            return Ok(());
        }
        // The acks are handed to the session first, so that whatever happens below (a failed
        // content write rolls the session back) every claimed client gets its answer.
        let mut work = Vec::with_capacity(claimed.len());
        let mut acks = Vec::with_capacity(claimed.len());
        for r in claimed {
            acks.push(r.ack);
            work.push((r.attrs, r.body, r.transit_uri));
        }
        session.on_commit(Box::new(move |committed| {
            for a in acks {
                let _ = a.send(committed);
            }
        }));
        for (attrs, body, uri) in work {
            let mut ff = session.create();
            for (k, v) in &attrs {
                ff.set_attr(k, v);
            }
            match body {
                BodyData::Memory(b) if b.is_empty() => {}
                BodyData::Memory(b) => session.write(&mut ff, b)?,
                BodyData::File(mut f) => session.write_with(&mut ff, |w| io::copy(&mut f, w).map(|_| ()))?,
            }
            session.mark_received(&ff, &uri);
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        if let Some(s) = self.server.lock().take() {
            s.shutdown();
        }
        // Requests still waiting are answered 503 (their acks are dropped).
        if let Some(shared) = self.shared.take() {
            drop(shared.inbox.close());
        }
    }
}

/// Withdraws a request from the inbox if its handler goes away (client disconnected) before
/// a trigger claimed it, so no flowfile is made for a client that was never answered.
struct Withdraw<'a> {
    inbox: &'a Inbox<Received>,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        drop(self.inbox.withdraw(self.id));
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, conn: ConnInfo) -> Response<RespBody> {
    let path = req.uri().path();
    let trimmed = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    if trimmed != shared.path {
        return text_response(StatusCode::NOT_FOUND, &format!("no listener at {path}; POST to {}", shared.path));
    }
    if req.method() != Method::POST {
        let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
        r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return r;
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    if let Some(re) = &shared.headers {
        for (name, value) in req.headers() {
            if re.is_match(name.as_str())
                && let Ok(v) = value.to_str()
            {
                attrs.push((name.as_str().to_string(), v.to_string()));
            }
        }
    }
    let uri = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.to_string());
    let mime = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    attrs.push(("mime.type".into(), mime.to_string()));
    attrs.push(("http.method".into(), req.method().as_str().to_string()));
    attrs.push(("http.request.uri".into(), uri.clone()));
    attrs.push(("http.remote.host".into(), host_of(&conn.peer)));
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| conn.local.to_string());
    let transit_uri = format!("http://{host}{uri}");
    let body = match collect_body(req.into_body(), shared.max_body, shared.limiter.as_ref()).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let mut r =
                text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body is larger than the configured maximum");
            r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            return r;
        }
        Err(BodyError::Client(e)) => {
            return text_response(StatusCode::BAD_REQUEST, &format!("reading the request body failed: {e}"));
        }
        Err(BodyError::Io(e)) => {
            tracing::warn!("ListenHTTP could not buffer a request body: {e}");
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, "could not buffer the request body");
        }
    };
    let id = next_id();
    let (tx, mut rx) = oneshot::channel();
    let item = Received { attrs, body, transit_uri, ack: tx };
    if shared.inbox.push(id, item, FULL_WAIT).await.is_err() {
        return unavailable("the flow is not accepting data now (back pressure); retry later");
    }
    let _withdraw = Withdraw { inbox: &shared.inbox, id };
    let outcome = match tokio::time::timeout(shared.accept_timeout, &mut rx).await {
        Ok(r) => r,
        Err(_) => {
            if shared.inbox.withdraw(id).is_some() {
                return unavailable("the flow did not take the request in time (back pressure); retry later");
            }
            // A trigger claimed it just now: its commit is under way.
            match tokio::time::timeout(Duration::from_secs(60), &mut rx).await {
                Ok(r) => r,
                Err(_) => return unavailable("the flow did not confirm the request in time; retry later"),
            }
        }
    };
    match outcome {
        Ok(true) => empty_response(shared.return_code),
        Ok(false) => unavailable("the flow could not store the request; retry later"),
        Err(_) => unavailable("the listener is stopping; retry later"),
    }
}
