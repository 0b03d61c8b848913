//! Controller services through the HTTP API: a DBCPConnectionPool on a real SQLite file,
//! shared by two processors; its life cycle (enable, disable, change, remove) with the
//! conflicts NiFi users expect; masking of its sensitive values; and its place in the flow
//! file, across an export and a reload.

mod common;

use common::*;
use serde_json::{Value, json};

const SERVICE_PROP: &str = "Database Connection Pooling Service";
const SECRET: &str = "pool-secret-value";

async fn start_proc(s: &Server, id: &str) -> (u16, Value) {
    s.post(&format!("/api/processors/{id}/start"), json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_service_shared_by_two_processors_and_its_life_cycle() {
    let s = start().await;
    let db = s.dir.path().join("shared.db");
    let url = format!("sqlite:{}", db.display());

    // Types: the service type is listed with the API it provides; processors name it.
    let (_, types) = s.get_json("/api/processor-types").await;
    let pool_type = types["controller_service_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "DBCPConnectionPool")
        .cloned()
        .expect("DBCPConnectionPool listed");
    assert_eq!(pool_type["provides"], "DatabaseConnectionPool");
    let put_sql = types["processor_types"].as_array().unwrap().iter().find(|t| t["type"] == "PutSQL").unwrap().clone();
    let prop = put_sql["properties"].as_array().unwrap().iter().find(|p| p["name"] == SERVICE_PROP).unwrap().clone();
    assert_eq!(prop["controller_service"], "DatabaseConnectionPool");

    // Bad input: unknown type, unknown fields, a service that cannot be enabled.
    let (st, v) = s.post("/api/controller-services", json!({"type": "NoSuchService"})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unknown controller service type 'NoSuchService'"), "{v}");
    let (st, _) = s.post("/api/controller-services", json!({"type": "DBCPConnectionPool", "colour": 1})).await;
    assert_eq!(st, 400);
    let (st, bad) = s
        .post("/api/controller-services", json!({"type": "DBCPConnectionPool", "name": "bad", "properties": {"Database Connection URL": "mysql://x"}}))
        .await;
    assert_eq!(st, 201, "{bad}");
    assert_eq!(bad["state"], "DISABLED");
    let (st, v) = s.post(&format!("/api/controller-services/{}/enable", bad["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("must start with postgresql://"), "{v}");
    // Fixing the properties clears the failed enable's reason.
    let fixed = json!({"properties": {"Database Connection URL": format!("sqlite:{}", s.dir.path().join("other.db").display())}});
    let (st, v) = s.patch(&format!("/api/controller-services/{}", bad["id"].as_str().unwrap()), fixed).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["validation_errors"], json!([]), "{v}");
    let (st, _) = s.delete(&format!("/api/controller-services/{}", bad["id"].as_str().unwrap())).await;
    assert_eq!(st, 204);
    let (st, _) = s.get_json("/api/controller-services/nope").await;
    assert_eq!(st, 404);

    // The pool: created with a sensitive password, enabled.
    let (st, pool) = s
        .post(
            "/api/controller-services",
            json!({"type": "DBCPConnectionPool", "id": "pool", "name": "shared db",
                   "properties": {"Database Connection URL": url, "Password": SECRET}, "enabled": true}),
        )
        .await;
    assert_eq!(st, 201, "{pool}");
    assert_eq!(pool["state"], "ENABLED", "{pool}");
    assert_eq!(pool["properties"]["Password"], "********");
    assert_eq!(pool["validation_errors"], json!([]));

    // Two processors share it: GenerateFlowFile → PutSQL (creates and fills a table) and
    // GenerateFlowFile → ExecuteSQL (reads it back).
    let gen1 = s
        .add(json!({"type": "GenerateFlowFile", "name": "g1", "scheduling": {"period": "1 hour"},
                    "properties": {"Custom Text": "CREATE TABLE IF NOT EXISTS t (v text); INSERT INTO t VALUES ('shared')", "Batch Size": "1"}}))
        .await;
    let put = s
        .add(json!({"type": "PutSQL", "name": "put", "properties": {SERVICE_PROP: "pool"},
                    "auto_terminated_relationships": ["success", "failure", "retry"]}))
        .await;
    let gen2 = s
        .add(json!({"type": "GenerateFlowFile", "name": "g2", "scheduling": {"period": "1 hour"}, "properties": {"Batch Size": "1"}}))
        .await;
    let exec = s
        .add(json!({"type": "ExecuteSQL", "name": "exec", "properties": {SERVICE_PROP: "pool", "SQL select query": "SELECT v FROM t"},
                    "auto_terminated_relationships": ["failure"]}))
        .await;
    let sink = s.add(json!({"type": "LogAttribute", "name": "sink"})).await;
    for (a, b, rel) in [(&gen1, &put, "success"), (&gen2, &exec, "success"), (&exec, &sink, "success")] {
        let (st, v) = s
            .post("/api/connections", json!({"source": a["id"], "destination": b["id"], "relationships": [rel]}))
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (_, pool) = s.get_json("/api/controller-services/pool").await;
    let mut refs: Vec<&str> =
        pool["referencing_processors"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    refs.sort();
    let mut want = vec![put["id"].as_str().unwrap(), exec["id"].as_str().unwrap()];
    want.sort();
    assert_eq!(refs, want);

    for p in [&put, &gen1] {
        let (st, v) = start_proc(&s, p["id"].as_str().unwrap()).await;
        assert_eq!(st, 200, "{v}");
    }
    eventually(
        10,
        || async { db.exists() && std::fs::metadata(&db).map(|m| m.len() > 0).unwrap_or(false) },
        "the table created",
    )
    .await;
    eventually(
        10,
        || async {
            s.get_json(&format!("/api/processors/{}", put["id"].as_str().unwrap())).await.1["status"]["flowfiles_in"]
                .as_u64()
                .unwrap_or(0)
                >= 1
        },
        "PutSQL ran",
    )
    .await;
    for p in [&exec, &gen2] {
        let (st, v) = start_proc(&s, p["id"].as_str().unwrap()).await;
        assert_eq!(st, 200, "{v}");
    }
    let conn_to_sink = s.get_json("/api/flow").await.1["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["destination"] == sink["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(
        10,
        || async {
            s.get_json(&format!("/api/connections/{conn_to_sink}/queue")).await.1["total"].as_u64().unwrap_or(0) >= 1
        },
        "ExecuteSQL's result",
    )
    .await;
    let (_, q) = s.get_json(&format!("/api/connections/{conn_to_sink}/queue")).await;
    let uuid = q["flowfiles"][0]["uuid"].as_str().unwrap();
    let body = s.get(&format!("/api/flowfiles/{uuid}/content")).await.text().await.unwrap();
    assert!(body.contains("shared"), "the row PutSQL wrote, read through the same pool: {body}");

    // Conflicts: change while enabled, disable while used by running processors, remove while
    // referenced, a stale revision.
    let (st, v) = s.patch("/api/controller-services/pool", json!({"properties": {"Max Total Connections": "3"}})).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("disable it before changing"), "{v}");
    let (st, v) = s.post("/api/controller-services/pool/disable", json!({})).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("used by running processors"), "{v}");
    assert_eq!(v["details"]["state"], "ENABLED");
    let (st, v) = s.patch("/api/controller-services/pool", json!({"revision": 0, "name": "x"})).await;
    assert_eq!(st, 409, "{v}");

    // Stop the users, disable: they become invalid, naming the service.
    for p in [&gen1, &put, &gen2, &exec] {
        s.post(&format!("/api/processors/{}/stop", p["id"].as_str().unwrap()), json!({})).await;
    }
    let (st, v) = s.post("/api/controller-services/pool/disable", json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "DISABLED");
    let (_, p) = s.get_json(&format!("/api/processors/{}", exec["id"].as_str().unwrap())).await;
    assert!(p["validation_errors"].to_string().contains("controller service 'shared db' is disabled"), "{p}");
    let (st, v) = start_proc(&s, exec["id"].as_str().unwrap()).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = s
        .patch(
            "/api/controller-services/pool",
            json!({"properties": {"Max Total Connections": "3", "Password": "********"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["properties"]["Max Total Connections"], "3");
    let (st, v) = s.delete("/api/controller-services/pool").await;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("referenced by processors"), "{v}");

    // The flow file: the service with a sealed password; nowhere in plain text.
    let (st, _) = s.post("/api/controller-services/pool/enable", json!({})).await;
    assert_eq!(st, 200);
    let export = s.export().await;
    assert!(!export.contains(SECRET));
    for path in ["/api/controller-services", "/api/controller-services/pool", "/api/flow"] {
        assert!(!s.get(path).await.text().await.unwrap().contains(SECRET), "{path}");
    }
    let def: Value = serde_json::from_str(&export).unwrap();
    let sv = &def["controller_services"][0];
    assert_eq!(
        (sv["id"].as_str(), sv["type"].as_str(), sv["enabled"].as_bool()),
        (Some("pool"), Some("DBCPConnectionPool"), Some(true))
    );
    assert!(sv["properties"]["Password"].as_str().unwrap().starts_with("enc:v1:"));

    // Reloading the exported flow brings the service back enabled, and the processors valid.
    let res = s
        .http
        .put(s.url("/api/flow"))
        .header("content-type", "application/json")
        .body(export.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, pool) = s.get_json("/api/controller-services/pool").await;
    assert_eq!(pool["state"], "ENABLED", "{pool}");
    let (_, p) = s.get_json(&format!("/api/processors/{}", exec["id"].as_str().unwrap())).await;
    assert_eq!(p["validation_errors"], json!([]), "{p}");
    // A flow naming an unknown service type is refused with the element's path.
    let mut broken = def.clone();
    broken["controller_services"][0]["type"] = json!("Nope");
    let res = s
        .http
        .put(s.url("/api/flow"))
        .header("content-type", "application/json")
        .body(broken.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v.to_string().contains("controller_services[0].type"), "{v}");
    s.stop().await;
}
