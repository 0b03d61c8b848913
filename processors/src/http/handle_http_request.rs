//! HandleHttpRequest: the first half of a request-reply flow. Every HTTP request (any
//! allowed method, any allowed path) becomes a flowfile carrying the request's body and
//! its method, path, query parameters and headers as attributes; the client waits until a
//! HandleHttpResponse further down the flow answers it with the flowfile's content.
//!
//! The pending responder is kept in a process-wide map keyed by `http.context.identifier`
//! (NiFi keeps it in the StandardHttpContextMap controller service; its "Request
//! Expiration" and "Maximum Outstanding Requests" are properties here). A request that no
//! HandleHttpResponse answers within "Request Expiration" gets 504; one whose flowfile
//! never made it into the flow (session rolled back, processor stopped) or that finds the
//! queue full gets 503.

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
    BodyData, BodyError, ConnInfo, HttpServer, Inbox, RespBody, bind_address, collect_body, host_of, next_id,
    text_response, unavailable, url_decode,
};
use super::context_map::{self, Responder};

const PORT: &str = "Listening Port";
const HOSTNAME: &str = "Hostname";
const ALLOWED_PATHS: &str = "Allowed Paths";
const CHARSET: &str = "Default URL Character Set";
const ALLOW_GET: &str = "Allow GET";
const ALLOW_POST: &str = "Allow POST";
const ALLOW_PUT: &str = "Allow PUT";
const ALLOW_DELETE: &str = "Allow DELETE";
const ALLOW_HEAD: &str = "Allow HEAD";
const ALLOW_OPTIONS: &str = "Allow OPTIONS";
const ADDITIONAL_METHODS: &str = "Additional HTTP Methods";
const QUEUE_SIZE: &str = "Container Queue Size";
const EXPIRATION: &str = "Request Expiration";
const MAX_OUTSTANDING: &str = "Maximum Outstanding Requests";

/// The attribute that ties a flowfile to its waiting request.
pub const CONTEXT_ID: &str = "http.context.identifier";

/// Requests turned into flowfiles per trigger at most.
const BATCH: usize = 50;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(HandleHttpRequest::default()));
}

