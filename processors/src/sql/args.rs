//! NiFi's statement parameters from attributes: `sql.args.N.type` (a JDBC type code),
//! `sql.args.N.value` and optional `sql.args.N.format`, numbered from 1; and JDBC's `?`
//! placeholders rewritten to PostgreSQL's `$N`.

use base64::Engine;
use sluice_engine::FlowFile;

use super::db::{SqlValue, unhex};

/// The parameters a flowfile's `sql.args.*` attributes define, in order; the error says
/// which attribute is wrong.
pub(crate) fn sql_args(ff: &FlowFile) -> Result<Vec<SqlValue>, String> {
    let mut max = 0usize;
    for (k, _) in ff.attributes.iter() {
        if let Some((n, field)) = k.strip_prefix("sql.args.").and_then(|rest| rest.split_once('.'))
            && matches!(field, "type" | "value" | "format")
            && let Ok(n) = n.parse::<usize>()
        {
            max = max.max(n);
        }
    }
    if max > 10_000 {
        return Err(format!("sql.args.{max}: too many parameters"));
    }
    (1..=max)
        .map(|i| {
            let ty = ff.attr(&format!("sql.args.{i}.type"));
            let value = ff.attr(&format!("sql.args.{i}.value"));
            let format = ff.attr(&format!("sql.args.{i}.format"));
            let Some(ty) = ty else {
                return Err(if value.is_some() {
                    format!("sql.args.{i}.type is missing")
                } else {
                    format!("sql.args.{i} is missing (parameters are numbered from 1 without gaps)")
                });
            };
            let code: i32 =
                ty.trim().parse().map_err(|_| format!("sql.args.{i}.type '{ty}' is not a JDBC type code"))?;
            match value {
                None => Ok(SqlValue::Null),
                Some(v) => jdbc_value(code, v, format).map_err(|e| format!("sql.args.{i}.value: {e}")),
            }
        })
        .collect()
}

/// Converts an attribute value by its JDBC type code (java.sql.Types).
pub(crate) fn jdbc_value(code: i32, v: &str, format: Option<&str>) -> Result<SqlValue, String> {
    let bad = |what: &str| format!("'{}' is not a valid {what}", v.chars().take(64).collect::<String>());
    Ok(match code {
        // NULL
        0 => SqlValue::Null,
        // BIT, BOOLEAN
        -7 | 16 => SqlValue::Bool(match v.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "y" => true,
            "false" | "f" | "0" | "no" | "n" => false,
            _ => return Err(bad("BOOLEAN")),
        }),
        // TINYINT, SMALLINT, INTEGER, BIGINT
        -6 | 5 | 4 | -5 => SqlValue::Int(v.trim().parse().map_err(|_| bad("integer"))?),
        // FLOAT, REAL, DOUBLE
        6..=8 => SqlValue::Float(v.trim().parse().map_err(|_| bad("floating-point number"))?),
        // NUMERIC, DECIMAL
        2 | 3 => {
            let t = v.trim();
            if t.parse::<f64>().is_err() {
                return Err(bad("DECIMAL"));
            }
            SqlValue::Text(t.to_string())
        }
        // BINARY, VARBINARY, LONGVARBINARY, BLOB
        -2 | -3 | -4 | 2004 => SqlValue::Bytes(match format.map(|f| f.trim().to_ascii_lowercase()) {
            Some(f) if f == "hex" => {
                let h = v.trim();
                let h = if h.starts_with("\\x") { h.to_string() } else { format!("\\x{h}") };
                unhex(&h).ok_or_else(|| bad("hex string"))?
            }
            Some(f) if f == "base64" => {
                base64::engine::general_purpose::STANDARD.decode(v.trim()).map_err(|_| bad("base64 string"))?
            }
            _ => v.as_bytes().to_vec(),
        }),
        // DATE, TIME, TIMESTAMP (with or without zone): ISO text or epoch milliseconds.
        91 | 92 | 93 | 2013 | 2014 => {
            let t = v.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if code != 92 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                SqlValue::Int(t.parse().map_err(|_| bad("epoch milliseconds"))?)
            } else {
                SqlValue::Text(t.to_string())
            }
        }
        _ => SqlValue::Text(v.to_string()),
    })
}

/// Rewrites JDBC `?` placeholders to `$1`, `$2`... outside string literals, quoted
/// identifiers, comments and dollar quotes; `??` stands for a literal `?` (PostgreSQL's
/// JSON operator), as in PostgreSQL's JDBC driver.
pub(crate) fn question_marks_to_dollars(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut i = 0;
    let mut copy_from = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'$' => {
                // $tag$ ... $tag$ (a $N parameter has no closing $ right after its digits)
                let start = i;
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let tag_is_digits = b[i + 1..j].iter().all(|c| c.is_ascii_digit()) && j > i + 1;
                if j < b.len() && b[j] == b'$' && !tag_is_digits {
                    let tag = &sql[start..=j];
                    match sql[j + 1..].find(tag) {
                        Some(p) => i = j + 1 + p + tag.len(),
                        None => i = b.len(),
                    }
                } else {
                    i = j;
                }
            }
            b'?' => {
                out.push_str(&sql[copy_from..i]);
                if b.get(i + 1) == Some(&b'?') {
                    out.push('?');
                    i += 2;
                } else {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                    i += 1;
                }
                copy_from = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copy_from.min(sql.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::Content;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            question_marks_to_dollars("SELECT * FROM t WHERE a = ? AND b = ?"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(question_marks_to_dollars("SELECT '?', \"?\", ? -- ?\n, ?"), "SELECT '?', \"?\", $1 -- ?\n, $2");
        assert_eq!(question_marks_to_dollars("SELECT $$ ? $$, ?"), "SELECT $$ ? $$, $1");
        assert_eq!(
            question_marks_to_dollars("SELECT j ?? 'k' FROM t WHERE id = ?"),
            "SELECT j ? 'k' FROM t WHERE id = $1"
        );
        assert_eq!(question_marks_to_dollars("SELECT /* ? */ ?"), "SELECT /* ? */ $1");
        assert_eq!(question_marks_to_dollars("SELECT 'unterminated ?"), "SELECT 'unterminated ?");
    }

    #[test]
    fn args_come_from_attributes() {
        let mut ff = FlowFile::new(Content::Empty);
        ff.set_attr("sql.args.1.type", "4");
        ff.set_attr("sql.args.1.value", "42");
        ff.set_attr("sql.args.2.type", "12");
        ff.set_attr("sql.args.3.type", "-3");
        ff.set_attr("sql.args.3.value", "00ff");
        ff.set_attr("sql.args.3.format", "hex");
        let args = sql_args(&ff).unwrap();
        assert_eq!(args, vec![SqlValue::Int(42), SqlValue::Null, SqlValue::Bytes(vec![0, 255])]);
        ff.set_attr("sql.args.1.value", "forty-two");
        assert!(sql_args(&ff).unwrap_err().contains("sql.args.1.value"));
        let mut gap = FlowFile::new(Content::Empty);
        gap.set_attr("sql.args.2.type", "4");
        assert!(sql_args(&gap).unwrap_err().contains("sql.args.1"));
    }
}
