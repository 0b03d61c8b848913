//! Single-user authentication, the listen-address rule, and cross-site request checks.
//!
//! - One password, stored as an argon2 hash: from `--password-hash` / `SLUICE_PASSWORD_HASH`,
//!   or `SLUICE_PASSWORD` (plain, hashed at start), or `<data dir>/auth.json` (mode 0600),
//!   which is written with a generated password's hash at the first start (the password is
//!   printed once).
//! - Browsers log in at `/login` and get an `HttpOnly; SameSite=Strict` session cookie;
//!   scripts trade the password for a bearer token at `POST /api/auth/token`. The WebSocket
//!   takes either.
//! - Failed logins are slowed down per client IP, exponentially.
//! - Requests not authenticated by a bearer token (cookie or no authentication) that change
//!   something, and every WebSocket handshake, must come from the same origin
//!   (`Sec-Fetch-Site`, else `Origin` against `Host`); without authentication the `Host`
//!   must be a loopback name (DNS rebinding).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::limits::ApiJson;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sluice_session";

/// Authentication settings.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The password's argon2 hash (PHC string).
    pub password_hash: String,
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// How long a bearer token lasts.
    pub token_ttl: Duration,
    /// Delay after the first failed login from an IP; doubles with each further failure.
    pub login_delay_base: Duration,
    /// Longest delay; a client that would wait longer is answered 429 at once.
    pub login_delay_max: Duration,
}

impl AuthConfig {
    /// Settings with this hash and the default durations (12 h sessions, 30-day tokens,
    /// 250 ms doubling up to 30 s after failed logins).
    pub fn new(password_hash: String) -> Self {
        AuthConfig {
            password_hash,
            session_ttl: Duration::from_secs(12 * 3600),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            login_delay_base: Duration::from_millis(250),
            login_delay_max: Duration::from_secs(30),
        }
    }
}

/// Why authentication could not be set up, or the server must not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// Listening beyond loopback without authentication.
    #[error(
        "refusing to listen on {0} without authentication: anyone who can reach that address could read and change the flow. \
         Add --auth (the password comes from --password-hash, SLUICE_PASSWORD_HASH or SLUICE_PASSWORD, or is generated and printed at the first start), \
         or listen on a loopback address such as 127.0.0.1"
    )]
    ListenWithoutAuth(SocketAddr),
    /// The configured hash is not an argon2 PHC string.
    #[error("the password hash is not an argon2 PHC string ($argon2id$...): {0}")]
    BadHash(String),
    /// `auth.json` could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Hashing failed.
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// Decides whether the server may listen on `addr`: any address but loopback requires
/// authentication.
pub fn check_listen_policy(addr: &SocketAddr, auth_enabled: bool) -> Result<(), AuthSetupError> {
    if addr.ip().is_loopback() || auth_enabled { Ok(()) } else { Err(AuthSetupError::ListenWithoutAuth(*addr)) }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthSetupError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthSetupError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthSetupError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthSetupError::Hash(e.to_string()))
}

/// Whether `password` matches `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Where the password came from.
#[derive(Debug)]
pub struct ResolvedPassword {
    /// The hash to check against.
    pub hash: String,
    /// A password generated now (print it once); None when it was configured or stored.
    pub generated: Option<String>,
    /// Where the hash comes from, for the start-up log.
    pub source: String,
}

#[derive(Serialize, Deserialize)]
struct AuthFile {
    password_hash: String,
}

