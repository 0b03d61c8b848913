//! Helpers shared by the text processors: character sets, the "bad input" error that
//! routes a flowfile to `failure` instead of rolling the session back, an attribute source
//! that layers extra values (regex groups, the current line) over a flowfile's attributes,
//! and the splitting of a property value into literal text and `${...}` expressions.

use std::borrow::Cow;
use std::fmt;
use std::io;

use sluice_engine::expression::{AttributeSource, Expression};
use sluice_engine::{ProcessContext, ProcessError};

/// A character set a text processor reads and writes content in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 (the default).
    #[default]
    Utf8,
    /// 7-bit US-ASCII.
    Ascii,
    /// ISO-8859-1 (Latin-1): every byte is one character.
    Latin1,
}

impl Charset {
    /// Parses a character set name as the `Charset` validator accepts it.
    pub fn parse(name: &str) -> Result<Charset, ProcessError> {
        match name.trim().to_ascii_uppercase().as_str() {
            "" | "UTF-8" | "UTF8" => Ok(Charset::Utf8),
            "US-ASCII" | "ASCII" => Ok(Charset::Ascii),
            "ISO-8859-1" | "LATIN1" => Ok(Charset::Latin1),
            other => Err(ProcessError::Config(format!("unsupported character set '{other}'"))),
        }
    }

    /// Decodes `bytes`; malformed input is an error that names the character set.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, str>, BadInput> {
        match self {
            Charset::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                BadInput(format!("content is not valid UTF-8 (at byte {}); set 'Character Set'", e.valid_up_to()))
            }),
            Charset::Ascii => match bytes.iter().position(|b| *b > 0x7f) {
                // ASCII is valid UTF-8.
                None => Ok(Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())),
                Some(i) => Err(BadInput(format!("content is not US-ASCII (byte {i} is 0x{:02x})", bytes[i]))),
            },
            Charset::Latin1 => Ok(latin1(bytes)),
        }
    }

    /// Decodes `bytes`, replacing malformed sequences with U+FFFD (for processors that only
    /// look at the text and never write it back).
    pub fn decode_lossy<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match self {
            Charset::Utf8 | Charset::Ascii => String::from_utf8_lossy(bytes),
            Charset::Latin1 => latin1(bytes),
        }
    }

    /// Encodes `text`; characters the set cannot represent are an error.
    pub fn encode<'a>(&self, text: &'a str) -> Result<Cow<'a, [u8]>, BadInput> {
        match self {
            Charset::Utf8 => Ok(Cow::Borrowed(text.as_bytes())),
            Charset::Ascii => match text.chars().find(|c| !c.is_ascii()) {
                None => Ok(Cow::Borrowed(text.as_bytes())),
                Some(c) => Err(BadInput(format!("'{c}' cannot be written in US-ASCII"))),
            },
            Charset::Latin1 => {
                if text.is_ascii() {
                    return Ok(Cow::Borrowed(text.as_bytes()));
                }
                text.chars()
                    .map(|c| {
                        u8::try_from(u32::from(c))
                            .map_err(|_| BadInput(format!("'{c}' cannot be written in ISO-8859-1")))
                    })
                    .collect::<Result<Vec<u8>, _>>()
                    .map(Cow::Owned)
            }
        }
    }
}

fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())
    } else {
        Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// Input the processor cannot handle (malformed text, a line over the buffer limit...):
/// the flowfile goes to `failure` with this reason, rather than the session being rolled
/// back as for an I/O error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

impl From<BadInput> for io::Error {
    fn from(b: BadInput) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, b)
    }
}

impl From<BadInput> for ProcessError {
    fn from(b: BadInput) -> ProcessError {
        ProcessError::Io(b.into())
    }
}

/// Evaluates property `name` against `attrs` (raw value when it holds no expression); an
/// expression that fails on this flowfile is a `BadInput`, as NiFi routes such flowfiles to
/// `failure`.
pub fn eval_prop(ctx: &ProcessContext, name: &str, attrs: &dyn AttributeSource) -> Result<String, BadInput> {
    match ctx.expression(name) {
        Some(e) => e.evaluate(attrs).map_err(|e| BadInput(format!("evaluating '{name}': {e}"))),
        None => Ok(ctx.property(name).unwrap_or_default().to_string()),
    }
}

