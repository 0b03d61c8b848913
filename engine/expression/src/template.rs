//! Splitting a property value into literal text, `${...}` expressions and `#{param}`
//! references, with NiFi's exact `$$` escaping rules (ported from `Query.prepare`,
//! `Query.extractExpressionRanges` and `ExpressionLanguageAwareParameterParser`).

/// Byte range `[start, end]` (inclusive end, like NiFi's `Range`) of one `${...}`.
pub(crate) type Range = (usize, usize);

/// Find the closing quote matching the quote at `start` (NiFi's `findEndQuoteChar`).
fn find_end_quote(b: &[u8], start: usize) -> Option<usize> {
    let quote = b[start];
    let mut backslashes = 0usize;
    let mut last = 0u8;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        if c == b'\\' {
            backslashes += 1;
        } else if c == quote && (backslashes.is_multiple_of(2) || last != b'\\') {
            return Some(i);
        }
        last = c;
    }
    None
}

/// Locate top-level `${...}` expressions. With `escapes == true`, locates the escaped
/// `$${...}` sequences instead (range starts at the first `$` of the run).
pub(crate) fn extract_ranges(value: &str, escapes: bool) -> Vec<Range> {
    let b = value.as_bytes();
    let mut ranges = Vec::new();
    let mut last = 0u8;
    let mut embedded = 0usize;
    let mut start: Option<usize> = None;
    let mut dollars = 0usize;
    let mut backslashes = 0usize;
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        if start.is_some() && (c == b'\'' || c == b'"') && (last != b'\\' || backslashes.is_multiple_of(2)) {
            match find_end_quote(b, i) {
                Some(end) => {
                    i = end + 1;
                    continue;
                }
                None => break,
            }
        }
        match c {
            b'{' => {
                let even = dollars.is_multiple_of(2);
                if even == escapes && last == b'$' && embedded == 0 {
                    start = Some(if escapes { i - dollars } else { i - 1 });
                }
                if start.is_some() {
                    embedded += 1;
                }
            }
            b'}' => {
                if embedded == 0 {
                    i += 1;
                    continue;
                }
                embedded -= 1;
                if embedded == 0
                    && let Some(s) = start.take()
                {
                    ranges.push((s, i));
                }
            }
            b'$' => dollars += 1,
            b'\\' => backslashes += 1,
            _ => dollars = 0,
        }
        last = c;
        i += 1;
    }
    ranges
}

/// `$$` → `$` in the part before the first `{` (NiFi's `unescapeLeadingDollarSigns`).
pub(crate) fn unescape_leading(value: &str) -> String {
    match value.find('{') {
        None => value.replace("$$", "$"),
        Some(idx) => {
            let mut s = value[..idx].replace("$$", "$");
            s.push_str(&value[idx..]);
            s
        }
    }
}

/// Halve a trailing run of `$` (NiFi's `unescapeTrailingDollarSigns`), unless the whole
/// value consists of `$` and `escape_if_all` is false.
pub(crate) fn unescape_trailing(value: &str, escape_if_all: bool) -> String {
    let dollars = value.bytes().rev().take_while(|&c| c == b'$').count();
    if dollars == 0 || (dollars == value.len() && !escape_if_all) {
        return value.to_string();
    }
    value[..value.len() - dollars / 2].to_string()
}

/// A piece of literal text outside expressions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Lit(String),
    Param(String),
}

enum ParamToken {
    /// `##` → `#` at this offset.
    StartEscape(usize),
    /// `#{name}` from start to end (inclusive).
    Reference { name: String, start: usize, end: usize },
    /// `##{name}` → literal `#{name}`.
    Escaped { start: usize, end: usize },
}

impl ParamToken {
    fn end(&self) -> usize {
        match self {
            ParamToken::StartEscape(s) => s + 1,
            ParamToken::Reference { end, .. } | ParamToken::Escaped { end, .. } => *end,
        }
    }
}

fn parse_param_token(input: &str, brace: usize, tags: usize, out: &mut Vec<ParamToken>) -> Option<usize> {
    let start_char = brace - tags;
    let end = brace + input[brace..].find('}')?;
    let escaped_tags = (tags - 1) / 2;
    let start = start_char + escaped_tags * 2;
    let token = if tags % 2 == 1 {
        let name = &input[start_char + tags + 1..end];
        let name = if name.contains('\'') {
            if name.len() >= 2 && name.starts_with('\'') && name.ends_with('\'') {
                let inner = &name[1..name.len() - 1];
                if inner.contains('\'') {
                    return None;
                }
                inner
            } else {
                return None;
            }
        } else {
            name
        };
        ParamToken::Reference { name: name.to_string(), start, end }
    } else {
        ParamToken::Escaped { start, end }
    };
    for k in 0..escaped_tags {
        out.push(ParamToken::StartEscape(start_char + k * 2));
    }
    out.push(token);
    Some(end)
}

