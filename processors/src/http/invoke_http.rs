//! InvokeHTTP: an HTTP client. For each flowfile (or on its schedule, without input) it
//! sends a request built from properties and attributes, and routes by the answer: the
//! response body becomes a new flowfile on `Response`; the input goes to `Original` (2xx),
//! `Retry` (5xx, penalized), `No Retry` (any other status) or `Failure` (no answer:
//! connection refused, timeout, invalid URL). One reqwest client (rustls, webpki and
//! system roots) per processor instance keeps connections alive across flowfiles; request
//! and response bodies above 1 MiB are streamed, never held whole in memory.

use std::io::Read;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regex::Regex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sluice_engine::{
    Attributes, DynamicProperties, FlowFile, InputRequirement, Level, ProcessContext, ProcessError, ProcessSession,
    Processor, ProcessorDescriptor, PropertyDescriptor, Registry, Relationship, Validator,
};

const METHOD: &str = "HTTP Method";
const URL: &str = "Remote URL";
const CONNECT_TIMEOUT: &str = "Connection Timeout";
const READ_TIMEOUT: &str = "Socket Read Timeout";
const ATTRS_TO_SEND: &str = "Attributes to Send";
const CONTENT_TYPE: &str = "Content-Type";
const SEND_BODY: &str = "Send Message Body";
const FOLLOW_REDIRECTS: &str = "Follow Redirects";
const ALWAYS_OUTPUT: &str = "Always Output Response";
const BODY_ATTR: &str = "Put Response Body In Attribute";
const MAX_ATTR_LEN: &str = "Max Length To Put In Attribute";
const USERNAME: &str = "Basic Authentication Username";
const PASSWORD: &str = "Basic Authentication Password";
const PENALIZE_NO_RETRY: &str = "Penalize on \"No Retry\"";
const SSL_CONTEXT: &str = "SSL Context Service";

/// Relationship names (NiFi's).
pub const ORIGINAL: &str = "Original";
/// The response body.
pub const RESPONSE: &str = "Response";
/// 5xx answers.
pub const RETRY: &str = "Retry";
/// Other non-2xx answers.
pub const NO_RETRY: &str = "No Retry";
/// No answer.
pub const FAILURE: &str = "Failure";

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Request bodies up to this size are sent from memory; larger ones are streamed.
const IN_MEMORY: u64 = 1024 * 1024;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(InvokeHttp::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "InvokeHTTP",
        "Sends an HTTP request for each flowfile (or on its schedule when it has no input) and routes by the answer: the \
         response body to Response, the input to Original (2xx), Retry (5xx), No Retry (other statuses) or Failure (no answer: \
         connection refused, timeout). Writes invokehttp.status.code, invokehttp.status.message, invokehttp.request.url, \
         invokehttp.tx.id and the response headers as attributes.",
    )
    .tags(&["http", "https", "rest", "client", "invoke", "get", "post", "put"])
    .input(InputRequirement::Allowed)
    .default_period("1 min")
    .property(
        PropertyDescriptor::new(METHOD)
            .description("GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS; expressions are evaluated per flowfile")
            .required()
            .default_value("GET")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(URL)
            .description("The URL to call (http or https); expressions are evaluated per flowfile")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(CONNECT_TIMEOUT)
            .description("How long to wait for the connection to open")
            .required()
            .default_value("5 secs")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(READ_TIMEOUT)
            .description("How long to wait for data from the server (reset by each read)")
            .required()
            .default_value("15 secs")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(ATTRS_TO_SEND)
            .description("Attributes whose names match this regular expression are sent as request headers")
            .validator(Validator::Regex),
    )
    .property(
        PropertyDescriptor::new(CONTENT_TYPE)
            .description("The Content-Type of the request body")
            .required()
            .default_value("${mime.type}")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(SEND_BODY)
            .description("Whether POST, PUT and PATCH send the flowfile's content as the request body")
            .required()
            .default_value("true")
            .allowable(&[("true", "send the content"), ("false", "send no body")]),
    )
    .property(
        PropertyDescriptor::new(FOLLOW_REDIRECTS)
            .description("Whether 3xx redirects are followed (up to 10)")
            .required()
            .default_value("true")
            .allowable(&[("true", "follow"), ("false", "route the 3xx answer to No Retry")]),
    )
    .property(
        PropertyDescriptor::new(ALWAYS_OUTPUT)
            .description("Whether a Response flowfile is made for every answer, not only for 2xx")
            .required()
            .default_value("false")
            .allowable(&[("true", "always"), ("false", "2xx only")]),
    )
    .property(
        PropertyDescriptor::new(BODY_ATTR)
            .description(
                "If set, the response body is put into this attribute of the input flowfile (truncated to Max Length To Put \
                 In Attribute), which goes to Original, instead of making a Response flowfile",
            ),
    )
    .property(
        PropertyDescriptor::new(MAX_ATTR_LEN)
            .description("The most characters of the response body put into the attribute")
            .required()
            .default_value("256")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(PropertyDescriptor::new(USERNAME).description("User name for HTTP basic authentication"))
    .property(PropertyDescriptor::new(PASSWORD).description("Password for HTTP basic authentication").sensitive())
    .property(
        PropertyDescriptor::new(PENALIZE_NO_RETRY)
            .description("Whether flowfiles routed to No Retry are penalized")
            .required()
            .default_value("false")
            .allowable(&[("true", "penalize"), ("false", "do not penalize")]),
    )
    .property(
        PropertyDescriptor::new(SSL_CONTEXT)
            .description(
                "A StandardSSLContextService with the CA certificates to trust (a private CA, a self-signed server) and \
                 the client certificate to present (mutual TLS); the system's roots otherwise",
            )
            .identifies_service(crate::services::ssl_context::API),
    )
    .relationship(Relationship::new(ORIGINAL, "The input flowfile after a 2xx answer"))
    .relationship(Relationship::new(RESPONSE, "The response body of a 2xx answer (of every answer with Always Output Response)"))
    .relationship(Relationship::new(RETRY, "The input flowfile after a 5xx answer (penalized)"))
    .relationship(Relationship::new(NO_RETRY, "The input flowfile after a 1xx, 3xx or 4xx answer"))
    .relationship(Relationship::new(
        FAILURE,
        "The input flowfile when no answer came (connection refused, timeout, invalid request); see invokehttp.java.exception.*",
    ))
    .dynamic(DynamicProperties {
        name_meaning: "A request header name".into(),
        value_meaning: "The header value (expressions evaluated per flowfile); empty values are not sent".into(),
        expression_language: true,
        creates_relationships: false,
    })
}

