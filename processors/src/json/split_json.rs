//! SplitJson: splits a JSON array, found by a JsonPath, into one flowfile per element.

use std::io::Write;

use serde_json::Value;
use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};
use uuid::Uuid;

use super::common::{CompiledPath, NULL_EMPTY, NULL_STRING, PathResult, null_text, read_json};

const PATH: &str = "JsonPath Expression";
const NULL_REPR: &str = "Null Value Representation";
const SPLIT: &str = "split";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "SplitJson.error";
const BATCH: usize = 10;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(SplitJson::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "SplitJson",
        "Splits a JSON document into one flowfile per element of the array that a JsonPath expression selects. Each split \
         holds the element as JSON (a string element is written without quotes, as NiFi does) and gets fragment.identifier, \
         fragment.index, fragment.count and segment.original.filename; the original gets fragment.identifier, fragment.count \
         and segment.original.filename and goes to 'original'. The document is parsed whole (a JsonPath needs it); the \
         content is streamed into the parser, never buffered as text.",
    )
    .tags(&["json", "split", "jsonpath"])
    .property(
        PropertyDescriptor::new(PATH)
            .description(
                "A JsonPath expression that selects the array to split, e.g. $.items or $.store.book[*]. Jayway syntax as in \
                 NiFi is accepted ($.a.b, $['a'], $.a[0], $..x, [?(@.price < 10)], =~ /regex/); evaluation follows RFC 9535. \
                 Not supported: Jayway's trailing functions (.length()) and the in/nin/size/empty filter operators.",
            )
            .required()
            .validator(Validator::NonEmpty),
    )
    .property(
        PropertyDescriptor::new(NULL_REPR)
            .description("What a null element becomes in its split")
            .required()
            .default_value(NULL_EMPTY)
            .allowable(&[(NULL_EMPTY, "an empty flowfile"), (NULL_STRING, "the text null")]),
    )
    .relationship(Relationship::new(crate::ORIGINAL, "The input, once split"))
    .relationship(Relationship::new(SPLIT, "One flowfile per element of the selected array"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles that are not valid JSON, where the path is not found or does not select an array (SplitJson.error says why)",
    ))
}

/// The processor.
#[derive(Default)]
pub struct SplitJson {
    path: Option<CompiledPath>,
    null_text: &'static str,
}

impl Processor for SplitJson {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let expr = ctx.property(PATH).unwrap_or_default();
        self.path = Some(CompiledPath::compile(expr).map_err(ProcessError::Config)?);
        self.null_text = null_text(ctx.property(NULL_REPR));
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match CompiledPath::compile(ctx.property(PATH).unwrap_or_default()) {
            Ok(_) => Vec::new(),
            Err(e) => vec![format!("'{PATH}': {e}")],
        }
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(path) = &self.path else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        for ff in session.get_batch(BATCH) {
            let doc = match read_json(session, &ff)? {
                Ok(doc) => doc,
                Err(why) => {
                    fail(session, ff, &why);
                    continue;
                }
            };
            let items = match path.evaluate(&doc) {
                PathResult::NotFound => {
                    fail(session, ff, &format!("JsonPath {} was not found", path.text));
                    continue;
                }
                PathResult::Found(Value::Array(items)) => items,
                PathResult::Found(other) => {
                    let kind = kind(&other);
                    fail(
                        session,
                        ff,
                        &format!("JsonPath {} selects {kind}, not an array, so it cannot be split", path.text),
                    );
                    continue;
                }
            };
            drop(doc);
            self.split(session, ff, items)?;
        }
        Ok(())
    }
}

