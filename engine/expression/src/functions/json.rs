//! `jsonPath` and friends, following NiFi's Jayway-JsonPath-based behaviour on top of an
//! RFC 9535 JSONPath engine (`serde_json_path`).

use serde_json::Value as Json;
use serde_json_path::JsonPath;

use crate::error::ElError;
use crate::number_format::java_double_to_string;
use crate::value::Value;

/// Rewrite Jayway-style dotted names that RFC 9535 does not allow (e.g. `$.missing-path`)
/// into bracket notation (`$['missing-path']`).
fn normalize_path(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    let mut bracket_depth = 0usize;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            '[' => {
                bracket_depth += 1;
                out.push(c);
                i += 1;
            }
            ']' => {
                bracket_depth = bracket_depth.saturating_sub(1);
                out.push(c);
                i += 1;
            }
            '.' if bracket_depth == 0 && chars.get(i + 1).is_some_and(|n| *n != '.' && *n != '*' && *n != '[') => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && !matches!(chars[j], '.' | '[') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let simple = name
                    .chars()
                    .enumerate()
                    .all(|(k, ch)| ch == '_' || ch.is_alphabetic() || (k > 0 && ch.is_ascii_digit()) || !ch.is_ascii());
                if simple || name.contains('(') {
                    out.push('.');
                    out.push_str(&name);
                } else {
                    out.push_str("['");
                    out.push_str(&name.replace('\\', "\\\\").replace('\'', "\\'"));
                    out.push_str("']");
                }
                i = j;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Whether Jayway would consider the path "definite" (returns a single value, not a list).
fn is_definite(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut depth = 0;
    let b: Vec<char> = path.chars().collect();
    for (i, &c) in b.iter().enumerate() {
        if let Some(q) = quote {
            if c == q && b.get(i.wrapping_sub(1)) != Some(&'\\') {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '*' => return false,
            '.' if b.get(i + 1) == Some(&'.') => return false,
            '[' => {
                depth += 1;
                if b.get(i + 1) == Some(&'?') {
                    return false;
                }
            }
            ']' => depth -= 1,
            ',' | ':' if depth > 0 => return false,
            _ => {}
        }
    }
    true
}

fn compile_path(path: &str) -> Result<JsonPath, ElError> {
    JsonPath::parse(&normalize_path(path))
        .map_err(|e| ElError::eval(format!("invalid JSON path expression '{path}': {e}")))
}

fn parse_doc(subject: Option<&str>) -> Result<Json, ElError> {
    let s = subject.unwrap_or("");
    if s.trim().is_empty() {
        return Err(ElError::eval("jsonPath: subject is empty"));
    }
    serde_json::from_str(s).map_err(|e| ElError::eval(format!("jsonPath: subject is not valid JSON: {e}")))
}

fn representation(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        // Jayway returns arrays as Java Lists, and NiFi unwraps single-element lists
        Json::Array(a) if a.len() == 1 => representation(&a[0]),
        other => other.to_string(),
    }
}

/// `jsonPath(path)`: scalars as plain text, objects/arrays as JSON, missing definite path → "".
pub fn json_path(subject: Option<&str>, path: &str) -> Result<String, ElError> {
    let doc = parse_doc(subject)?;
    let jp = compile_path(path)?;
    let nodes: Vec<&Json> = jp.query(&doc).all();
    if is_definite(path) {
        return Ok(nodes.first().map(|v| representation(v)).unwrap_or_default());
    }
    Ok(match nodes.len() {
        1 => representation(nodes[0]),
        _ => Json::Array(nodes.into_iter().cloned().collect()).to_string(),
    })
}

/// Convert an EL value to the JSON value it represents (Java object → JSON).
pub fn to_json(v: Value<'_>) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Str(s) => Json::String(s.into_owned()),
        Value::Bool(b) => Json::Bool(b),
        Value::Whole(w) => Json::from(w),
        Value::Decimal(d) => {
            serde_json::Number::from_f64(d).map(Json::Number).unwrap_or_else(|| Json::String(java_double_to_string(d)))
        }
        Value::Date(ms) => Json::from(ms),
        Value::Instant(ns) => Json::String(ns.to_string()),
    }
}

