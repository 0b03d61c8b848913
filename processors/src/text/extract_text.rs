//! ExtractText: evaluates regular expressions over (the start of) the content and puts the
//! capture groups into attributes.

use std::io::Read;

use regex::{Regex, RegexBuilder};
use sluice_engine::{
    DynamicProperties, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::Charset;

const CHARSET: &str = "Character Set";
const MAX_BUFFER: &str = "Maximum Buffer Size";
const MAX_GROUP: &str = "Maximum Capture Group Length";
const CASE_INSENSITIVE: &str = "Enable Case-insensitive Matching";
const COMMENTS: &str = "Permit Whitespace and Comments in Pattern";
const DOTALL: &str = "Enable DOTALL Mode";
const LITERAL: &str = "Enable Literal Parsing of the Pattern";
const MULTILINE: &str = "Enable Multiline Mode";
const GROUP_ZERO: &str = "Include Capture Group 0";
const REPEATING: &str = "Enable repeating capture group";
const NAMED: &str = "Enable named group support";
const MATCHED: &str = "matched";
const UNMATCHED: &str = "unmatched";
const FLAGS: &[(&str, &str)] = &[
    (CASE_INSENSITIVE, "Letters match regardless of case (the (?i) flag)"),
    (COMMENTS, "Whitespace and # comments in the pattern are ignored (the (?x) flag)"),
    (DOTALL, "'.' also matches line endings (the (?s) flag)"),
    (LITERAL, "The pattern is literal text, not a regular expression"),
    (MULTILINE, "'^' and '$' match at line boundaries (the (?m) flag)"),
];
/// Flowfiles handled per trigger.
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ExtractText::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "ExtractText",
        "Evaluates regular expressions (one per dynamic property) over the first 'Maximum Buffer Size' bytes of the content and \
         puts what they capture into attributes: for property 'name', group N goes to name.N and group 1 also to name (with \
         named group support, group G goes to name.G). Flowfiles with at least one match go to 'matched'.",
    )
    .tags(&["evaluate", "extract", "text", "regular expression", "regex"])
    .property(PropertyDescriptor::new(CHARSET).description("The character set of the content").required().default_value("UTF-8").validator(Validator::Charset))
    .property(
        PropertyDescriptor::new(MAX_BUFFER)
            .description("How much of the start of the content is searched; the rest is ignored")
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(MAX_GROUP)
            .description("The most characters put in one attribute; longer captures are truncated")
            .required()
            .default_value("1024")
            .validator(Validator::POSITIVE_INTEGER),
    );
    for (name, what) in FLAGS {
        d = d.property(
            PropertyDescriptor::new(*name)
                .description(*what)
                .required()
                .default_value("false")
                .validator(Validator::Boolean),
        );
    }
    d.property(
        PropertyDescriptor::new(GROUP_ZERO)
            .description("Whether the whole match is put into name.0 as well")
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(REPEATING)
            .description("Whether every match is captured (numbered on from the first match's groups) instead of only the first")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(NAMED)
            .description("Whether named groups (?P<g>...) go to name.g instead of numbered attributes; every group must then be named")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .relationship(Relationship::new(MATCHED, "Flowfiles for which at least one expression matched, with the new attributes"))
    .relationship(Relationship::new(UNMATCHED, "Flowfiles no expression matched (no attribute added)"))
    .dynamic(DynamicProperties {
        name_meaning: "An attribute name (prefix)".into(),
        value_meaning: "A regular expression, usually with capture groups".into(),
        expression_language: false,
        creates_relationships: false,
    })
}

/// The processor.
#[derive(Default)]
pub struct ExtractText {
    charset: Charset,
    buffer: u64,
    max_group: usize,
    group_zero: bool,
    repeating: bool,
    named: bool,
    patterns: Vec<(String, Regex)>,
}

