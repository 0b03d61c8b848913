//! NiFi-compatible Expression Language (EL) for Sluice.
//!
//! A property value such as `out/${filename:toUpper():substringBefore('.')}-#{suffix}.txt` is
//! compiled once into an [`Expression`] and evaluated per flowfile against its attributes:
//!
//! ```
//! use std::collections::HashMap;
//! use sluice_expression::Expression;
//!
//! let expr = Expression::compile("${filename:toUpper():substringBefore('.')}").unwrap();
//! let attrs = HashMap::from([("filename".to_string(), "report.csv".to_string())]);
//! assert_eq!(expr.evaluate(&attrs).unwrap(), "REPORT");
//! ```
//!
//! Semantics follow the Apache NiFi Expression Language Guide, including `$$` escaping,
//! implicit type conversions, Java number and date formatting and the multi-attribute
//! functions (`anyAttribute`, `allMatchingAttributes`, `anyDelineatedValue`, ...).

mod ast;
mod compile;
mod error;
mod eval;
mod functions;
mod lexer;
pub mod number_format;
mod parser;
mod template;
mod value;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

pub use error::ElError;

use ast::{MultiSource, Node};
use compile::{compile_expression_text, is_attribute_ref};
use error::CompileError;
use functions::date::{Zone, system_zone};
use template::{Piece, extract_ranges, literals_and_params, unescape_leading, unescape_trailing};

/// Where attribute values come from during evaluation (a flowfile's attributes).
pub trait AttributeSource {
    /// The value of attribute `name`, if present.
    fn get(&self, name: &str) -> Option<&str>;
    /// All attribute (name, value) pairs; used by `anyMatchingAttribute`/`allMatchingAttributes`.
    fn for_each(&self, f: &mut dyn FnMut(&str, &str));
}

impl<S: BuildHasher> AttributeSource for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k, v);
        }
    }
}

impl AttributeSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k, v);
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> AttributeSource for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref())
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> AttributeSource for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        AttributeSource::get(self.as_slice(), name)
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        AttributeSource::for_each(self.as_slice(), f)
    }
}

impl<T: AttributeSource + ?Sized> AttributeSource for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        (**self).for_each(f)
    }
}

