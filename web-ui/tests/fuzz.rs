//! Property-based test of the API's inputs: random and malformed JSON for every write
//! endpoint never yields a 500 (or a panic, which the server would turn into one or a
//! dropped connection) and never changes the flow (`GET /api/flow/export` before and after).

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// How a valid body is spoiled.
#[derive(Debug, Clone)]
enum Spoil {
    /// Cut short (any strict prefix of an object is malformed).
    Truncate(usize),
    /// Random bytes (never only whitespace: an empty body means "no body" where optional).
    Bytes(Vec<u8>),
    /// One field's value replaced by a value of another JSON type.
    WrongType { field: usize, pick: u8, text: String },
    /// An unknown field added.
    UnknownField(String),
    /// A random JSON value that is not an object.
    NotObject(Value),
    /// Deeply nested.
    Deep(usize),
    /// Not UTF-8 / control bytes inside a string.
    BadString(Vec<u8>),
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
    ]
}

fn json_any() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        any::<usize>().prop_map(Spoil::Truncate),
        prop::collection::vec(any::<u8>(), 1..200)
            .prop_filter("not only whitespace", |b| !b.iter().all(u8::is_ascii_whitespace))
            .prop_map(Spoil::Bytes),
        (any::<usize>(), any::<u8>(), ".{0,12}").prop_map(|(field, pick, text)| Spoil::WrongType { field, pick, text }),
        "zz_[a-z]{1,8}".prop_map(Spoil::UnknownField),
        json_any().prop_filter("not an object", |v| !v.is_object()).prop_map(Spoil::NotObject),
        (65usize..3000).prop_map(Spoil::Deep),
        prop::collection::vec(any::<u8>(), 1..20).prop_map(Spoil::BadString),
    ]
}

/// A value of another JSON type than `orig` (never null; never an array in place of an
/// object, which serde would read as a struct's fields in order).
fn other_type(orig: &Value, pick: u8, text: &str) -> Value {
    let candidates: Vec<Value> = vec![
        json!(text),
        json!(pick as i64 - 100),
        json!(pick.is_multiple_of(2)),
        json!([text, pick]),
        json!({"zz": text}),
    ];
    let same = |a: &Value, b: &Value| std::mem::discriminant(a) == std::mem::discriminant(b);
    let ok: Vec<Value> = candidates
        .into_iter()
        .filter(|c| !same(c, orig))
        .filter(|c| !(orig.is_object() && c.is_array()))
        .filter(|c| !(orig.is_object() && c.is_object()))
        .collect();
    ok[pick as usize % ok.len()].clone()
}

fn body(valid: &Value, s: &Spoil) -> Vec<u8> {
    let text = valid.to_string();
    match s {
        Spoil::Truncate(n) => text.as_bytes()[..n % (text.len() - 1) + 1].to_vec(),
        Spoil::Bytes(b) => b.clone(),
        Spoil::WrongType { field, pick, text } => {
            let mut v = valid.clone();
            let obj = v.as_object_mut().unwrap();
            if obj.is_empty() {
                return b"{\"zz\": 1}".to_vec();
            }
            let key = obj.keys().nth(field % obj.len()).unwrap().clone();
            let new = other_type(&obj[&key], *pick, text);
            obj.insert(key, new);
            v.to_string().into_bytes()
        }
        Spoil::UnknownField(k) => {
            let mut v = valid.clone();
            v.as_object_mut().unwrap().insert(k.clone(), json!(1));
            v.to_string().into_bytes()
        }
        Spoil::NotObject(v) => v.to_string().into_bytes(),
        Spoil::Deep(n) => {
            let mut b = b"{\"name\": ".to_vec();
            b.extend(std::iter::repeat_n(b'[', *n));
            b.extend(std::iter::repeat_n(b']', *n));
            b.push(b'}');
            b
        }
        Spoil::BadString(bytes) => {
            let mut b = b"{\"name\": \"".to_vec();
            b.extend(bytes.iter().map(|x| if *x == b'"' || *x == b'\\' { 0xff } else { *x }).chain([0xc3, 0x28]));
            b.extend(b"\"}");
            b
        }
    }
}

