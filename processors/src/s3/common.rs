//! What the S3 processors share: the connection properties (NiFi's names), an S3 client
//! per bucket built with `object_store` (AWS or any S3-compatible endpoint, path-style
//! requests, plain HTTP for a local server), and the classification of errors into the
//! processors' outcomes: a missing object, bad credentials, an unreachable service (yield and
//! retry), or anything else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use parking_lot::Mutex;
use sluice_engine::{FlowFile, Level, ProcessContext, ProcessError, ProcessSession, PropertyDescriptor, Validator};

/// Bucket name.
pub const BUCKET: &str = "Bucket";
/// Object key.
pub const KEY: &str = "Object Key";
/// AWS region.
pub const REGION: &str = "Region";
/// Access key id.
pub const ACCESS_KEY: &str = "Access Key ID";
/// Secret key.
pub const SECRET_KEY: &str = "Secret Access Key";
/// S3-compatible endpoint.
pub const ENDPOINT: &str = "Endpoint Override URL";
/// Path-style requests.
pub const PATH_STYLE: &str = "Use Path Style Access";
/// Request timeout.
pub const TIMEOUT: &str = "Communications Timeout";
/// The shared credentials to use instead of the keys above (NiFi's property name).
pub const CREDENTIALS_SERVICE: &str = "AWS Credentials Provider service";

/// The Bucket property (expressions: per flowfile where there is one).
pub fn bucket_property() -> PropertyDescriptor {
    PropertyDescriptor::new(BUCKET).description("The S3 bucket").required().expression_language()
}

/// The Object Key property, `${filename}` by default.
pub fn key_property() -> PropertyDescriptor {
    PropertyDescriptor::new(KEY)
        .description("The key of the object (expressions evaluated per flowfile)")
        .required()
        .default_value("${filename}")
        .expression_language()
}

/// Region, credentials, endpoint, path style and timeout: the connection properties.
pub fn connection_properties() -> Vec<PropertyDescriptor> {
    vec![
        PropertyDescriptor::new(CREDENTIALS_SERVICE)
            .description(
                "An AWSCredentialsProviderControllerService whose keys this processor uses (shared with other S3 \
                 processors); leave the Access Key ID and Secret Access Key empty when set",
            )
            .identifies_service(crate::services::aws_credentials::API),
        PropertyDescriptor::new(REGION)
            .description("The AWS region of the bucket (any value an S3-compatible server accepts with an endpoint override)")
            .required()
            .default_value("us-west-2")
            .validator(Validator::NonEmpty),
        PropertyDescriptor::new(ACCESS_KEY)
            .description(
                "The access key id; when neither key is set, the standard AWS environment (AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, web identity, instance metadata) provides credentials",
            )
            .sensitive(),
        PropertyDescriptor::new(SECRET_KEY).description("The secret access key").sensitive(),
        PropertyDescriptor::new(ENDPOINT)
            .description(
                "The URL of an S3-compatible service instead of AWS (e.g. http://127.0.0.1:9000); http:// is allowed; \
                 requests are then path-style",
            ),
        PropertyDescriptor::new(PATH_STYLE)
            .description("Whether requests put the bucket in the path rather than the host name (always so with an Endpoint Override URL)")
            .required()
            .default_value("false")
            .allowable(&[("true", "https://host/bucket/key"), ("false", "https://bucket.host/key")]),
        PropertyDescriptor::new(TIMEOUT)
            .description("How long a request may take (connecting included) before it is retried or given up")
            .required()
            .default_value("30 secs")
            .validator(Validator::TimePeriod),
    ]
}

/// S3 clients by bucket, built from the connection properties at start.
#[derive(Default)]
pub struct Clients {
    settings: Option<Settings>,
    by_bucket: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

#[derive(Clone)]
struct Settings {
    region: String,
    key_id: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    endpoint: Option<String>,
    path_style: bool,
    timeout: Duration,
}

impl Clients {
    /// Reads the connection properties (call from `on_scheduled`); forgets old clients.
    pub fn configure(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let non_empty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let key_id = non_empty(ctx.value(ACCESS_KEY)?);
        let secret = non_empty(ctx.value(SECRET_KEY)?);
        if key_id.is_some() != secret.is_some() {
            return Err(ProcessError::Config("set both Access Key ID and Secret Access Key, or neither".into()));
        }
        let mut token = None;
        let (key_id, secret) = if ctx.property(CREDENTIALS_SERVICE).is_some_and(|v| !v.trim().is_empty()) {
            if key_id.is_some() {
                return Err(ProcessError::Config(format!(
                    "set either '{CREDENTIALS_SERVICE}' or the Access Key ID and Secret Access Key, not both"
                )));
            }
            let c = ctx.service::<crate::services::aws_credentials::AwsCredentials>(CREDENTIALS_SERVICE).ok_or_else(
                || ProcessError::Config(format!("'{CREDENTIALS_SERVICE}' does not name enabled credentials")),
            )?;
            token = c.token.clone();
            (Some(c.key_id.clone()), Some(c.secret.clone()))
        } else {
            (key_id, secret)
        };
        self.settings = Some(Settings {
            region: ctx.value(REGION)?.unwrap_or_else(|| "us-west-2".into()),
            key_id,
            secret,
            token,
            endpoint: non_empty(ctx.value(ENDPOINT)?),
            path_style: ctx.bool(PATH_STYLE)?.unwrap_or(false),
            timeout: ctx.duration(TIMEOUT)?.unwrap_or(Duration::from_secs(30)).max(Duration::from_millis(100)),
        });
        self.by_bucket.lock().clear();
        Ok(())
    }

