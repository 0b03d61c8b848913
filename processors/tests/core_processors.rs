//! Harness tests of the core processors: GenerateFlowFile, UpdateAttribute,
//! RouteOnAttribute and LogAttribute, on the real engine (TestRunner).

use sluice_engine::testing::{TestRunner, capture_logs};

fn runner(type_name: &str, props: &[(&str, &str)]) -> TestRunner {
    let mut r = TestRunner::new(sluice_processors::registry(), type_name);
    for (k, v) in props {
        r.set_property(k, v);
    }
    r
}

fn event_types(r: &TestRunner) -> Vec<String> {
    r.events().iter().map(|e| format!("{:?}", e.event_type)).collect()
}

// ---------------------------------------------------------------- GenerateFlowFile

#[test]
fn generate_flowfile_batches_share_random_text_content() {
    let mut r = runner("GenerateFlowFile", &[("File Size", "10 B"), ("Batch Size", "3")]);
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 3);
    for f in &out {
        let text = TestRunner::content(f);
        assert_eq!(text.len(), 10);
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric()), "{text}");
        assert!(f.content.same_as(&out[0].content), "not unique: one shared content");
    }
    assert_eq!(event_types(&r).iter().filter(|t| *t == "Create").count(), 3);
    // The shared content is reused on the next run too.
    r.run(1).unwrap();
    let out = r.output("success");
    assert!(out[3].content.same_as(&out[0].content));
}

#[test]
fn generate_flowfile_unique_binary_content() {
    let mut r = runner(
        "GenerateFlowFile",
        &[("File Size", "64 B"), ("Batch Size", "2"), ("Unique FlowFiles", "true"), ("Data Format", "Binary")],
    );
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|f| f.size() == 64));
    let a = out[0].content.to_bytes().unwrap();
    let b = out[1].content.to_bytes().unwrap();
    assert_ne!(a, b, "unique flowfiles get their own random bytes");
}

#[test]
fn generate_flowfile_custom_text_mime_and_attributes() {
    let mut r = runner(
        "GenerateFlowFile",
        &[
            ("Custom Text", "${literal('hello'):toUpper()}"),
            ("Mime Type", "text/plain"),
            ("source", "${literal('gen')}"),
        ],
    );
    r.run(1).unwrap();
    let f = r.output("success").remove(0);
    assert_eq!(TestRunner::content(&f), "HELLO");
    assert_eq!(f.attr("mime.type"), Some("text/plain"));
    assert_eq!(f.attr("source"), Some("gen"));
}

#[test]
fn generate_flowfile_rejects_bad_configuration() {
    let mut r = runner("GenerateFlowFile", &[("File Size", "ten bytes")]);
    assert!(r.validation_errors().iter().any(|e| e.contains("File Size")), "{:?}", r.validation_errors());
    let mut r = runner("GenerateFlowFile", &[("Batch Size", "0")]);
    assert!(r.validation_errors().iter().any(|e| e.contains("Batch Size")), "{:?}", r.validation_errors());
    let mut r = runner("GenerateFlowFile", &[("Data Format", "Hex")]);
    assert!(!r.validation_errors().is_empty());
}

// ---------------------------------------------------------------- UpdateAttribute

#[test]
fn update_attribute_sets_literals_and_expressions_on_old_values() {
    let mut r =
        runner("UpdateAttribute", &[("a", "${a}x"), ("b", "${a:toUpper()}"), ("c", "plain"), ("uuid", "not-allowed")]);
    let input = r.enqueue("body", &[("a", "v")]);
    r.run(1).unwrap();
    let f = r.output("success").remove(0);
    assert_eq!(f.attr("a"), Some("vx"));
    assert_eq!(f.attr("b"), Some("V"), "expressions see the attributes as they were");
    assert_eq!(f.attr("c"), Some("plain"));
    assert_eq!(f.attr("uuid"), Some(input.id.to_string().as_str()), "uuid cannot be changed");
    assert_eq!(TestRunner::content(&f), "body");
    assert!(event_types(&r).contains(&"AttributesModified".to_string()));
}

#[test]
fn update_attribute_deletes_by_regex_before_setting() {
    let mut r =
        runner("UpdateAttribute", &[("Delete Attributes Expression", "tmp\\..*|uuid"), ("tmp.keep", "${tmp.a}")]);
    let input = r.enqueue("", &[("tmp.a", "1"), ("tmp.b", "2"), ("other", "3")]);
    r.run(1).unwrap();
    let f = r.output("success").remove(0);
    assert_eq!(f.attr("tmp.a"), None);
    assert_eq!(f.attr("tmp.b"), None);
    assert_eq!(f.attr("other"), Some("3"));
    assert_eq!(f.attr("tmp.keep"), Some("1"), "set after the delete, from the old values");
    assert_eq!(f.attr("uuid"), Some(input.id.to_string().as_str()), "uuid is never deleted");
}

#[test]
fn update_attribute_failures() {
    let mut r = runner("UpdateAttribute", &[("Delete Attributes Expression", "(unclosed")]);
    assert!(
        r.validation_errors().iter().any(|e| e.contains("Delete Attributes Expression")),
        "{:?}",
        r.validation_errors()
    );
    // An expression failing at run time rolls the session back: the flowfile stays queued.
    let mut r = runner("UpdateAttribute", &[("x", "${n:divide(0)}")]);
    r.enqueue("", &[("n", "1")]);
    assert!(r.run(1).is_err());
    assert_eq!(r.count("success"), 0);
    let q = r.input_queue();
    assert_eq!(q.len(), 1);
    assert!(q[0].penalty_until_millis > 0, "rolled back penalized");
    assert!(!r.bulletins().is_empty());
}

