//! NiFi Expression Language conformance suite driven by `tests/conformance.tsv`.
//!
//! File format (one case per line, tab separated):
//! `expression <TAB> attributes <TAB> expected [<TAB> options]`
//! - lines starting with `#` are comments; `@set NAME {json}` defines a named attribute set;
//! - attributes: `-` (none), `@NAME`, an inline JSON object, or `@NAME+{json}` (merged);
//! - expected: the exact output, `!COMPILE` (must fail to compile), `!EVAL` (must compile and
//!   fail to evaluate), or `~REGEX` (output must fully match REGEX);
//! - options (space separated): `tz=ZONE`, `param:NAME=VALUE`;
//! - in every field `<TAB>`, `<LF>`, `<CR>`, `<SP>` and `<EMPTY>` stand for a tab, a newline, a
//!   carriage return, a space and the empty string.
//!
//! Evaluation uses a fixed clock (2014-06-24T14:31:18.642Z), UTC unless `tz=` says otherwise,
//! and no environment-variable fallback.

use std::collections::{BTreeMap, HashMap};

use sluice_expression::{ElError, EvalEnv, Expression};

fn unescape(s: &str) -> String {
    if s == "<EMPTY>" {
        return String::new();
    }
    s.replace("<TAB>", "\t").replace("<LF>", "\n").replace("<CR>", "\r").replace("<SP>", " ")
}

fn parse_json_attrs(s: &str, line: usize) -> BTreeMap<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(s).unwrap_or_else(|e| panic!("line {line}: bad attribute JSON {s}: {e}"));
    v.as_object()
        .unwrap_or_else(|| panic!("line {line}: attributes must be a JSON object"))
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (unescape(k), unescape(&v))
        })
        .collect()
}

#[test]
fn conformance_suite() {
    let data = include_str!("conformance.tsv");
    let mut sets: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (idx, raw) in data.lines().enumerate() {
        let line = idx + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        if let Some(rest) = raw.strip_prefix("@set ") {
            let (name, json) = rest.split_once(' ').unwrap_or_else(|| panic!("line {line}: bad @set"));
            sets.insert(name.to_string(), parse_json_attrs(json, line));
            continue;
        }
        let cols: Vec<&str> = raw.split('\t').collect();
        assert!(cols.len() >= 3, "line {line}: expected at least 3 tab-separated columns: {raw}");
        cases += 1;
        let expr_text = unescape(cols[0]);
        let attrs: BTreeMap<String, String> = match cols[1] {
            "-" => BTreeMap::new(),
            a if a.starts_with('@') => {
                let (name, extra) = match a[1..].split_once('+') {
                    Some((n, j)) => (n, Some(j)),
                    None => (&a[1..], None),
                };
                let mut m =
                    sets.get(name).unwrap_or_else(|| panic!("line {line}: unknown attribute set {name}")).clone();
                if let Some(j) = extra {
                    m.extend(parse_json_attrs(j, line));
                }
                m
            }
            j => parse_json_attrs(j, line),
        };
        let expected = cols[2];
        let mut env = EvalEnv::default()
            .with_fixed_now_millis(1_403_620_278_642)
            .with_env_fallback(false)
            .with_time_zone("UTC")
            .unwrap();
        let mut params: HashMap<String, String> = HashMap::new();
        if let Some(opts) = cols.get(3) {
            for o in opts.split(' ').filter(|o| !o.is_empty()) {
                if let Some(tz) = o.strip_prefix("tz=") {
                    env = env.with_time_zone(tz).unwrap();
                } else if let Some(p) = o.strip_prefix("param:") {
                    let (k, v) = p.split_once('=').unwrap();
                    params.insert(unescape(k), unescape(v));
                } else {
                    panic!("line {line}: unknown option {o}");
                }
            }
        }
        let compiled = Expression::compile(&expr_text);
        let outcome: Result<String, (bool, ElError)> = match compiled {
            Err(e) => Err((true, e)),
            Ok(x) => x.evaluate_with(&attrs, Some(&params), &env).map_err(|e| (false, e)),
        };
        let ok = match (expected, &outcome) {
            ("!COMPILE", Err((true, _))) => true,
            ("!EVAL", Err((false, _))) => true,
            (e, Ok(out)) if e.starts_with('~') => {
                regex::Regex::new(&format!("^(?:{})$", &e[1..])).unwrap().is_match(out)
            }
            (e, Ok(out)) if !e.starts_with('!') => *out == unescape(e),
            _ => false,
        };
        if !ok {
            failures.push(format!("line {line}: {expr_text}\n    expected: {expected}\n    got:      {outcome:?}"));
        }
    }
    assert!(cases >= 300, "only {cases} conformance cases");
    assert!(failures.is_empty(), "{} of {cases} conformance cases failed:\n{}", failures.len(), failures.join("\n"));
    println!("{cases} conformance cases passed");
}