/// Lookup of `#{param}` parameter references (the flow's parameter context).
pub trait ParameterSource {
    /// The value of parameter `name`, if defined.
    fn get_parameter(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> ParameterSource for HashMap<String, String, S> {
    fn get_parameter(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl ParameterSource for BTreeMap<String, String> {
    fn get_parameter(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

static SYSTEM_ZONE: LazyLock<Zone> = LazyLock::new(system_zone);

/// Evaluation environment: the clock, the default time zone (Java's `TimeZone.getDefault()`)
/// and whether missing attributes fall back to process environment variables.
///
/// `EvalEnv::default()` uses the real clock, the process time zone (`TZ` or the system zone)
/// and enables the environment-variable fallback, as NiFi does.
#[derive(Debug, Clone)]
pub struct EvalEnv {
    now_ms: Option<i64>,
    zone: Option<Zone>,
    env_fallback: bool,
}

impl Default for EvalEnv {
    fn default() -> Self {
        EvalEnv { now_ms: None, zone: None, env_fallback: true }
    }
}

impl EvalEnv {
    /// Same as [`EvalEnv::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Freeze `now()` at the given epoch milliseconds (for tests and replays).
    pub fn with_fixed_now_millis(mut self, epoch_millis: i64) -> Self {
        self.now_ms = Some(epoch_millis);
        self
    }

    /// Use `id` (e.g. `America/New_York`, `UTC`, `GMT+02:00`) as the default time zone for
    /// `format`, `toDate` and date-to-text conversion. Unknown IDs are rejected.
    pub fn with_time_zone(mut self, id: &str) -> Result<Self, ElError> {
        let z = Zone::try_parse(id).ok_or_else(|| ElError::Eval(format!("unknown time zone '{id}'")))?;
        self.zone = Some(z);
        Ok(self)
    }

    /// Enable or disable the fallback from missing attributes to environment variables.
    pub fn with_env_fallback(mut self, enabled: bool) -> Self {
        self.env_fallback = enabled;
        self
    }

    /// The ID of the default time zone in effect.
    pub fn time_zone_id(&self) -> String {
        self.zone().id()
    }

    pub(crate) fn zone(&self) -> &Zone {
        self.zone.as_ref().unwrap_or(&SYSTEM_ZONE)
    }

    pub(crate) fn now_millis(&self) -> i64 {
        self.now_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        })
    }

    pub(crate) fn env_fallback(&self) -> bool {
        self.env_fallback
    }
}

/// One piece of a compiled property value.
#[derive(Debug, Clone)]
enum Part {
    Lit(Box<str>),
    Expr(Node),
    Param(Box<str>),
}

/// A compiled property value: literal text with embedded `${...}` expressions and `#{param}`
/// references. Compile once, evaluate many times; cheap to clone and shareable across threads.
#[derive(Debug, Clone)]
pub struct Expression {
    source: Arc<str>,
    parts: Arc<[Part]>,
}

fn push_lit(parts: &mut Vec<Part>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Part::Lit(prev)) = parts.last_mut() {
        let mut joined = String::with_capacity(prev.len() + s.len());
        joined.push_str(prev);
        joined.push_str(s);
        *prev = joined.into_boxed_str();
    } else {
        parts.push(Part::Lit(s.into()));
    }
}

fn push_pieces(parts: &mut Vec<Part>, text: &str) {
    let mut pieces = Vec::new();
    literals_and_params(text, &mut pieces);
    for p in pieces {
        match p {
            Piece::Lit(l) => push_lit(parts, &l),
            Piece::Param(n) => parts.push(Part::Param(n.into_boxed_str())),
        }
    }
}

/// NiFi's `Query.prepare`: split the value into literal text, parameters and expressions.
fn prepare(src: &str) -> Result<Vec<Part>, CompileError> {
    let mut parts = Vec::new();
    let ranges = extract_ranges(src, false);
    if ranges.is_empty() {
        let escaped = extract_ranges(src, true);
        if escaped.is_empty() {
            push_pieces(&mut parts, src);
            return Ok(parts);
        }
        let mut last = 0;
        for &(s, e) in &escaped {
            if s > last {
                push_pieces(&mut parts, &unescape_leading(&src[last..s]));
            }
            push_pieces(&mut parts, &unescape_leading(&src[s..=e]));
            last = e + 1;
        }
        if last < src.len() {
            push_pieces(&mut parts, &unescape_leading(&src[last..]));
        }
        return Ok(parts);
    }
    let mut last = 0;
    for &(s, e) in &ranges {
        let (node, _) = compile_expression_text(&src[s..=e], s, 0)?;
        if s > last {
            let mut lit = unescape_leading(&src[last..s]);
            if is_attribute_ref(&node) {
                lit = unescape_trailing(&lit, false);
            }
            push_pieces(&mut parts, &lit);
        }
        parts.push(Part::Expr(node));
        last = e + 1;
    }
    if last < src.len() {
        push_pieces(&mut parts, &unescape_leading(&src[last..]));
    }
    Ok(parts)
}

fn collect_attrs(node: &Node, out: &mut Vec<String>) {
    let mut add = |s: &str| {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    };
    match node {
        Node::Attr(name) => add(name),
        Node::DynAttr(n) => collect_attrs(n, out),
        Node::Concat(ps) => ps.iter().for_each(|p| collect_attrs(p, out)),
        Node::Call(c) => {
            if let Some(s) = &c.subject {
                collect_attrs(s, out);
            }
            c.args.iter().for_each(|a| collect_attrs(a, out));
        }
        Node::Multi(m) => {
            match &m.source {
                MultiSource::Names(ns) => {
                    for n in ns.iter() {
                        add(n);
                    }
                }
                MultiSource::Matching(_) => {}
                MultiSource::Delineated(a, b) => {
                    collect_attrs(a, out);
                    collect_attrs(b, out);
                }
            }
            collect_attrs(&m.chain, out);
            if let ast::MultiMode::Join(d) = &m.mode {
                collect_attrs(d, out);
            }
        }
        _ => {}
    }
}

impl Expression {
    /// Compile a complete property value (literal text, `${...}` expressions, `$$` escapes,
    /// `#{param}` references). Syntax errors, unknown functions, wrong argument counts and
    /// static type errors are reported here.
    pub fn compile(text: &str) -> Result<Expression, ElError> {
        let parts = prepare(text).map_err(|e| e.into_el_error(text))?;
        Ok(Expression { source: text.into(), parts: parts.into() })
    }

    /// Evaluate against attributes with the default environment and no parameters.
    pub fn evaluate(&self, attrs: &dyn AttributeSource) -> Result<String, ElError> {
        static DEFAULT_ENV: LazyLock<EvalEnv> = LazyLock::new(EvalEnv::default);
        self.evaluate_with(attrs, None, &DEFAULT_ENV)
    }

    /// Evaluate with an optional parameter context and an explicit environment.
    pub fn evaluate_with(
        &self,
        attrs: &dyn AttributeSource,
        params: Option<&dyn ParameterSource>,
        env: &EvalEnv,
    ) -> Result<String, ElError> {
        let cx = eval::Ctx { attrs, params, env, current: None };
        if let [single] = &*self.parts {
            return Ok(match single {
                Part::Lit(s) => s.to_string(),
                Part::Expr(n) => n.eval(&cx)?.into_text(env).map(Cow::into_owned).unwrap_or_default(),
                Part::Param(p) => params.and_then(|ps| ps.get_parameter(p)).unwrap_or("").to_string(),
            });
        }
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in self.parts.iter() {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(n) => {
                    if let Some(t) = n.eval(&cx)?.into_text(env) {
                        out.push_str(&t);
                    }
                }
                Part::Param(p) => {
                    if let Some(v) = params.and_then(|ps| ps.get_parameter(p)) {
                        out.push_str(v);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Evaluate for routing decisions: true iff the result is `true` (case-insensitive).
    pub fn evaluate_bool(&self, attrs: &dyn AttributeSource) -> Result<bool, ElError> {
        if let [Part::Expr(n)] = &*self.parts {
            static DEFAULT_ENV: LazyLock<EvalEnv> = LazyLock::new(EvalEnv::default);
            let cx = eval::Ctx { attrs, params: None, env: &DEFAULT_ENV, current: None };
            return Ok(match n.eval(&cx)? {
                value::Value::Bool(b) => b,
                other => other.into_text(&DEFAULT_ENV).is_some_and(|t| t.eq_ignore_ascii_case("true")),
            });
        }
        Ok(self.evaluate(attrs)?.eq_ignore_ascii_case("true"))
    }

    /// True when the value contains no `${...}` expression and no `#{param}` reference, so its
    /// evaluation result is always [`Expression::literal_value`].
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The constant result of a literal expression (escapes already applied).
    pub fn literal_value(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Names of attributes referenced by fixed name (dynamic names and regex matches are not
    /// listed), in order of first appearance.
    pub fn referenced_attributes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.parts.iter() {
            if let Part::Expr(n) = p {
                collect_attrs(n, &mut out);
            }
        }
        out
    }

    /// Names of `#{param}` references outside expressions, then inside, in order of appearance.
    pub fn referenced_parameters(&self) -> Vec<String> {
        fn walk(n: &Node, out: &mut Vec<String>) {
            match n {
                Node::Param(p) if !out.iter().any(|x| x == &**p) => {
                    out.push(p.to_string());
                }
                Node::DynAttr(x) => walk(x, out),
                Node::Concat(ps) => ps.iter().for_each(|p| walk(p, out)),
                Node::Call(c) => {
                    if let Some(s) = &c.subject {
                        walk(s, out);
                    }
                    c.args.iter().for_each(|a| walk(a, out));
                }
                Node::Multi(m) => walk(&m.chain, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for p in self.parts.iter() {
            match p {
                Part::Param(n) => {
                    if !out.iter().any(|x| x == &**n) {
                        out.push(n.to_string());
                    }
                }
                Part::Expr(n) => walk(n, &mut out),
                Part::Lit(_) => {}
            }
        }
        out
    }

    /// The original property value this expression was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Check that a property value is valid EL (for property validators).
pub fn validate(text: &str) -> Result<(), ElError> {
    Expression::compile(text).map(|_| ())
}

#[cfg(test)]
mod tests;