/// The modifying operations.
pub enum Edit {
    Delete,
    Set(Json),
    Add(Json),
    Put(String, Json),
}

/// `jsonPathDelete` / `jsonPathSet` / `jsonPathAdd` / `jsonPathPut`: returns the modified
/// document as compact JSON. Paths that match nothing leave the document unchanged.
pub fn json_edit(subject: Option<&str>, path: &str, edit: Edit) -> Result<String, ElError> {
    let mut doc = parse_doc(subject)?;
    let jp = compile_path(path)?;
    let pointers: Vec<String> = jp.query_located(&doc).locations().map(|l| l.to_json_pointer()).collect();
    // delete from the back so array indices stay valid
    for ptr in pointers.iter().rev() {
        match &edit {
            Edit::Delete => {
                if ptr.is_empty() {
                    continue;
                }
                let (parent, last) = ptr.rsplit_once('/').unwrap_or(("", ptr));
                let key = last.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent) {
                    Some(Json::Object(m)) => {
                        m.shift_remove(&key);
                    }
                    Some(Json::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>()
                            && i < a.len()
                        {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
            Edit::Set(v) => {
                if let Some(slot) = doc.pointer_mut(ptr) {
                    *slot = v.clone();
                }
            }
            Edit::Add(v) => match doc.pointer_mut(ptr) {
                Some(Json::Array(a)) => a.push(v.clone()),
                _ => {
                    return Err(ElError::eval(format!("jsonPathAdd: the path '{path}' does not point to an array")));
                }
            },
            Edit::Put(k, v) => match doc.pointer_mut(ptr) {
                Some(Json::Object(m)) => {
                    m.insert(k.clone(), v.clone());
                }
                _ => {
                    return Err(ElError::eval(format!("jsonPathPut: the path '{path}' does not point to an object")));
                }
            },
        }
    }
    Ok(doc.to_string())
}

/// NiFi `isJson`: an object or array that parses.
pub fn is_json(s: Option<&str>) -> bool {
    let Some(s) = s else { return false };
    let t = s.trim();
    let shaped = (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
    shaped && serde_json::from_str::<Json>(t).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = r#"{"firstName":"John","lastName":"Smith","age":25,"voter":true,"height":6.1,
        "address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":"10021-3100"},
        "phoneNumbers":[{"type":"home","number":"212 555-1234"},{"type":"office","number":"646 555-4567"}],
        "nicknames":[]}"#;

    #[test]
    fn query() {
        assert_eq!(json_path(Some(BOOK), "$.firstName").unwrap(), "John");
        assert_eq!(json_path(Some(BOOK), "$.age").unwrap(), "25");
        assert_eq!(json_path(Some(BOOK), "$.missing-path").unwrap(), "");
        assert_eq!(json_path(Some(BOOK), "$.phoneNumbers[?(@.type=='home')].number").unwrap(), "212 555-1234");
        assert_eq!(json_path(Some(BOOK), "$.nicknames").unwrap(), "[]");
        assert!(json_path(Some(BOOK), "$..").is_err());
        assert!(json_path(None, "$.a").is_err());
    }

    #[test]
    fn edits() {
        let d = json_edit(Some(BOOK), "$.firstName", Edit::Delete).unwrap();
        assert_eq!(json_path(Some(&d), "$.firstName").unwrap(), "");
        let d = json_edit(Some(BOOK), "$.nicknames", Edit::Add(Json::from("Jimmy"))).unwrap();
        assert_eq!(json_path(Some(&d), "$.nicknames").unwrap(), "Jimmy");
        assert!(json_edit(Some(BOOK), "$.firstName", Edit::Add(Json::from("x"))).is_err());
        let d = json_edit(Some(BOOK), "$.address", Edit::Put("country".into(), Json::from("US"))).unwrap();
        assert_eq!(json_path(Some(&d), "$.address.country").unwrap(), "US");
    }
}