/// The processor.
#[derive(Default)]
pub struct InvokeHttp {
    client: Option<reqwest::Client>,
    attrs_to_send: Option<Regex>,
}

/// Why a request got no answer, as attribute values (`invokehttp.java.exception.class` keeps
/// NiFi's attribute name; the class is the nearest Java exception's simple name).
fn classify(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "SocketTimeoutException"
    } else if e.is_connect() {
        "ConnectException"
    } else if e.is_builder() {
        "IllegalArgumentException"
    } else {
        "IOException"
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl InvokeHttp {
    fn fail(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        ff: Option<FlowFile>,
        class: &str,
        msg: &str,
        network: bool,
    ) {
        if network {
            ctx.bulletin(Level::Warning, format!("request failed: {msg}; yielding"));
            ctx.yield_now();
        }
        if let Some(mut ff) = ff {
            ff.set_attr("invokehttp.java.exception.class", class);
            ff.set_attr("invokehttp.java.exception.message", msg);
            session.penalize(&mut ff);
            session.transfer(ff, FAILURE);
        } else if !network {
            ctx.bulletin(Level::Error, format!("cannot build the request: {msg}"));
            ctx.yield_now();
        }
    }
}

impl Processor for InvokeHttp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let redirect = if ctx.bool(FOLLOW_REDIRECTS)?.unwrap_or(true) {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder();
        if ctx.property(SSL_CONTEXT).is_some_and(|v| !v.trim().is_empty()) {
            let tls = ctx
                .service::<crate::services::ssl_context::TlsContext>(SSL_CONTEXT)
                .ok_or_else(|| ProcessError::Config(format!("'{SSL_CONTEXT}' does not name an enabled TLS context")))?;
            builder = tls.apply(builder);
        }
        let client = builder
            .connect_timeout(ctx.duration(CONNECT_TIMEOUT)?.unwrap_or(Duration::from_secs(5)))
            .read_timeout(ctx.duration(READ_TIMEOUT)?.unwrap_or(Duration::from_secs(15)))
            .redirect(redirect)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("Sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProcessError::Config(format!("HTTP client: {e}")))?;
        self.client = Some(client);
        self.attrs_to_send = match ctx.property(ATTRS_TO_SEND).filter(|s| !s.is_empty()) {
            Some(r) => Some(Regex::new(r).map_err(|e| ProcessError::Config(format!("'{ATTRS_TO_SEND}': {e}")))?),
            None => None,
        };
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(client) = &self.client else { return Err(ProcessError::other("InvokeHTTP is not scheduled")) };
        let input = session.get();
        if input.is_none() && ctx.has_incoming {
            return Ok(());
        }
        let empty = Attributes::new();
        let attrs = input.as_ref().map(|f| &f.attributes).unwrap_or(&empty);

        // Build the request; a bad method, URL or header sends the input to Failure.
        let method = match ctx.evaluate_with(METHOD, attrs) {
            Ok(m) => m.unwrap_or_default().trim().to_ascii_uppercase(),
            Err(e) => {
                self.fail(ctx, session, input, "IllegalArgumentException", &e.to_string(), false);
                return Ok(());
            }
        };
        if !METHODS.contains(&method.as_str()) {
            let msg = format!("'{method}' is not a supported HTTP method ({})", METHODS.join(", "));
            self.fail(ctx, session, input, "IllegalArgumentException", &msg, false);
            return Ok(());
        }
        let url_text = match ctx.evaluate_with(URL, attrs) {
            Ok(u) => u.unwrap_or_default().trim().to_string(),
            Err(e) => {
                self.fail(ctx, session, input, "IllegalArgumentException", &e.to_string(), false);
                return Ok(());
            }
        };
        let url = match reqwest::Url::parse(&url_text) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            Ok(_) => {
                self.fail(
                    ctx,
                    session,
                    input,
                    "MalformedURLException",
                    &format!("'{url_text}' is not an http or https URL"),
                    false,
                );
                return Ok(());
            }
            Err(e) => {
                self.fail(ctx, session, input, "MalformedURLException", &format!("'{url_text}': {e}"), false);
                return Ok(());
            }
        };
        let mut headers = HeaderMap::new();
        if let Some(re) = &self.attrs_to_send {
            for (k, v) in attrs.iter() {
                if re.is_match(k)
                    && let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v))
                {
                    headers.insert(n, v);
                }
            }
        }
        let dynamic: Vec<String> = ctx.dynamic_properties().map(|(k, _)| k.to_string()).collect();
        for name in dynamic {
            let value = ctx.evaluate_with(&name, attrs).ok().flatten().unwrap_or_default();
            if value.is_empty() {
                continue;
            }
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => {
                    self.fail(
                        ctx,
                        session,
                        input,
                        "IllegalArgumentException",
                        &format!("'{name}: {value}' is not a valid header"),
                        false,
                    );
                    return Ok(());
                }
            }
        }
        let sends_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH") && ctx.bool(SEND_BODY)?.unwrap_or(true);
        let mut req = client.request(
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ProcessError::other(e.to_string()))?,
            url.clone(),
        );
        if sends_body {
            let ct = ctx.evaluate_with(CONTENT_TYPE, attrs).ok().flatten().filter(|s| !s.is_empty());
            let ct = ct.unwrap_or_else(|| "application/octet-stream".into());
            if let Ok(v) = HeaderValue::from_str(&ct) {
                headers.entry(reqwest::header::CONTENT_TYPE).or_insert(v);
            }
            let body = match &input {
                None => reqwest::Body::from(Bytes::new()),
                Some(ff) if ff.size() <= IN_MEMORY => reqwest::Body::from(session.read_bytes(ff)?),
                Some(ff) => {
                    headers.insert(reqwest::header::CONTENT_LENGTH, HeaderValue::from(ff.size()));
                    streaming_body(session.read(ff)?)
                }
            };
            req = req.body(body);
        }
        if let Some(user) = ctx.property(USERNAME).filter(|u| !u.is_empty()) {
            req = req.basic_auth(user, ctx.property(PASSWORD));
        }
        let req = req.headers(headers);

        let tx_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut resp = match crate::io::block_on(async move { req.send().await }) {
            Ok(r) => r,
            Err(e) => {
                let class = classify(&e);
                let network = !e.is_builder();
                self.fail(ctx, session, input, class, &format!("{url}: {}", error_chain(&e)), network);
                return Ok(());
            }
        };
        let status = resp.status();
        let code = status.as_u16();
        let status_attrs: Vec<(&str, String)> = vec![
            ("invokehttp.status.code", code.to_string()),
            ("invokehttp.status.message", status.canonical_reason().unwrap_or("").to_string()),
            ("invokehttp.request.url", url.to_string()),
            ("invokehttp.response.url", resp.url().to_string()),
            ("invokehttp.tx.id", tx_id.clone()),
        ];
        let success = status.is_success();
        let body_attr = ctx.property(BODY_ATTR).filter(|s| !s.is_empty()).map(str::to_string);
        let want_response = body_attr.is_none() && (success || ctx.bool(ALWAYS_OUTPUT)?.unwrap_or(false));

        // The response flowfile: a child of the input, or new without input.
        let mut response_ff = None;
        if want_response {
            let mut rf = match &input {
                Some(ff) => session.create_child(ff),
                None => session.create(),
            };
            for (k, v) in &status_attrs {
                rf.set_attr(k, v);
            }
            for name in resp.headers().keys() {
                let values: Vec<&str> = resp.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
                if !values.is_empty() {
                    rf.set_attr(name.as_str(), &values.join(", "));
                }
            }
            let mime =
                resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            if let Some(m) = mime {
                rf.set_attr("mime.type", &m);
            }
            let streamed = session.write_with(&mut rf, |w| {
                crate::io::block_on(async {
                    while let Some(chunk) = resp.chunk().await.map_err(|e| std::io::Error::other(error_chain(&e)))? {
                        w.write_all(&chunk)?;
                    }
                    Ok(())
                })
            });
            if let Err(e) = streamed {
                session.remove(rf);
                self.fail(
                    ctx,
                    session,
                    input,
                    "SocketTimeoutException",
                    &format!("{url}: reading the response failed: {e}"),
                    true,
                );
                return Ok(());
            }
            response_ff = Some(rf);
        }
        let mut body_text = None;
        if let Some(attr) = &body_attr {
            let max = ctx.int(MAX_ATTR_LEN)?.unwrap_or(256).max(1) as usize;
            let mut buf = Vec::new();
            let read = crate::io::block_on(async {
                while let Some(chunk) = resp.chunk().await? {
                    if buf.len() < max * 4 {
                        buf.extend_from_slice(&chunk[..chunk.len().min(max * 4 - buf.len())]);
                    }
                }
                Ok::<(), reqwest::Error>(())
            });
            if let Err(e) = read {
                self.fail(
                    ctx,
                    session,
                    input,
                    classify(&e),
                    &format!("{url}: reading the response failed: {}", error_chain(&e)),
                    true,
                );
                return Ok(());
            }
            let text: String = String::from_utf8_lossy(&buf).chars().take(max).collect();
            body_text = Some((attr.clone(), text));
        }
        let elapsed = started.elapsed().as_millis().to_string();
        if let Some(mut rf) = response_ff {
            rf.set_attr("invokehttp.request.duration", &elapsed);
            if input.is_some() {
                session.mark_fetched(&rf, url.as_str());
            } else {
                session.mark_received(&rf, url.as_str());
            }
            session.transfer(rf, RESPONSE);
        }
        if let Some(mut ff) = input {
            for (k, v) in &status_attrs {
                ff.set_attr(k, v);
            }
            ff.set_attr("invokehttp.request.duration", &elapsed);
            if let Some((attr, text)) = &body_text {
                ff.set_attr(attr, text);
            }
            if success {
                session.transfer(ff, ORIGINAL);
            } else if status.is_server_error() {
                session.penalize(&mut ff);
                session.transfer(ff, RETRY);
            } else {
                if ctx.bool(PENALIZE_NO_RETRY)?.unwrap_or(false) {
                    session.penalize(&mut ff);
                }
                session.transfer(ff, NO_RETRY);
            }
        }
        Ok(())
    }
}

/// A request body streamed from content: a blocking reader on the runtime's blocking pool
/// feeds a small channel, so memory stays bounded whatever the size.
fn streaming_body(mut reader: Box<dyn Read + Send>) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    crate::io::runtime().spawn_blocking(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    reqwest::Body::wrap_stream(stream)
}
