//! RouteText: routes each line of a text flowfile by conditions (starts with, contains,
//! regex, expression...), writing the lines of each route (and group) into new flowfiles.
//! One streamed pass; outputs are spooled (memory, then temporary files) until written.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use regex::Regex;
use sluice_engine::expression::Expression;
use sluice_engine::{
    DynamicProperties, FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{Charset, Overlay, eval_prop};
use super::lines::{self, read_line, split_eol};
use super::spool::Spool;

const ROUTING: &str = "Routing Strategy";
const TO_PROPERTY: &str = "Route to each matching Property Name";
const ALL: &str = "Route to 'matched' if line matches all conditions";
const ANY: &str = "Route to 'matched' if lines matches any condition";
const MATCHING: &str = "Matching Strategy";
const STARTS_WITH: &str = "Starts With";
const ENDS_WITH: &str = "Ends With";
const CONTAINS: &str = "Contains";
const EQUALS: &str = "Equals";
const MATCHES_REGEX: &str = "Matches Regular Expression";
const CONTAINS_REGEX: &str = "Contains Regular Expression";
const SATISFIES: &str = "Satisfies Expression";
const CHARSET: &str = "Character Set";
const TRIM: &str = "Ignore Leading/Trailing Whitespace";
const IGNORE_CASE: &str = "Ignore Case";
const GROUPING: &str = "Grouping Regular Expression";
const MATCHED: &str = "matched";
const UNMATCHED: &str = "unmatched";
const DECLARED: &[&str] = &[ROUTING, MATCHING, CHARSET, TRIM, IGNORE_CASE, GROUPING];
/// No line may be longer than this (bytes).
const MAX_LINE: usize = 64 * 1024 * 1024;
/// Flowfiles handled per trigger.
const BATCH: usize = 10;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(RouteText::default()));
}

fn relationships(props: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = vec![crate::ORIGINAL.into(), UNMATCHED.into()];
    match props.get(ROUTING).map(|s| s.as_str()).unwrap_or(TO_PROPERTY) {
        TO_PROPERTY => v.extend(props.keys().filter(|k| !DECLARED.contains(&k.as_str())).cloned()),
        _ => v.push(MATCHED.into()),
    }
    v
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "RouteText",
        "Routes the lines of a text flowfile: each dynamic property is a condition (its name a route); lines are tested with the \
         Matching Strategy and written, with their line endings, to a new flowfile per route (and per group when a Grouping \
         Regular Expression is set). The input goes to 'original'.",
    )
    .tags(&["attributes", "routing", "text", "regexp", "regex", "filter", "search", "detect", "lines"])
    .property(
        PropertyDescriptor::new(ROUTING)
            .description("Where a line goes once tested")
            .required()
            .default_value(TO_PROPERTY)
            .allowable(&[
                (TO_PROPERTY, "to every route whose condition the line meets; lines meeting none go to 'unmatched'"),
                (ALL, "to 'matched' when the line meets every condition, else 'unmatched'"),
                (ANY, "to 'matched' when the line meets at least one condition, else 'unmatched'"),
            ]),
    )
    .property(
        PropertyDescriptor::new(MATCHING)
            .description("How a line is tested against each condition")
            .required()
            .allowable(&[
                (STARTS_WITH, "the line starts with the value"),
                (ENDS_WITH, "the line ends with the value"),
                (CONTAINS, "the line contains the value"),
                (EQUALS, "the line equals the value"),
                (MATCHES_REGEX, "the whole line matches the regular expression"),
                (CONTAINS_REGEX, "some part of the line matches the regular expression"),
                (SATISFIES, "the value is a boolean expression; it sees the flowfile's attributes plus 'line' and 'lineNo' (from 1)"),
            ]),
    )
    .property(PropertyDescriptor::new(CHARSET).description("The character set of the content").required().default_value("UTF-8").validator(Validator::Charset))
    .property(
        PropertyDescriptor::new(TRIM)
            .description("Whether to ignore whitespace at the start and end of each line when testing it (the line is written as it was)")
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(IGNORE_CASE)
            .description("Whether case is ignored when testing (not used by Satisfies Expression)")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(GROUPING)
            .description(
                "A regular expression with capture groups: lines of one route whose groups capture the same values go into the \
                 same flowfile, and RouteText.Group holds the values (joined with ', ')",
            )
            .validator(Validator::Regex),
    )
    .relationship(Relationship::new(crate::ORIGINAL, "The input flowfile once its lines were routed"))
    .relationship(Relationship::new(UNMATCHED, "The lines that met no condition (or not all of them, with the 'all' strategy)"))
    .relationship(Relationship::new(MATCHED, "With the 'matched' strategies: the lines that matched"))
    .dynamic(DynamicProperties {
        name_meaning: "A route (relationship) name".into(),
        value_meaning: "The condition: text, a regular expression or a boolean expression, per the Matching Strategy".into(),
        expression_language: true,
        creates_relationships: true,
    })
    .relationships_from(relationships)
}

