//! Helpers shared by the JSON processors: JsonPath compilation with Jayway compatibility,
//! how a JsonPath result is rendered as text, reading a whole JSON document from a flowfile,
//! and display names for allowable values.

use std::io::BufReader;

use serde_json::Value;
use serde_json_path::JsonPath;
use sluice_engine::{FlowFile, ProcessError, ProcessSession, PropertyDescriptor};

/// The outcome of evaluating a JsonPath the way NiFi's Jayway library does.
#[derive(Debug, PartialEq)]
pub enum PathResult {
    /// A definite path (names and indexes only) that matched nothing: Jayway's
    /// `PathNotFoundException`.
    NotFound,
    /// The value found: the single node of a definite path, or an array of every node an
    /// indefinite path (wildcards, deep scan, filters, slices, unions) matched.
    Found(Value),
}

/// A compiled JsonPath expression.
///
/// NiFi evaluates paths with Jayway JsonPath; Sluice uses RFC 9535 (`serde_json_path`).
/// Compatibility: a path not starting with `$` gets `$.` prepended (as Jayway does); dot
/// notation names with characters RFC 9535 does not allow after a dot (`$.a-b`, `$.1st`) are
/// rewritten to bracket notation; Jayway regex filters `@.x =~ /re/i` become RFC 9535
/// `match(@.x, '(?i)re')`; and, as with Jayway, a definite path returns its value and an
/// indefinite one a list. Not supported: Jayway's trailing functions (`.length()`,
/// `.min()`...) and its filter operators `in`, `nin`, `subsetof`, `anyof`, `noneof`, `size`,
/// `empty` (use RFC 9535 functions such as `length(@.x)` instead).
#[derive(Clone, Debug)]
pub struct CompiledPath {
    path: JsonPath,
    definite: bool,
    /// The path as configured.
    pub text: String,
}

impl CompiledPath {
    /// Compiles a Jayway or RFC 9535 path; the error says what is wrong.
    pub fn compile(expr: &str) -> Result<CompiledPath, String> {
        let rfc = to_rfc9535(expr)?;
        let path = JsonPath::parse(&rfc).map_err(|e| format!("invalid JsonPath '{expr}': {e}"))?;
        Ok(CompiledPath { path, definite: is_definite(&rfc), text: expr.to_string() })
    }

    /// Evaluates the path against a document.
    pub fn evaluate(&self, doc: &Value) -> PathResult {
        let nodes = self.path.query(doc).all();
        if self.definite {
            match nodes.first() {
                Some(v) => PathResult::Found((*v).clone()),
                None => PathResult::NotFound,
            }
        } else {
            PathResult::Found(Value::Array(nodes.into_iter().cloned().collect()))
        }
    }

    /// Whether the path can match at most one node (names and indexes only).
    pub fn is_definite(&self) -> bool {
        self.definite
    }
}

