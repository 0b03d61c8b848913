//! Function implementations grouped by family. The dispatch from [`crate::ast::Func`] to these
//! lives in [`crate::eval`].

pub mod date;
pub mod escape;
pub mod json;
pub mod math;
pub mod misc;
pub mod string;

use fancy_regex::{Regex, RegexBuilder};

use crate::error::ElError;

/// Compile a Java-style regular expression. `anchored` wraps it so it must match the whole
/// input (Java's `Matcher.matches()`).
pub fn compile_regex(pattern: &str, anchored: bool) -> Result<Regex, String> {
    let translated = java_regex_to_rust(pattern);
    let src;
    let p = if anchored {
        src = format!("\\A(?:{translated})\\z");
        src.as_str()
    } else {
        &translated
    };
    RegexBuilder::new(p)
        .backtrack_limit(1_000_000)
        .delegate_size_limit(10 * (1 << 20))
        .build()
        .map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

/// Like [`compile_regex`] but as an evaluation error (for patterns computed at runtime).
pub fn runtime_regex(pattern: &str, anchored: bool) -> Result<Regex, ElError> {
    compile_regex(pattern, anchored).map_err(ElError::Eval)
}

/// Java POSIX character classes (`\p{Lower}` ...) and their ASCII equivalents.
const POSIX: &[(&str, &str)] = &[
    ("Lower", "lower"),
    ("Upper", "upper"),
    ("ASCII", "ascii"),
    ("Alpha", "alpha"),
    ("Digit", "digit"),
    ("Alnum", "alnum"),
    ("Punct", "punct"),
    ("Graph", "graph"),
    ("Print", "print"),
    ("Blank", "blank"),
    ("Cntrl", "cntrl"),
    ("XDigit", "xdigit"),
    ("Space", "space"),
];

/// Rewrite the few Java regex constructs the Rust engines reject: quantified zero-width
/// assertions (`\b??`, `^*`) and POSIX classes such as `\p{Alpha}`.
pub fn java_regex_to_rust(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    let mut in_class = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if (n == 'p' || n == 'P') && chars.get(i + 2) == Some(&'{') {
                let rest: String = chars[i + 3..].iter().collect();
                if let Some(end) = rest.find('}') {
                    let name = &rest[..end];
                    if let Some((_, posix)) = POSIX.iter().find(|(j, _)| *j == name) {
                        let neg = if n == 'P' { "^" } else { "" };
                        if in_class > 0 {
                            out.push_str(&format!("[:{neg}{posix}:]"));
                        } else {
                            out.push_str(&format!("[[:{neg}{posix}:]]"));
                        }
                        i += 3 + name.chars().count() + 1;
                        continue;
                    }
                }
            }
            if in_class == 0 && (n == 'b' || n == 'B') {
                let (drop_all, skip) = assertion_quantifier(&chars, i + 2);
                if skip > 0 {
                    if !drop_all {
                        out.push(c);
                        out.push(n);
                    }
                    i += 2 + skip;
                    continue;
                }
            }
            out.push(c);
            out.push(n);
            i += 2;
            continue;
        }
        match c {
            '[' => in_class += 1,
            ']' if in_class > 0 => in_class -= 1,
            '^' | '$' if in_class == 0 => {
                let (drop_all, skip) = assertion_quantifier(&chars, i + 1);
                if skip > 0 {
                    if !drop_all {
                        out.push(c);
                    }
                    i += 1 + skip;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// If a quantifier follows a zero-width assertion at `at`, return (whether the assertion can
/// be dropped because the quantifier allows zero repetitions, chars to skip).
fn assertion_quantifier(chars: &[char], at: usize) -> (bool, usize) {
    let Some(&q) = chars.get(at) else {
        return (false, 0);
    };
    let (zero_ok, mut len) = match q {
        '?' | '*' => (true, 1),
        '+' => (false, 1),
        _ => return (false, 0),
    };
    if matches!(chars.get(at + 1), Some('?') | Some('+')) {
        len += 1;
    }
    (zero_ok, len)
}