#[derive(Clone, Copy, PartialEq, Default, Debug)]
enum Strategy {
    #[default]
    StartsWith,
    EndsWith,
    Contains,
    Equals,
    MatchesRegex,
    ContainsRegex,
    Satisfies,
}

#[derive(Clone, Copy, PartialEq, Default)]
enum Routing {
    #[default]
    ToProperty,
    All,
    Any,
}

/// An output flowfile's relationship and group.
type OutputKey = (Arc<str>, Option<String>);

/// A route's condition as configured.
struct Route {
    name: Arc<str>,
    raw: String,
    /// The value's expression (evaluated per flowfile; per line for Satisfies Expression).
    expr: Option<Expression>,
    /// The regex, when constant.
    regex: Option<Regex>,
}

/// A route's condition resolved for one flowfile.
enum Cond<'a> {
    Text(String),
    Regex(std::borrow::Cow<'a, Regex>),
    Expr(&'a Expression),
}

/// The processor.
#[derive(Default)]
pub struct RouteText {
    routing: Routing,
    strategy: Strategy,
    charset: Charset,
    trim: bool,
    ignore_case: bool,
    grouping: Option<Regex>,
    routes: Vec<Route>,
}

impl RouteText {
    fn regex_source(&self, raw: &str) -> String {
        let anchored = match self.strategy {
            Strategy::MatchesRegex => format!(r"\A(?:{raw})\z"),
            _ => raw.to_string(),
        };
        if self.ignore_case { format!("(?i){anchored}") } else { anchored }
    }

    fn resolve(&self, ctx: &ProcessContext, ff: &FlowFile) -> Result<Vec<Cond<'_>>, ProcessError> {
        self.routes
            .iter()
            .map(|r| {
                Ok(match self.strategy {
                    Strategy::Satisfies => match &r.expr {
                        Some(e) => Cond::Expr(e),
                        None => Cond::Text(r.raw.clone()),
                    },
                    Strategy::MatchesRegex | Strategy::ContainsRegex => match &r.regex {
                        Some(re) => Cond::Regex(std::borrow::Cow::Borrowed(re)),
                        None => {
                            let v = eval_prop(ctx, &r.name, &ff.attributes).map_err(|e| ProcessError::Other(e.0))?;
                            let re = Regex::new(&self.regex_source(&v)).map_err(|e| {
                                ProcessError::Other(format!(
                                    "route '{}' evaluated to an invalid regular expression: {e}",
                                    r.name
                                ))
                            })?;
                            Cond::Regex(std::borrow::Cow::Owned(re))
                        }
                    },
                    _ => {
                        let v = match &r.expr {
                            Some(_) => eval_prop(ctx, &r.name, &ff.attributes).map_err(|e| ProcessError::Other(e.0))?,
                            None => r.raw.clone(),
                        };
                        Cond::Text(if self.ignore_case { v.to_lowercase() } else { v })
                    }
                })
            })
            .collect()
    }
}

