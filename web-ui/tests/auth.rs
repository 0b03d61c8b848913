//! Authentication, cross-site checks, the listen rule, TLS, and sensitive values.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sluice_web::AuthConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "correct horse battery";

async fn auth_server(base_delay_ms: u64, max_delay_ms: u64) -> Server {
    let hash = sluice_web::auth::hash_password(PASSWORD).unwrap();
    start_with(move |c| {
        let mut a = AuthConfig::new(hash);
        a.login_delay_base = Duration::from_millis(base_delay_ms);
        a.login_delay_max = Duration::from_millis(max_delay_ms);
        c.auth = Some(a);
    })
    .await
}

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn token(s: &Server) -> String {
    let (st, v) = s.post("/api/auth/token", json!({"password": PASSWORD})).await;
    assert_eq!(st, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

async fn ws_status(s: &Server, headers: &[(&str, &str)]) -> Result<(), u16> {
    let mut req = format!("ws://{}/api/ws", s.addr).into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, _)) => {
            let first = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
            assert!(first.to_text().unwrap().contains("hello"));
            Ok(())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("ws: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_is_401_for_api_and_websocket() {
    let s = auth_server(10, 30_000).await;
    for path in ["/api/flow", "/api/processor-types", "/metrics", "/api/provenance", "/api/system", "/api/openapi.json"]
    {
        let (st, v) = s.get_json(path).await;
        assert_eq!(st, 401, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("authentication"), "{v}");
    }
    let (st, _) = s.post("/api/processors", json!({"type": "GenerateFlowFile"})).await;
    assert_eq!(st, 401);
    assert_eq!(ws_status(&s, &[]).await, Err(401));
    assert_eq!(ws_status(&s, &[("authorization", "Bearer nope")]).await, Err(401));
    let (st, _) = s.get_json("/api/health").await;
    assert_eq!(st, 200);
    let (st, v) = s.get_json("/api/auth").await;
    assert_eq!((st, v["enabled"].as_bool()), (200, Some(true)));
    let res = no_redirect().get(s.url("/")).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/login");
    let page = s.get("/login").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("type=\"password\"") && !html.contains("<script"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens() {
    let s = auth_server(10, 30_000).await;
    let (st, v) = s.post("/api/auth/token", json!({"password": "wrong"})).await;
    assert_eq!(st, 401, "{v}");
    let (st, _) = s.post("/api/auth/token", json!({"pass": PASSWORD})).await;
    assert_eq!(st, 400);
    let t = token(&s).await;
    let bearer = format!("Bearer {t}");
    let res = s.http.get(s.url("/api/flow")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // a script with a bearer token is not subject to the Origin check
    let res = s
        .http
        .post(s.url("/api/processors"))
        .header("authorization", &bearer)
        .header("origin", "http://elsewhere.example")
        .json(&json!({"type": "GenerateFlowFile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(ws_status(&s, &[("authorization", &bearer)]).await, Ok(()));
    let res = s.http.post(s.url("/api/auth/logout")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = s.http.get(s.url("/api/flow")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cookie_and_cross_site_protection() {
    let s = auth_server(10, 30_000).await;
    let http = no_redirect();
    let res = http.post(s.url("/login")).form(&[("password", "nope")]).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Wrong password"));
    let res = http.post(s.url("/login")).form(&[("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let res = http.get(s.url("/api/flow")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = http.get(s.url("/")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut r =
            http.post(s.url("/api/processors")).header("cookie", &cookie).json(&json!({"type": "GenerateFlowFile"}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(x) = site {
            r = r.header("sec-fetch-site", x);
        }
        r.send()
    };
    assert_eq!(post(Some("http://evil.example"), None).await.unwrap().status(), 403);
    assert_eq!(post(None, Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(post(Some(&s.base), Some("same-origin")).await.unwrap().status(), 201);
    assert_eq!(post(Some(&s.base), None).await.unwrap().status(), 201);
    // cross-site WebSocket hijacking
    assert_eq!(ws_status(&s, &[("cookie", &cookie), ("origin", "http://evil.example")]).await, Err(403));
    assert_eq!(ws_status(&s, &[("cookie", &cookie), ("origin", &s.base)]).await, Ok(()));
    // logout ends the session
    let res =
        http.post(s.url("/api/auth/logout")).header("cookie", &cookie).header("origin", &s.base).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = http.get(s.url("/api/flow")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_slowed_down_per_ip() {
    let s = auth_server(200, 1500).await;
    let mut times = Vec::new();
    for _ in 0..4 {
        let t = Instant::now();
        let (st, _) = s.post("/api/auth/token", json!({"password": "wrong"})).await;
        assert_eq!(st, 401);
        times.push(t.elapsed());
    }
    eprintln!("failed login times: {times:?}");
    assert!(times[0] < Duration::from_millis(500), "{times:?}");
    assert!(times[1] >= Duration::from_millis(180), "{times:?}");
    assert!(times[3] >= Duration::from_millis(700), "the 4th attempt waits about 800 ms: {times:?}");
    // the next wait (1.6 s) is beyond the maximum: refused at once
    let t = Instant::now();
    let (st, v) = s.post("/api/auth/token", json!({"password": PASSWORD})).await;
    assert_eq!(st, 429, "{v}");
    assert!(t.elapsed() < Duration::from_millis(300));
    // after waiting, the right password works and resets the count
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (st, v) = s.post("/api/auth/token", json!({"password": PASSWORD})).await;
    assert_eq!(st, 200, "{v}");
    let t = Instant::now();
    let (st, _) = s.post("/api/auth/token", json!({"password": "wrong"})).await;
    assert_eq!(st, 401);
    assert!(t.elapsed() < Duration::from_millis(500));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_only_loopback_hosts_and_same_origin_changes() {
    let s = start().await;
    let res = s.http.get(s.url("/api/flow")).header("host", "evil.example:8080").send().await.unwrap();
    assert_eq!(res.status(), 403, "DNS rebinding: a foreign Host is refused");
    let res = s.http.get(s.url("/api/flow")).header("host", "localhost:8080").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = s.http.post(s.url("/api/flow/stop")).header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(res.status(), 403, "a cross-site change is refused without auth too");
    let (st, _) = s.post("/api/auth/token", json!({"password": "x"})).await;
    assert_eq!(st, 400);
    s.stop().await;
}

/// The `sluice` binary to run: `$SLUICE_BIN` if set (it must exist), else the one of the
/// profile these tests were built with (`target/<profile>/sluice`, e.g. `target/ci/sluice` in
/// CI), else `target/ci` or `target/release`. Missing: `None` locally (the caller checks less),
/// but a failure when `CI` is set, so that CI never passes without running the binary.
fn sluice_binary() -> Option<std::path::PathBuf> {
    if let Some(explicit) = std::env::var_os("SLUICE_BIN") {
        let bin = std::path::PathBuf::from(explicit);
        assert!(bin.is_file(), "SLUICE_BIN={} does not exist", bin.display());
        return Some(bin);
    }
    let mut candidates = Vec::new();
    // This test runs as target/<profile>/deps/auth-<hash>; the binary is target/<profile>/sluice.
    if let Some(profile_dir) = std::env::current_exe().ok().and_then(|e| Some(e.parent()?.parent()?.to_path_buf())) {
        candidates.push(profile_dir.join("sluice"));
    }
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    candidates.extend([target.join("ci/sluice"), target.join("release/sluice")]);
    if let Some(bin) = candidates.iter().find(|b| b.is_file()) {
        return Some(bin.clone());
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
    assert!(
        !ci,
        "CI is set but the sluice binary is missing (looked for {candidates:?}); build it with \
         `cargo build --profile ci` or set SLUICE_BIN"
    );
    eprintln!("sluice binary not built (looked for {candidates:?}); checked the deciding function only");
    None
}

/// A non-loopback address without authentication is refused, by the deciding function and by
/// the real binary (which exits non-zero with the reason before listening).
#[test]
fn non_loopback_without_auth_refuses_to_start() {
    let e = sluice_web::check_listen_policy(&"0.0.0.0:8080".parse().unwrap(), false).unwrap_err().to_string();
    assert!(e.contains("refusing to listen on 0.0.0.0:8080 without authentication"), "{e}");
    assert!(e.contains("--auth"), "{e}");
    assert!(sluice_web::check_listen_policy(&"0.0.0.0:8080".parse().unwrap(), true).is_ok());
    assert!(sluice_web::check_listen_policy(&"127.0.0.1:8080".parse().unwrap(), false).is_ok());

    // The real binary: the one built beside these tests (target/ci/sluice in CI).
    let Some(bin) = sluice_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&bin)
        .args(["run", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("SLUICE_PASSWORD")
        .env_remove("SLUICE_PASSWORD_HASH")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the binary started on 0.0.0.0 without auth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
}

#[test]
fn password_resolution_and_auth_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = sluice_web::auth::resolve_password(None, dir.path()).unwrap();
    let generated = p.generated.clone().expect("generated at first start");
    assert!(sluice_web::auth::verify_password(&p.hash, &generated));
    let file = dir.path().join("auth.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&generated));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = sluice_web::auth::resolve_password(None, dir.path()).unwrap();
    assert!(again.generated.is_none(), "printed only once");
    assert_eq!(again.hash, p.hash);
    let h = sluice_web::auth::hash_password("x").unwrap();
    assert_eq!(sluice_web::auth::resolve_password(Some(h.clone()), dir.path()).unwrap().hash, h);
    assert!(sluice_web::auth::resolve_password(Some("plain".into()), dir.path()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !ok.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("openssl unavailable; TLS test skipped");
        return;
    }
    let (c2, k2) = (cert.clone(), key.clone());
    let s = start_with(move |c| c.tls = Some(sluice_web::TlsConfig { cert: c2, key: k2 })).await;
    assert!(s.base.starts_with("https://"));
    // A self-signed test certificate: the handshake and the answer are what is checked.
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let res = client.get(s.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let plain = reqwest::get(format!("http://{}/api/health", s.addr)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let bad = sluice_web::tls::load(&sluice_web::TlsConfig { cert: dir.path().join("missing.pem"), key }).await;
    assert!(bad.unwrap_err().to_string().contains("missing.pem"));
    s.stop().await;
}

/// Everything logged by this test binary.
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(b.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(sub);
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_never_leave_the_server() {
    let logs = log_buffer();
    const SECRET: &str = "hunter2-XYZ-secret"; // 18 bytes
    let s = start().await;
    let g = s
        .add(json!({"type": "GenerateFlowFile", "name": "gen", "properties": {"Batch Size": "1"}, "scheduling": {"period": "100 ms"}}))
        .await;
    let p = s.add(json!({"type": "SecretHolder", "name": "holder", "properties": {"Password": SECRET}})).await;
    assert_eq!(p["properties"]["Password"], "********");
    let l = s.add(json!({"type": "LogAttribute", "name": "log"})).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let (st, _) =
        s.post("/api/connections", json!({"source": g["id"], "destination": pid, "relationships": ["success"]})).await;
    assert_eq!(st, 201);
    let (st, c2) =
        s.post("/api/connections", json!({"source": pid, "destination": l["id"], "relationships": ["success"]})).await;
    assert_eq!(st, 201);
    let c2 = c2["id"].as_str().unwrap().to_string();

    // "********" sent back keeps the value
    let (st, v) = s
        .patch(&format!("/api/processors/{pid}"), json!({"properties": {"Password": "********"}, "comments": "kept"}))
        .await;
    assert_eq!(st, 200, "{v}");
    // validating a proposal does not echo it
    let (st, v) = s.post(&format!("/api/processors/{pid}/validate"), json!({"properties": {"Password": "   "}})).await;
    assert_eq!(st, 200);
    assert!(!v.to_string().contains(SECRET));

    // the processor sees the real value: it writes its length to password.len
    let (st, v) = s.post(&format!("/api/processors/{}/start", g["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.post(&format!("/api/processors/{pid}/start"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    eventually(
        10,
        || async { s.get_json(&format!("/api/connections/{c2}/queue")).await.1["total"].as_u64().unwrap_or(0) > 0 },
        "a flowfile past the holder",
    )
    .await;
    let (_, q) = s.get_json(&format!("/api/connections/{c2}/queue")).await;
    assert_eq!(q["flowfiles"][0]["attributes"]["password.len"], SECRET.len().to_string());

    // nowhere in answers
    let mut seen = String::new();
    for path in [
        "/api/flow",
        "/api/flow/export",
        &format!("/api/processors/{pid}"),
        "/metrics",
        "/api/bulletins",
        "/api/provenance?limit=1000",
    ] {
        let text = s.get(path).await.text().await.unwrap();
        assert!(!text.contains(SECRET), "{path} shows the secret");
        seen.push_str(&text);
    }
    let export = s.export().await;
    assert!(export.contains("enc:v1:"), "the flow keeps an encrypted reference");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", s.addr)).await.unwrap();
    for _ in 0..3 {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert!(!m.to_text().unwrap().contains(SECRET));
    }
    // nor in the flow file
    let flow_file = std::fs::read_to_string(s.dir.path().join("flow.json")).unwrap();
    assert!(!flow_file.contains(SECRET), "the flow file holds the secret");
    assert!(flow_file.contains("enc:v1:"));

    // the exported flow (and "********") round-trips through PUT /api/flow and still works
    s.post("/api/flow/stop", json!({})).await;
    s.delete(&format!("/api/connections/{c2}/queue")).await;
    let mut def: Value = serde_json::from_str(&export).unwrap();
    let holder = def["processors"].as_array_mut().unwrap().iter_mut().find(|p| p["id"] == pid.as_str()).unwrap();
    holder["properties"]["Password"] = json!("********");
    let (st, v) = s.json(reqwest::Method::PUT, "/api/flow", def).await;
    assert_eq!(st, 200, "{v}");
    assert!(!v.to_string().contains(SECRET));
    s.post("/api/flow/start", json!({})).await;
    eventually(
        10,
        || async { s.get_json(&format!("/api/connections/{c2}/queue")).await.1["total"].as_u64().unwrap_or(0) > 0 },
        "a flowfile after the reload",
    )
    .await;
    let (_, q) = s.get_json(&format!("/api/connections/{c2}/queue")).await;
    assert_eq!(q["flowfiles"][0]["attributes"]["password.len"], SECRET.len().to_string());
    s.post("/api/flow/stop", json!({})).await;

    // a fresh engine on the same data dir reads the flow file back with the same key
    let text = std::fs::read_to_string(s.dir.path().join("flow.json")).unwrap();
    let def2 = sluice_engine::flow::parse_flow(&text).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::copy(s.dir.path().join("secrets.key"), dir2.path().join("secrets.key")).unwrap();
    let c2ctl = controller(dir2.path());
    c2ctl.load(def2).unwrap();
    let holder_node = c2ctl.nodes().into_iter().find(|n| *n.id == *pid).unwrap();
    assert!(c2ctl.validate_node(&holder_node).iter().all(|e| !e.contains("decrypt")));
    c2ctl.shutdown();

    let log = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(log.contains("request"), "the log was captured");
    assert!(!log.contains(SECRET), "the log holds the secret");
    s.stop().await;
}