/// Whether a JSON value is a scalar (not an object or array), as NiFi decides what
/// `Return Type: scalar` accepts.
pub fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// Renders a path result as NiFi does: strings without quotes, other scalars as written,
/// null as `null_text`, objects and arrays as compact JSON.
pub fn render(v: &Value, null_text: &str) -> String {
    match v {
        Value::Null => null_text.to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Reads and parses the whole content of `ff` as one JSON document (streamed through the
/// parser: the text itself is not buffered). `Ok(Err(why))` = the content is not JSON.
pub fn read_json(session: &ProcessSession, ff: &FlowFile) -> Result<Result<Value, String>, ProcessError> {
    let reader = BufReader::with_capacity(64 * 1024, session.read(ff)?);
    match serde_json::from_reader(reader) {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.is_io() => Err(ProcessError::Io(std::io::Error::other(e.to_string()))),
        Err(e) => Ok(Err(format!("content is not valid JSON: {e}"))),
    }
}

/// Sets the display names of a property's allowable values: NiFi stores short values
/// (`keep`) and shows longer names (`Keep in the upstream connection`).
pub fn display_names(mut p: PropertyDescriptor, names: &[(&str, &str)]) -> PropertyDescriptor {
    for a in &mut p.allowable_values {
        if let Some((_, d)) = names.iter().find(|(v, _)| *v == a.value) {
            a.display_name = d.to_string();
        }
    }
    p
}

/// The values NiFi offers for `Null Value Representation`.
pub const NULL_EMPTY: &str = "empty string";
/// The string `null`.
pub const NULL_STRING: &str = "the string 'null'";

/// The text a JSON null becomes under a `Null Value Representation` setting.
pub fn null_text(setting: Option<&str>) -> &'static str {
    if setting == Some(NULL_STRING) { "null" } else { "" }
}

// ---- Jayway → RFC 9535 ----

fn shorthand_ok(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

fn quote_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    s.push_str("['");
    for c in name.chars() {
        match c {
            '\'' => s.push_str("\\'"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push_str("']");
    s
}

/// Rewrites Jayway-only syntax into RFC 9535 (see [`CompiledPath`]).
fn to_rfc9535(expr: &str) -> Result<String, String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err("JsonPath must not be empty".into());
    }
    let expr: String = if expr.starts_with('$') {
        expr.to_string()
    } else if expr.starts_with('[') {
        format!("${expr}")
    } else {
        format!("$.{expr}")
    };
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + 8);
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                let end = skip_string(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '=' if depth > 0 && chars.get(i + 1) == Some(&'~') => {
                return rewrite_regex(&chars, i, &out).and_then(|(rewritten, next)| {
                    let rest: String = chars[next..].iter().collect();
                    to_rfc9535_tail(&rewritten, &rest)
                });
            }
            '.' if depth == 0 => {
                let deep = chars.get(i + 1) == Some(&'.');
                let start = if deep { i + 2 } else { i + 1 };
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if name.ends_with("()") {
                    return Err(format!(
                        "Jayway function '{name}' is not supported; RFC 9535 functions work in filters, e.g. length(@.x)"
                    ));
                }
                if !name.is_empty() && name != "*" && !shorthand_ok(&name) {
                    out.push_str(if deep { ".." } else { "" });
                    out.push_str(&quote_name(&name));
                    i = end;
                    continue;
                }
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn to_rfc9535_tail(head: &str, rest: &str) -> Result<String, String> {
    // The head is already rewritten and sits inside a filter; rewrite further regex
    // operators in the rest by running the rewriter over the tail as a filter body.
    if !rest.contains("=~") {
        return Ok(format!("{head}{rest}"));
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' | '"' => {
                let end = skip_string(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            '=' if chars.get(i + 1) == Some(&'~') => {
                let (rewritten, next) = rewrite_regex(&chars, i, &out)?;
                out = rewritten;
                i = next;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(format!("{head}{out}"))
}

/// End (exclusive) of the quoted string starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let q = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == q {
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

/// Rewrites `<operand> =~ /re/flags` at `op` (index of `=`) into `match(<operand>, 're')`;
/// `out` is what precedes the operator. Returns the new text and where to continue.
fn rewrite_regex(chars: &[char], op: usize, out: &str) -> Result<(String, usize), String> {
    // The operand: the last token of `out` (a path like @.name or @['x'] or a literal).
    let trimmed = out.trim_end();
    let operand_start = operand_start(trimmed);
    let operand = &trimmed[operand_start..];
    if operand.is_empty() {
        return Err("regular expression filter (=~) without a left operand".into());
    }
    let mut i = op + 2;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if chars.get(i) != Some(&'/') {
        return Err("=~ must be followed by a /regular expression/".into());
    }
    i += 1;
    let mut re = String::new();
    loop {
        match chars.get(i) {
            None => return Err("unterminated /regular expression/ after =~".into()),
            Some('\\') if chars.get(i + 1) == Some(&'/') => {
                re.push('/');
                i += 2;
            }
            Some('\\') => {
                re.push('\\');
                if let Some(n) = chars.get(i + 1) {
                    re.push(*n);
                }
                i += 2;
            }
            Some('/') => {
                i += 1;
                break;
            }
            Some(c) => {
                re.push(*c);
                i += 1;
            }
        }
    }
    let mut flags = String::new();
    while let Some(c) = chars.get(i).filter(|c| c.is_ascii_alphabetic()) {
        flags.push(*c);
        i += 1;
    }
    let inline: String = flags.chars().filter(|c| matches!(c, 'i' | 'm' | 's' | 'x')).collect();
    let pattern = if inline.is_empty() { re } else { format!("(?{inline}){re}") };
    let literal: String =
        pattern.chars().flat_map(|c| if c == '\'' || c == '\\' { vec!['\\', c] } else { vec![c] }).collect();
    let rewritten = format!("{}match({operand}, '{literal}')", &trimmed[..operand_start]);
    Ok((rewritten, i))
}

/// Where the last operand of a filter expression starts in `s`.
fn operand_start(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut i = bytes.len();
    while i > 0 {
        let c = bytes[i - 1];
        match c {
            b']' | b')' => depth += 1,
            b'[' | b'(' if depth > 0 => depth -= 1,
            b'[' | b'(' | b' ' | b'!' | b'&' | b'|' | b'?' | b',' if depth == 0 => return i,
            _ => {}
        }
        i -= 1;
    }
    0
}

/// Whether an RFC 9535 path is a singular query: only name and index selectors (Jayway's
/// "definite" path).
fn is_definite(path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                i = skip_string(&chars, i);
                continue;
            }
            '[' => {
                if depth >= 1 {
                    return false;
                }
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 && chars.get(i + 1) == Some(&'.') => return false,
            '*' | '?' | ':' | ',' | '(' => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, doc: &Value) -> PathResult {
        CompiledPath::compile(path).unwrap_or_else(|e| panic!("{path}: {e}")).evaluate(doc)
    }

    #[test]
    fn jayway_syntax_is_accepted() {
        let doc = json!({"store": {"book": [{"title": "A", "price": 8}, {"title": "B", "price": 12}], "my-key": 1}});
        assert_eq!(eval("$.store.book[0].title", &doc), PathResult::Found(json!("A")));
        assert_eq!(eval("$['store']['book'][1]['title']", &doc), PathResult::Found(json!("B")));
        assert_eq!(eval("store.book[0].price", &doc), PathResult::Found(json!(8)));
        assert_eq!(eval("$.store.my-key", &doc), PathResult::Found(json!(1)));
        assert_eq!(eval("$..title", &doc), PathResult::Found(json!(["A", "B"])));
        assert_eq!(eval("$.store.book[?(@.price < 10)].title", &doc), PathResult::Found(json!(["A"])));
        assert_eq!(eval("$.store.book[?(@.title =~ /b/i)].price", &doc), PathResult::Found(json!([12])));
        assert_eq!(eval("$.store.book[*].price", &doc), PathResult::Found(json!([8, 12])));
        assert_eq!(eval("$.store.book[-1].title", &doc), PathResult::Found(json!("B")));
        assert_eq!(eval("$.store.nothing", &doc), PathResult::NotFound);
        assert_eq!(eval("$..nothing", &doc), PathResult::Found(json!([])));
    }

    #[test]
    fn invalid_paths_are_errors() {
        for bad in ["", "$.[", "$.a[?(@.x =~ /unterminated)]", "$.a.length()", "$.a[?(@.b == )]"] {
            assert!(CompiledPath::compile(bad).is_err(), "{bad} should not compile");
        }
    }

    #[test]
    fn definiteness() {
        assert!(is_definite("$.a.b[0]['c']"));
        assert!(!is_definite("$..a"));
        assert!(!is_definite("$.a[*]"));
        assert!(!is_definite("$.a[0,1]"));
        assert!(!is_definite("$.a[1:2]"));
        assert!(!is_definite("$.a[?@.b]"));
        assert!(is_definite("$['a,b']"));
    }
}
