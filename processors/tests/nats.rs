//! PublishNATS and ConsumeNATS against a real nats-server with JetStream (started by
//! scripts/start-nats.sh, or SLUICE_TEST_NATS_URL): core and JetStream, headers, a server
//! that is down at start, a server lost mid-stream, bad input, and JetStream's at-least-once
//! delivery (a rolled-back session's messages are redelivered).

mod servers;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use sluice_engine::flow::view::NewConnection;
use sluice_engine::testing::TestRunner;
use sluice_processors::{io::block_on, registry};

use servers::{Nats, eventually, nats_url};

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn client(url: &str) -> async_nats::Client {
    block_on(async_nats::connect(url)).expect("the test connects to NATS")
}

fn js_context(url: &str) -> jetstream::Context {
    let c = client(url);
    let _rt = sluice_processors::io::runtime().enter();
    jetstream::new(c)
}

fn create_stream(url: &str, name: &str, subjects: &[&str]) {
    let js = js_context(url);
    block_on(js.get_or_create_stream(jetstream::stream::Config {
        name: name.into(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }))
    .expect("stream created");
}

fn js_publish(url: &str, subject: &str, payloads: &[&str]) {
    let js = js_context(url);
    block_on(async {
        for p in payloads {
            js.publish(subject.to_string(), p.to_string().into()).await.expect("publish").await.expect("acked");
        }
    });
}

fn consumer_counts(url: &str, stream: &str, durable: &str) -> (u64, usize) {
    let js = js_context(url);
    block_on(async {
        let s = js.get_stream(stream).await.expect("stream");
        let info = s.consumer_info(durable).await.expect("consumer info");
        (info.num_pending, info.num_ack_pending)
    })
}

fn consumer(url: &str) -> TestRunner {
    let mut r = TestRunner::new(registry(), "ConsumeNATS");
    r.set_property("Server URLs", url);
    r
}

fn publisher(url: &str) -> TestRunner {
    let mut r = TestRunner::new(registry(), "PublishNATS");
    r.set_property("Server URLs", url);
    r
}

/// Runs until `rel` holds `n` flowfiles (at most 20 s).
fn run_until(r: &mut TestRunner, rel: &str, n: usize) -> bool {
    eventually(Duration::from_secs(20), || {
        r.run(1).unwrap();
        (r.count(rel) >= n).then_some(())
    })
    .is_some()
}

// ---------------------------------------------------------------- PublishNATS

#[test]
fn publish_core_with_subject_expressions_and_headers() {
    let url = nats_url();
    let base = unique("pub.");
    let c = client(&url);
    let mut sub = block_on(c.subscribe(format!("{base}.>"))).unwrap();
    block_on(c.flush()).unwrap();

    let mut r = publisher(&url);
    r.set_property("Subject", &format!("{base}.${{kind}}"));
    r.set_property("Attributes to Send as Headers (Regex)", "^h\\..*");
    r.enqueue("one", &[("kind", "a"), ("h.trace", "t1"), ("other", "x")]);
    r.enqueue("two", &[("kind", "b")]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 2);
    let got: Vec<async_nats::Message> = block_on(async {
        let mut v = Vec::new();
        for _ in 0..2 {
            v.push(
                tokio::time::timeout(Duration::from_secs(5), sub.next())
                    .await
                    .expect("message arrives")
                    .expect("message"),
            );
        }
        v
    });
    assert_eq!(got[0].subject.as_str(), format!("{base}.a"));
    assert_eq!(&got[0].payload[..], b"one");
    let h = got[0].headers.as_ref().expect("headers");
    assert_eq!(h.get("h.trace").map(|v| v.as_str()), Some("t1"));
    assert!(h.get("other").is_none());
    assert_eq!(got[1].subject.as_str(), format!("{base}.b"));
    let sends: Vec<_> = r.events().into_iter().filter(|e| format!("{:?}", e.event_type).contains("Send")).collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].transit_uri.as_deref(), Some(format!("{url}/{base}.a").as_str()));
}

