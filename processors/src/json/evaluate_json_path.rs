//! EvaluateJsonPath: evaluates JsonPath expressions against JSON content and writes the
//! results to attributes or to the content.

use sluice_engine::attributes::AttrStr;
use std::sync::Arc;

use sluice_engine::{
    DynamicProperties, FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship,
};

use super::common::{CompiledPath, NULL_EMPTY, NULL_STRING, PathResult, is_scalar, null_text, read_json, render};

const DESTINATION: &str = "Destination";
const RETURN_TYPE: &str = "Return Type";
const NOT_FOUND: &str = "Path Not Found Behavior";
const NULL_REPR: &str = "Null Value Representation";

const TO_ATTRIBUTE: &str = "flowfile-attribute";
const TO_CONTENT: &str = "flowfile-content";
const AUTO: &str = "auto-detect";
const JSON: &str = "json";
const SCALAR: &str = "scalar";
const IGNORE: &str = "ignore";
const WARN: &str = "warn";
const SKIP: &str = "skip";

const MATCHED: &str = "matched";
const UNMATCHED: &str = "unmatched";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "EvaluateJsonPath.error";
const BATCH: usize = 50;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(EvaluateJsonPath::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "EvaluateJsonPath",
        "Evaluates JsonPath expressions (one per dynamic property) against the JSON content of each flowfile and writes the \
         results to attributes named after the properties, or (with exactly one property) replaces the content with the \
         result. Paths use Jayway syntax as in NiFi, evaluated per RFC 9535: a definite path ($.a.b[0]) yields its value, an \
         indefinite one ($..x, [*], filters) a JSON array. The document is parsed whole; its text is streamed into the parser.",
    )
    .tags(&["json", "evaluate", "jsonpath", "attributes", "extract"])
    .property(
        PropertyDescriptor::new(DESTINATION)
            .description("Where the results go: attributes named after the dynamic properties, or the content (one property only)")
            .required()
            .default_value(TO_CONTENT)
            .allowable(&[
                (TO_ATTRIBUTE, "each result becomes an attribute named after its property"),
                (TO_CONTENT, "the content is replaced by the result of the single dynamic property"),
            ]),
    )
    .property(
        PropertyDescriptor::new(RETURN_TYPE)
            .description(
                "What a result may be: 'scalar' sends flowfiles whose result is an object or array to failure; 'json' allows \
                 any; 'auto-detect' means json for flowfile-content and scalar for flowfile-attribute",
            )
            .required()
            .default_value(AUTO)
            .allowable(&[(AUTO, "json for content, scalar for attributes"), (JSON, "any JSON value"), (SCALAR, "strings, numbers, booleans and null only")]),
    )
    .property(
        PropertyDescriptor::new(NOT_FOUND)
            .description(
                "What happens when a definite path is not found in the document (destination flowfile-attribute; with \
                 flowfile-content the flowfile goes to 'unmatched')",
            )
            .required()
            .default_value(IGNORE)
            .allowable(&[
                (IGNORE, "the attribute is set to an empty string"),
                (WARN, "the attribute is set to an empty string and a warning bulletin is posted"),
                (SKIP, "the attribute is left unset"),
            ])
            .depends_on(DESTINATION, &[TO_ATTRIBUTE]),
    )
    .property(
        PropertyDescriptor::new(NULL_REPR)
            .description("What a JSON null result becomes")
            .required()
            .default_value(NULL_EMPTY)
            .allowable(&[(NULL_EMPTY, "an empty string"), (NULL_STRING, "the text null")]),
    )
    .relationship(Relationship::new(MATCHED, "Flowfiles whose paths were evaluated"))
    .relationship(Relationship::new(UNMATCHED, "Flowfiles whose path was not found (destination flowfile-content)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose content is not valid JSON, or whose result is not a scalar when Return Type is scalar \
         (EvaluateJsonPath.error says why)",
    ))
    .dynamic(DynamicProperties {
        name_meaning: "An attribute name (destination flowfile-attribute), or any name (flowfile-content)".into(),
        value_meaning: "A JsonPath expression".into(),
        expression_language: false,
        creates_relationships: false,
    })
}

