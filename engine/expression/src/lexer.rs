//! Tokenizer for the text inside `${ ... }`.
//!
//! Mirrors NiFi's ANTLR lexer: whitespace and `#` comments (to end of line) are skipped,
//! string literals use `'` or `"` with Java-style escapes, attribute names are runs of any
//! character except `$ { } ( ) [ ] , : ; / * ' ` and whitespace (not starting with a digit).

use crate::error::CompileError;

/// One token with its byte offset in the full source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    /// Byte offset of the first character of the token in the complete property value.
    pub pos: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Dollar,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Colon,
    Comma,
    /// `#{`, the start of a parameter reference.
    ParamStart,
    /// An integer literal, kept as text (parsed by the compiler so overflow is reported there).
    Whole(String),
    /// A decimal literal, kept as text.
    Decimal(String),
    /// A quoted string literal, escapes already processed.
    Str(String),
    /// A bare word: attribute name, function name, `true`, `false`, `null`.
    Ident(String),
    /// A character that cannot start any token (`[`, `]`, `;`, `/`, `*`, ...).
    Other(char),
    Eof,
}

impl Tok {
    /// Short human-readable description, used in syntax error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Dollar => "'$'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Colon => "':'".into(),
            Tok::Comma => "','".into(),
            Tok::ParamStart => "'#{'".into(),
            Tok::Whole(s) | Tok::Decimal(s) => format!("number '{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Other(c) => format!("'{c}'"),
            Tok::Eof => "end of expression".into(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    !matches!(
        c,
        '$' | '{' | '}' | '(' | ')' | '[' | ']' | ',' | ':' | ';' | '/' | '*' | '\'' | ' ' | '\t' | '\r' | '\n'
    )
}

/// Tokenize `text`, whose first byte sits at byte offset `base` of the full source.
pub(crate) fn tokenize(text: &str, base: usize) -> Result<Vec<Token>, CompileError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or('\0');
        let pos = base + i;
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                i += 1;
                continue;
            }
            '#' => {
                if bytes.get(i + 1) == Some(&b'{') {
                    out.push(Token { kind: Tok::ParamStart, pos });
                    i += 2;
                } else {
                    // comment to end of line
                    match text[i..].find('\n') {
                        Some(n) => i += n + 1,
                        None => i = text.len(),
                    }
                }
                continue;
            }
            '$' | '{' | '}' | '(' | ')' | ':' | ',' => {
                let kind = match c {
                    '$' => Tok::Dollar,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ':' => Tok::Colon,
                    _ => Tok::Comma,
                };
                out.push(Token { kind, pos });
                i += 1;
                continue;
            }
            '\'' | '"' => {
                let (s, len) = lex_string(text, i, base)?;
                out.push(Token { kind: Tok::Str(s), pos });
                i += len;
                continue;
            }
            _ => {}
        }
        if let Some((kind, len)) = lex_number(&bytes[i..]) {
            out.push(Token { kind, pos });
            i += len;
            continue;
        }
        if is_name_char(c) && !c.is_ascii_digit() {
            let mut end = i;
            for (off, ch) in text[i..].char_indices() {
                if !is_name_char(ch) {
                    break;
                }
                end = i + off + ch.len_utf8();
            }
            out.push(Token { kind: Tok::Ident(text[i..end].to_string()), pos });
            i = end;
            continue;
        }
        out.push(Token { kind: Tok::Other(c), pos });
        i += c.len_utf8();
    }
    out.push(Token { kind: Tok::Eof, pos: base + text.len() });
    Ok(out)
}

/// Lex a quoted string starting at `start` (the quote). Returns (value, byte length).
fn lex_string(text: &str, start: usize, base: usize) -> Result<(String, usize), CompileError> {
    let quote = text.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => match e {
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'r' => out.push('\r'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    '\\' => out.push('\\'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                },
                None => {
                    return Err(CompileError::syntax(base + start, "unterminated string literal"));
                }
            },
            '\n' | '\r' | '\t' => {
                return Err(CompileError::syntax(
                    base + start + 1 + off,
                    "raw newline, carriage return or tab inside string literal (use \\n, \\r, \\t)",
                ));
            }
            c if c == quote => return Ok((out, off + 2)),
            c => out.push(c),
        }
    }
    Err(CompileError::syntax(base + start, "unterminated string literal"))
}

/// Lex a NiFi WHOLE_NUMBER / DECIMAL token at the start of `b`.
fn lex_number(b: &[u8]) -> Option<(Tok, usize)> {
    let mut i = 0;
    if matches!(b.first(), Some(b'+') | Some(b'-')) {
        i = 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut is_decimal = false;
    if i < b.len() && b[i] == b'.' {
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let frac_digits = j - i - 1;
        if int_digits > 0 || frac_digits > 0 {
            is_decimal = true;
            i = j;
        }
    }
    if int_digits == 0 && !is_decimal {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            is_decimal = true;
            i = j;
        }
    }
    // SAFETY of from_utf8: all consumed bytes are ASCII.
    let text = std::str::from_utf8(&b[..i]).ok()?.to_string();
    Some((if is_decimal { Tok::Decimal(text) } else { Tok::Whole(text) }, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s, 0).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn lexes_basic_tokens() {
        assert_eq!(
            kinds("${a.b:equals('x\\'y', 5, -2.5e3)}"),
            vec![
                Tok::Dollar,
                Tok::LBrace,
                Tok::Ident("a.b".into()),
                Tok::Colon,
                Tok::Ident("equals".into()),
                Tok::LParen,
                Tok::Str("x'y".into()),
                Tok::Comma,
                Tok::Whole("5".into()),
                Tok::Comma,
                Tok::Decimal("-2.5e3".into()),
                Tok::RParen,
                Tok::RBrace,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_and_params() {
        assert_eq!(
            kinds("# c\n abc #{p} #x"),
            vec![Tok::Ident("abc".into()), Tok::ParamStart, Tok::Ident("p".into()), Tok::RBrace, Tok::Eof]
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(kinds(r#""a\\b\.c\n""#), vec![Tok::Str("a\\b\\.c\n".into()), Tok::Eof]);
        assert!(tokenize("'abc", 0).is_err());
        assert!(tokenize("'a\nb'", 0).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(kinds(".5"), vec![Tok::Decimal(".5".into()), Tok::Eof]);
        assert_eq!(kinds("+12"), vec![Tok::Whole("+12".into()), Tok::Eof]);
        assert_eq!(kinds("5."), vec![Tok::Decimal("5.".into()), Tok::Eof]);
        assert_eq!(kinds("1e5"), vec![Tok::Decimal("1e5".into()), Tok::Eof]);
    }
}
