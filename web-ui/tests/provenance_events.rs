//! Provenance of the events the session derives that other tests do not reach: CLONE (one
//! relationship, two connections), EXPIRE (flowfile expiration on a connection), and REPLAY,
//! whose flowfile must carry the original content byte for byte; DOWNLOAD, recorded when
//! content is read through the API; and FORK, ROUTE, CONTENT_MODIFIED and JOIN from a
//! split-route-modify-merge flow, whose lineage must be complete in both directions.

mod common;

use common::*;
use serde_json::{Value, json};

async fn events(s: &Server, query: &str) -> Vec<Value> {
    s.get_json(&format!("/api/provenance?{query}")).await.1["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_expire_and_replay_byte_for_byte() {
    let s = start().await;
    let text = "hello replay: ünïcödé and \u{0} bytes\n";
    let g = s
        .add(json!({"type": "GenerateFlowFile", "name": "gen",
                    "properties": {"Batch Size": "1", "Custom Text": text, "Data Format": "Text"},
                    "scheduling": {"period": "200 ms"}}))
        .await;
    // `kept` takes everything at once; `slow` looks every 3 s, by when its queue's flowfiles
    // (expiration 1 sec) have expired.
    let kept =
        s.add(json!({"type": "LogAttribute", "name": "kept", "auto_terminated_relationships": ["success"]})).await;
    let slow = s
        .add(json!({"type": "LogAttribute", "name": "slow", "auto_terminated_relationships": ["success"],
                    "scheduling": {"period": "3 sec"}}))
        .await;
    let (st, c_kept) = s
        .post("/api/connections", json!({"source": g["id"], "destination": kept["id"], "relationships": ["success"]}))
        .await;
    assert_eq!(st, 201, "{c_kept}");
    let (st, c_slow) = s
        .post(
            "/api/connections",
            json!({"source": g["id"], "destination": slow["id"], "relationships": ["success"], "flowfile_expiration": "1 sec"}),
        )
        .await;
    assert_eq!(st, 201, "{c_slow}");
    for p in [&kept, &slow, &g] {
        let (st, v) = s.post(&format!("/api/processors/{}/start", p["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(st, 200, "{v}");
    }

    eventually(
        20,
        || async {
            !events(&s, "type=CLONE&limit=1").await.is_empty() && !events(&s, "type=EXPIRE&limit=1").await.is_empty()
        },
        "CLONE and EXPIRE events",
    )
    .await;
    let clone = &events(&s, "type=CLONE&limit=1").await[0];
    assert_eq!(clone["component_id"], g["id"], "the generator's session cloned for its second connection");
    assert_eq!(clone["child_uuids"].as_array().unwrap().len(), 1, "{clone}");
    let expire = &events(&s, "type=EXPIRE&limit=1").await[0];
    assert_eq!(expire["component_id"], slow["id"], "expired on the way into 'slow': {expire}");

    // Replay a flowfile that 'kept' dropped, into its queue while 'kept' is stopped.
    let (st, _) = s.post(&format!("/api/processors/{}/stop", g["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(st, 200);
    let (st, _) = s.post(&format!("/api/processors/{}/stop", kept["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(st, 200);
    let kept_id = kept["id"].as_str().unwrap();
    let drop =
        events(&s, &format!("type=DROP&component={kept_id}&limit=1")).await.into_iter().next().expect("a DROP by kept");
    let drop_id = drop["id"].as_u64().unwrap();
    for side in ["input", "output"] {
        // A DROP leaves the content as it was: input and output are the same bytes.
        let r = s.get(&format!("/api/provenance/events/{drop_id}/content/{side}")).await;
        assert_eq!(r.status().as_u16(), 200, "{side}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), text.as_bytes(), "the event's {side} content");
    }
    let (st, v) = s.post(&format!("/api/provenance/events/{drop_id}/replay"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["connection_id"], c_kept["id"]);
    let (_, q) = s.get_json(&format!("/api/connections/{}/queue", c_kept["id"].as_str().unwrap())).await;
    let replayed: Vec<&Value> = q["flowfiles"].as_array().unwrap().iter().collect();
    let original = drop["flowfile_uuid"].as_str().unwrap();
    let again = replayed.iter().find(|f| f["attributes"]["uuid"] != original).or(replayed.first()).expect("queued");
    let uuid = again["uuid"].as_str().unwrap();
    let content = s.get(&format!("/api/flowfiles/{uuid}/content")).await;
    assert_eq!(content.status().as_u16(), 200);
    assert_eq!(content.bytes().await.unwrap().as_ref(), text.as_bytes(), "replayed content byte for byte");
    eventually(
        10,
        || async {
            let of_original = events(&s, &format!("type=DOWNLOAD&flowfile={original}")).await;
            let of_queued = events(&s, &format!("type=DOWNLOAD&flowfile={uuid}")).await;
            of_original.len() == 2
                && of_original.iter().all(|e| e["details"].as_str().unwrap_or("").contains(&format!("event {drop_id}")))
                && of_queued.len() == 1
                && of_queued[0]["details"] == "content of a queued flowfile"
        },
        "a DOWNLOAD for each content read: two of the DROP event's content, one of the queued flowfile's",
    )
    .await;
    eventually(
        10,
        || async {
            events(&s, &format!("type=REPLAY&flowfile={uuid}"))
                .await
                .iter()
                .any(|e| e["parent_uuids"].as_array().is_some_and(|p| p.iter().any(|p| p == original)))
        },
        "a REPLAY event naming the original as parent",
    )
    .await;
    s.stop().await;
}

/// The ids of a lineage graph's flowfile nodes.
fn lineage_flowfiles(v: &Value) -> std::collections::BTreeSet<String> {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "flowfile")
        .map(|n| n["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// One text split into lines, each routed and modified, then merged back: FORK, ROUTE,
/// CONTENT_MODIFIED and JOIN come from the processors that cause them, and the lineage of any
/// flowfile of the family reaches all the others, up through parents and down through children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_route_modify_merge_lineage_both_ways() {
    let s = start().await;
    let g = s
        .add(json!({"type": "GenerateFlowFile", "name": "gen",
                    "properties": {"Batch Size": "1", "Custom Text": "a\nb\nc\nd\n", "Data Format": "Text"},
                    "scheduling": {"period": "1 hour"}}))
        .await;
    let split = s
        .add(json!({"type": "SplitText", "name": "split", "properties": {"Line Split Count": "1"},
                    "auto_terminated_relationships": ["original", "failure"]}))
        .await;
    let route = s
        .add(json!({"type": "RouteOnAttribute", "name": "route",
                    "properties": {"Routing Strategy": "Route to Property name", "lines": "${fragment.count:equals(4)}"},
                    "auto_terminated_relationships": ["unmatched"]}))
        .await;
    let modify = s
        .add(json!({"type": "ReplaceText", "name": "modify",
                    "properties": {"Replacement Strategy": "Prepend", "Replacement Value": ">", "Evaluation Mode": "Entire text"},
                    "auto_terminated_relationships": ["failure"]}))
        .await;
    let merge = s
        .add(json!({"type": "MergeContent", "name": "merge", "properties": {"Merge Strategy": "Defragment"},
                    "auto_terminated_relationships": ["original", "failure"]}))
        .await;
    let sink = s.add(json!({"type": "LogAttribute", "name": "sink"})).await;
    for (from, to, rel) in
        [(&g, &split, "success"), (&split, &route, "splits"), (&route, &modify, "lines"), (&modify, &merge, "success")]
    {
        let (st, v) = s
            .post("/api/connections", json!({"source": from["id"], "destination": to["id"], "relationships": [rel]}))
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = s
        .post(
            "/api/connections",
            json!({"source": merge["id"], "destination": sink["id"], "relationships": ["merged"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    for p in [&split, &route, &modify, &merge, &g] {
        let (st, v) = s.post(&format!("/api/processors/{}/start", p["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(st, 200, "{v}");
    }
    let id = |p: &Value| p["id"].as_str().unwrap().to_string();
    eventually(
        20,
        || async { !events(&s, &format!("type=JOIN&component={}", id(&merge))).await.is_empty() },
        "a JOIN by the merge",
    )
    .await;

    let forks = events(&s, &format!("type=FORK&component={}", id(&split))).await;
    assert_eq!(forks.len(), 1, "{forks:?}");
    let original = forks[0]["flowfile_uuid"].as_str().unwrap().to_string();
    let children: Vec<String> =
        forks[0]["child_uuids"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(children.len(), 4, "one fragment per line");
    let created = events(&s, &format!("type=CREATE&component={}", id(&g))).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["flowfile_uuid"], original.as_str());

    let routes = events(&s, &format!("type=ROUTE&component={}", id(&route))).await;
    assert_eq!(routes.len(), 4, "one ROUTE per fragment: {routes:?}");
    assert!(
        routes
            .iter()
            .all(|e| e["relationship"] == "lines"
                && children.contains(&e["flowfile_uuid"].as_str().unwrap().to_string()))
    );
    let detail = s.get_json(&format!("/api/provenance/events/{}", routes[0]["id"])).await.1;
    assert_eq!(detail["updated_attributes"]["RouteOnAttribute.Route"], "lines", "{detail}");
    assert!(events(&s, &format!("type=ATTRIBUTES_MODIFIED&component={}", id(&route))).await.is_empty());

    let modified = events(&s, &format!("type=CONTENT_MODIFIED&component={}", id(&modify))).await;
    assert_eq!(modified.len(), 4, "{modified:?}");
    let m = modified.iter().find(|e| e["flowfile_uuid"] == children[1].as_str()).expect("the second fragment's");
    let before = s.get(&format!("/api/provenance/events/{}/content/input", m["id"])).await.bytes().await.unwrap();
    let after = s.get(&format!("/api/provenance/events/{}/content/output", m["id"])).await.bytes().await.unwrap();
    assert_eq!((before.as_ref(), after.as_ref()), (&b"b"[..], &b">b"[..]));

    let joins = events(&s, &format!("type=JOIN&component={}", id(&merge))).await;
    assert_eq!(joins.len(), 1);
    let merged = joins[0]["flowfile_uuid"].as_str().unwrap().to_string();
    let mut parents: Vec<String> =
        joins[0]["parent_uuids"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    parents.sort();
    let mut sorted = children.clone();
    sorted.sort();
    assert_eq!(parents, sorted, "the merge joined exactly the four fragments");
    let out = s.get(&format!("/api/provenance/events/{}/content/output", joins[0]["id"])).await.bytes().await.unwrap();
    assert_eq!(
        out.as_ref(),
        b">a>b>c>d",
        "defragmented in order (SplitText removes trailing newlines by default, as NiFi)"
    );

    // The whole family, from the top, from the bottom and from the middle.
    let family: std::collections::BTreeSet<String> =
        children.iter().cloned().chain([original.clone(), merged.clone()]).collect();
    for start in [&original, &merged, &children[2]] {
        let (st, v) = s.get_json(&format!("/api/provenance/lineage/{start}")).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(lineage_flowfiles(&v), family, "lineage of {start}");
        let edges = v["edges"].as_array().unwrap();
        let fork_node = format!("ev:{}", forks[0]["id"]);
        let join_node = format!("ev:{}", joins[0]["id"]);
        for c in &children {
            assert!(
                edges.iter().any(|e| e["from"] == fork_node.as_str() && e["to"] == format!("ff:{c}")),
                "FORK → {c}"
            );
        }
        assert!(edges.iter().filter(|e| e["to"] == join_node.as_str()).count() >= 4, "each fragment's history → JOIN");
        // The merged flowfile's history starts at the JOIN that made it.
        assert!(
            edges.iter().any(|e| e["from"] == format!("ff:{merged}") && e["to"] == join_node.as_str()),
            "the merged flowfile → its JOIN"
        );
    }
    s.stop().await;
}