fn build(ctx: &ProcessContext, raw: &str) -> Result<Regex, String> {
    let flag = |n: &str| ctx.bool(n).ok().flatten().unwrap_or(false);
    let pattern = if flag(LITERAL) { regex::escape(raw) } else { raw.to_string() };
    RegexBuilder::new(&pattern)
        .case_insensitive(flag(CASE_INSENSITIVE))
        .ignore_whitespace(flag(COMMENTS))
        .dot_matches_new_line(flag(DOTALL))
        .multi_line(flag(MULTILINE))
        .build()
        .map_err(|e| e.to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Processor for ExtractText {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.charset = Charset::parse(ctx.property(CHARSET).unwrap_or("UTF-8"))?;
        self.buffer = ctx.data_size(MAX_BUFFER)?.unwrap_or(1024 * 1024);
        self.max_group = ctx.int(MAX_GROUP)?.unwrap_or(1024).max(1) as usize;
        self.group_zero = ctx.bool(GROUP_ZERO)?.unwrap_or(true);
        self.repeating = ctx.bool(REPEATING)?.unwrap_or(false);
        self.named = ctx.bool(NAMED)?.unwrap_or(false);
        self.patterns.clear();
        for (name, raw) in ctx.dynamic_properties() {
            let re = build(ctx, raw).map_err(|e| ProcessError::Config(format!("'{name}': {e}")))?;
            self.patterns.push((name.to_string(), re));
        }
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errors = Vec::new();
        let group_zero = ctx.bool(GROUP_ZERO).ok().flatten().unwrap_or(true);
        let named = ctx.bool(NAMED).ok().flatten().unwrap_or(false);
        if ctx.dynamic_properties().next().is_none() {
            errors.push("add at least one property: an attribute name with a regular expression".into());
        }
        for (name, raw) in ctx.dynamic_properties() {
            match build(ctx, raw) {
                Err(e) => errors.push(format!("'{name}' is not a valid regular expression: {e}")),
                Ok(re) => {
                    let groups = re.captures_len() - 1;
                    if !group_zero && groups == 0 {
                        errors.push(format!("'{name}' needs a capture group when '{GROUP_ZERO}' is false"));
                    }
                    if named && re.capture_names().flatten().count() != groups {
                        errors.push(format!("'{name}': every group must be named when '{NAMED}' is true"));
                    }
                }
            }
        }
        errors
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            let bytes = match ff.content.cached() {
                Some(b) if (b.len() as u64) <= self.buffer => b,
                _ => {
                    let mut buf = Vec::new();
                    session.read(&ff)?.take(self.buffer).read_to_end(&mut buf)?;
                    buf.into()
                }
            };
            let text = self.charset.decode_lossy(&bytes);
            let mut results: Vec<(String, String)> = Vec::new();
            for (base, re) in &self.patterns {
                self.extract(base, re, &text, &mut results);
            }
            if results.is_empty() {
                session.transfer(ff, UNMATCHED);
            } else {
                for (k, v) in &results {
                    ff.set_attr(k, v);
                }
                session.transfer(ff, MATCHED);
            }
        }
        Ok(())
    }
}

