//! AttributesToJSON: writes a flowfile's attributes as a JSON object, to an attribute or to
//! the content.

use std::collections::HashSet;
use std::io::Write;

use regex::Regex;
use serde_json::{Map, Value};
use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

const LIST: &str = "Attributes List";
const REGEX: &str = "Attributes Regular Expression";
const DESTINATION: &str = "Destination";
const INCLUDE_CORE: &str = "Include Core Attributes";
const NULL_VALUE: &str = "Null Value";
const HANDLING: &str = "JSON Handling Strategy";
const PRETTY: &str = "Pretty Print";

const TO_ATTRIBUTE: &str = "flowfile-attribute";
const TO_CONTENT: &str = "flowfile-content";
const ESCAPED: &str = "Escaped";
const NESTED: &str = "Nested";
/// The attribute the JSON goes to with destination flowfile-attribute.
pub const JSON_ATTRIBUTE: &str = "JSONAttributes";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "AttributesToJSON.error";
/// NiFi's core attributes, left out when `Include Core Attributes` is false.
pub const CORE_ATTRIBUTES: &[&str] =
    &["filename", "path", "absolute.path", "mime.type", "priority", "uuid", "discard.reason", "alternate.identifier"];
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(AttributesToJSON::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "AttributesToJSON",
        "Builds a JSON object from a flowfile's attributes (all of them, or those listed or matching a regular expression) \
         and writes it to the JSONAttributes attribute or to the content. Values are JSON strings, or with the Nested \
         strategy embedded objects and arrays when an attribute holds JSON.",
    )
    .tags(&["json", "attributes", "flowfile"])
    .property(
        PropertyDescriptor::new(LIST)
            .description(
                "Comma-separated attribute names to include; with neither this nor the regular expression set, every attribute \
                 is included. A listed attribute the flowfile lacks is written as \"\" (or null, see Null Value).",
            )
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(REGEX)
            .description("Attributes whose names match this regular expression are included (as well as the listed ones)")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(DESTINATION)
            .description("Where the JSON goes")
            .required()
            .default_value(TO_ATTRIBUTE)
            .allowable(&[
                (TO_ATTRIBUTE, "the JSONAttributes attribute (content unchanged)"),
                (TO_CONTENT, "the content (replaced; mime.type becomes application/json)"),
            ]),
    )
    .property(
        PropertyDescriptor::new(INCLUDE_CORE)
            .description("Whether core attributes (filename, path, absolute.path, mime.type, priority, uuid, discard.reason, alternate.identifier) are included")
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(NULL_VALUE)
            .description("Whether a listed attribute the flowfile lacks is written as null (true) or as an empty string (false)")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(HANDLING)
            .description("How attribute values that hold JSON are written")
            .required()
            .default_value(ESCAPED)
            .allowable(&[(ESCAPED, "every value is a JSON string"), (NESTED, "values that are JSON objects or arrays are embedded as such")]),
    )
    .property(
        PropertyDescriptor::new(PRETTY)
            .description("Whether the JSON written to the content is indented")
            .required()
            .default_value("false")
            .validator(Validator::Boolean)
            .depends_on(DESTINATION, &[TO_CONTENT]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles with the JSON written"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose Attributes Regular Expression (after expressions are evaluated) is not a valid regular expression \
         (AttributesToJSON.error says why)",
    ))
}

/// The processor.
#[derive(Default)]
pub struct AttributesToJSON {
    /// The regex when it holds no expression (compiled once).
    fixed_regex: Option<Regex>,
    to_content: bool,
    include_core: bool,
    null_for_missing: bool,
    nested: bool,
    pretty: bool,
}

