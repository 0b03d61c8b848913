//! RouteOnContent: routes flowfiles by regular expressions over (the start of) their
//! content; a flowfile matching several routes is cloned to each.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use regex::Regex;
use sluice_engine::{
    DynamicProperties, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{Charset, eval_prop};

const MATCH_REQUIREMENT: &str = "Match Requirement";
const MATCH_ALL: &str = "content must match exactly";
const MATCH_SUBSEQUENCE: &str = "content must contain match";
const CHARSET: &str = "Character Set";
const BUFFER: &str = "Content Buffer Size";
const UNMATCHED: &str = "unmatched";
const DECLARED: &[&str] = &[MATCH_REQUIREMENT, CHARSET, BUFFER];
/// Flowfiles handled per trigger.
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(RouteOnContent::default()));
}

fn relationships(props: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = props.keys().filter(|k| !DECLARED.contains(&k.as_str())).cloned().collect();
    v.push(UNMATCHED.into());
    v
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "RouteOnContent",
        "Routes flowfiles by their content: each dynamic property is a regular expression and names a route. A flowfile goes to \
         every route whose expression matches the first 'Content Buffer Size' bytes of its content (cloned if several), or to \
         'unmatched'.",
    )
    .tags(&["route", "content", "regex", "regular expression", "regexp", "find", "text", "string", "search", "filter", "detect"])
    .routing()
    .property(
        PropertyDescriptor::new(MATCH_REQUIREMENT)
            .description("Whether the whole (buffered) content must match the expression, or just some part of it")
            .required()
            .default_value(MATCH_ALL)
            .allowable(&[(MATCH_ALL, "the whole content must match"), (MATCH_SUBSEQUENCE, "some part of the content must match")]),
    )
    .property(PropertyDescriptor::new(CHARSET).description("The character set of the content").required().default_value("UTF-8").validator(Validator::Charset))
    .property(
        PropertyDescriptor::new(BUFFER)
            .description("How much of the start of the content is matched; the rest is ignored")
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .relationship(Relationship::new(UNMATCHED, "Flowfiles that match no expression"))
    .dynamic(DynamicProperties {
        name_meaning: "A route (relationship) name".into(),
        value_meaning: "A regular expression; expressions (${...}) are evaluated per flowfile first".into(),
        expression_language: true,
        creates_relationships: true,
    })
    .relationships_from(relationships)
}

/// The processor.
#[derive(Default)]
pub struct RouteOnContent {
    whole: bool,
    charset: Charset,
    buffer: u64,
    /// Route name and its regex when constant (None: evaluated per flowfile).
    routes: Vec<(Arc<str>, Option<Regex>)>,
}

impl RouteOnContent {
    fn compile(&self, raw: &str) -> Result<Regex, regex::Error> {
        if self.whole { Regex::new(&format!(r"\A(?:{raw})\z")) } else { Regex::new(raw) }
    }
}

impl Processor for RouteOnContent {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.whole = ctx.property(MATCH_REQUIREMENT).unwrap_or(MATCH_ALL) == MATCH_ALL;
        self.charset = Charset::parse(ctx.property(CHARSET).unwrap_or("UTF-8"))?;
        self.buffer = ctx.data_size(BUFFER)?.unwrap_or(1024 * 1024);
        self.routes.clear();
        for (name, raw) in ctx.dynamic_properties() {
            let re = match ctx.expression(name) {
                Some(_) => None,
                None => Some(self.compile(raw).map_err(|e| ProcessError::Config(format!("'{name}': {e}")))?),
            };
            self.routes.push((Arc::from(name), re));
        }
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errors = Vec::new();
        if ctx.dynamic_properties().next().is_none() {
            errors.push("add at least one property: a route name with a regular expression".into());
        }
        for (name, raw) in ctx.dynamic_properties() {
            if !raw.contains("${")
                && let Err(e) = Regex::new(raw)
            {
                errors.push(format!("'{name}' is not a valid regular expression: {e}"));
            }
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in session.get_batch(BATCH) {
            let bytes = match ff.content.cached() {
                Some(b) if (b.len() as u64) <= self.buffer => b,
                _ => {
                    let mut buf = Vec::new();
                    session.read(&ff)?.take(self.buffer).read_to_end(&mut buf)?;
                    buf.into()
                }
            };
            let text = self.charset.decode_lossy(&bytes);
            let mut matched: Vec<&Arc<str>> = Vec::new();
            for (name, re) in &self.routes {
                let hit = match re {
                    Some(re) => re.is_match(&text),
                    None => {
                        let raw = eval_prop(ctx, name, &ff.attributes).map_err(|e| ProcessError::Other(e.0))?;
                        self.compile(&raw)
                            .map_err(|e| {
                                ProcessError::Other(format!(
                                    "route '{name}' evaluated to an invalid regular expression: {e}"
                                ))
                            })?
                            .is_match(&text)
                    }
                };
                if hit {
                    matched.push(name);
                }
            }
            match matched.split_first() {
                None => session.transfer(ff, UNMATCHED),
                Some((first, rest)) => {
                    for rel in rest {
                        let c = session.clone_flowfile(&ff);
                        session.transfer(c, rel);
                    }
                    session.transfer(ff, first);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn runner(props: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "RouteOnContent");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r
    }

    #[test]
    fn exact_and_contains_matching() {
        let mut r = runner(&[("digits", r"\d+"), ("word", r"[a-z]+")]);
        r.enqueue("12345", &[]);
        r.enqueue("abc1", &[]);
        r.run(1).unwrap();
        assert_eq!(r.count("digits"), 1);
        assert_eq!(r.count("word"), 0);
        assert_eq!(TestRunner::content(&r.output(UNMATCHED)[0]), "abc1");

        let mut r = runner(&[(MATCH_REQUIREMENT, MATCH_SUBSEQUENCE), ("digits", r"\d+"), ("word", r"[a-z]+")]);
        r.enqueue("abc1", &[]);
        r.run(1).unwrap();
        // Cloned to both routes.
        assert_eq!(r.count("digits"), 1);
        assert_eq!(r.count("word"), 1);
        assert_eq!(r.count(UNMATCHED), 0);
    }

    #[test]
    fn only_the_buffer_is_matched_and_expressions_work() {
        let mut r =
            runner(&[(MATCH_REQUIREMENT, MATCH_SUBSEQUENCE), (BUFFER, "4 B"), ("late", "tail"), ("mine", "${owner}")]);
        r.enqueue("headtail", &[("owner", "hea")]);
        r.run(1).unwrap();
        assert_eq!(r.count("late"), 0);
        assert_eq!(r.count("mine"), 1);
    }

    #[test]
    fn failure_paths() {
        let mut r = runner(&[("bad", "(")]);
        assert!(r.validation_errors().iter().any(|e| e.contains("'bad'")));
        let mut r = runner(&[("dyn", "${p}")]);
        r.enqueue("x", &[("p", "[")]);
        assert!(r.run(1).unwrap_err().contains("invalid regular expression"));
        assert_eq!(r.input_queue().len(), 1);
        assert!(!r.bulletins().is_empty());
    }
}