impl ExtractText {
    /// NiFi's numbering: the first match gives name.0 (optional), name.1.. and name (= group
    /// 1); with repeating groups, later matches continue the numbering (name.(i + j)).
    fn extract(&self, base: &str, re: &Regex, text: &str, out: &mut Vec<(String, String)>) {
        let groups = re.captures_len() - 1;
        let names: Vec<&str> = re.capture_names().flatten().collect();
        let use_named = self.named && names.len() == groups && groups > 0;
        let mut j = 0usize;
        for caps in re.captures_iter(text) {
            if use_named {
                for n in &names {
                    if let Some(m) = caps.name(n).filter(|m| !m.as_str().is_empty()) {
                        let key = if j > 0 { format!("{base}.{n}.{j}") } else { format!("{base}.{n}") };
                        out.push((key, truncate(m.as_str(), self.max_group).to_string()));
                    }
                }
                if self.group_zero
                    && j == 0
                    && let Some(m) = caps.get(0)
                {
                    out.push((base.to_string(), truncate(m.as_str(), self.max_group).to_string()));
                }
                j += 1;
            } else {
                let start = if j == 0 && self.group_zero { 0 } else { 1 };
                for i in start..=groups {
                    if let Some(m) = caps.get(i).filter(|m| !m.as_str().is_empty()) {
                        let v = truncate(m.as_str(), self.max_group).to_string();
                        if i == 1 && j == 0 {
                            out.push((base.to_string(), v.clone()));
                        }
                        out.push((format!("{base}.{}", i + j), v));
                    }
                }
                j += groups;
            }
            if !self.repeating {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn extract(props: &[(&str, &str)], content: &str) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ExtractText");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue(content.to_string(), &[]);
        r.run(1).unwrap();
        r
    }

    #[test]
    fn numbered_groups_like_nifi() {
        let mut r = extract(&[("regex", "abc(def)?(g)")], "xxabcgxx");
        let f = r.output(MATCHED).remove(0);
        assert_eq!(f.attr("regex.0"), Some("abcg"));
        assert_eq!(f.attr("regex.1"), None); // optional group that did not match
        assert_eq!(f.attr("regex.2"), Some("g"));
        assert_eq!(f.attr("regex"), None);
        let mut r = extract(&[("kv", r"(\w+)=(\w+)"), (GROUP_ZERO, "false")], "a=1 b=2");
        let f = r.output(MATCHED).remove(0);
        assert_eq!(f.attr("kv"), Some("a"));
        assert_eq!(f.attr("kv.1"), Some("a"));
        assert_eq!(f.attr("kv.2"), Some("1"));
        assert_eq!(f.attr("kv.0"), None);
        assert_eq!(f.attr("kv.3"), None);
    }

    #[test]
    fn repeating_named_flags_and_truncation() {
        let mut r = extract(&[("kv", r"(\w+)=(\w+)"), (REPEATING, "true")], "a=1 b=2");
        let f = r.output(MATCHED).remove(0);
        assert_eq!(
            (f.attr("kv.1"), f.attr("kv.2"), f.attr("kv.3"), f.attr("kv.4")),
            (Some("a"), Some("1"), Some("b"), Some("2"))
        );
        let mut r = extract(&[("p", r"(?P<user>\w+)@(?P<host>\w+)"), (NAMED, "true")], "mail joe@example now");
        let f = r.output(MATCHED).remove(0);
        assert_eq!(
            (f.attr("p.user"), f.attr("p.host"), f.attr("p")),
            (Some("joe"), Some("example"), Some("joe@example"))
        );
        let mut r = extract(
            &[("w", "(HELLO.WORLD)"), (CASE_INSENSITIVE, "true"), (DOTALL, "true"), (MAX_GROUP, "5")],
            "hello\nworld",
        );
        assert_eq!(r.output(MATCHED)[0].attr("w"), Some("hello"));
        let mut r = extract(&[("lit", "a.c"), (LITERAL, "true")], "abc a.c");
        assert_eq!(r.output(MATCHED)[0].attr("lit.0"), Some("a.c"));
    }

    #[test]
    fn unmatched_buffer_limit_and_validation() {
        let mut r = extract(&[("late", "tail"), (MAX_BUFFER, "4 B")], "headtail");
        assert_eq!(r.count(UNMATCHED), 1);
        assert_eq!(r.output(UNMATCHED)[0].attr("late.0"), None);
        let mut r = TestRunner::new(crate::registry(), "ExtractText");
        r.set_property("bad", "(");
        assert!(r.validation_errors().iter().any(|e| e.contains("'bad'")));
        r.remove_property("bad").set_property("nogroup", "x").set_property(GROUP_ZERO, "false");
        assert!(r.validation_errors().iter().any(|e| e.contains("needs a capture group")));
        r.remove_property("nogroup").set_property("half", r"(?P<a>x)(y)").set_property(NAMED, "true");
        assert!(r.validation_errors().iter().any(|e| e.contains("must be named")));
    }
}