/// Finds the password hash: `hash_flag` (`--password-hash`), else env `SLUICE_PASSWORD_HASH`,
/// else env `SLUICE_PASSWORD` (plain), else `<data_dir>/auth.json`, else a generated password
/// whose hash is stored in `auth.json` (mode 0600).
pub fn resolve_password(hash_flag: Option<String>, data_dir: &Path) -> Result<ResolvedPassword, AuthSetupError> {
    let check = |h: String, source: &str| -> Result<ResolvedPassword, AuthSetupError> {
        PasswordHash::new(&h).map_err(|e| AuthSetupError::BadHash(e.to_string()))?;
        Ok(ResolvedPassword { hash: h, generated: None, source: source.to_string() })
    };
    if let Some(h) = hash_flag.filter(|h| !h.is_empty()) {
        return check(h, "--password-hash");
    }
    if let Some(h) = std::env::var("SLUICE_PASSWORD_HASH").ok().filter(|h| !h.is_empty()) {
        return check(h, "SLUICE_PASSWORD_HASH");
    }
    if let Some(p) = std::env::var("SLUICE_PASSWORD").ok().filter(|p| !p.is_empty()) {
        return Ok(ResolvedPassword { hash: hash_password(&p)?, generated: None, source: "SLUICE_PASSWORD".into() });
    }
    let path = data_dir.join("auth.json");
    let file_err = |message: String| AuthSetupError::File { path: path.clone(), message };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let f: AuthFile = serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
            check(f.password_hash, &path.display().to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let password = random_token(18);
            let hash = hash_password(&password)?;
            std::fs::create_dir_all(data_dir).map_err(|e| file_err(e.to_string()))?;
            let mut f = crate::secrets::create_private(&path).map_err(|e| file_err(e.to_string()))?;
            let text = serde_json::to_string_pretty(&AuthFile { password_hash: hash.clone() }).unwrap_or_default();
            std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| file_err(e.to_string()))?;
            Ok(ResolvedPassword { hash, generated: Some(password), source: path.display().to_string() })
        }
        Err(e) => Err(file_err(e.to_string())),
    }
}

/// `n` random bytes as base64url text.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    // getrandom only fails on platforms without a random source, where nothing here works.
    getrandom::fill(&mut b).expect("the OS random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

struct Failures {
    count: u32,
    next_allowed: Instant,
    last: Instant,
}

/// Live authentication state: sessions, tokens, failed-login delays.
pub struct Auth {
    config: AuthConfig,
    sessions: Mutex<HashMap<String, Instant>>,
    tokens: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

const MAX_CREDENTIALS: usize = 10_000;

impl Auth {
    /// State for these settings.
    pub fn new(config: AuthConfig) -> Self {
        Auth {
            config,
            sessions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn issue(map: &Mutex<HashMap<String, Instant>>, ttl: Duration) -> String {
        let token = random_token(32);
        let now = Instant::now();
        let mut m = map.lock();
        if m.len() >= MAX_CREDENTIALS {
            m.retain(|_, exp| *exp > now);
            if m.len() >= MAX_CREDENTIALS
                && let Some(oldest) = m.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
        }
        m.insert(token.clone(), now + ttl);
        token
    }

    fn valid(map: &Mutex<HashMap<String, Instant>>, token: &str) -> bool {
        let mut m = map.lock();
        match m.get(token) {
            Some(exp) if *exp > Instant::now() => true,
            Some(_) => {
                m.remove(token);
                false
            }
            None => false,
        }
    }

    /// Checks a password with the per-IP delay: waits while earlier failures from `ip` ask
    /// for it, refuses with 429 when the wait would be too long.
    pub async fn check_password(&self, ip: IpAddr, password: String) -> Result<(), ApiError> {
        let wait = {
            let mut f = self.failures.lock();
            let now = Instant::now();
            if f.len() > MAX_CREDENTIALS {
                f.retain(|_, v| now.duration_since(v.last) < Duration::from_secs(900));
            }
            match f.get_mut(&ip) {
                Some(st) if st.count > 0 => {
                    let start = st.next_allowed.max(now);
                    let wait = start - now;
                    if wait > self.config.login_delay_max {
                        let mut e =
                            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed logins; try again later");
                        e.details = serde_json::json!({"retry_after_secs": wait.as_secs() + 1});
                        return Err(e);
                    }
                    // Reserve the slot so that parallel attempts queue up behind each other.
                    st.next_allowed = start + self.delay(st.count);
                    wait
                }
                _ => Duration::ZERO,
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let hash = self.config.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password)).await.unwrap_or(false);
        let mut f = self.failures.lock();
        if ok {
            f.remove(&ip);
            return Ok(());
        }
        let now = Instant::now();
        let st = f.entry(ip).or_insert(Failures { count: 0, next_allowed: now, last: now });
        st.count = st.count.saturating_add(1);
        st.last = now;
        st.next_allowed = st.next_allowed.max(now + self.delay(st.count));
        tracing::warn!(%ip, failures = st.count, "failed login");
        Err(ApiError::unauthorized("wrong password"))
    }

    fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        (self.config.login_delay_base * factor).min(self.config.login_delay_max * 2)
    }

    /// A new browser session.
    pub fn new_session(&self) -> String {
        Self::issue(&self.sessions, self.config.session_ttl)
    }

    /// A new bearer token.
    pub fn new_token(&self) -> String {
        Self::issue(&self.tokens, self.config.token_ttl)
    }

    /// Forgets a session or token.
    pub fn revoke(&self, token: &str) {
        self.sessions.lock().remove(token);
        self.tokens.lock().remove(token);
    }
}

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Authentication is off.
    None,
    /// A session cookie.
    Cookie,
    /// A bearer token (cannot be sent by another site).
    Bearer,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The value of a cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_public(method: &Method, path: &str) -> bool {
    matches!(path, "/api/health" | "/login" | "/api/auth/token" | "/api/auth")
        || (path == "/api/auth/logout" && method == Method::POST)
}

fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host }).unwrap_or(host)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request comes from a page of this server (or from no page at all).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    }
}