#[test]
fn publish_bad_input_goes_to_failure() {
    let url = nats_url();
    let mut r = publisher(&url);
    r.set_property("Subject", "${s}");
    r.enqueue("x", &[("s", "has space")]);
    r.enqueue("x", &[]);
    r.enqueue(vec![b'x'; 2 * 1024 * 1024], &[("s", "big.one")]);
    r.run(1).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 3);
    let msgs: Vec<&str> = failed.iter().map(|f| f.attr("nats.error").unwrap_or("")).collect();
    assert!(msgs.iter().any(|m| m.contains("not a valid NATS subject")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("evaluated to nothing")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("max payload")), "{msgs:?}");

    // JetStream with no stream for the subject.
    let mut r = publisher(&url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", &unique("nostream."));
    r.set_property("Ack Timeout", "2 sec");
    r.enqueue("x", &[]);
    r.run(1).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 1, "bulletins: {:?}", r.bulletins());
    assert!(
        failed[0].attr("nats.error").unwrap_or_default().contains("no JetStream stream"),
        "{:?}",
        failed[0].attr("nats.error")
    );
}

#[test]
fn publish_jetstream_creates_the_stream_and_waits_for_acks() {
    let url = nats_url();
    let stream = unique("PUB");
    let base = unique("jsp.");
    let mut r = publisher(&url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", &format!("{base}.${{n}}"));
    r.set_property("Stream Name", &stream);
    r.set_property("Stream Subjects", &format!("{base}.>"));
    let ffs: Vec<_> = (0..5).map(|i| r.enqueue(format!("m{i}"), &[("n", &i.to_string())])).collect();
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(
        out.len(),
        5,
        "failures: {:?}",
        r.output("failure").iter().map(|f| f.attr("nats.error").map(String::from)).collect::<Vec<_>>()
    );
    let seqs: BTreeSet<u64> = out.iter().filter_map(|f| f.attr("nats.sequence")?.parse().ok()).collect();
    assert_eq!(seqs, (1..=5).collect());
    let js = js_context(&url);
    let msg = block_on(async { js.get_stream(&stream).await.unwrap().get_raw_message(1).await.unwrap() });
    assert_eq!(&msg.payload[..], b"m0");
    let id = msg.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string());
    assert_eq!(id, Some(ffs[0].id.to_string()), "Nats-Msg-Id is the flowfile uuid (deduplicated retries)");
}

#[test]
fn publish_waits_for_a_server_that_is_down_at_start() {
    let mut nats = Nats::prepare();
    let subject = unique("late.");
    let mut r = publisher(&nats.url);
    r.set_property("Subject", &subject);
    r.enqueue("hello", &[]);
    r.run(1).unwrap();
    assert_eq!(r.input_queue().len(), 1, "nothing is taken while the server is down");
    let b = r.bulletins().join("\n");
    assert!(b.contains("cannot connect") && b.contains("retrying in"), "{b}");
    nats.up();
    let c = client(&nats.url);
    let mut sub = block_on(c.subscribe(subject.clone())).unwrap();
    block_on(c.flush()).unwrap();
    assert!(run_until(&mut r, "success", 1), "published once the server is up; bulletins {:?}", r.bulletins());
    let m = block_on(async { tokio::time::timeout(Duration::from_secs(5), sub.next()).await })
        .expect("delivered")
        .expect("message");
    assert_eq!(&m.payload[..], b"hello");
}

// ---------------------------------------------------------------- ConsumeNATS

