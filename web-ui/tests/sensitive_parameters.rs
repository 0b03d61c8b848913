//! Sensitive parameters: a secret in the flow's parameter context is sealed by the data dir's
//! secret store as soon as the flow is loaded, so no answer and no exported flow shows it; the
//! processor referencing it from a sensitive property still runs with the real value; a
//! property that is not sensitive cannot reference it; the environment can supply it instead.

mod common;

use common::*;
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t-param-VALUE";
const FROM_ENV: &str = "from-the-environment-42";

fn flow(params: Value, holder_password: &str, log_prefix: &str) -> String {
    json!({
        "version": 1,
        "parameters": params,
        "sensitive_parameters": ["db_password", "env_only"],
        "processors": [
            {"id": "gen", "type": "GenerateFlowFile", "name": "gen", "position": {"x": 0, "y": 0},
             "properties": {"Batch Size": "1"}, "scheduling": {"period": "100 ms"}},
            {"id": "holder", "type": "SecretHolder", "name": "holder", "position": {"x": 0, "y": 100},
             "properties": {"Password": holder_password}},
            {"id": "log", "type": "LogAttribute", "name": "log", "position": {"x": 0, "y": 200},
             "properties": {"Log prefix": log_prefix}, "auto_terminated_relationships": ["success"]}
        ],
        "connections": [
            {"id": "c1", "source": "gen", "destination": "holder", "relationships": ["success"]},
            {"id": "c2", "source": "holder", "destination": "log", "relationships": ["success"]}
        ]
    })
    .to_string()
}

async fn put_flow(s: &Server, text: String) -> (u16, Value) {
    let res =
        s.http.put(s.url("/api/flow")).header("content-type", "application/json").body(text).send().await.unwrap();
    let st = res.status().as_u16();
    (st, res.json().await.unwrap_or(Value::Null))
}

async fn password_len_past_holder(s: &Server) -> String {
    for id in ["gen", "holder"] {
        let (st, v) = s.post(&format!("/api/processors/{id}/start"), json!({})).await;
        assert_eq!(st, 200, "{v}");
    }
    eventually(
        10,
        || async { s.get_json("/api/connections/c2/queue").await.1["total"].as_u64().unwrap_or(0) > 0 },
        "a flowfile past the holder",
    )
    .await;
    let (_, q) = s.get_json("/api/connections/c2/queue").await;
    for id in ["gen", "holder"] {
        s.post(&format!("/api/processors/{id}/stop"), json!({})).await;
    }
    q["flowfiles"][0]["attributes"]["password.len"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_parameters_are_sealed_checked_and_resolved() {
    // SAFETY: set before the server starts, in the only test of this binary.
    unsafe { std::env::set_var("SLUICE_PARAM_ENV_ONLY", FROM_ENV) };
    let s = start().await;

    // A non-sensitive property may not reference a sensitive parameter.
    let (st, v) = put_flow(&s, flow(json!({"db_password": SECRET}), "#{db_password}", "pw=#{db_password} ")).await;
    assert_eq!(st, 200, "{v}");
    let (_, log) = s.get_json("/api/processors/log").await;
    let reasons = log["validation_errors"].to_string();
    assert!(
        reasons.contains("'Log prefix' is not sensitive and cannot reference the sensitive parameter 'db_password'"),
        "{log}"
    );

    // Referenced from the sensitive Password only: valid, sealed, and the holder sees it.
    let (st, v) =
        put_flow(&s, flow(json!({"db_password": SECRET, "greeting": "hi"}), "#{db_password}", "#{greeting} ")).await;
    assert_eq!(st, 200, "{v}");
    let (_, log) = s.get_json("/api/processors/log").await;
    assert_eq!(log["validation_errors"].as_array().map(Vec::len).unwrap_or(0), 0, "{log}");
    assert_eq!(password_len_past_holder(&s).await, SECRET.len().to_string());
    let export = s.export().await;
    assert!(!export.contains(SECRET), "the exported flow shows the secret: {export}");
    let exported: Value = serde_json::from_str(&export).unwrap();
    assert!(exported["parameters"]["db_password"].as_str().unwrap().starts_with("enc:v1:"), "{export}");
    assert_eq!(exported["parameters"]["greeting"], "hi", "plain parameters stay plain");
    assert_eq!(exported["sensitive_parameters"], json!(["db_password", "env_only"]));
    for path in ["/api/flow", "/api/processors/holder", "/api/provenance?limit=1000", "/api/bulletins"] {
        assert!(!s.get(path).await.text().await.unwrap().contains(SECRET), "{path} shows the secret");
    }
    for entry in walk(s.dir.path()) {
        if entry.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&entry).unwrap();
            assert!(!text.contains(SECRET), "{} holds the secret in plain text", entry.display());
        }
    }

    // The exported flow loads again (already sealed: not sealed twice) and still runs.
    s.http.delete(s.url("/api/connections/c2/queue")).send().await.unwrap();
    let (st, v) = put_flow(&s, export.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.export().await, export, "a sealed value is kept as it is");
    assert_eq!(password_len_past_holder(&s).await, SECRET.len().to_string());

    // A sensitive parameter with no value in the file comes from the environment.
    let (st, v) = put_flow(&s, flow(json!({"greeting": "hi"}), "#{env_only}", "#{greeting} ")).await;
    assert_eq!(st, 200, "{v}");
    assert!(!s.export().await.contains(FROM_ENV));
    s.http.delete(s.url("/api/connections/c2/queue")).send().await.unwrap();
    let q = s.get_json("/api/connections/c2/queue").await.1;
    assert_eq!(q["total"], 0, "the queue was emptied before: {q}");
    assert_eq!(password_len_past_holder(&s).await, FROM_ENV.len().to_string());
    s.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