/// The middleware: authentication, the loopback `Host` rule, same-origin checks.
pub(crate) async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let headers = req.headers();
    let is_ws = headers.get(header::UPGRADE).is_some();
    let credential = match &state.auth {
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !state.config.allow_any_host && !host.is_empty() && !host_is_loopback(host) {
                return ApiError::forbidden(format!("host '{host}' is not a loopback name; without authentication Sluice only answers requests for localhost")).into_response();
            }
            Credential::None
        }
        Some(_) if is_public(&method, &path) => Credential::None,
        Some(auth) => {
            if let Some(t) = bearer(headers) {
                if !Auth::valid(&auth.tokens, t) {
                    return ApiError::unauthorized("invalid or expired token").into_response();
                }
                Credential::Bearer
            } else if cookie(headers, SESSION_COOKIE).is_some_and(|s| Auth::valid(&auth.sessions, s)) {
                Credential::Cookie
            } else if method == Method::GET && !is_ws && (path == "/" || path.starts_with("/ui/")) {
                return Redirect::to("/login").into_response();
            } else {
                return ApiError::unauthorized("authentication required: log in at /login, or send Authorization: Bearer <token> from POST /api/auth/token").into_response();
            }
        }
    };
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if credential != Credential::Bearer && (unsafe_method || is_ws) && !same_origin(headers) {
        return ApiError::forbidden("cross-site request refused (Origin / Sec-Fetch-Site is not this server)")
            .into_response();
    }
    let mut req = req;
    req.extensions_mut().insert(credential);
    next.run(req).await
}

/// The client address (the peer of the TCP connection; loopback when unknown).
pub(crate) struct ClientIp(IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1])),
        ))
    }
}

#[derive(Deserialize)]
pub(crate) struct PasswordBody {
    password: String,
}

/// A bearer token.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    /// Seconds until it expires.
    expires_in_secs: u64,
}

/// Whether authentication is on.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuthStatus {
    /// Authentication is required.
    enabled: bool,
}

/// Trades the password for a bearer token.
#[utoipa::path(post, path = "/api/auth/token", tag = "auth",
    request_body(content = inline(crate::openapi::PasswordSchema), description = "`{\"password\"}`"),
    responses((status = 200, body = TokenAnswer), (status = 401, body = crate::openapi::ErrorBody), (status = 429, body = crate::openapi::ErrorBody)))]
pub(crate) async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<axum::Json<TokenAnswer>, ApiError> {
    let Some(auth) = state.auth.clone() else {
        return Err(ApiError::bad_request("authentication is not enabled on this server; no token is needed"));
    };
    auth.check_password(ip, body.password).await?;
    Ok(axum::Json(TokenAnswer { token: auth.new_token(), expires_in_secs: auth.config.token_ttl.as_secs() }))
}

