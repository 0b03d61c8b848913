//! String helpers with Java semantics (UTF-16 indices, `String.trim`, `String.split`,
//! `Matcher.appendReplacement`) used by the string functions.

use fancy_regex::{Captures, Regex};

use crate::error::ElError;

/// Java `String.trim()`: strips chars `<= ' '` from both ends.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java `String.length()`: number of UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() { s.len() } else { s.encode_utf16().count() }
}

/// Byte offset of UTF-16 index `idx`, or `None` if past the end. An index inside a surrogate
/// pair is rounded up to the end of that character.
pub fn utf16_to_byte(s: &str, idx: usize) -> Option<usize> {
    if s.is_ascii() {
        return (idx <= s.len()).then_some(idx);
    }
    let mut units = 0usize;
    for (b, c) in s.char_indices() {
        if units >= idx {
            return Some(b);
        }
        units += c.len_utf16();
    }
    (units >= idx).then_some(s.len())
}

/// UTF-16 index of byte offset `b`.
pub fn byte_to_utf16(s: &str, b: usize) -> usize {
    if s.is_ascii() { b } else { s[..b].encode_utf16().count() }
}

/// Java `String.substring(start, end)` with NiFi's rule: out-of-range indices give "".
/// `start > end` (both in range) is an error, as documented.
pub fn substring(s: &str, start: i64, end: Option<i64>) -> Result<String, ElError> {
    let len = utf16_len(s) as i64;
    let end_v = end.unwrap_or(len);
    if start < 0 || end_v < 0 || start > len || end_v > len {
        return Ok(String::new());
    }
    if start > end_v {
        return Err(ElError::eval(format!("substring: starting index {start} is larger than ending index {end_v}")));
    }
    let (Some(a), Some(b)) = (utf16_to_byte(s, start as usize), utf16_to_byte(s, end_v as usize)) else {
        return Ok(String::new());
    };
    Ok(s[a..b.max(a)].to_string())
}

/// Java `String.split(regex)`: trailing empty strings removed; a zero-width match at the
/// beginning never produces a leading empty string.
pub fn java_split(s: &str, re: &Regex) -> Result<Vec<String>, ElError> {
    let mut out = Vec::new();
    let mut last = 0usize;
    for m in re.find_iter(s) {
        let m = m.map_err(|e| ElError::eval(format!("regex failed: {e}")))?;
        if m.end() == 0 {
            continue;
        }
        if m.start() == m.end() && m.start() == last && last == 0 {
            continue;
        }
        out.push(s[last..m.start()].to_string());
        last = m.end();
    }
    if out.is_empty() && last == 0 {
        return Ok(vec![s.to_string()]);
    }
    out.push(s[last..].to_string());
    while out.last().is_some_and(|x| x.is_empty()) {
        out.pop();
    }
    Ok(out)
}

/// Expand a Java replacement string (`$1`, `${name}`, `\$`) for one match.
pub fn expand_java_replacement(caps: &Captures, repl: &str, out: &mut String) -> Result<(), ElError> {
    let group_count = caps.len() - 1;
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => {
                    return Err(ElError::eval("character to be escaped is missing in replacement"));
                }
            },
            '$' => match chars.peek().copied() {
                Some('{') => {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() => name.push(ch),
                            _ => {
                                return Err(ElError::eval("named capturing group is missing trailing '}'"));
                            }
                        }
                    }
                    match caps.name(&name) {
                        Some(m) => out.push_str(m.as_str()),
                        None => {
                            if name.parse::<usize>().is_err() {
                                return Err(ElError::eval(format!("No group with name {{{name}}}")));
                            }
                        }
                    }
                }
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    let mut num = d.to_digit(10).unwrap_or(0) as usize;
                    if num > group_count {
                        return Err(ElError::eval(format!("No group {num}")));
                    }
                    while let Some(n) = chars.peek().and_then(|ch| ch.to_digit(10)) {
                        let candidate = num * 10 + n as usize;
                        if candidate > group_count {
                            break;
                        }
                        num = candidate;
                        chars.next();
                    }
                    if let Some(m) = caps.get(num) {
                        out.push_str(m.as_str());
                    }
                }
                _ => return Err(ElError::eval("Illegal group reference in replacement")),
            },
            c => out.push(c),
        }
    }
    Ok(())
}

