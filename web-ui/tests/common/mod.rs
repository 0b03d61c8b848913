//! Test support: a real server on 127.0.0.1:0 with a real FlowController (every standard
//! processor type plus `SecretHolder`, a pass-through with a sensitive `Password`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_engine::processor::{InputRequirement, ProcessError, Processor, ProcessorDescriptor, Relationship};
use sluice_engine::property::{PropertyDescriptor, Validator};
use sluice_engine::repository::Durability;
use sluice_engine::{EngineConfig, FlowController, ProcessContext, ProcessSession, Registry};
use sluice_web::WebConfig;

/// A pass-through processor with a sensitive property; it records the revealed password's
/// length in `password.len`.
pub struct SecretHolder;

impl Processor for SecretHolder {
    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let len = ctx.property("Password").map(|p| p.len()).unwrap_or(0).to_string();
        while let Some(mut ff) = session.get() {
            ff.set_attr("password.len", &len);
            session.transfer(ff, "success");
        }
        Ok(())
    }
}

pub fn registry() -> Registry {
    let mut r = sluice_processors::registry();
    r.register(
        ProcessorDescriptor::new("SecretHolder", "Test: passes flowfiles through; has a sensitive Password")
            .input(InputRequirement::Allowed)
            .property(PropertyDescriptor::new("Password").sensitive().required().validator(Validator::NonEmpty))
            .relationship(Relationship::new("success", "everything")),
        || Box::new(SecretHolder),
    );
    r
}

pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub controller: Arc<FlowController>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn controller(dir: &std::path::Path) -> Arc<FlowController> {
    controller_with(dir, |_| {})
}

/// The test engine on `dir`, with `adjust` applied to its configuration first.
pub fn controller_with(dir: &std::path::Path, adjust: impl FnOnce(&mut EngineConfig)) -> Arc<FlowController> {
    let mut config = EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        durability: Durability::Os,
        provenance: true,
        workers: 2,
        ..Default::default()
    };
    adjust(&mut config);
    let c = FlowController::new(config, registry()).expect("engine");
    c.set_secret_store(Arc::new(sluice_web::secrets::KeyFileSecretStore::open(dir).expect("key")));
    c
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut WebConfig)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let controller = controller(dir.path());
    let mut config = WebConfig { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    adjust(&mut config);
    start_on(dir, controller, config, None).await
}

/// A server whose engine configuration `adjust` changes (e.g. a content archive that keeps
/// nothing, so provenance content ages out as soon as the content repository cleans up).
pub async fn start_with_engine(adjust: impl FnOnce(&mut EngineConfig)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let controller = controller_with(dir.path(), adjust);
    let config = WebConfig { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    start_on(dir, controller, config, None).await
}

/// Starts on a given listener (or a fresh one on 127.0.0.1:0).
pub async fn start_on(
    dir: tempfile::TempDir,
    controller: Arc<FlowController>,
    config: WebConfig,
    listener: Option<tokio::net::TcpListener>,
) -> Server {
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    };
    let addr = listener.local_addr().unwrap();
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sluice_web::serve(listener, controller.clone(), config, async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    Server { base: format!("{scheme}://{addr}"), addr, controller, dir, http, shutdown: Some(tx), task: Some(task) }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let res = self.http.request(method, self.url(path)).json(&body).send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let res = self.http.delete(self.url(path)).send().await.expect("DELETE");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn export(&self) -> String {
        self.get("/api/flow/export").await.text().await.unwrap()
    }

    /// Adds a processor and returns its view.
    pub async fn add(&self, body: Value) -> Value {
        let (s, v) = self.post("/api/processors", body).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// A small running-capable flow: generate → update → log (auto-terminated).
    pub async fn small_flow(&self, period: &str) -> (String, String, String, String, String) {
        let g = self
            .add(json!({"type": "GenerateFlowFile", "name": "gen", "properties": {"Batch Size": "1", "File Size": "10 B"},
                        "scheduling": {"period": period}}))
            .await;
        let u = self.add(json!({"type": "UpdateAttribute", "name": "upd", "properties": {"color": "blue"}})).await;
        let l = self
            .add(json!({"type": "LogAttribute", "name": "log", "auto_terminated_relationships": ["success"]}))
            .await;
        let (s, c1) = self
            .post("/api/connections", json!({"source": g["id"], "destination": u["id"], "relationships": ["success"]}))
            .await;
        assert_eq!(s, 201, "{c1}");
        let (s, c2) = self
            .post("/api/connections", json!({"source": u["id"], "destination": l["id"], "relationships": ["success"]}))
            .await;
        assert_eq!(s, 201, "{c2}");
        let id = |v: &Value| v["id"].as_str().unwrap().to_string();
        (id(&g), id(&u), id(&l), id(&c1), id(&c2))
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.controller.shutdown();
    }
}

/// Waits until `f` holds (checking every 50 ms) or panics after `secs`.
pub async fn eventually<F: std::future::Future<Output = bool>>(secs: u64, mut f: impl FnMut() -> F, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