impl SplitJson {
    fn split(&self, session: &mut ProcessSession, mut ff: FlowFile, items: Vec<Value>) -> Result<(), ProcessError> {
        let fragment_id = Uuid::new_v4().to_string();
        let count = items.len().to_string();
        let original_name = ff.attr("filename").unwrap_or_default().to_string();
        let mut splits = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let mut child = session.create_child(&ff);
            match &item {
                Value::Null => session.write(&mut child, self.null_text.as_bytes().to_vec())?,
                Value::String(s) => session.write(&mut child, s.clone().into_bytes())?,
                other => session.write_with(&mut child, |w: &mut dyn Write| {
                    serde_json::to_writer(&mut *w, other).map_err(std::io::Error::other)
                })?,
            }
            child.set_attr("fragment.identifier", &fragment_id);
            child.set_attr("fragment.index", &i.to_string());
            child.set_attr("fragment.count", &count);
            child.set_attr("segment.original.filename", &original_name);
            splits.push(child);
        }
        for s in splits {
            session.transfer(s, SPLIT);
        }
        ff.set_attr("fragment.identifier", &fragment_id);
        ff.set_attr("fragment.count", &count);
        ff.set_attr("segment.original.filename", &original_name);
        session.transfer(ff, crate::ORIGINAL);
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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

    fn runner(path: &str) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "SplitJson");
        r.set_property("JsonPath Expression", path);
        r
    }

    #[test]
    fn splits_an_array_into_elements_with_fragment_attributes() {
        let mut r = runner("$.items");
        r.enqueue(r#"{"items": [{"a": 1}, "two", 3, null, [4]]}"#, &[("filename", "in.json")]);
        r.run(1).expect("runs");
        let splits = r.output("split");
        let texts: Vec<String> = splits.iter().map(TestRunner::content).collect();
        assert_eq!(texts, vec![r#"{"a":1}"#, "two", "3", "", "[4]"]);
        let id = splits[0].attr("fragment.identifier").expect("id").to_string();
        for (i, s) in splits.iter().enumerate() {
            assert_eq!(s.attr("fragment.index"), Some(i.to_string().as_str()));
            assert_eq!(s.attr("fragment.count"), Some("5"));
            assert_eq!(s.attr("fragment.identifier"), Some(id.as_str()));
            assert_eq!(s.attr("segment.original.filename"), Some("in.json"));
        }
        let original = r.output("original");
        assert_eq!(original.len(), 1);
        assert_eq!(original[0].attr("fragment.count"), Some("5"));
        assert_eq!(TestRunner::content(&original[0]), r#"{"items": [{"a": 1}, "two", 3, null, [4]]}"#);
        let forks = r.events().iter().filter(|e| e.event_type == sluice_engine::provenance::EventType::Fork).count();
        assert_eq!(forks, 1, "one FORK event for the split");
    }

    #[test]
    fn indefinite_paths_split_their_matches_and_null_can_be_text() {
        let mut r = runner("$.store.book[*].title");
        r.set_property("Null Value Representation", "the string 'null'");
        r.enqueue(r#"{"store": {"book": [{"title": "A"}, {"title": null}]}}"#, &[]);
        r.run(1).expect("runs");
        let texts: Vec<String> = r.output("split").iter().map(TestRunner::content).collect();
        assert_eq!(texts, vec!["A", "null"]);
    }

    #[test]
    fn bad_input_goes_to_failure_with_the_reason() {
        let mut r = runner("$.items");
        r.enqueue("{not json", &[]);
        r.enqueue(r#"{"other": 1}"#, &[]);
        r.enqueue(r#"{"items": {"a": 1}}"#, &[]);
        r.run(1).expect("runs");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 3);
        let why: Vec<&str> = failed.iter().map(|f| f.attr("SplitJson.error").expect("reason")).collect();
        assert!(why[0].contains("not valid JSON"), "{}", why[0]);
        assert!(why[1].contains("not found"), "{}", why[1]);
        assert!(why[2].contains("an object, not an array"), "{}", why[2]);
        assert!(r.output("split").is_empty());
    }

    #[test]
    fn an_invalid_path_makes_the_processor_invalid() {
        let mut r = runner("$.items[");
        assert!(!r.validation_errors().is_empty());
    }
}