#[test]
fn consume_core_messages_with_headers_and_queue_group() {
    let url = nats_url();
    let subject = unique("core.");
    let mut r = consumer(&url);
    r.set_property("Subject", &format!("{subject}.*"));
    r.set_property("Queue Group", "workers");
    r.run(1).unwrap(); // subscribes
    let c = client(&url);
    block_on(async {
        let mut h = async_nats::HeaderMap::new();
        h.insert("trace", "abc");
        c.publish_with_headers(format!("{subject}.x"), h, "first".into()).await.unwrap();
        for i in 0..4 {
            c.publish(format!("{subject}.y"), format!("m{i}").into()).await.unwrap();
        }
        c.flush().await.unwrap();
    });
    assert!(run_until(&mut r, "success", 5), "bulletins {:?}", r.bulletins());
    let out = r.output("success");
    assert_eq!(TestRunner::content(&out[0]), "first");
    assert_eq!(out[0].attr("nats.subject"), Some(format!("{subject}.x").as_str()));
    assert_eq!(out[0].attr("trace"), Some("abc"));
    assert_eq!(TestRunner::content(&out[4]), "m3");
    let receives = r.events().into_iter().filter(|e| format!("{:?}", e.event_type).contains("Receive")).count();
    assert_eq!(receives, 5);
}

#[test]
fn consume_core_waits_for_a_server_that_is_down_at_start() {
    let mut nats = Nats::prepare();
    let subject = unique("late.");
    let mut r = consumer(&nats.url);
    r.set_property("Subject", &subject);
    r.run(1).unwrap();
    let b = r.bulletins().join("\n");
    assert!(b.contains("cannot connect"), "{b}");
    nats.up();
    let c = client(&nats.url);
    let got = eventually(Duration::from_secs(20), || {
        block_on(async {
            c.publish(subject.clone(), "ping".into()).await.unwrap();
            c.flush().await.unwrap();
        });
        r.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        r.run(1).unwrap();
        (r.count("success") > 0).then_some(())
    });
    assert!(got.is_some(), "receives once the server is up; bulletins {:?}", r.bulletins());
}

