//! Provenance of the events the session derives that other tests do not reach: CLONE (one
//! relationship, two connections), EXPIRE (flowfile expiration on a connection), and REPLAY,
//! whose flowfile must carry the original content byte for byte; and DOWNLOAD, recorded when
//! content is read through the API.

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
