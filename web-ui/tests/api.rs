//! Every REST endpoint against the real server, with its error cases.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_flow_types_system_openapi() {
    let s = start().await;
    let (st, v) = s.get_json("/api/health").await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], "ok");
    assert!(v["uptime_millis"].is_u64());

    let (st, v) = s.get_json("/api/flow").await;
    assert_eq!(st, 200);
    for k in ["revision", "name", "description", "flow_hash", "processors", "connections", "labels", "parameters"] {
        assert!(v.get(k).is_some(), "flow lacks {k}: {v}");
    }

    let (st, v) = s.get_json("/api/processor-types").await;
    assert_eq!(st, 200);
    let types = v["processor_types"].as_array().unwrap();
    let gen_type = types.iter().find(|t| t["type"] == "GenerateFlowFile").expect("GenerateFlowFile");
    assert!(gen_type["properties"].as_array().unwrap().iter().any(|p| p["name"] == "Batch Size"));

    let (st, v) = s.get_json("/api/system").await;
    assert_eq!(st, 200);
    assert_eq!(v["durability"], "os");
    assert!(v["rss_bytes"].as_u64().unwrap() > 0);
    assert!(v["repositories"]["content"].is_object());

    let (st, doc) = s.get_json("/api/openapi.json").await;
    assert_eq!(st, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/flow",
        "/api/flow/export",
        "/api/processor-types",
        "/api/processors",
        "/api/processors/{id}",
        "/api/processors/{id}/start",
        "/api/processors/{id}/stop",
        "/api/processors/{id}/validate",
        "/api/processors/{id}/history",
        "/api/flow/start",
        "/api/flow/stop",
        "/api/connections",
        "/api/connections/{id}",
        "/api/connections/{id}/queue",
        "/api/flowfiles/{uuid}",
        "/api/flowfiles/{uuid}/content",
        "/api/labels/{id}",
        "/api/bulletins",
        "/api/system",
        "/api/provenance",
        "/api/provenance/events/{id}",
        "/api/provenance/events/{id}/content/input",
        "/api/provenance/events/{id}/content/output",
        "/api/provenance/events/{id}/replay",
        "/api/provenance/lineage/{uuid}",
        "/api/ws",
        "/metrics",
        "/api/auth/token",
        "/login",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    for m in ["get", "patch", "delete"] {
        assert!(paths["/api/processors/{id}"].get(m).is_some(), "{m}");
    }

    let (st, v) = s.get_json("/api/nope").await;
    assert_eq!(st, 404);
    assert!(v["error"].as_str().unwrap().contains("/api/nope"));
    let (st, v) = s.json(reqwest::Method::PUT, "/api/health", json!({})).await;
    assert_eq!(st, 405, "{v}");
    assert!(v["error"].is_string());
    let index = s.get("/").await;
    assert_eq!(index.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_crud_and_errors() {
    let s = start().await;
    let p = s
        .add(json!({"type": "GenerateFlowFile", "name": "g1", "position": {"x": 10, "y": 20}, "properties": {"Batch Size": "2"}}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["name"], "g1");
    assert_eq!(p["properties"]["Batch Size"], "2");
    assert_eq!(p["state"], "STOPPED");
    let rev = p["revision"].as_u64().unwrap();

    // 400s
    let (st, v) = s.post("/api/processors", json!({"type": "NoSuchType"})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("NoSuchType"));
    let (st, v) = s.post("/api/processors", json!({"type": "GenerateFlowFile", "bogus": 1})).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) =
        s.post("/api/processors", json!({"type": "GenerateFlowFile", "scheduling": {"concurrent_tasks": "x"}})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("scheduling.concurrent_tasks"), "{v}");
    let (st, v) =
        s.post("/api/processors", json!({"type": "GenerateFlowFile", "scheduling": {"period": "soon"}})).await;
    assert_eq!(st, 400, "{v}");
    let res = s
        .http
        .post(s.url("/api/processors"))
        .header("content-type", "application/json")
        .body("{\"type\":")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("invalid JSON"));
    let res =
        s.http.post(s.url("/api/processors")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(res.status(), 415);
    let res = s.http.post(s.url("/api/processors")).header("content-type", "application/json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    // duplicate id
    let (st, _) = s.post("/api/processors", json!({"type": "GenerateFlowFile", "id": id})).await;
    assert_eq!(st, 409);

    // read
    let (st, v) = s.get_json(&format!("/api/processors/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(v["revision"].as_u64().unwrap(), rev);
    for k in [
        "relationships",
        "validation_errors",
        "scheduling",
        "status",
        "active_tasks",
        "bulletin_count",
        "retry",
        "comments",
    ] {
        assert!(v.get(k).is_some(), "processor lacks {k}");
    }
    let (st, v) = s.get_json("/api/processors/missing").await;
    assert_eq!(st, 404);
    assert!(v["error"].is_string());

    // change
    let (st, v) = s
        .patch(
            &format!("/api/processors/{id}"),
            json!({"revision": rev, "name": "renamed", "properties": {"Batch Size": null}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "renamed");
    assert!(v["properties"].get("Batch Size").is_none());
    let rev2 = v["revision"].as_u64().unwrap();
    assert!(rev2 > rev);
    let (st, v) = s.patch(&format!("/api/processors/{id}"), json!({"revision": rev, "name": "stale"})).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["details"]["revision"].as_u64().unwrap(), rev2);
    assert_eq!(v["details"]["name"], "renamed");
    let (st, _) = s.patch("/api/processors/missing", json!({"name": "x"})).await;
    assert_eq!(st, 404);
    let (st, _) = s.patch(&format!("/api/processors/{id}"), json!({"auto_terminated_relationships": ["nope"]})).await;
    assert_eq!(st, 400);
    let (st, _) = s.patch(&format!("/api/processors/{id}"), json!({"scheduling": {"concurrent_tasks": 0}})).await;
    assert_eq!(st, 400);

    // validate: nothing changes
    let before = s.export().await;
    let (st, v) = s.post(&format!("/api/processors/{id}/validate"), json!({"properties": {"Batch Size": "-5"}})).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["validation_errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains("Batch Size")),
        "{v}"
    );
    assert_eq!(before, s.export().await);
    let (st, _) = s.post("/api/processors/missing/validate", json!({"properties": {}})).await;
    assert_eq!(st, 404);

    // history
    let (st, v) = s.get_json(&format!("/api/processors/{id}/history")).await;
    assert_eq!(st, 200);
    assert!(v["flowfiles_out_per_second"].is_array());
    let (st, _) = s.get_json("/api/processors/missing/history").await;
    assert_eq!(st, 404);

    // start: invalid (success not connected) → 400 with reasons
    let (st, v) = s.post(&format!("/api/processors/{id}/start"), json!({})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("success"), "{v}");
    let (st, _) = s.post("/api/processors/missing/start", json!({})).await;
    assert_eq!(st, 404);
    let (st, v) = s
        .patch(
            &format!("/api/processors/{id}"),
            json!({"auto_terminated_relationships": ["success"], "scheduling": {"period": "1 sec"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let res = s.http.post(s.url(&format!("/api/processors/{id}/start"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["state"], "RUNNING");
    let (st, v) = s.post(&format!("/api/processors/{id}/stop"), json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(v["state"], "STOPPED");
    let (st, _) = s.post("/api/processors/missing/stop", json!({})).await;
    assert_eq!(st, 404);

    // start/stop all
    let (st, v) = s.post("/api/flow/start", json!({"ids": [id, "missing"]})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["started"], json!([id]));
    assert!(v["errors"]["missing"].is_string());
    let (st, v) = s.post("/api/flow/stop", json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(v["stopped"], json!([id]));
    let (st, _) = s.post("/api/flow/stop", json!({"ids": "x"})).await;
    assert_eq!(st, 400);

    // delete
    let cur = s.get_json(&format!("/api/processors/{id}")).await.1["revision"].as_u64().unwrap();
    let (st, v) = s.delete(&format!("/api/processors/{id}?revision={}", cur - 1)).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["details"]["revision"].as_u64().unwrap(), cur);
    let (st, _) = s.delete(&format!("/api/processors/{id}?revision=abc")).await;
    assert_eq!(st, 400);
    let (st, _) = s.delete(&format!("/api/processors/{id}?revision={cur}")).await;
    assert_eq!(st, 204);
    let (st, _) = s.delete(&format!("/api/processors/{id}")).await;
    assert_eq!(st, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_queue_flowfiles_provenance() {
    let s = start().await;
    let (g, u, _l, c1, _c2) = s.small_flow("100 ms").await;

    // connection errors
    let (st, v) =
        s.post("/api/connections", json!({"source": "nope", "destination": u, "relationships": ["success"]})).await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = s.post("/api/connections", json!({"source": g, "destination": u, "relationships": ["nope"]})).await;
    assert_eq!(st, 400);
    let (st, _) = s.post("/api/connections", json!({"source": g, "destination": u})).await;
    assert_eq!(st, 400);
    let (st, v) = s.get_json(&format!("/api/connections/{c1}")).await;
    assert_eq!(st, 200);
    for k in [
        "name",
        "source",
        "destination",
        "relationships",
        "back_pressure_object_threshold",
        "back_pressure_data_size_threshold",
        "prioritizers",
        "flowfile_expiration",
        "bends",
        "revision",
        "status",
    ] {
        assert!(v.get(k).is_some(), "connection lacks {k}");
    }
    let rev = v["revision"].as_u64().unwrap();
    let (st, _) = s.get_json("/api/connections/missing").await;
    assert_eq!(st, 404);
    let (st, v) = s
        .patch(
            &format!("/api/connections/{c1}"),
            json!({"revision": rev, "name": "q1", "back_pressure_object_threshold": 500}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "q1");
    let rev2 = v["revision"].as_u64().unwrap();
    let (st, v) = s.patch(&format!("/api/connections/{c1}"), json!({"revision": rev, "name": "stale"})).await;
    assert_eq!(st, 409);
    assert_eq!(v["details"]["revision"].as_u64().unwrap(), rev2);
    let (st, _) =
        s.patch(&format!("/api/connections/{c1}"), json!({"back_pressure_data_size_threshold": "lots"})).await;
    assert_eq!(st, 400);
    let (st, _) = s.patch("/api/connections/missing", json!({"name": "x"})).await;
    assert_eq!(st, 404);

    // fill the queue: start the generator only
    let (st, v) = s.post(&format!("/api/processors/{g}/start"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    eventually(
        10,
        || async {
            s.get_json(&format!("/api/connections/{c1}")).await.1["status"]["queued_count"].as_u64().unwrap_or(0) >= 3
        },
        "queued flowfiles",
    )
    .await;
    let (st, _) = s.post(&format!("/api/processors/{g}/stop"), json!({})).await;
    assert_eq!(st, 200);

    let (st, q) = s.get_json(&format!("/api/connections/{c1}/queue?offset=0&limit=2")).await;
    assert_eq!(st, 200);
    assert!(q["total"].as_u64().unwrap() >= 3);
    let ffs = q["flowfiles"].as_array().unwrap();
    assert_eq!(ffs.len(), 2);
    for k in ["uuid", "attributes", "size", "queued_millis", "lineage_millis", "penalized", "position"] {
        assert!(ffs[0].get(k).is_some(), "queued flowfile lacks {k}");
    }
    let (st, _) = s.get_json(&format!("/api/connections/{c1}/queue?limit=x")).await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json("/api/connections/missing/queue").await;
    assert_eq!(st, 404);
    let uuid = ffs[0]["uuid"].as_str().unwrap().to_string();
    let (st, v) = s.get_json(&format!("/api/flowfiles/{uuid}")).await;
    assert_eq!(st, 200);
    assert_eq!(v["connection_id"], c1);
    assert_eq!(v["size"], 10);
    let res = s.get(&format!("/api/flowfiles/{uuid}/content")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 10);
    let (st, _) = s.get_json("/api/flowfiles/not-a-uuid").await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json(&format!("/api/flowfiles/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(st, 404);
    let (st, _) = s.get_json(&format!("/api/flowfiles/{}/content", uuid::Uuid::new_v4())).await;
    assert_eq!(st, 404);

    // a non-empty connection cannot be removed
    let (st, v) = s.delete(&format!("/api/connections/{c1}")).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["details"]["id"], c1);

    // provenance: CREATE events of the generator
    eventually(
        15,
        || async {
            let (_, v) = s.get_json(&format!("/api/provenance?component={g}&type=CREATE&limit=5")).await;
            v["events"].as_array().is_some_and(|e| !e.is_empty())
        },
        "CREATE events",
    )
    .await;
    let (st, v) = s.get_json(&format!("/api/provenance?flowfile={uuid}")).await;
    assert_eq!(st, 200);
    assert!(v.get("next_before").is_some());
    let ev = &v["events"][0];
    for k in [
        "id",
        "event_type",
        "timestamp_millis",
        "flowfile_uuid",
        "parent_uuids",
        "child_uuids",
        "component_id",
        "component_type",
        "component_name",
        "relationship",
        "details",
        "transit_uri",
        "size",
        "flow_revision",
    ] {
        assert!(ev.get(k).is_some(), "event lacks {k}");
    }
    let ev_id = ev["id"].as_u64().unwrap();
    let (st, d) = s.get_json(&format!("/api/provenance/events/{ev_id}")).await;
    assert_eq!(st, 200);
    assert!(d["updated_attributes"].is_object());
    assert!(d.get("previous_attributes").is_some());
    assert!(d["content_available"]["output"].is_boolean());
    let res = s.get(&format!("/api/provenance/events/{ev_id}/content/output")).await;
    assert_eq!(res.status(), 200, "output content of a CREATE");
    assert_eq!(res.bytes().await.unwrap().len(), 10);
    let (st, v) = s.get_json(&format!("/api/provenance/events/{ev_id}/content/input")).await;
    assert_eq!(st, 404, "CREATE has no input content: {v}");
    let (st, _) = s.get_json("/api/provenance/events/999999999").await;
    assert_eq!(st, 404);
    let (st, _) = s.get_json("/api/provenance/events/abc").await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json("/api/provenance?type=NOPE").await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json("/api/provenance?attribute=novalue").await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json("/api/provenance?flowfile=xyz").await;
    assert_eq!(st, 400);
    let (st, _) = s.get_json("/api/provenance?since=yesterday").await;
    assert_eq!(st, 400);
    let (st, v) = s.get_json(&format!("/api/provenance/lineage/{uuid}")).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["nodes"].as_array().unwrap().iter().any(|n| n["kind"] == "flowfile"));
    assert!(v["edges"].is_array());
    let (st, _) = s.get_json(&format!("/api/provenance/lineage/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(st, 404);
    let (st, _) = s.get_json("/api/provenance/lineage/bad").await;
    assert_eq!(st, 400);
    // replaying a CREATE: no source queue
    let (st, _) = s.post(&format!("/api/provenance/events/{ev_id}/replay"), json!({})).await;
    assert_eq!(st, 400);

    // empty the queue: DROP events, then replay one
    let total = s.get_json(&format!("/api/connections/{c1}/queue")).await.1["total"].as_u64().unwrap();
    let (st, v) = s.delete(&format!("/api/connections/{c1}/queue")).await;
    assert_eq!(st, 200);
    assert_eq!(v["dropped"].as_u64().unwrap(), total);
    let (st, _) = s.delete("/api/connections/missing/queue").await;
    assert_eq!(st, 404);
    let mut drop_id = None;
    for _ in 0..300 {
        let (_, v) = s.get_json(&format!("/api/provenance?flowfile={uuid}&type=DROP")).await;
        drop_id = v["events"][0]["id"].as_u64();
        if drop_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drop_id = drop_id.expect("DROP event");
    let (st, v) = s.post(&format!("/api/provenance/events/{drop_id}/replay"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["connection_id"], c1);
    let (st, q) = s.get_json(&format!("/api/connections/{c1}/queue")).await;
    assert_eq!(st, 200);
    assert_eq!(q["total"], 1);
    let (st, _) = s.post("/api/provenance/events/999999999/replay", json!({})).await;
    assert_eq!(st, 404);
    s.delete(&format!("/api/connections/{c1}/queue")).await;

    // now it can go
    let cur = s.get_json(&format!("/api/connections/{c1}")).await.1["revision"].as_u64().unwrap();
    let (st, _) = s.delete(&format!("/api/connections/{c1}?revision={}", cur + 5)).await;
    assert_eq!(st, 409);
    let (st, _) = s.delete(&format!("/api/connections/{c1}?revision={cur}")).await;
    assert_eq!(st, 204);
    let (st, _) = s.delete(&format!("/api/connections/{c1}")).await;
    assert_eq!(st, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_put_labels_bulletins() {
    let s = start().await;
    let (g, _u, _l, c1, _) = s.small_flow("100 ms").await;
    let res = s.get("/api/flow/export").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("flow.json"));
    let text = res.text().await.unwrap();
    let def: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(def["version"], 1);

    // the same flow back: 200, unchanged
    let res = s
        .http
        .put(s.url("/api/flow"))
        .header("content-type", "application/json")
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["processors"].as_array().unwrap().len(), 3);
    assert_eq!(s.export().await, text);

    // invalid: 400 with [{path, message}]
    let mut bad = def.clone();
    bad["processors"][0]["type"] = json!("NoSuchType");
    let (st, v) = s.json(reqwest::Method::PUT, "/api/flow", bad).await;
    assert_eq!(st, 400, "{v}");
    let d = v["details"].as_array().expect("details");
    assert!(d[0]["path"].as_str().unwrap().starts_with("processors"), "{v}");
    assert!(d[0]["message"].is_string());
    let res = s
        .http
        .put(s.url("/api/flow"))
        .header("content-type", "application/json")
        .body("{\"version\": 1,\n \"processors\": [}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("line"), "{v}");

    // dropping a connection that holds flowfiles: 409
    s.post(&format!("/api/processors/{g}/start"), json!({})).await;
    eventually(
        10,
        || async {
            s.get_json(&format!("/api/connections/{c1}")).await.1["status"]["queued_count"].as_u64().unwrap_or(0) >= 1
        },
        "a queued flowfile",
    )
    .await;
    s.post(&format!("/api/processors/{g}/stop"), json!({})).await;
    let mut fewer = def.clone();
    fewer["connections"].as_array_mut().unwrap().retain(|c| c["id"] != c1);
    let (st, v) = s.json(reqwest::Method::PUT, "/api/flow", fewer).await;
    assert_eq!(st, 409, "{v}");

    // labels
    let (st, v) =
        s.json(reqwest::Method::PUT, "/api/labels/l1", json!({"text": "hello", "position": {"x": 1, "y": 2}})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["text"], "hello");
    let (_, f) = s.get_json("/api/flow").await;
    assert_eq!(f["labels"][0]["id"], "l1");
    let (st, _) = s.json(reqwest::Method::PUT, "/api/labels/l2", json!({"position": {"x": 1}})).await;
    assert_eq!(st, 400);
    let (st, _) = s.delete("/api/labels/l1").await;
    assert_eq!(st, 204);
    let (st, _) = s.delete("/api/labels/l1").await;
    assert_eq!(st, 404);

    // bulletins: a failed start posts none, but a processor error does; post one directly
    s.controller.bulletins().post(sluice_engine::Level::Warning, &g, "gen", "test bulletin");
    let (st, v) = s.get_json(&format!("/api/bulletins?component={g}&limit=5")).await;
    assert_eq!(st, 200);
    let b = &v["bulletins"][0];
    assert_eq!(b["message"], "test bulletin");
    assert_eq!(b["level"], "WARNING");
    for k in ["id", "timestamp_millis", "component_id", "component_name"] {
        assert!(b.get(k).is_some());
    }
    let (st, _) = s.get_json("/api/bulletins?limit=-1").await;
    assert_eq!(st, 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_and_depth_limits() {
    let s = start_with(|c| c.max_body_bytes = 4096).await;
    let big = json!({"type": "GenerateFlowFile", "comments": "x".repeat(10_000)});
    let (st, v) = s.post("/api/processors", big.clone()).await;
    assert_eq!(st, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("too large"));
    let (st, v) =
        s.json(reqwest::Method::PUT, "/api/flow", json!({"version": 1, "description": "x".repeat(10_000)})).await;
    assert_eq!(st, 413, "{v}");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let res = s
        .http
        .post(s.url("/api/processors"))
        .header("content-type", "application/json")
        .body(deep.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("nested"));
    let res =
        s.http.put(s.url("/api/flow")).header("content-type", "application/json").body(deep).send().await.unwrap();
    assert_eq!(res.status(), 400);
    s.stop().await;
}

/// Two clients hold the same revision and change the same component at once: exactly one
/// wins, the other gets 409 with the winner's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_revision_race_between_two_clients() {
    let s = start().await;
    let p = s.add(json!({"type": "UpdateAttribute", "name": "start"})).await;
    let q = s.add(json!({"type": "LogAttribute", "name": "sink"})).await;
    let (_, c) = s
        .post("/api/connections", json!({"source": p["id"], "destination": q["id"], "relationships": ["success"]}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let cid = c["id"].as_str().unwrap().to_string();
    let a = reqwest::Client::new();
    let b = reqwest::Client::new();
    for round in 0..20 {
        for (path, kind) in
            [(format!("/api/processors/{pid}"), "processor"), (format!("/api/connections/{cid}"), "connection")]
        {
            let (_, cur) = s.get_json(&path).await;
            let rev = cur["revision"].as_u64().unwrap();
            let url = s.url(&path);
            let fa = a.patch(&url).json(&json!({"revision": rev, "name": format!("A{round}")})).send();
            let fb = b.patch(&url).json(&json!({"revision": rev, "name": format!("B{round}")})).send();
            let (ra, rb) = tokio::join!(fa, fb);
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            let (sa, sb) = (ra.status().as_u16(), rb.status().as_u16());
            let (va, vb): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
            let (win, lose) = match (sa, sb) {
                (200, 409) => (va, vb),
                (409, 200) => (vb, va),
                other => panic!("{kind} round {round}: expected one 200 and one 409, got {other:?}: {va} {vb}"),
            };
            assert_eq!(lose["details"]["revision"], win["revision"], "{kind}: 409 carries the current state");
            assert_eq!(lose["details"]["name"], win["name"]);
            assert!(lose["error"].as_str().unwrap().contains("revision"));
            let (_, now) = s.get_json(&path).await;
            assert_eq!(now["name"], win["name"]);
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool() {
    let s = start().await;
    let (g, _u, _l, c1, _) = s.small_flow("50 ms").await;
    let (st, v) = s.post("/api/flow/start", json!({})).await;
    assert_eq!(st, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = s.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("sluice_processor_flowfiles_out_total{") && l.contains(&format!("component_id=\"{g}\""))
        })
        .expect("generator series");
    assert!(line.contains("component_type=\"GenerateFlowFile\"") && line.contains("component_name=\"gen\""), "{line}");
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 0.0, "{line}");
    assert!(text.lines().any(|l| l.starts_with("sluice_connection_queued_flowfiles{") && l.contains(&c1)));
    for m in [
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "sluice_content_repository_bytes{",
        "sluice_provenance_events ",
    ] {
        assert!(text.contains(m), "metrics lack {m}");
    }
    s.post("/api/flow/stop", json!({})).await;
    if std::path::Path::new("/usr/bin/promtool").exists() {
        use std::io::Write;
        let mut child = std::process::Command::new("/usr/bin/promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("promtool not installed; skipped the promtool check");
    }
    s.stop().await;
}

/// The OpenAPI schemas of the engine's shapes are written by hand (the engine has no schema
/// derive): check that real answers have exactly the documented fields, so the two cannot
/// drift apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_schemas_match_real_answers() {
    let s = start().await;
    let (g, _u, _l, c1, _) = s.small_flow("50 ms").await;
    s.post(&format!("/api/processors/{g}/start"), json!({})).await;
    eventually(
        10,
        || async {
            s.get_json(&format!("/api/connections/{c1}")).await.1["status"]["queued_count"].as_u64().unwrap_or(0) >= 1
        },
        "a queued flowfile",
    )
    .await;
    s.post(&format!("/api/processors/{g}/stop"), json!({})).await;
    s.json(reqwest::Method::PUT, "/api/labels/l", json!({"text": "t", "size": [1, 2]})).await;
    s.controller.bulletins().post(sluice_engine::Level::Info, &g, "gen", "hello");
    let (_, doc) = s.get_json("/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    fn props(schema: &Value, out: &mut Vec<String>) {
        if let Some(p) = schema["properties"].as_object() {
            out.extend(p.keys().cloned());
        }
        for key in ["allOf", "oneOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                props(part, out);
            }
        }
    }
    let check = |name: &str, real: &Value| {
        let schema = &schemas[name];
        let mut all = Vec::new();
        props(schema, &mut all);
        assert!(!all.is_empty(), "schema {name} missing: {schema}");
        let mut documented: Vec<&String> = all.iter().collect();
        let mut actual: Vec<&String> = real.as_object().unwrap().keys().collect();
        documented.sort();
        actual.sort();
        assert_eq!(documented, actual, "schema {name} vs a real answer");
    };
    let (_, flow) = s.get_json("/api/flow").await;
    check("FlowView", &flow);
    check("ProcessorView", &flow["processors"][0]);
    check("ProcessorStatus", &flow["processors"][0]["status"]);
    check("Scheduling", &flow["processors"][0]["scheduling"]);
    check("ConnectionView", &flow["connections"][0]);
    check("ConnectionStatus", &flow["connections"][0]["status"]);
    check("Label", &flow["labels"][0]);
    let (_, q) = s.get_json(&format!("/api/connections/{c1}/queue")).await;
    check("QueueListing", &q);
    check("QueuedFlowFile", &q["flowfiles"][0]);
    let (_, b) = s.get_json("/api/bulletins").await;
    check("Bulletin", &b["bulletins"][0]);
    check("Bulletins", &b);
    let (_, sys) = s.get_json("/api/system").await;
    check("System", &sys);
    let (_, h) = s.get_json("/api/health").await;
    check("Health", &h);
    let mut events = Value::Null;
    for _ in 0..300 {
        events = s.get_json(&format!("/api/provenance?component={g}")).await.1;
        if events["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check("EventList", &events);
    check("EventSummary", &events["events"][0]);
    let (_, detail) = s.get_json(&format!("/api/provenance/events/{}", events["events"][0]["id"])).await;
    check("EventDetail", &detail);
    let (_, lineage) = s
        .get_json(&format!("/api/provenance/lineage/{}", events["events"][0]["flowfile_uuid"].as_str().unwrap()))
        .await;
    check("Lineage", &lineage);
    s.stop().await;
}

/// `GET /api/flowfiles/{uuid}/content`: a malformed uuid is a 400 JSON error naming it, an
/// unknown one a 404 JSON error naming it; a queued flowfile's content still answers 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowfile_content_malformed_and_unknown_uuid() {
    let s = start().await;
    let (g, _u, _l, c1, _c2) = s.small_flow("100 ms").await;
    let (st, v) = s.post(&format!("/api/processors/{g}/start"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    eventually(
        10,
        || async { s.get_json(&format!("/api/connections/{c1}/queue")).await.1["total"].as_u64().unwrap_or(0) >= 1 },
        "a queued flowfile",
    )
    .await;
    s.post(&format!("/api/processors/{g}/stop"), json!({})).await;
    let (_, q) = s.get_json(&format!("/api/connections/{c1}/queue?limit=1")).await;
    let queued = q["flowfiles"][0]["uuid"].as_str().unwrap().to_string();
    let res = s.get(&format!("/api/flowfiles/{queued}/content")).await;
    assert_eq!(res.status(), 200, "a queued flowfile's content");
    assert_eq!(res.bytes().await.unwrap().len(), 10);

    for bad in ["not-a-uuid", "12345", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"] {
        let (st, v) = s.get_json(&format!("/api/flowfiles/{bad}/content")).await;
        assert_eq!(st, 400, "malformed uuid {bad}: {v}");
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("JSON error body: {v}"));
        assert!(msg.contains(bad) && msg.contains("not a flowfile uuid"), "{msg}");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    let (st, v) = s.get_json(&format!("/api/flowfiles/{unknown}/content")).await;
    assert_eq!(st, 404, "unknown uuid: {v}");
    let msg = v["error"].as_str().unwrap_or_else(|| panic!("JSON error body: {v}"));
    assert!(msg.contains(&unknown), "{msg}");
    s.stop().await;
}

/// Provenance content that the content repository no longer holds: with an archive that keeps
/// nothing, once the flowfiles are dropped and the repository cleans up, the input and output
/// content of their events answer 404 with a JSON error saying the content aged out (and the
/// event says the content is no longer available); before that, the same content was served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provenance_content_aged_out_is_404() {
    let s = start_with_engine(|c| {
        // Every claim closes its segment, and a released segment is removed at the next cleanup.
        c.content_config.max_appendable_size = 1;
        c.content_config.archive_max_age = Duration::ZERO;
        c.content_config.archive_max_bytes = 0;
    })
    .await;
    let g = s
        .add(json!({"type": "GenerateFlowFile", "name": "gen",
                    "properties": {"Batch Size": "1", "File Size": "10 B", "Unique FlowFiles": "true"},
                    "scheduling": {"period": "100 ms"}}))
        .await;
    let l = s.add(json!({"type": "LogAttribute", "name": "log", "auto_terminated_relationships": ["success"]})).await;
    let (st, c) = s
        .post("/api/connections", json!({"source": g["id"], "destination": l["id"], "relationships": ["success"]}))
        .await;
    assert_eq!(st, 201, "{c}");
    let (g, c) = (g["id"].as_str().unwrap().to_string(), c["id"].as_str().unwrap().to_string());
    s.post(&format!("/api/processors/{g}/start"), json!({})).await;
    eventually(
        10,
        || async { s.get_json(&format!("/api/connections/{c}/queue")).await.1["total"].as_u64().unwrap_or(0) >= 2 },
        "queued flowfiles",
    )
    .await;
    s.post(&format!("/api/processors/{g}/stop"), json!({})).await;
    let (_, q) = s.get_json(&format!("/api/connections/{c}/queue?limit=1")).await;
    let uuid = q["flowfiles"][0]["uuid"].as_str().unwrap().to_string();

    let mut create = None;
    for _ in 0..300 {
        let (_, v) = s.get_json(&format!("/api/provenance?flowfile={uuid}&type=CREATE")).await;
        create = v["events"][0]["id"].as_u64();
        if create.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let create = create.expect("CREATE event");
    // While the flowfile is queued its content is live: served, and cleanup keeps it.
    s.controller.runtime().content.cleanup();
    let res = s.get(&format!("/api/provenance/events/{create}/content/output")).await;
    assert_eq!(res.status(), 200, "live content is served");
    let live = res.bytes().await.unwrap();
    assert_eq!(live.len(), 10);

    let (st, _) = s.delete(&format!("/api/connections/{c}/queue")).await;
    assert_eq!(st, 200);
    let mut drop_id = None;
    for _ in 0..300 {
        let (_, v) = s.get_json(&format!("/api/provenance?flowfile={uuid}&type=DROP")).await;
        drop_id = v["events"][0]["id"].as_u64();
        if drop_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drop_id = drop_id.expect("DROP event");

    // The released segment goes at the repository's next cleanup (the engine runs one a minute).
    eventually(
        10,
        || async {
            s.controller.runtime().content.cleanup();
            s.get(&format!("/api/provenance/events/{create}/content/output")).await.status() == 404
        },
        "the dropped content to age out",
    )
    .await;
    for (event, which) in [(create, "output"), (drop_id, "input"), (drop_id, "output")] {
        let (st, v) = s.get_json(&format!("/api/provenance/events/{event}/content/{which}")).await;
        assert_eq!(st, 404, "{which} of event {event}: {v}");
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("JSON error body: {v}"));
        assert!(msg.contains("aged out"), "{which} of event {event}: {msg}");
        assert!(msg.contains(&format!("{which} of event {event}")), "{msg}");
    }
    let (st, d) = s.get_json(&format!("/api/provenance/events/{create}")).await;
    assert_eq!(st, 200);
    assert_eq!(d["content_available"]["output"], false, "{d}");
    s.stop().await;
}