#[test]
fn consume_jetstream_acks_after_commit_and_redelivers_a_rolled_back_session() {
    let url = nats_url();
    let stream = unique("CON");
    let subject = unique("jsc.");
    create_stream(&url, &stream, &[&subject]);
    js_publish(&url, &subject, &["a", "b", "c"]);
    let mut r = consumer(&url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", &subject);
    r.set_property("Stream Name", &stream);
    r.set_property("Durable Name", "dur1");
    r.run(1).unwrap(); // connects, creates the consumer, starts pulling
    std::thread::sleep(Duration::from_millis(500));

    // The flow cannot take the flowfiles: the commit fails and the session rolls back.
    r.controller.remove_connection("out-success", None).expect("connection removed");
    assert!(r.run(1).is_err(), "the commit fails without a connection for success");
    let (_, ack_pending) = consumer_counts(&url, &stream, "dur1");
    assert!(ack_pending <= 3);

    r.controller
        .add_connection(NewConnection {
            id: Some("out-success".into()),
            source: "under-test".into(),
            destination: "sink-success".into(),
            relationships: vec!["success".into()],
            ..Default::default()
        })
        .expect("connection added back");
    assert!(run_until(&mut r, "success", 3), "redelivered; bulletins {:?}", r.bulletins());
    let out = r.output("success");
    let contents: Vec<String> = out.iter().map(TestRunner::content).collect();
    assert_eq!(contents, ["a", "b", "c"]);
    assert!(
        out.iter().all(|f| f.attr("nats.delivered") == Some("2")),
        "each was delivered twice: {:?}",
        out.iter().map(|f| f.attr("nats.delivered").map(String::from)).collect::<Vec<_>>()
    );
    assert_eq!(out[0].attr("nats.stream"), Some(stream.as_str()));
    assert_eq!(out[2].attr("nats.sequence"), Some("3"));
    // Committed, so acknowledged: nothing pending on the server.
    let settled =
        eventually(Duration::from_secs(10), || (consumer_counts(&url, &stream, "dur1") == (0, 0)).then_some(()));
    assert!(settled.is_some(), "acknowledged after commit: {:?}", consumer_counts(&url, &stream, "dur1"));
}

#[test]
fn consume_jetstream_survives_losing_the_server() {
    let mut nats = Nats::start();
    let stream = "LOSS";
    let subject = "loss.events";
    create_stream(&nats.url, stream, &[subject]);
    js_publish(&nats.url, subject, &["1", "2", "3"]);
    let mut r = consumer(&nats.url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", subject);
    r.set_property("Stream Name", stream);
    assert!(run_until(&mut r, "success", 3), "bulletins {:?}", r.bulletins());
    std::thread::sleep(Duration::from_millis(300)); // let the acks reach the server

    nats.down();
    for _ in 0..5 {
        r.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(r.bulletins().join("\n").contains("disconnected"), "{:?}", r.bulletins());
    nats.up();
    js_publish(&nats.url, subject, &["4", "5", "6"]);
    let all = eventually(Duration::from_secs(30), || {
        r.run(1).unwrap();
        let seqs: BTreeSet<String> =
            r.output("success").iter().filter_map(|f| f.attr("nats.sequence").map(String::from)).collect();
        (seqs.len() == 6).then_some(seqs)
    });
    assert!(
        all.is_some(),
        "all six messages arrive after the restart; got {:?}; bulletins {:?}",
        r.output("success").iter().map(TestRunner::content).collect::<Vec<_>>(),
        r.bulletins()
    );
}

#[test]
fn consume_jetstream_reports_a_missing_stream() {
    let url = nats_url();
    let mut r = consumer(&url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", "nothing.here");
    r.set_property("Stream Name", &unique("MISSING"));
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 0);
    assert!(r.bulletins().join("\n").contains("stream"), "{:?}", r.bulletins());
    let mut r = consumer(&url);
    r.set_property("Mode", "JetStream");
    r.set_property("Subject", "x");
    assert!(r.validation_errors().iter().any(|e| e.contains("Stream Name")));
}

/// A server demanding a user and password: PublishNATS and ConsumeNATS with a wrong password
/// take nothing, keep the flowfile and say so in a bulletin; with the right ones the message
/// goes through.
#[test]
fn bad_credentials_are_reported_and_lose_nothing() {
    let nats = Nats::start_with_auth("sluice", "right-pass");
    let subject = unique("auth.");
    let mut bad = publisher(&nats.url);
    bad.set_property("Subject", &subject).set_property("Username", "sluice").set_property("Password", "wrong");
    bad.enqueue("hello", &[]);
    bad.run(1).unwrap();
    assert_eq!(bad.input_queue().len(), 1, "nothing is taken with rejected credentials");
    assert_eq!(bad.count("success") + bad.count("failure"), 0);
    let b = bad.bulletins().join("\n").to_lowercase();
    assert!(b.contains("authorization") || b.contains("authentication"), "{b}");

    let mut bad_consumer = consumer(&nats.url);
    bad_consumer.set_property("Subject", &subject).set_property("Username", "sluice").set_property("Password", "wrong");
    bad_consumer.run(1).unwrap();
    let b = bad_consumer.bulletins().join("\n").to_lowercase();
    assert!(b.contains("authorization") || b.contains("authentication"), "{b}");

    let mut sub_side = consumer(&nats.url);
    sub_side
        .set_property("Subject", &subject)
        .set_property("Username", "sluice")
        .set_property("Password", "right-pass");
    sub_side.run(1).unwrap();
    let mut good = publisher(&nats.url);
    good.set_property("Subject", &subject).set_property("Username", "sluice").set_property("Password", "right-pass");
    good.enqueue("hello", &[]);
    assert!(run_until(&mut good, "success", 1), "published with the right credentials: {:?}", good.bulletins());
    assert!(run_until(&mut sub_side, "success", 1), "received: {:?}", sub_side.bulletins());
    assert_eq!(TestRunner::content(&sub_side.output("success")[0]), "hello");
}