/// Whether authentication is required.
#[utoipa::path(get, path = "/api/auth", tag = "auth", responses((status = 200, body = AuthStatus)))]
pub(crate) async fn status(State(state): State<AppState>) -> axum::Json<AuthStatus> {
    axum::Json(AuthStatus { enabled: state.auth.is_some() })
}

/// Ends the session (cookie) or revokes the bearer token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(auth) = &state.auth {
        if let Some(t) = bearer(&headers) {
            auth.revoke(t);
        }
        if let Some(s) = cookie(&headers, SESSION_COOKIE) {
            auth.revoke(s);
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response()
}

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sluice — log in</title>
<style>
body{font:15px system-ui,sans-serif;background:#f4f5f7;display:flex;align-items:center;justify-content:center;height:100vh;margin:0}
form{background:#fff;padding:2em;border-radius:8px;box-shadow:0 2px 12px #0002;min-width:18em}
h1{font-size:1.3em;margin:0 0 1em}label{display:block;margin-bottom:.3em}
input{width:100%;box-sizing:border-box;padding:.5em;margin-bottom:1em;font-size:1em}
button{width:100%;padding:.6em;font-size:1em;background:#2b6cb0;color:#fff;border:0;border-radius:4px;cursor:pointer}
.err{color:#b00020;margin-bottom:1em}
</style></head><body>
<form method="post" action="/login">
<h1>Sluice</h1>
<!--ERROR-->
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button>
</form></body></html>
"#;

fn login_page(error: Option<&str>) -> Html<String> {
    let err = error.map(|e| format!("<p class=\"err\">{e}</p>")).unwrap_or_default();
    Html(LOGIN_PAGE.replace("<!--ERROR-->", &err))
}

/// The login form.
#[utoipa::path(get, path = "/login", tag = "auth", responses((status = 200, content_type = "text/html", body = String)))]
pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    if state.auth.is_none() {
        return Redirect::to("/").into_response();
    }
    let mut res = login_page(None).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Checks the form's password; sets the session cookie and goes to the editor.
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body(content = inline(crate::openapi::PasswordSchema), content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "logged in: cookie set, redirect to /"), (status = 401, content_type = "text/html", body = String)))]
pub(crate) async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<axum::Form<PasswordBody>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(auth) = state.auth.clone() else {
        return Redirect::to("/").into_response();
    };
    let password = body.map(|f| f.0.password).unwrap_or_default();
    match auth.check_password(ip, password).await {
        Ok(()) => {
            let session = auth.new_session();
            let secure = if state.config.tls.is_some() { "; Secure" } else { "" };
            let cookie = format!(
                "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                auth.config.session_ttl.as_secs()
            );
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_string())]).into_response()
        }
        Err(e) => {
            let msg = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "Too many failed attempts; wait and try again."
            } else {
                "Wrong password."
            };
            (e.status, login_page(Some(msg))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_policy() {
        assert!(check_listen_policy(&"127.0.0.1:8080".parse().unwrap(), false).is_ok());
        assert!(check_listen_policy(&"[::1]:8080".parse().unwrap(), false).is_ok());
        let e = check_listen_policy(&"0.0.0.0:8080".parse().unwrap(), false).unwrap_err().to_string();
        assert!(e.contains("without authentication") && e.contains("--auth"), "{e}");
        assert!(check_listen_policy(&"0.0.0.0:8080".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn hosts() {
        for h in ["localhost", "localhost:8080", "127.0.0.1:1", "[::1]:80", "LOCALHOST", "a.localhost:9"] {
            assert!(host_is_loopback(h), "{h}");
        }
        for h in ["evil.com", "evil.com:8080", "10.0.0.1:80", "localhost.evil.com"] {
            assert!(!host_is_loopback(h), "{h}");
        }
    }

    #[test]
    fn hash_verify() {
        let h = hash_password("pw").unwrap();
        assert!(verify_password(&h, "pw"));
        assert!(!verify_password(&h, "px"));
        assert!(!verify_password("garbage", "pw"));
    }
}