fn parse_param_tokens(input: &str) -> Vec<ParamToken> {
    let b = input.as_bytes();
    let mut tokens = Vec::new();
    let mut tags = 0usize;
    let mut odd_dollar = false;
    let mut last = 0u8;
    let mut embedded = 0usize;
    let mut in_expr = false;
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => tags += 1,
            b'{' => {
                if odd_dollar && last == b'$' && embedded == 0 {
                    in_expr = true;
                }
                if in_expr {
                    embedded += 1;
                    i += 1;
                    continue;
                }
                if tags > 0
                    && let Some(end) = parse_param_token(input, i, tags, &mut tokens)
                {
                    i = end;
                }
            }
            b'}' => {
                if embedded == 0 {
                    i += 1;
                    continue;
                }
                embedded -= 1;
                if embedded == 0 {
                    in_expr = false;
                }
            }
            b'$' => odd_dollar = !odd_dollar,
            _ => {}
        }
        if c != b'#' {
            tags = 0;
        }
        last = c;
        i += 1;
    }
    tokens
}

/// Split literal text into literal pieces and `#{param}` references (NiFi's
/// `addLiteralsAndParameters`).
pub(crate) fn literals_and_params(input: &str, out: &mut Vec<Piece>) {
    if input.is_empty() {
        return;
    }
    let tokens = parse_param_tokens(input);
    let mut index = 0usize;
    let mut last_end: Option<usize> = None;
    for t in &tokens {
        match t {
            ParamToken::StartEscape(s) => {
                if *s > index {
                    out.push(Piece::Lit(input[index..*s].to_string()));
                }
                out.push(Piece::Lit("#".into()));
            }
            ParamToken::Reference { name, start, .. } => {
                if *start > index {
                    out.push(Piece::Lit(input[index..*start].to_string()));
                }
                out.push(Piece::Param(name.clone()));
            }
            ParamToken::Escaped { start, end } => {
                if *start > index {
                    out.push(Piece::Lit(input[index..*start].to_string()));
                }
                out.push(Piece::Lit(input[start + 1..=*end].to_string()));
            }
        }
        index = t.end() + 1;
        last_end = Some(t.end());
    }
    match last_end {
        None => out.push(Piece::Lit(input.to_string())),
        Some(e) if e + 1 < input.len() => out.push(Piece::Lit(input[e + 1..].to_string())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_nifi() {
        assert_eq!(extract_ranges("${hello:equals( $${goodbye} )}", false), vec![(0, 29)]);
        assert!(extract_ranges("hello", false).is_empty());
        assert!(extract_ranges("${hello", false).is_empty());
        assert!(extract_ranges("hello}", false).is_empty());
        assert!(extract_ranges("$${hello", false).is_empty());
        assert!(extract_ranges("$he{ll}o", false).is_empty());
        assert_eq!(extract_ranges("${hello}", false), vec![(0, 7)]);
        assert_eq!(
            extract_ranges("${hello:equals( ${goodbye} )} or just hi, ${bob:or(${jerry})}", false),
            vec![(0, 28), (42, 60)]
        );
        assert_eq!(
            extract_ranges(
                "${hello:equals( ${goodbye} )} or just hi, ${bob}, are you ${bob.age:toNumber()} yet? $$$${bob}",
                false
            ),
            vec![(0, 28), (42, 47), (58, 78)]
        );
        assert_eq!(extract_ranges("${x:matches( '.{4}' )}", false), vec![(0, 21)]);
        assert_eq!(extract_ranges("{ ${abc} }", false), vec![(2, 7)]);
    }

    #[test]
    fn params() {
        let mut out = Vec::new();
        literals_and_params("a #{p} ##{q} ###{r} b", &mut out);
        assert_eq!(
            out,
            vec![
                Piece::Lit("a ".into()),
                Piece::Param("p".into()),
                Piece::Lit(" ".into()),
                Piece::Lit("#{q}".into()),
                Piece::Lit(" ".into()),
                Piece::Lit("#".into()),
                Piece::Param("r".into()),
                Piece::Lit(" b".into()),
            ]
        );
    }
}