impl Processor for RouteText {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.routing = match ctx.property(ROUTING).unwrap_or(TO_PROPERTY) {
            ALL => Routing::All,
            ANY => Routing::Any,
            _ => Routing::ToProperty,
        };
        self.strategy = match ctx.property(MATCHING).unwrap_or_default() {
            STARTS_WITH => Strategy::StartsWith,
            ENDS_WITH => Strategy::EndsWith,
            CONTAINS => Strategy::Contains,
            EQUALS => Strategy::Equals,
            MATCHES_REGEX => Strategy::MatchesRegex,
            CONTAINS_REGEX => Strategy::ContainsRegex,
            SATISFIES => Strategy::Satisfies,
            other => {
                return Err(ProcessError::Config(format!("'{MATCHING}': unknown strategy '{other}'")));
            }
        };
        self.charset = Charset::parse(ctx.property(CHARSET).unwrap_or("UTF-8"))?;
        self.trim = ctx.bool(TRIM)?.unwrap_or(true);
        self.ignore_case = ctx.bool(IGNORE_CASE)?.unwrap_or(false);
        self.grouping = match ctx.property(GROUPING).filter(|g| !g.is_empty()) {
            Some(g) => Some(Regex::new(g).map_err(|e| ProcessError::Config(format!("'{GROUPING}': {e}")))?),
            None => None,
        };
        self.routes.clear();
        for (name, raw) in ctx.dynamic_properties() {
            let expr = match (ctx.expression(name), self.strategy) {
                (Some(e), _) => Some(e.clone()),
                (None, Strategy::Satisfies) => {
                    Some(Expression::compile(raw).map_err(|e| ProcessError::Config(format!("'{name}': {e}")))?)
                }
                (None, _) => None,
            };
            let regex = match self.strategy {
                Strategy::MatchesRegex | Strategy::ContainsRegex if expr.is_none() => Some(
                    Regex::new(&self.regex_source(raw)).map_err(|e| ProcessError::Config(format!("'{name}': {e}")))?,
                ),
                _ => None,
            };
            self.routes.push(Route { name: Arc::from(name), raw: raw.to_string(), expr, regex });
        }
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errors = Vec::new();
        if ctx.dynamic_properties().next().is_none() {
            errors.push("add at least one property: a route name with its condition".into());
        }
        if matches!(ctx.property(MATCHING), Some(MATCHES_REGEX | CONTAINS_REGEX)) {
            for (name, raw) in ctx.dynamic_properties() {
                if !raw.contains("${")
                    && let Err(e) = Regex::new(raw)
                {
                    errors.push(format!("'{name}' is not a valid regular expression: {e}"));
                }
            }
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in session.get_batch(BATCH) {
            let conds = self.resolve(ctx, &ff)?;
            let mut outputs: Vec<(OutputKey, Spool)> = Vec::new();
            let mut index: HashMap<OutputKey, usize> = HashMap::new();
            let matched: Arc<str> = Arc::from(MATCHED);
            let unmatched: Arc<str> = Arc::from(UNMATCHED);
            let mut src = lines::reader(session, &ff)?;
            let mut line = Vec::new();
            let mut line_no = 0u64;
            let mut hits: Vec<bool> = vec![false; conds.len()];
            let mut extra: Vec<(String, String)> = Vec::new();
            while read_line(&mut *src, &mut line, MAX_LINE).map_err(ProcessError::Io)? {
                line_no += 1;
                let (body, _) = split_eol(&line);
                let text = self.charset.decode_lossy(body);
                let subject: &str = if self.trim { text.trim() } else { &text };
                let lowered;
                let cmp: &str = if self.ignore_case
                    && !matches!(self.strategy, Strategy::Satisfies | Strategy::MatchesRegex | Strategy::ContainsRegex)
                {
                    lowered = subject.to_lowercase();
                    &lowered
                } else {
                    subject
                };
                if self.strategy == Strategy::Satisfies {
                    extra.clear();
                    extra.push(("line".into(), subject.to_string()));
                    extra.push(("lineNo".into(), line_no.to_string()));
                }
                for (hit, cond) in hits.iter_mut().zip(&conds) {
                    *hit = match cond {
                        Cond::Text(v) => match self.strategy {
                            Strategy::StartsWith => cmp.starts_with(v.as_str()),
                            Strategy::EndsWith => cmp.ends_with(v.as_str()),
                            Strategy::Contains => cmp.contains(v.as_str()),
                            Strategy::Satisfies => v.trim().eq_ignore_ascii_case("true"),
                            _ => cmp == v,
                        },
                        Cond::Regex(re) => re.is_match(cmp),
                        Cond::Expr(e) => e
                            .evaluate_bool(&Overlay { extra: &extra, base: &ff.attributes })
                            .map_err(|e| ProcessError::Other(format!("line {line_no}: {e}")))?,
                    };
                }
                let group = self.grouping.as_ref().map(|g| match g.captures(&text) {
                    Some(c) => {
                        c.iter().skip(1).map(|m| m.map(|m| m.as_str()).unwrap_or("")).collect::<Vec<_>>().join(", ")
                    }
                    None => String::new(),
                });
                let mut emit = |rel: &Arc<str>| -> Result<(), ProcessError> {
                    let key = (rel.clone(), group.clone());
                    let i = match index.get(&key) {
                        Some(i) => *i,
                        None => {
                            outputs.push((key.clone(), Spool::new()));
                            index.insert(key, outputs.len() - 1);
                            outputs.len() - 1
                        }
                    };
                    outputs[i].1.write_all(&line)?;
                    Ok(())
                };
                match self.routing {
                    Routing::ToProperty => {
                        let mut any = false;
                        for (r, hit) in self.routes.iter().zip(&hits) {
                            if *hit {
                                any = true;
                                emit(&r.name)?;
                            }
                        }
                        if !any {
                            emit(&unmatched)?;
                        }
                    }
                    Routing::All => emit(if hits.iter().all(|h| *h) { &matched } else { &unmatched })?,
                    Routing::Any => emit(if hits.iter().any(|h| *h) { &matched } else { &unmatched })?,
                }
            }
            for ((rel, group), mut spool) in outputs {
                let mut child = session.create_child(&ff);
                let len = spool.len();
                lines::write_content(session, &mut child, len, |w| spool.copy_to(w))?;
                child.set_attr("RouteText.Route", &rel);
                if let Some(g) = &group {
                    child.set_attr("RouteText.Group", g);
                }
                session.transfer(child, &rel);
            }
            session.transfer(ff, crate::ORIGINAL);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn route(props: &[(&str, &str)], content: &str) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "RouteText");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue(content.to_string(), &[("kind", "err")]);
        r.run(1).unwrap();
        r
    }