/// Java `String.replaceAll` / `replaceFirst`.
pub fn regex_replace(s: &str, re: &Regex, repl: &str, all: bool) -> Result<String, ElError> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0usize;
    for caps in re.captures_iter(s) {
        let caps = caps.map_err(|e| ElError::eval(format!("regex failed: {e}")))?;
        let m = caps.get(0).ok_or_else(|| ElError::eval("regex failed"))?;
        out.push_str(&s[last..m.start()]);
        expand_java_replacement(&caps, repl, &mut out)?;
        last = m.end();
        if !all {
            break;
        }
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// NiFi `padLeft`/`padRight` (commons-lang `StringUtils.leftPad`/`rightPad`).
pub fn pad(s: &str, size: i64, pad: &str, left: bool) -> String {
    let len = utf16_len(s) as i64;
    if size > i32::MAX as i64 || size <= len || pad.is_empty() {
        return s.to_string();
    }
    let needed = (size - len) as usize;
    let padding: String = pad.chars().cycle().take(needed).collect();
    if left {
        padding + s
    } else {
        let mut r = s.to_string();
        r.push_str(&padding);
        r
    }
}

/// NiFi `getDelimitedField`: 1-based field with quote/escape handling.
pub fn get_delimited_field(
    subject: &str,
    index: i64,
    delimiter: &str,
    quote: &str,
    escape: &str,
    strip: bool,
) -> Result<String, ElError> {
    if index < 1 {
        return Err(ElError::eval(format!("getDelimitedField: the index must be greater than 0 but was {index}")));
    }
    let single = |s: &str, what: &str| -> Result<char, ElError> {
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(ElError::eval(format!("getDelimitedField: the {what} must be a single character but was '{s}'"))),
        }
    };
    let delim = single(delimiter, "delimiter")?;
    let quote = single(quote, "quote character")?;
    let escape = single(escape, "escape character")?;
    let mut field = 1i64;
    let mut in_quote = false;
    let mut last_escape = false;
    let mut out = String::new();
    for c in subject.chars() {
        let mut is_escape = false;
        if c == quote && !last_escape {
            in_quote = !in_quote;
            if !strip && field == index {
                out.push(c);
            }
        } else if c == delim && !last_escape && !in_quote {
            field += 1;
            if field > index {
                break;
            }
        } else if c == escape && !last_escape {
            is_escape = true;
            if !strip && field == index {
                out.push(c);
            }
        } else if field == index {
            out.push(c);
        }
        last_escape = is_escape;
    }
    Ok(out)
}

/// Java `Long.toString(value, radix)` left-padded with zeros to `width`.
pub fn to_radix(v: i64, radix: i64, width: Option<i64>) -> Result<String, ElError> {
    if !(2..=36).contains(&radix) {
        return Err(ElError::eval(format!("toRadix: radix must be between 2 and 36 but was {radix}")));
    }
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    let mut digits = Vec::new();
    loop {
        let d = (n % radix as u64) as u32;
        digits.push(std::char::from_digit(d, radix as u32).unwrap_or('0'));
        n /= radix as u64;
        if n == 0 {
            break;
        }
    }
    let mut s: String = digits.iter().rev().collect();
    if neg {
        s.insert(0, '-');
    }
    if let Some(w) = width {
        let w = w.clamp(0, 4096) as usize;
        while s.len() < w {
            s.insert(0, '0');
        }
    }
    Ok(s)
}

/// Java `Long.parseLong(s, radix)`.
pub fn from_radix(s: &str, radix: i64) -> Result<i64, ElError> {
    if !(2..=36).contains(&radix) {
        return Err(ElError::eval(format!("fromRadix: radix must be between 2 and 36 but was {radix}")));
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    i64::from_str_radix(body, radix as u32)
        .map_err(|_| ElError::eval(format!("fromRadix: cannot parse '{s}' in radix {radix}")))
}

/// Java `URLEncoder.encode(s, UTF-8)`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Java `URLDecoder.decode(s, UTF-8)`.
pub fn url_decode(s: &str) -> Result<String, ElError> {
    let b = s.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                bytes.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => bytes.push(v),
                    None => {
                        return Err(ElError::eval(format!(
                            "urlDecode: illegal hex characters in escape (%) pattern in '{s}'"
                        )));
                    }
                }
                i += 3;
            }
            c => {
                bytes.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_java() {
        let re = Regex::new("/").unwrap();
        assert_eq!(java_split("/my/path", &re).unwrap(), vec!["", "my", "path"]);
        assert_eq!(java_split("path/", &re).unwrap(), vec!["path"]);
        assert!(java_split("/", &re).unwrap().is_empty());
        assert_eq!(java_split("", &re).unwrap(), vec![""]);
        assert_eq!(java_split("abc", &re).unwrap(), vec!["abc"]);
    }

    #[test]
    fn replacement() {
        let re = Regex::new("he(llo) world").unwrap();
        assert_eq!(regex_replace("hello world", &re, "$1", true).unwrap(), "llo");
        let re = Regex::new("l+").unwrap();
        assert_eq!(regex_replace("hello", &re, "r", true).unwrap(), "hero");
        assert!(regex_replace("hello", &re, "$2", true).is_err());
        assert_eq!(regex_replace("hello", &re, "\\$", false).unwrap(), "he$o");
    }

    #[test]
    fn utf16() {
        assert_eq!(utf16_len("a😀b"), 4);
        assert_eq!(substring("a😀b", 3, None).unwrap(), "b");
        assert_eq!(substring("file-255", 10, Some(20)).unwrap(), "");
        assert!(substring("file-255", 5, Some(2)).is_err());
    }

    #[test]
    fn url() {
        assert_eq!(url_encode("some value with spaces"), "some+value+with+spaces");
        assert_eq!(url_encode("a/b?c=d&é"), "a%2Fb%3Fc%3Dd%26%C3%A9");
        assert_eq!(url_decode("some%20value+x").unwrap(), "some value x");
        assert!(url_decode("%zz").is_err());
    }
}
