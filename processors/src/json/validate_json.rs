//! ValidateJson: validates JSON content against a JSON Schema.

use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use jsonschema::Draft;

use super::common::{display_names, read_json};

const SCHEMA: &str = "JSON Schema";
const VERSION: &str = "Schema Version";

const VALID: &str = "valid";
const INVALID: &str = "invalid";
/// The attribute that lists why a document is invalid (NiFi's name).
pub const ERRORS_ATTR: &str = "json.validation.errors";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "ValidateJson.error";
/// At most this many violations are listed in `json.validation.errors`.
const MAX_ERRORS: usize = 50;
const BATCH: usize = 50;

const VERSIONS: &[(&str, &str, Draft)] = &[
    ("DRAFT_4", "Draft Version 4", Draft::Draft4),
    ("DRAFT_6", "Draft Version 6", Draft::Draft6),
    ("DRAFT_7", "Draft Version 7", Draft::Draft7),
    ("DRAFT_2019_09", "Draft Version 2019-09", Draft::Draft201909),
    ("DRAFT_2020_12", "Draft Version 2020-12", Draft::Draft202012),
];

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ValidateJson::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let version = PropertyDescriptor::new(VERSION)
        .description("The JSON Schema specification the schema is read and applied with (whatever its $schema says)")
        .required()
        .default_value("DRAFT_2020_12")
        .allowable(&VERSIONS.iter().map(|(v, d, _)| (*v, *d)).collect::<Vec<_>>());
    let version = display_names(version, &VERSIONS.iter().map(|(v, d, _)| (*v, *d)).collect::<Vec<_>>());
    ProcessorDescriptor::new(
        "ValidateJson",
        "Validates the JSON content of each flowfile against a JSON Schema (drafts 4, 6, 7, 2019-09 and 2020-12). Valid \
         documents go to 'valid'; documents that violate the schema go to 'invalid' with the violations in \
         json.validation.errors; content that is not JSON goes to 'failure'. NiFi can also fetch the schema from a schema \
         registry (Schema Access Strategy); Sluice takes the schema text from the JSON Schema property. External $ref \
         URLs are not fetched.",
    )
    .tags(&["json", "schema", "validation"])
    .property(
        PropertyDescriptor::new(SCHEMA)
            .description("The JSON Schema document (text) to validate against")
            .required()
            .validator(Validator::NonEmpty),
    )
    .property(version)
    .relationship(Relationship::new(VALID, "Documents that satisfy the schema"))
    .relationship(Relationship::new(INVALID, "Documents that violate the schema (json.validation.errors lists how)"))
    .relationship(Relationship::new(crate::FAILURE, "Content that is not valid JSON (ValidateJson.error says why)"))
}

fn compile(ctx: &ProcessContext) -> Result<jsonschema::Validator, String> {
    let text = ctx.property(SCHEMA).unwrap_or_default();
    let schema: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("'{SCHEMA}' is not valid JSON: {e}"))?;
    let version = ctx.property(VERSION).unwrap_or("DRAFT_2020_12");
    let draft = VERSIONS.iter().find(|(v, _, _)| *v == version).map(|(_, _, d)| *d).unwrap_or(Draft::Draft202012);
    jsonschema::options().with_draft(draft).build(&schema).map_err(|e| format!("'{SCHEMA}' is not a valid schema: {e}"))
}

/// The processor.
#[derive(Default)]
pub struct ValidateJson {
    validator: Option<jsonschema::Validator>,
}

impl Processor for ValidateJson {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.validator = Some(compile(ctx).map_err(ProcessError::Config)?);
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match compile(ctx) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        }
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(validator) = &self.validator else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        for mut ff in session.get_batch(BATCH) {
            let doc = match read_json(session, &ff)? {
                Ok(doc) => doc,
                Err(why) => {
                    fail(session, ff, &why);
                    continue;
                }
            };
            let mut errors = Vec::new();
            let mut total = 0usize;
            for e in validator.iter_errors(&doc) {
                total += 1;
                if errors.len() < MAX_ERRORS {
                    let at = e.instance_path().to_string();
                    errors.push(if at.is_empty() { format!("/: {e}") } else { format!("{at}: {e}") });
                }
            }
            if total == 0 {
                session.transfer(ff, VALID);
            } else {
                if total > errors.len() {
                    errors.push(format!("... and {} more", total - errors.len()));
                }
                ff.set_attr(ERRORS_ATTR, &errors.join("; "));
                session.transfer(ff, INVALID);
            }
        }
        Ok(())
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

    const SCHEMA: &str = r#"{
        "type": "object",
        "required": ["name", "age"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "additionalProperties": false
    }"#;

    fn runner() -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ValidateJson");
        r.set_property("JSON Schema", SCHEMA);
        r
    }

    #[test]
    fn routes_valid_invalid_and_malformed() {
        let mut r = runner();
        r.enqueue(r#"{"name": "ann", "age": 4}"#, &[]);
        r.enqueue(r#"{"name": 5, "age": -1, "extra": true}"#, &[]);
        r.enqueue(r#"{"name": "#, &[]);
        r.run(1).expect("runs");
        assert_eq!(r.count("valid"), 1);
        let invalid = r.output("invalid");
        assert_eq!(invalid.len(), 1);
        let errors = invalid[0].attr("json.validation.errors").expect("errors");
        assert!(errors.contains("/name"), "{errors}");
        assert!(errors.contains("/age"), "{errors}");
        assert!(errors.contains("extra"), "{errors}");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].attr("ValidateJson.error").expect("why").contains("not valid JSON"));
    }

    #[test]
    fn draft_7_is_applied_when_chosen() {
        // `dependencies` is a draft 7 keyword (split into dependentRequired in 2019-09).
        let mut r = TestRunner::new(crate::registry(), "ValidateJson");
        r.set_property("JSON Schema", r#"{"dependencies": {"card": ["billing"]}}"#);
        r.set_property("Schema Version", "DRAFT_7");
        r.enqueue(r#"{"card": 1}"#, &[]);
        r.enqueue(r#"{"card": 1, "billing": "x"}"#, &[]);
        r.run(1).expect("runs");
        assert_eq!(r.count("invalid"), 1);
        assert_eq!(r.count("valid"), 1);
    }

    #[test]
    fn an_invalid_schema_makes_the_processor_invalid() {
        let mut r = TestRunner::new(crate::registry(), "ValidateJson");
        r.set_property("JSON Schema", r#"{"type": "no-such-type"}"#);
        assert!(!r.validation_errors().is_empty());
        r.set_property("JSON Schema", "{not json");
        assert!(r.validation_errors().iter().any(|e| e.contains("not valid JSON")));
    }
}