impl Processor for AttributesToJSON {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.fixed_regex = match (ctx.expression(REGEX), ctx.property(REGEX).filter(|s| !s.is_empty())) {
            (None, Some(re)) => Some(Regex::new(re).map_err(|e| ProcessError::Config(format!("'{REGEX}': {e}")))?),
            _ => None,
        };
        self.to_content = ctx.property(DESTINATION) == Some(TO_CONTENT);
        self.include_core = ctx.bool(INCLUDE_CORE)?.unwrap_or(true);
        self.null_for_missing = ctx.bool(NULL_VALUE)?.unwrap_or(false);
        self.nested = ctx.property(HANDLING) == Some(NESTED);
        self.pretty = ctx.bool(PRETTY)?.unwrap_or(false);
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match (ctx.expression(REGEX), ctx.property(REGEX).filter(|s| !s.is_empty())) {
            (None, Some(re)) => match Regex::new(re) {
                Ok(_) => Vec::new(),
                Err(e) => vec![format!("'{REGEX}': invalid regular expression: {e}")],
            },
            _ => Vec::new(),
        }
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            let object = match self.build(ctx, &ff)? {
                Ok(o) => o,
                Err(why) => {
                    ff.set_attr(ERROR_ATTR, &why);
                    session.penalize(&mut ff);
                    session.transfer(ff, crate::FAILURE);
                    continue;
                }
            };
            let value = Value::Object(object);
            if self.to_content {
                let pretty = self.pretty;
                session.write_with(&mut ff, |w: &mut dyn Write| {
                    if pretty {
                        serde_json::to_writer_pretty(&mut *w, &value).map_err(std::io::Error::other)
                    } else {
                        serde_json::to_writer(&mut *w, &value).map_err(std::io::Error::other)
                    }
                })?;
                ff.set_attr("mime.type", "application/json");
            } else {
                ff.set_attr(JSON_ATTRIBUTE, &value.to_string());
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}

impl AttributesToJSON {
    /// The JSON object for `ff`; `Ok(Err(why))` = bad configuration for this flowfile.
    fn build(&self, ctx: &ProcessContext, ff: &FlowFile) -> Result<Result<Map<String, Value>, String>, ProcessError> {
        let list = ctx.evaluate(LIST, ff)?.unwrap_or_default();
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let dynamic_regex;
        let regex = match &self.fixed_regex {
            Some(r) => Some(r),
            None => match ctx.evaluate(REGEX, ff)?.filter(|s| !s.is_empty()) {
                Some(text) => match Regex::new(&text) {
                    Ok(r) => {
                        dynamic_regex = r;
                        Some(&dynamic_regex)
                    }
                    Err(e) => {
                        return Ok(Err(format!(
                            "'{REGEX}' evaluated to '{text}', which is not a valid regular expression: {e}"
                        )));
                    }
                },
                None => None,
            },
        };
        let keep = |name: &str| self.include_core || !CORE_ATTRIBUTES.contains(&name);
        let mut out = Map::new();
        if names.is_empty() && regex.is_none() {
            for (k, v) in ff.attributes.iter() {
                if keep(k) {
                    out.insert(k.to_string(), self.value(v));
                }
            }
            return Ok(Ok(out));
        }
        let mut seen = HashSet::new();
        for name in names {
            if !keep(name) || !seen.insert(name) {
                continue;
            }
            let v = match ff.attr(name) {
                Some(v) => self.value(v),
                None if self.null_for_missing => Value::Null,
                None => Value::String(String::new()),
            };
            out.insert(name.to_string(), v);
        }
        if let Some(re) = regex {
            for (k, v) in ff.attributes.iter() {
                if keep(k) && !out.contains_key(k) && re.is_match(k) {
                    out.insert(k.to_string(), self.value(v));
                }
            }
        }
        Ok(Ok(out))
    }

    fn value(&self, v: &str) -> Value {
        if self.nested {
            let t = v.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(v)
            {
                return parsed;
            }
        }
        Value::String(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use sluice_engine::testing::TestRunner;

    fn runner() -> TestRunner {
        TestRunner::new(crate::registry(), "AttributesToJSON")
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("valid JSON")
    }

    #[test]
    fn all_attributes_to_the_json_attribute() {
        let mut r = runner();
        r.set_property("Include Core Attributes", "false");
        r.enqueue("body", &[("a", "1"), ("b", "two \"quoted\"")]);
        r.run(1).expect("runs");
        let ff = &r.output("success")[0];
        assert_eq!(parse(ff.attr("JSONAttributes").expect("json")), json!({"a": "1", "b": "two \"quoted\""}));
        assert_eq!(TestRunner::content(ff), "body");
    }

    #[test]
    fn list_and_regex_select_attributes_to_content() {
        let mut r = runner();
        r.set_property("Destination", "flowfile-content");
        r.set_property("Attributes List", "a, missing, filename");
        r.set_property("Attributes Regular Expression", "^x\\.");
        r.set_property("Null Value", "true");
        r.set_property("JSON Handling Strategy", "Nested");
        r.enqueue("body", &[("a", "{\"n\": [1]}"), ("x.1", "one"), ("y", "no"), ("filename", "f.txt")]);
        r.run(1).expect("runs");
        let ff = &r.output("success")[0];
        assert_eq!(
            parse(&TestRunner::content(ff)),
            json!({"a": {"n": [1]}, "missing": null, "filename": "f.txt", "x.1": "one"})
        );
        assert_eq!(ff.attr("mime.type"), Some("application/json"));
        // Core attributes are dropped even when listed, once excluded.
        r.set_property("Include Core Attributes", "false").set_property("Null Value", "false");
        r.enqueue("body", &[("a", "plain")]);
        r.run(1).expect("runs");
        let ff = &r.output("success")[1];
        assert_eq!(parse(&TestRunner::content(ff)), json!({"a": "plain", "missing": ""}));
    }

    #[test]
    fn an_invalid_evaluated_regex_goes_to_failure() {
        let mut r = runner();
        r.set_property("Attributes Regular Expression", "${pattern}");
        r.enqueue("body", &[("pattern", "([unclosed")]);
        r.run(1).expect("runs");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].attr("AttributesToJSON.error").expect("why").contains("not a valid regular expression"));
        let mut r = runner();
        r.set_property("Attributes Regular Expression", "([unclosed");
        assert!(!r.validation_errors().is_empty());
    }
}