    /// The client of `bucket` (built once).
    pub fn get(&self, bucket: &str) -> Result<Arc<AmazonS3>, ProcessError> {
        if let Some(c) = self.by_bucket.lock().get(bucket) {
            return Ok(c.clone());
        }
        let s = self.settings.as_ref().ok_or_else(|| ProcessError::Config("not scheduled".into()))?;
        let mut b = if s.key_id.is_some() { AmazonS3Builder::new() } else { AmazonS3Builder::from_env() };
        b = b.with_bucket_name(bucket).with_region(&s.region);
        if let (Some(k), Some(sec)) = (&s.key_id, &s.secret) {
            b = b.with_access_key_id(k).with_secret_access_key(sec);
        }
        if let Some(t) = &s.token {
            b = b.with_token(t);
        }
        let mut options =
            ClientOptions::new().with_timeout(s.timeout).with_connect_timeout(s.timeout.min(Duration::from_secs(10)));
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e.trim_end_matches('/')).with_virtual_hosted_style_request(false);
            options = options.with_allow_http(e.starts_with("http://"));
        } else {
            b = b.with_virtual_hosted_style_request(!s.path_style);
        }
        // Few, quick retries: a service that is down makes the processor yield and try
        // again on a later run instead of blocking a worker thread for minutes.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: s.timeout,
        };
        let client = Arc::new(
            b.with_client_options(options)
                .with_retry(retry)
                .build()
                .map_err(|e| ProcessError::Config(format!("S3 client for bucket '{bucket}': {e}")))?,
        );
        let mut map = self.by_bucket.lock();
        if map.len() > 64 {
            map.clear();
        }
        map.insert(bucket.to_string(), client.clone());
        Ok(client)
    }

    /// A display URI for provenance: `s3://bucket/key`.
    pub fn uri(bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{key}")
    }
}

/// What an S3 error means for the flowfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The object (or bucket) does not exist.
    NotFound,
    /// Credentials rejected or not allowed.
    Denied,
    /// The service could not be reached or is overloaded: retry later.
    Unavailable,
    /// Anything else (bad request, invalid key...).
    Other,
}

/// An S3 error, classified, with NiFi's attributes.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// What it means.
    pub kind: Failure,
    /// HTTP status, when the service answered.
    pub status: Option<u16>,
    /// S3 error code (`NoSuchKey`, `AccessDenied`, ...), when the service said.
    pub code: Option<String>,
    /// Full message.
    pub message: String,
}

impl S3Error {
    /// Classifies an object_store error.
    pub fn from_store(e: &object_store::Error) -> Self {
        let message = e.to_string();
        let mut chain = String::new();
        let mut transport = None;
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = src {
            chain.push_str(&s.to_string());
            chain.push('\n');
            if let Some(h) = s.downcast_ref::<HttpError>() {
                transport = Some(h.kind());
            }
            // object_store's request error is transparent, so its HttpError may not show
            // in the chain: the reqwest and I/O errors beneath it do.
            if let Some(r) = s.downcast_ref::<reqwest::Error>()
                && (r.is_connect() || r.is_timeout() || r.is_request())
            {
                transport = Some(HttpErrorKind::Connect);
            }
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::HostUnreachable
                        | std::io::ErrorKind::NetworkUnreachable
                )
            {
                transport = Some(HttpErrorKind::Connect);
            }
            src = s.source();
        }
        let status = find_status(&chain);
        let code = between(&chain, "<Code>", "</Code>");
        let kind = match e {
            object_store::Error::NotFound { .. } => Failure::NotFound,
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                Failure::Denied
            }
            _ if matches!(status, Some(401 | 403)) => Failure::Denied,
            _ if matches!(status, Some(404)) => Failure::NotFound,
            _ if matches!(status, Some(s) if s >= 500 || s == 429 || s == 408) => Failure::Unavailable,
            _ if matches!(
                transport,
                Some(
                    HttpErrorKind::Connect
                        | HttpErrorKind::Request
                        | HttpErrorKind::Timeout
                        | HttpErrorKind::Interrupted
                )
            ) =>
            {
                Failure::Unavailable
            }
            _ => Failure::Other,
        };
        S3Error { kind, status, code, message }
    }

    /// An error that is the input's fault (e.g. an invalid key).
    pub fn invalid(message: impl Into<String>) -> Self {
        S3Error { kind: Failure::Other, status: None, code: None, message: message.into() }
    }

    /// Writes NiFi's error attributes: `s3.exception`, `s3.statusCode`, `s3.errorCode`,
    /// `s3.errorMessage`.
    pub fn set_attributes(&self, ff: &mut FlowFile) {
        ff.set_attr(
            "s3.exception",
            match self.kind {
                Failure::NotFound => "NotFound",
                Failure::Denied => "AccessDenied",
                Failure::Unavailable => "ServiceUnavailable",
                Failure::Other => "S3Exception",
            },
        );
        if let Some(s) = self.status {
            ff.set_attr("s3.statusCode", &s.to_string());
        }
        if let Some(c) = &self.code {
            ff.set_attr("s3.errorCode", c);
        }
        ff.set_attr("s3.errorMessage", &self.message);
    }
}