#[derive(Default, Clone, Copy, PartialEq)]
enum NotFound {
    #[default]
    Ignore,
    Warn,
    Skip,
}

/// The processor.
#[derive(Default)]
pub struct EvaluateJsonPath {
    paths: Vec<(Arc<str>, CompiledPath)>,
    to_content: bool,
    scalar_only: bool,
    not_found: NotFound,
    null_text: &'static str,
}

fn compile_all(ctx: &ProcessContext) -> Result<Vec<(Arc<str>, CompiledPath)>, Vec<String>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (name, expr) in ctx.dynamic_properties() {
        match CompiledPath::compile(expr) {
            Ok(p) => ok.push((Arc::from(name), p)),
            Err(e) => errors.push(format!("'{name}': {e}")),
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

impl Processor for EvaluateJsonPath {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.paths = compile_all(ctx).map_err(|e| ProcessError::Config(e.join("; ")))?;
        self.to_content = ctx.property(DESTINATION) == Some(TO_CONTENT);
        self.scalar_only = match ctx.property(RETURN_TYPE).unwrap_or(AUTO) {
            SCALAR => true,
            JSON => false,
            _ => !self.to_content,
        };
        self.not_found = match ctx.property(NOT_FOUND) {
            Some(WARN) => NotFound::Warn,
            Some(SKIP) => NotFound::Skip,
            _ => NotFound::Ignore,
        };
        self.null_text = null_text(ctx.property(NULL_REPR));
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errors = compile_all(ctx).err().unwrap_or_default();
        let n = ctx.dynamic_properties().count();
        if n == 0 {
            errors.push("add at least one property: a name with a JsonPath expression, e.g. id = $.id".into());
        }
        if ctx.property(DESTINATION) == Some(TO_CONTENT) && n > 1 {
            errors.push(format!("with {DESTINATION} {TO_CONTENT} exactly one JsonPath property is allowed, not {n}"));
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in session.get_batch(BATCH) {
            let doc = match read_json(session, &ff)? {
                Ok(doc) => doc,
                Err(why) => {
                    fail(session, ff, &why);
                    continue;
                }
            };
            let mut results: Vec<(Arc<str>, String)> = Vec::with_capacity(self.paths.len());
            let mut outcome = Outcome::Matched;
            for (name, path) in &self.paths {
                match path.evaluate(&doc) {
                    PathResult::NotFound => {
                        if self.to_content {
                            outcome = Outcome::Unmatched;
                            break;
                        }
                        if self.not_found == NotFound::Warn {
                            ctx.bulletin(
                                sluice_engine::Level::Warning,
                                format!("flowfile {}: path {} for attribute '{name}' was not found", ff.id, path.text),
                            );
                        }
                        if self.not_found != NotFound::Skip {
                            results.push((name.clone(), String::new()));
                        }
                    }
                    PathResult::Found(v) => {
                        if self.scalar_only && !is_scalar(&v) {
                            outcome = Outcome::Failed(format!(
                                "the result of {} for '{name}' is not a scalar (Return Type is scalar): {}",
                                path.text,
                                truncate(&v.to_string(), 200)
                            ));
                            break;
                        }
                        results.push((name.clone(), render(&v, self.null_text)));
                    }
                }
            }
            drop(doc);
            match outcome {
                Outcome::Failed(why) => fail(session, ff, &why),
                Outcome::Unmatched => session.transfer(ff, UNMATCHED),
                Outcome::Matched => {
                    let mut ff = ff;
                    if self.to_content {
                        if let Some((_, text)) = results.pop() {
                            session.write(&mut ff, text.into_bytes())?;
                        }
                    } else {
                        for (name, value) in results {
                            ff.attributes.insert_arc(AttrStr::new(&*name), AttrStr::from(value));
                        }
                    }
                    session.transfer(ff, MATCHED);
                }
            }
        }
        Ok(())
    }
}

enum Outcome {
    Matched,
    Unmatched,
    Failed(String),
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

#[cfg(test)]
mod tests {
    use sluice_engine::testing::TestRunner;

    const DOC: &str = r#"{"id": 7, "name": "widget", "tags": ["a", "b"], "dims": {"w": 2.5}, "gone": null}"#;

    fn runner() -> TestRunner {
        TestRunner::new(crate::registry(), "EvaluateJsonPath")
    }

    #[test]
    fn results_go_to_attributes() {
        let mut r = runner();
        r.set_property("Destination", "flowfile-attribute");
        r.set_property("id", "$.id").set_property("name", "name").set_property("width", "$.dims.w");
        r.set_property("gone", "$.gone").set_property("missing", "$.nope");
        r.enqueue(DOC, &[]);
        r.run(1).expect("runs");
        let out = r.output("matched");
        assert_eq!(out.len(), 1);
        let ff = &out[0];
        assert_eq!(ff.attr("id"), Some("7"));
        assert_eq!(ff.attr("name"), Some("widget"));
        assert_eq!(ff.attr("width"), Some("2.5"));
        assert_eq!(ff.attr("gone"), Some(""));
        assert_eq!(ff.attr("missing"), Some(""), "ignore sets an empty string");
        assert_eq!(TestRunner::content(ff), DOC, "content unchanged");
    }

    #[test]
    fn skip_leaves_missing_attributes_unset_and_null_can_be_text() {
        let mut r = runner();
        r.set_property("Destination", "flowfile-attribute").set_property("Path Not Found Behavior", "skip");
        r.set_property("Null Value Representation", "the string 'null'");
        r.set_property("gone", "$.gone").set_property("missing", "$.nope");
        r.enqueue(DOC, &[]);
        r.run(1).expect("runs");
        let ff = &r.output("matched")[0];
        assert_eq!(ff.attr("gone"), Some("null"));
        assert_eq!(ff.attr("missing"), None);
    }

    #[test]
    fn content_destination_writes_json_and_unmatched_when_not_found() {
        let mut r = runner();
        r.set_property("tags", "$.tags");
        r.enqueue(DOC, &[]);
        r.enqueue(r#"{"other": 1}"#, &[]);
        r.run(1).expect("runs");
        let matched = r.output("matched");
        assert_eq!(TestRunner::content(&matched[0]), r#"["a","b"]"#);
        assert_eq!(r.count("unmatched"), 1);
    }

    #[test]
    fn failures_malformed_json_and_non_scalar_results() {
        let mut r = runner();
        r.set_property("Destination", "flowfile-attribute").set_property("tags", "$.tags");
        r.enqueue("[1, 2", &[]);
        r.enqueue(DOC, &[]);
        r.run(1).expect("runs");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 2);
        assert!(failed[0].attr("EvaluateJsonPath.error").expect("why").contains("not valid JSON"));
        assert!(failed[1].attr("EvaluateJsonPath.error").expect("why").contains("not a scalar"));
        // With Return Type json the array is allowed as an attribute.
        r.set_property("Return Type", "json");
        r.enqueue(DOC, &[]);
        r.run(1).expect("runs");
        assert_eq!(r.output("matched")[0].attr("tags"), Some(r#"["a","b"]"#));
    }

    #[test]
    fn invalid_configuration_is_reported() {
        let mut r = runner();
        r.set_property("bad", "$.a[?(");
        assert!(r.validation_errors().iter().any(|e| e.contains("'bad'")), "{:?}", r.validation_errors());
        let mut r = runner();
        r.set_property("a", "$.a").set_property("b", "$.b");
        assert!(r.validation_errors().iter().any(|e| e.contains("exactly one")));
        let mut r = runner();
        assert!(r.validation_errors().iter().any(|e| e.contains("at least one")));
    }
}