    fn lines_of(r: &mut TestRunner, rel: &str) -> Vec<String> {
        r.output(rel).iter().map(TestRunner::content).collect()
    }

    #[test]
    fn routes_lines_to_each_matching_property() {
        let mut r = route(
            &[(MATCHING, STARTS_WITH), ("errors", "ERR"), ("warnings", "WARN"), ("both", "")],
            "ERR a\nWARN b\n  ERR c\r\nok\n",
        );
        assert_eq!(lines_of(&mut r, "errors"), vec!["ERR a\n  ERR c\r\n"]);
        assert_eq!(lines_of(&mut r, "warnings"), vec!["WARN b\n"]);
        assert_eq!(lines_of(&mut r, "both"), vec!["ERR a\nWARN b\n  ERR c\r\nok\n"]);
        assert_eq!(lines_of(&mut r, UNMATCHED), Vec::<String>::new());
        assert_eq!(r.count(crate::ORIGINAL), 1);
        assert_eq!(r.output("errors")[0].attr("RouteText.Route"), Some("errors"));
        assert_eq!(r.output("errors")[0].attr("kind"), Some("err"));
    }

    #[test]
    fn matched_strategies_and_case() {
        let mut r = route(
            &[(ROUTING, ALL), (MATCHING, CONTAINS), (IGNORE_CASE, "true"), ("a", "foo"), ("b", "BAR")],
            "Foo bar\nfoo\nnothing\n",
        );
        assert_eq!(lines_of(&mut r, MATCHED), vec!["Foo bar\n"]);
        assert_eq!(lines_of(&mut r, UNMATCHED), vec!["foo\nnothing\n"]);
        let mut r = route(&[(ROUTING, ANY), (MATCHING, EQUALS), ("a", "x"), ("b", "y")], "x\n y \nz");
        assert_eq!(lines_of(&mut r, MATCHED), vec!["x\n y \n"]);
        assert_eq!(lines_of(&mut r, UNMATCHED), vec!["z"]);
        let mut r = route(&[(MATCHING, ENDS_WITH), (TRIM, "false"), ("sp", "x ")], "ax \nax\n");
        assert_eq!(lines_of(&mut r, "sp"), vec!["ax \n"]);
    }

