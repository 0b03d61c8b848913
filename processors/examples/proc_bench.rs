//! Processor throughput: pushes many small flowfiles through RouteOnAttribute and
//! ReplaceText with the TestRunner (the real engine in memory, provenance on, triggered on
//! this thread) and prints flowfiles per second.
//!
//! `cargo run --release -p sluice-processors --example proc_bench -- [flowfiles]`

use std::time::Instant;

use bytes::Bytes;
use sluice_engine::FlowFile;
use sluice_engine::repository::RepoChange;
use sluice_engine::testing::TestRunner;

/// Queues `n` flowfiles sharing one content, in one repository commit.
fn fill(r: &mut TestRunner, n: usize, content: &'static [u8], attrs: impl Fn(usize) -> Vec<(String, String)>) {
    let first: Vec<(String, String)> = attrs(0);
    let pairs: Vec<(&str, &str)> = first.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    r.enqueue(Bytes::from_static(content), &pairs); // builds the test flow
    let conn = r.controller.find_connection("input").expect("input connection");
    let rt = r.controller.runtime().clone();
    let data = rt.content.write_bytes(Bytes::from_static(content)).expect("content");
    let ffs: Vec<FlowFile> = (1..n)
        .map(|i| {
            let mut ff = FlowFile::new(data.clone());
            for (k, v) in attrs(i) {
                ff.set_attr(&k, &v);
            }
            ff
        })
        .collect();
    let changes: Vec<RepoChange<'_>> =
        ffs.iter().map(|f| RepoChange::Enqueue { queue: &conn.id, flowfile: f }).collect();
    rt.flowfiles.commit(&changes, &[]).expect("recorded");
    conn.enqueue(ffs, rt.now());
}

fn time(r: &mut TestRunner, n: usize) -> f64 {
    let t = Instant::now();
    r.run_until_idle(usize::MAX).expect("runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(r.input_queue().is_empty());
    n as f64 / secs
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);

    let mut r = TestRunner::new(sluice_processors::registry(), "RouteOnAttribute");
    r.set_property("large", "${size:gt(500)}").set_property("red", "${color:equals('red')}");
    fill(&mut r, n, b"small content", |i| {
        vec![("size".into(), (i % 1000).to_string()), ("color".into(), if i % 3 == 0 { "red" } else { "blue" }.into())]
    });
    let rate = time(&mut r, n);
    let routed = r.count("large") + r.count("red") + r.count("unmatched");
    assert!(routed >= n);
    println!("route_on_attribute.flowfiles_per_s {rate:.0}");

    let mut r = TestRunner::new(sluice_processors::registry(), "ReplaceText");
    r.set_property("Search Value", r"(\w+)@(\w+)").set_property("Replacement Value", "$2 at $1");
    fill(&mut r, n, b"please contact joe@example for details\nsecond line\n", |_| Vec::new());
    let rate = time(&mut r, n);
    let out = r.output("success");
    assert_eq!(out.len(), n);
    assert_eq!(TestRunner::content(&out[0]), "please contact example at joe for details\nsecond line\n");
    println!("replace_text.flowfiles_per_s {rate:.0}");

    let mut r = TestRunner::new(sluice_processors::registry(), "ReplaceText");
    r.set_property("Replacement Strategy", "Literal Replace")
        .set_property("Search Value", "joe")
        .set_property("Replacement Value", "ann");
    fill(&mut r, n, b"please contact joe@example for details\nsecond line\n", |_| Vec::new());
    let rate = time(&mut r, n);
    println!("replace_text_literal.flowfiles_per_s {rate:.0}");
}