/// The `BadInput` carried by an I/O error, if it is one (it went through a `Write`/`Read`
/// boundary such as `ProcessSession::write_with`).
pub fn bad_input_of(e: &io::Error) -> Option<BadInput> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<BadInput>()).cloned()
}

/// Splits a processing error into "route to failure with this reason" (Ok) and "roll back"
/// (Err, returned as is).
pub fn classify(e: ProcessError) -> Result<BadInput, ProcessError> {
    match e {
        ProcessError::Io(io) => match bad_input_of(&io) {
            Some(b) => Ok(b),
            None => Err(ProcessError::Io(io)),
        },
        other => Err(other),
    }
}

/// A flowfile's attributes with extra named values on top (`$1`, `line`, ...).
pub struct Overlay<'a> {
    /// The extra values, looked up first.
    pub extra: &'a [(String, String)],
    /// The flowfile's attributes.
    pub base: &'a dyn AttributeSource,
}

impl AttributeSource for Overlay<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.extra.iter().find(|(k, _)| k == name) {
            Some((_, v)) => Some(v),
            None => self.base.get(name),
        }
    }

    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.extra {
            f(k, v);
        }
        self.base.for_each(&mut |k, v| {
            if !self.extra.iter().any(|(e, _)| e == k) {
                f(k, v)
            }
        });
    }
}

/// One piece of a property value: literal text or a `${...}` expression.
#[derive(Clone)]
pub enum Segment {
    /// Text taken as is.
    Lit(String),
    /// A compiled expression.
    Expr(Expression),
}

/// Splits `value` into literal text and top-level `${...}` expressions (quotes inside an
/// expression may hold braces), compiling each expression on its own. Used where the
/// output of an expression must be treated differently from the literal text around it
/// (ReplaceText: back-references apply to the literal text only, as in NiFi).
pub fn segments(value: &str) -> Result<Vec<Segment>, String> {
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut lit_start = 0usize;
    let mut i = 0usize;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let start = i;
            let mut depth = 0usize;
            let mut j = i + 1;
            let mut end = None;
            while j < b.len() {
                match b[j] {
                    q @ (b'\'' | b'"') => {
                        j += 1;
                        while j < b.len() && b[j] != q {
                            if b[j] == b'\\' {
                                j += 1;
                            }
                            j += 1;
                        }
                    }
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let Some(end) = end else { break };
            if lit_start < start {
                out.push(Segment::Lit(value[lit_start..start].to_string()));
            }
            let text = &value[start..=end];
            out.push(Segment::Expr(Expression::compile(text).map_err(|e| format!("{text}: {e}"))?));
            i = end + 1;
            lit_start = i;
        } else {
            i += 1;
        }
    }
    if lit_start < value.len() {
        out.push(Segment::Lit(value[lit_start..].to_string()));
    }
    Ok(out)
}

/// Treats an empty property value as not set.
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_round_trip_and_reject() {
        assert_eq!(Charset::Latin1.decode(&[0x63, 0x61, 0x66, 0xe9]).unwrap(), "café");
        assert_eq!(&*Charset::Latin1.encode("café").unwrap(), &[0x63, 0x61, 0x66, 0xe9]);
        assert!(Charset::Latin1.encode("€").is_err());
        assert!(Charset::Utf8.decode(&[0xff, 0x41]).is_err());
        assert!(Charset::Ascii.decode("é".as_bytes()).is_err());
        assert_eq!(Charset::Utf8.decode_lossy(&[0x41, 0xff]), "A\u{fffd}");
    }

    #[test]
    fn segments_split_literals_and_expressions() {
        let s = segments("a $1 ${'$1':toUpper()} b ${x:replace('}', '{')}").unwrap();
        assert_eq!(s.len(), 4);
        assert!(matches!(&s[0], Segment::Lit(t) if t == "a $1 "));
        assert!(matches!(&s[2], Segment::Lit(t) if t == " b "));
        assert!(matches!(&s[3], Segment::Expr(_)));
        assert!(segments("${unclosed").map(|s| s.len()).unwrap() == 1);
    }

    #[test]
    fn bad_input_survives_io_boundary() {
        let e: io::Error = BadInput("x".into()).into();
        assert_eq!(bad_input_of(&e), Some(BadInput("x".into())));
        assert!(matches!(classify(ProcessError::Io(e)), Ok(BadInput(m)) if m == "x"));
        assert!(classify(ProcessError::Io(io::Error::other("disk"))).is_err());
    }
}