    #[test]
    fn regex_expression_and_grouping() {
        let mut r = route(&[(MATCHING, MATCHES_REGEX), ("num", r"\d+")], "123\n12a\n");
        assert_eq!(lines_of(&mut r, "num"), vec!["123\n"]);
        let mut r = route(&[(MATCHING, CONTAINS_REGEX), ("num", r"\d+")], "123\n12a\nabc\n");
        assert_eq!(lines_of(&mut r, "num"), vec!["123\n12a\n"]);
        let mut r = route(
            &[(MATCHING, SATISFIES), ("even", "${lineNo:mod(2):equals(0)}"), ("k", "${line:startsWith(${kind})}")],
            "err1\nok\nerr3\n",
        );
        assert_eq!(lines_of(&mut r, "even"), vec!["ok\n"]);
        assert_eq!(lines_of(&mut r, "k"), vec!["err1\nerr3\n"]);
        let mut r = route(&[(MATCHING, CONTAINS), ("all", ""), (GROUPING, r"^(\w+),")], "a,1\nb,2\na,3\nnone\n");
        let mut got: Vec<(String, String)> = r
            .output("all")
            .iter()
            .map(|f| (f.attr("RouteText.Group").unwrap().to_string(), TestRunner::content(f)))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![("".into(), "none\n".into()), ("a".into(), "a,1\na,3\n".into()), ("b".into(), "b,2\n".into())]
        );
    }

    #[test]
    fn large_content_streams_through_spools() {
        let content: String =
            (0..60_000).map(|i| format!("{} line {i}\n", if i % 2 == 0 { "even" } else { "odd" })).collect();
        let mut r = route(&[(MATCHING, STARTS_WITH), ("even", "even")], &content);
        let even = lines_of(&mut r, "even").remove(0);
        let odd = lines_of(&mut r, UNMATCHED).remove(0);
        assert_eq!(even.lines().count(), 30_000);
        assert_eq!(even.len() + odd.len(), content.len());
    }

    #[test]
    fn failures_roll_back_or_do_not_validate() {
        let mut r = TestRunner::new(crate::registry(), "RouteText");
        r.set_property(MATCHING, MATCHES_REGEX).set_property("bad", "(");
        assert!(r.validation_errors().iter().any(|e| e.contains("'bad'")));
        let mut r = TestRunner::new(crate::registry(), "RouteText");
        r.set_property(MATCHING, CONTAINS_REGEX).set_property("dyn", "${pattern}");
        r.enqueue("x", &[("pattern", "(")]);
        let err = r.run(1).unwrap_err();
        assert!(err.contains("invalid regular expression"), "{err}");
        assert_eq!(r.input_queue().len(), 1);
        assert_eq!(r.count(crate::ORIGINAL), 0);
    }
}