// ---------------------------------------------------------------- RouteOnAttribute

#[test]
fn route_on_attribute_to_property_name_clones_to_every_match() {
    let mut r = runner("RouteOnAttribute", &[("big", "${size:gt(10)}"), ("red", "${color:equals('red')}")]);
    r.enqueue("1", &[("size", "20"), ("color", "red")]);
    r.enqueue("2", &[("size", "5"), ("color", "red")]);
    r.enqueue("3", &[("size", "5"), ("color", "blue")]);
    r.run(1).unwrap();
    let big = r.output("big");
    let red = r.output("red");
    let unmatched = r.output("unmatched");
    assert_eq!(big.iter().map(TestRunner::content).collect::<Vec<_>>(), vec!["1"]);
    let mut red_contents: Vec<String> = red.iter().map(TestRunner::content).collect();
    red_contents.sort();
    assert_eq!(red_contents, vec!["1", "2"]);
    assert_eq!(unmatched.iter().map(TestRunner::content).collect::<Vec<_>>(), vec!["3"]);
    assert_eq!(big[0].attr("RouteOnAttribute.Route"), Some("big"));
    assert!(red.iter().all(|f| f.attr("RouteOnAttribute.Route") == Some("red")));
    assert_eq!(unmatched[0].attr("RouteOnAttribute.Route"), Some("unmatched"));
    let red_one = red.iter().find(|f| TestRunner::content(f) == "1").unwrap();
    assert_ne!(big[0].id, red_one.id, "the second route gets a clone");
    assert!(big[0].content.same_as(&red_one.content));
    assert!(event_types(&r).contains(&"Clone".to_string()));
}

#[test]
fn route_on_attribute_all_and_any_strategies() {
    let props = |s: &'static str| vec![("Routing Strategy", s), ("a", "${a:equals('1')}"), ("b", "${b:equals('1')}")];
    for (strategy, want) in
        [("Route to 'matched' if all match", vec!["both"]), ("Route to 'matched' if any matches", vec!["both", "one"])]
    {
        let mut r = runner("RouteOnAttribute", &props(strategy));
        r.enqueue("both", &[("a", "1"), ("b", "1")]);
        r.enqueue("one", &[("a", "1"), ("b", "0")]);
        r.enqueue("none", &[]);
        r.run(1).unwrap();
        let matched: Vec<String> = r.output("matched").iter().map(TestRunner::content).collect();
        assert_eq!(matched, want, "{strategy}");
        assert_eq!(r.count("matched") + r.count("unmatched"), 3);
        assert!(r.output("matched").iter().all(|f| f.attr("RouteOnAttribute.Route") == Some("matched")));
    }
}

#[test]
fn route_on_attribute_failures() {
    let mut r = runner("RouteOnAttribute", &[]);
    assert!(r.validation_errors().iter().any(|e| e.contains("at least one property")), "{:?}", r.validation_errors());
    let mut r = runner("RouteOnAttribute", &[("bad", "${n:divide(0):gt(1)}")]);
    r.enqueue("", &[("n", "1")]);
    assert!(r.run(1).is_err());
    assert_eq!(r.input_queue().len(), 1);
    assert_eq!(r.count("unmatched"), 0);
}

// ---------------------------------------------------------------- LogAttribute

fn log_lines(r: &mut TestRunner) -> Vec<(String, String)> {
    let (run, lines) = capture_logs(|| r.run(1));
    run.unwrap();
    lines.into_iter().filter(|(_, t, _)| t == "sluice::LogAttribute").map(|(l, _, m)| (l, m)).collect()
}

#[test]
fn log_attribute_logs_filtered_attributes_prefix_and_payload() {
    let mut r = runner(
        "LogAttribute",
        &[
            ("Log Level", "warn"),
            ("Attributes to Log by Regular Expression", "^(keep|also)$"),
            ("Log prefix", "[${who}] "),
            ("Log Payload", "true"),
        ],
    );
    r.enqueue("the payload", &[("keep", "1"), ("also", "2"), ("hidden", "3"), ("who", "me")]);
    let lines = log_lines(&mut r);
    assert_eq!(lines.len(), 1);
    let (level, msg) = &lines[0];
    assert_eq!(level, "WARN");
    assert!(msg.starts_with("[me] flowfile "), "{msg}");
    assert!(msg.contains("keep = 1") && msg.contains("also = 2"), "{msg}");
    assert!(!msg.contains("hidden"), "{msg}");
    assert!(msg.contains("payload: the payload"), "{msg}");
    let out = r.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].attr("hidden"), Some("3"), "logging changes nothing");
}

#[test]
fn log_attribute_failures() {
    let mut r = runner("LogAttribute", &[("Attributes to Log by Regular Expression", "(")]);
    assert!(!r.validation_errors().is_empty());
    let mut r = runner("LogAttribute", &[("Log Level", "loud")]);
    assert!(r.validation_errors().iter().any(|e| e.contains("Log Level")), "{:?}", r.validation_errors());
}