#[test]
fn malformed_input_never_500_and_never_changes_the_flow() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let s = rt.block_on(start());
    let (g, u, l, c1, c2) = rt.block_on(async {
        let ids = s.small_flow("1 sec").await;
        // The generator runs and the logger is stopped: start and stop are then no-ops
        // even if a spoiled body were accepted.
        let (st, v) = s.post(&format!("/api/processors/{}/start", ids.0), json!({})).await;
        assert_eq!(st, 200, "{v}");
        let (st, _) =
            s.json(reqwest::Method::PUT, "/api/labels/lab", json!({"text": "t", "position": {"x": 0, "y": 0}})).await;
        assert_eq!(st, 200);
        ids
    });
    let export = rt.block_on(s.export());
    let flow: Value = serde_json::from_str(&export).unwrap();
    let rev = |path: String| {
        let s = &s;
        rt.block_on(async move { s.get_json(&path).await.1["revision"].as_u64().unwrap() })
    };
    let urev = rev(format!("/api/processors/{u}"));
    let crev = rev(format!("/api/connections/{c1}"));

    let endpoints: Vec<(reqwest::Method, String, Value)> = vec![
        (
            reqwest::Method::POST,
            "/api/processors".into(),
            json!({"type": "UpdateAttribute", "name": "n", "position": {"x": 1, "y": 2}, "properties": {"a": "b"}, "state": "STOPPED", "auto_terminated_relationships": ["success"], "scheduling": {"period": "1 sec", "concurrent_tasks": 1}, "comments": "c"}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/processors/{u}"),
            json!({"revision": urev, "name": "n2", "position": {"x": 5, "y": 6}, "properties": {"a": "c", "b": null}, "auto_terminated_relationships": [], "scheduling": {"period": "2 sec"}, "retry": null, "comments": "x"}),
        ),
        (reqwest::Method::POST, format!("/api/processors/{g}/start"), json!({})),
        (reqwest::Method::POST, format!("/api/processors/{l}/stop"), json!({})),
        (reqwest::Method::POST, format!("/api/processors/{u}/validate"), json!({"properties": {"a": "b"}})),
        (reqwest::Method::POST, "/api/flow/start".into(), json!({"ids": [g]})),
        (reqwest::Method::POST, "/api/flow/stop".into(), json!({"ids": [l]})),
        (
            reqwest::Method::POST,
            "/api/connections".into(),
            json!({"source": u, "destination": l, "relationships": ["success"], "name": "x", "back_pressure_object_threshold": 5, "back_pressure_data_size_threshold": "1 MB", "prioritizers": [], "flowfile_expiration": "0 sec", "bends": [{"x": 1, "y": 1}]}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/connections/{c2}"),
            json!({"revision": crev, "name": "q", "relationships": ["success"], "back_pressure_object_threshold": 7, "back_pressure_data_size_threshold": "2 MB", "flowfile_expiration": "1 min", "bends": []}),
        ),
        (
            reqwest::Method::PUT,
            "/api/labels/lab".into(),
            json!({"text": "changed", "position": {"x": 3, "y": 4}, "size": [10, 20]}),
        ),
        (reqwest::Method::PUT, "/api/flow".into(), flow.clone()),
        (reqwest::Method::POST, "/api/auth/token".into(), json!({"password": "x"})),
    ];

    let cases = std::sync::atomic::AtomicUsize::new(0);
    let config = Config { cases: 128, failure_persistence: None, ..Config::default() };
    for (method, path, valid) in &endpoints {
        TestRunner::new(config.clone())
            .run(&spoil(), |sp| {
                cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let bytes = body(valid, &sp);
                let (status, answer, after) = rt.block_on(async {
                    let res = s
                        .http
                        .request(method.clone(), s.url(path))
                        .header("content-type", "application/json")
                        .body(bytes.clone())
                        .send()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{method} {path}: no answer (panic?): {e}")))?;
                    let status = res.status().as_u16();
                    let answer = res.text().await.unwrap_or_default();
                    Ok::<_, TestCaseError>((status, answer, s.export().await))
                })?;
                let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
                prop_assert!(status < 500, "{} {}: {} for {:?}: {}", method, path, status, shown, answer);
                prop_assert!(
                    status >= 400 || path.ends_with("/validate"),
                    "{} {} accepted {:?}: {} {}",
                    method,
                    path,
                    shown,
                    status,
                    answer
                );
                let v: Value =
                    serde_json::from_str(&answer).map_err(|_| TestCaseError::fail(format!("not JSON: {answer}")))?;
                prop_assert!(status < 400 || v["error"].is_string(), "error without message: {}", answer);
                prop_assert_eq!(&after, &export, "{} {} changed the flow with {:?}", method, path, shown);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // Query strings of the removals: never numeric, so never a real revision.
    for path in [format!("/api/processors/{u}"), format!("/api/connections/{c1}")] {
        TestRunner::new(config.clone())
            .run(&"[a-z][a-z%&=#/ -]{0,19}", |q| {
                let url = format!("{}?revision={}", s.url(&path), q);
                let status = rt.block_on(async { s.http.delete(url).send().await.map(|r| r.status().as_u16()) });
                let status = status.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(status < 500);
                prop_assert_eq!(rt.block_on(s.export()), export.clone());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let n = cases.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{n} spoiled bodies sent to {} endpoints", endpoints.len());
    assert!(n >= 128 * endpoints.len());
    rt.block_on(s.stop());
}