/// Settles `ff` after an S3 error. An unreachable service returns it to its queue untouched
/// (with the rest of the batch, which the caller returns too), posts a bulletin and yields,
/// so it is retried on a later run without spinning: returns `true` then. Any other error
/// sends it to failure, penalized, with NiFi's `s3.*` error attributes, and posts a bulletin
/// (an error for rejected credentials).
pub fn settle_error(
    ctx: &ProcessContext,
    session: &mut ProcessSession,
    mut ff: FlowFile,
    what: &str,
    err: &S3Error,
) -> bool {
    match err.kind {
        Failure::Unavailable => {
            ctx.bulletin(
                Level::Warning,
                format!("{what}: S3 is unavailable ({}); yielding and retrying later", err.message),
            );
            session.return_to_queue(ff);
            ctx.yield_now();
            true
        }
        kind => {
            let level = if kind == Failure::Denied { Level::Error } else { Level::Warning };
            let why = if kind == Failure::Denied { "credentials rejected or not allowed" } else { "failed" };
            ctx.bulletin(level, format!("{what}: {why}: {}", err.message));
            err.set_attributes(&mut ff);
            session.penalize(&mut ff);
            session.transfer(ff, crate::FAILURE);
            false
        }
    }
}

/// An S3 ETag without its quotes, as NiFi writes `s3.etag`.
pub fn clean_etag(e: &str) -> String {
    e.trim_matches('"').to_string()
}

fn find_status(text: &str) -> Option<u16> {
    let i = text.find("status code: ")? + "status code: ".len();
    text.get(i..i + 3)?.parse().ok()
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let i = text.find(open)? + open.len();
    let j = text[i..].find(close)? + i;
    Some(text[i..j].to_string())
}

/// Parses an object key as object_store's path, refusing what it cannot represent
/// (empty segments `a//b`, `.` or `..` segments, control characters) rather than silently
/// changing it. A leading `/` is dropped.
pub fn object_path(key: &str) -> Result<ObjectPath, S3Error> {
    if key.trim().is_empty() {
        return Err(S3Error::invalid("the object key is empty"));
    }
    ObjectPath::parse(key).map_err(|e| S3Error::invalid(format!("invalid object key '{key}': {e}")))
}

/// The bucket for `ff` (or without a flowfile), non-empty.
pub fn bucket_for(ctx: &ProcessContext, ff: Option<&FlowFile>) -> Result<String, S3Error> {
    let v = match ff {
        Some(ff) => ctx.evaluate(BUCKET, ff),
        None => ctx.value(BUCKET),
    }
    .map_err(|e| S3Error::invalid(e.to_string()))?;
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(b) => Ok(b),
        None => Err(S3Error::invalid("the bucket name is empty")),
    }
}

/// The object key for `ff`.
pub fn key_for(ctx: &ProcessContext, ff: &FlowFile) -> Result<String, S3Error> {
    match ctx.evaluate(KEY, ff).map_err(|e| S3Error::invalid(e.to_string()))? {
        Some(k) if !k.is_empty() => Ok(k),
        _ => Err(S3Error::invalid("the object key is empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_status_parsing() {
        assert_eq!(object_path("a/b.txt").unwrap().as_ref(), "a/b.txt");
        assert_eq!(object_path("/a/b").unwrap().as_ref(), "a/b");
        assert!(object_path("a//b").is_err());
        assert!(object_path("a/../b").is_err());
        assert!(object_path("").is_err());
        assert_eq!(object_path("with space #1").unwrap().as_ref(), "with space #1");
        assert_eq!(find_status("Server returned non-2xx status code: 403 Forbidden: x"), Some(403));
        assert_eq!(between("<Error><Code>NoSuchKey</Code>", "<Code>", "</Code>").as_deref(), Some("NoSuchKey"));
    }
}