fn allow(name: &str, default: bool) -> PropertyDescriptor {
    PropertyDescriptor::new(name)
        .description(format!("Whether {} requests are accepted (405 otherwise)", name.trim_start_matches("Allow ")))
        .required()
        .default_value(if default { "true" } else { "false" })
        .allowable(&[("true", "accepted"), ("false", "answered 405")])
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "HandleHttpRequest",
        "Starts an HTTP server and turns every request into a flowfile (the body as content; method, path, query parameters \
         and headers as attributes) whose client waits for a HandleHttpResponse to answer it. Use the two for web services \
         built as flows. A request not answered within Request Expiration gets 504; one that cannot enter the flow gets 503.",
    )
    .tags(&["http", "https", "request", "listen", "ingress", "web service"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(PORT)
            .description("The port to listen on; 0 picks a free port, reported in a bulletin")
            .required()
            .default_value("80")
            .validator(Validator::Port),
    )
    .property(PropertyDescriptor::new(HOSTNAME).description("The IP address to listen on; all interfaces when empty"))
    .property(
        PropertyDescriptor::new(ALLOWED_PATHS)
            .description("A regular expression the whole request path must match; other paths get 404. Every path when empty")
            .validator(Validator::Regex),
    )
    .property(
        PropertyDescriptor::new(CHARSET)
            .description("The character set used to decode percent-encoded query parameters")
            .required()
            .default_value("UTF-8")
            .validator(Validator::Charset),
    )
    .property(allow(ALLOW_GET, true))
    .property(allow(ALLOW_POST, true))
    .property(allow(ALLOW_PUT, true))
    .property(allow(ALLOW_DELETE, true))
    .property(allow(ALLOW_HEAD, false))
    .property(allow(ALLOW_OPTIONS, false))
    .property(PropertyDescriptor::new(ADDITIONAL_METHODS).description("More methods to accept, comma separated (e.g. PATCH)"))
    .property(
        PropertyDescriptor::new(QUEUE_SIZE)
            .description("How many requests may wait for the processor to take them into the flow; beyond, requests get 503")
            .required()
            .default_value("50")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(EXPIRATION)
            .description(
                "How long a request waits for its response before it is answered 504 (in NiFi, a property of the \
                 StandardHttpContextMap)",
            )
            .required()
            .default_value("1 min")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(MAX_OUTSTANDING)
            .description(
                "How many requests may wait for a response in the whole process; beyond, requests get 503 (in NiFi, a \
                 property of the StandardHttpContextMap)",
            )
            .required()
            .default_value("5000")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Every received request"))
}

struct Shared {
    inbox: Inbox<Pending>,
    paths: Option<Regex>,
    methods: Vec<String>,
    latin1: bool,
    expiration: Duration,
    max_outstanding: usize,
}

struct Pending {
    context_id: String,
    attrs: Vec<(String, String)>,
    body: BodyData,
    transit_uri: String,
    responder: Responder,
}

/// The processor.
#[derive(Default)]
pub struct HandleHttpRequest {
    shared: Option<Arc<Shared>>,
    server: Mutex<Option<HttpServer>>,
}

impl HandleHttpRequest {
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
                tracing::info!(processor = %ctx.name, "HandleHttpRequest listening on {}", s.local_addr());
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

impl Processor for HandleHttpRequest {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        if let Some(old) = self.server.lock().take() {
            old.shutdown();
        }
        let paths = match ctx.property(ALLOWED_PATHS).filter(|s| !s.is_empty()) {
            Some(r) => Some(
                Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| ProcessError::Config(format!("'{ALLOWED_PATHS}': {e}")))?,
            ),
            None => None,
        };
        let mut methods = Vec::new();
        for (prop, m) in [
            (ALLOW_GET, "GET"),
            (ALLOW_POST, "POST"),
            (ALLOW_PUT, "PUT"),
            (ALLOW_DELETE, "DELETE"),
            (ALLOW_HEAD, "HEAD"),
            (ALLOW_OPTIONS, "OPTIONS"),
        ] {
            if ctx.bool(prop)?.unwrap_or(false) {
                methods.push(m.to_string());
            }
        }
        if let Some(extra) = ctx.property(ADDITIONAL_METHODS) {
            methods.extend(extra.split(',').map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()));
        }
        let charset = ctx.property(CHARSET).unwrap_or("UTF-8").to_ascii_uppercase();
        let shared = Shared {
            inbox: Inbox::new(ctx.int(QUEUE_SIZE)?.unwrap_or(50).max(1) as usize, ctx.waker()),
            paths,
            methods,
            latin1: charset == "ISO-8859-1" || charset == "LATIN1",
            expiration: ctx.duration(EXPIRATION)?.unwrap_or(Duration::from_secs(60)),
            max_outstanding: ctx.int(MAX_OUTSTANDING)?.unwrap_or(5000).max(1) as usize,
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
        // Responders are registered before the flowfiles exist, so that a HandleHttpResponse
        // that sees the flowfile right after the commit finds them; a rollback forgets them
        // again and their clients get 503.
        let ids: Vec<String> = claimed.iter().map(|p| p.context_id.clone()).collect();
        let mut work = Vec::with_capacity(claimed.len());
        for p in claimed {
            context_map::insert(&p.context_id, p.responder);
            work.push((p.attrs, p.body, p.transit_uri));
        }
        session.on_commit(Box::new(move |committed| {
            if !committed {
                for id in &ids {
                    context_map::remove(id);
                }
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
        if let Some(shared) = self.shared.take() {
            drop(shared.inbox.close());
        }
    }
}

/// Cleans up after a request's handler, however it ends (answered, expired, client gone):
/// the request leaves the inbox if no trigger claimed it, and the context map if no
/// HandleHttpResponse took it.
struct Cleanup<'a> {
    inbox: &'a Inbox<Pending>,
    id: u64,
    context_id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        drop(self.inbox.withdraw(self.id));
        context_map::remove(&self.context_id);
    }
}

fn request_attributes(
    shared: &Shared,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    context_id: &str,
) -> (Vec<(String, String)>, String) {
    let mut a: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| a.push((k.to_string(), v));
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let host_header = req.headers().get(hyper::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
    let server_name = host_header
        .as_deref()
        .map(|h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
                .map(|(h, _)| h)
                .unwrap_or(h)
                .to_string()
        })
        .unwrap_or_else(|| conn.local.ip().to_string());
    let url = format!("http://{}{}", host_header.clone().unwrap_or_else(|| conn.local.to_string()), path);
    put(CONTEXT_ID, context_id.to_string());
    if let Some(ct) = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        put("mime.type", ct.to_string());
    }
    put("http.method", req.method().as_str().to_string());
    put("http.servlet.path", String::new());
    put("http.context.path", String::new());
    put("http.path.info", path.clone());
    put("http.request.uri", path.clone());
    put("http.request.url", url.clone());
    put("http.query.string", query.clone());
    put("http.local.addr", conn.local.ip().to_string());
    put("http.local.name", conn.local.ip().to_string());
    put("http.server.name", server_name);
    put("http.server.port", conn.local.port().to_string());
    put("http.remote.host", host_of(&conn.peer));
    put("http.remote.addr", host_of(&conn.peer));
    put("http.remote.port", conn.peer.port().to_string());
    put("http.protocol", format!("{:?}", req.version()));
    if let Some(cl) = req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        put("http.content.length", cl.to_string());
    }
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            let key = format!("http.headers.{}", name.as_str());
            // Repeated headers are joined with commas, as HTTP allows.
            match a.iter_mut().find(|(k, _)| *k == key) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(v);
                }
                None => a.push((key, v.to_string())),
            }
        }
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = format!("http.query.param.{}", url_decode(k, true, shared.latin1));
        let value = url_decode(v, true, shared.latin1);
        match a.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => a.push((key, value)),
        }
    }
    let transit = if query.is_empty() { url } else { format!("{url}?{query}") };
    (a, transit)
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, conn: ConnInfo) -> Response<RespBody> {
    let method = req.method().as_str().to_ascii_uppercase();
    if !shared.methods.contains(&method) {
        let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed"));
        if let Ok(v) = hyper::header::HeaderValue::from_str(&shared.methods.join(", ")) {
            r.headers_mut().insert(hyper::header::ALLOW, v);
        }
        return r;
    }
    if let Some(re) = &shared.paths
        && !re.is_match(req.uri().path())
    {
        return text_response(StatusCode::NOT_FOUND, &format!("no handler for {}", req.uri().path()));
    }
    if context_map::outstanding() >= shared.max_outstanding {
        return unavailable("too many requests are waiting for a response; retry later");
    }
    let context_id = uuid::Uuid::new_v4().to_string();
    let (attrs, transit_uri) = request_attributes(&shared, &req, &conn, &context_id);
    let body = if req.method() == Method::GET || req.method() == Method::HEAD {
        BodyData::empty()
    } else {
        match collect_body(req.into_body(), None, None).await {
            Ok(b) => b,
            Err(BodyError::Client(e)) => {
                return text_response(StatusCode::BAD_REQUEST, &format!("reading the request body failed: {e}"));
            }
            Err(BodyError::TooLarge) => return text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            Err(BodyError::Io(e)) => {
                tracing::warn!("HandleHttpRequest could not buffer a request body: {e}");
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, "could not buffer the request body");
            }
        }
    };
    let id = next_id();
    let (tx, rx) = oneshot::channel();
    let pending = Pending { context_id: context_id.clone(), attrs, body, transit_uri, responder: tx };
    if shared.inbox.try_push(id, pending).is_err() {
        return unavailable("the request queue is full; retry later");
    }
    let _cleanup = Cleanup { inbox: &shared.inbox, id, context_id };
    match tokio::time::timeout(shared.expiration, rx).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(_)) => unavailable("the request could not be processed (dropped by the flow or the processor stopped)"),
        Err(_) => text_response(StatusCode::GATEWAY_TIMEOUT, "no response was produced in time"),
    }
}
