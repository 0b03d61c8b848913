//! Tree-walking evaluator. Values borrow from the attribute source and the compiled tree
//! where possible, so a plain attribute reference costs no allocation.

use std::borrow::Cow;

use crate::ast::{Call, Func, Multi, MultiMode, MultiSource, Node, Ty};
use crate::error::ElError;
use crate::functions::{date, escape, json, math, misc, runtime_regex, string};
use crate::value::{Num, Value};
use crate::{AttributeSource, EvalEnv, Expression, ParameterSource};

/// Everything an evaluation can look at.
pub(crate) struct Ctx<'a> {
    pub attrs: &'a dyn AttributeSource,
    pub params: Option<&'a dyn ParameterSource>,
    pub env: &'a EvalEnv,
    /// The value being iterated by a multi-attribute expression (`None` = null).
    pub current: Option<Cow<'a, str>>,
}

impl<'a> Ctx<'a> {
    fn with_current(&self, current: Option<Cow<'a, str>>) -> Ctx<'a> {
        Ctx { attrs: self.attrs, params: self.params, env: self.env, current }
    }
}

type R<'a> = Result<Value<'a>, ElError>;

/// Look up an attribute, falling back to process environment variables (like NiFi's
/// variable registry fallback).
pub(crate) fn lookup_attr<'a>(cx: &Ctx<'a>, name: &str) -> Value<'a> {
    match cx.attrs.get(name) {
        Some(v) => Value::Str(Cow::Borrowed(v)),
        None if cx.env.env_fallback() => match std::env::var(name) {
            Ok(v) => Value::owned(v),
            Err(_) => Value::Null,
        },
        None => Value::Null,
    }
}

fn text<'a>(v: Value<'a>, cx: &Ctx<'_>) -> Option<Cow<'a, str>> {
    v.into_text(cx.env)
}

impl Node {
    /// Evaluate this node.
    pub(crate) fn eval<'a>(&'a self, cx: &Ctx<'a>) -> R<'a> {
        match self {
            Node::Str(s) => Ok(Value::Str(Cow::Borrowed(s))),
            Node::Whole(w) => Ok(Value::Whole(*w)),
            Node::Decimal(d) => Ok(Value::Decimal(*d)),
            Node::Bool(b) => Ok(Value::Bool(*b)),
            Node::Null => Ok(Value::Null),
            Node::Concat(parts) => {
                let mut out = String::new();
                for p in parts.iter() {
                    if let Some(t) = text(p.eval(cx)?, cx) {
                        out.push_str(&t);
                    }
                }
                Ok(Value::owned(out))
            }
            Node::Attr(name) => Ok(lookup_attr(cx, name)),
            Node::DynAttr(n) => match text(n.eval(cx)?, cx) {
                Some(name) => Ok(lookup_attr(cx, &name)),
                None => Ok(Value::Null),
            },
            Node::Param(name) => Ok(match cx.params.and_then(|p| p.get_parameter(name)) {
                Some(v) => Value::Str(Cow::Borrowed(v)),
                None => Value::Null,
            }),
            Node::Current => Ok(match &cx.current {
                Some(Cow::Borrowed(s)) => Value::Str(Cow::Borrowed(s)),
                Some(Cow::Owned(s)) => Value::owned(s.clone()),
                None => Value::Null,
            }),
            Node::Call(c) => eval_call(c, cx),
            Node::Multi(m) => eval_multi(m, cx),
        }
    }
}

fn eval_multi<'a>(m: &'a Multi, cx: &Ctx<'a>) -> R<'a> {
    let mut values: Vec<Option<Cow<'a, str>>> = Vec::new();
    match &m.source {
        MultiSource::Names(names) => {
            for n in names.iter() {
                values.push(text(lookup_attr(cx, n), cx));
            }
        }
        MultiSource::Matching(res) => {
            let mut found: Vec<(String, String)> = Vec::new();
            let mut err = None;
            cx.attrs.for_each(&mut |k, v| {
                for r in res.iter() {
                    match r.is_match(k) {
                        Ok(true) => {
                            found.push((k.to_string(), v.to_string()));
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => err = Some(ElError::eval(format!("regex failed: {e}"))),
                    }
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
            found.sort();
            values.extend(found.into_iter().map(|(_, v)| Some(Cow::Owned(v))));
        }
        MultiSource::Delineated(v, d) => {
            let value = text(v.eval(cx)?, cx);
            let delim = text(d.eval(cx)?, cx);
            if let (Some(value), Some(delim)) = (value, delim) {
                let re = runtime_regex(&delim, false)?;
                values.extend(string::java_split(&value, &re)?.into_iter().map(|s| Some(Cow::Owned(s))));
            }
        }
    }
    let bool_modes = matches!(m.mode, MultiMode::Any | MultiMode::All);
    if values.is_empty() && bool_modes {
        // NiFi evaluates the chain once against a null value when nothing matched
        values.push(None);
    }
    match &m.mode {
        MultiMode::Any => {
            for v in values {
                if m.chain.eval(&cx.with_current(v))?.to_bool() == Some(true) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        MultiMode::All => {
            for v in values {
                if m.chain.eval(&cx.with_current(v))?.to_bool() != Some(true) {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(true))
        }
        MultiMode::Count => {
            let mut n = 0i64;
            for v in values {
                match m.chain.eval(&cx.with_current(v))? {
                    Value::Null | Value::Bool(false) => {}
                    _ => n += 1,
                }
            }
            Ok(Value::Whole(n))
        }
        MultiMode::Join(d) => {
            let delim = text(d.eval(cx)?, cx).unwrap_or_default().into_owned();
            let mut out = String::new();
            for (i, v) in values.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(&delim);
                }
                let r = m.chain.eval(&cx.with_current(v))?;
                if let Some(t) = r.into_text(cx.env) {
                    out.push_str(&t);
                }
            }
            Ok(Value::owned(out))
        }
    }
}

/// Evaluate argument `i` as text.
fn arg_text<'a>(c: &'a Call, i: usize, cx: &Ctx<'a>) -> Result<Option<Cow<'a, str>>, ElError> {
    match c.args.get(i) {
        Some(a) => Ok(text(a.eval(cx)?, cx)),
        None => Ok(None),
    }
}

fn arg_whole<'a>(c: &'a Call, i: usize, cx: &Ctx<'a>) -> Result<Option<i64>, ElError> {
    match c.args.get(i) {
        Some(a) => a.eval(cx)?.to_whole(),
        None => Ok(None),
    }
}

fn arg_num<'a>(c: &'a Call, i: usize, cx: &Ctx<'a>) -> Result<Option<Num>, ElError> {
    match c.args.get(i) {
        Some(a) => a.eval(cx)?.to_number(),
        None => Ok(None),
    }
}

fn str_val(s: Cow<'_, str>) -> Value<'_> {
    Value::Str(s)
}

/// Map an optional string through `f` (null stays null).
fn map_text<'a>(subject: Value<'a>, cx: &Ctx<'a>, f: impl FnOnce(&str) -> String) -> R<'a> {
    Ok(match text(subject, cx) {
        Some(s) => Value::owned(f(&s)),
        None => Value::Null,
    })
}

fn regex_for<'a>(c: &'a Call, pattern: &str, anchored: bool) -> Result<Cow<'a, fancy_regex::Regex>, ElError> {
    match &c.regex {
        Some(r) => Ok(Cow::Borrowed(r.as_ref())),
        None => Ok(Cow::Owned(runtime_regex(pattern, anchored)?)),
    }
}

fn compare<'a>(c: &'a Call, subject: Value<'a>, cx: &Ctx<'a>) -> R<'a> {
    let Some(a) = subject.to_number()? else {
        return Ok(Value::Bool(false));
    };
    let Some(b) = arg_num(c, 0, cx)? else {
        return Ok(Value::Bool(false));
    };
    let ord = match (a, b) {
        (Num::Whole(x), Num::Whole(y)) => x.partial_cmp(&y),
        _ => a.as_f64().partial_cmp(&b.as_f64()),
    };
    let Some(ord) = ord else {
        return Ok(Value::Bool(false));
    };
    use std::cmp::Ordering::*;
    Ok(Value::Bool(match c.func {
        Func::Gt => ord == Greater,
        Func::Ge => ord != Less,
        Func::Lt => ord == Less,
        _ => ord != Greater,
    }))
}

fn arithmetic<'a>(c: &'a Call, subject: Value<'a>, cx: &Ctx<'a>) -> R<'a> {
    let Some(a) = subject.to_number()? else {
        return Ok(Value::Null);
    };
    let Some(b) = arg_num(c, 0, cx)? else {
        return Ok(Value::Null);
    };
    Ok(match (a, b) {
        (Num::Whole(x), Num::Whole(y)) => Value::Whole(match c.func {
            Func::Plus => x.wrapping_add(y),
            Func::Minus => x.wrapping_sub(y),
            Func::Multiply => x.wrapping_mul(y),
            Func::Divide | Func::Mod => {
                if y == 0 {
                    return Err(ElError::eval(format!("{}: / by zero", c.func.name())));
                }
                if c.func == Func::Divide { x.wrapping_div(y) } else { x.wrapping_rem(y) }
            }
            _ => 0,
        }),
        _ => {
            let (x, y) = (a.as_f64(), b.as_f64());
            Value::Decimal(match c.func {
                Func::Plus => x + y,
                Func::Minus => x - y,
                Func::Multiply => x * y,
                Func::Divide => x / y,
                _ => x % y,
            })
        }
    })
}

fn zone_arg<'a>(c: &'a Call, i: usize, cx: &Ctx<'a>) -> Result<Option<date::Zone>, ElError> {
    Ok(arg_text(c, i, cx)?.map(|z| date::Zone::parse(&z)))
}

/// Evaluate the subject first, in a small stack frame, so long `:fn()` chains recurse
/// through small frames only; then dispatch.
fn eval_call<'a>(c: &'a Call, cx: &Ctx<'a>) -> R<'a> {
    let subject = match &c.subject {
        Some(s) => s.eval(cx)?,
        None => Value::Null,
    };
    dispatch(c, subject, cx)
}

#[inline(never)]
fn dispatch<'a>(c: &'a Call, subject: Value<'a>, cx: &Ctx<'a>) -> R<'a> {
    use Func::*;
    match c.func {
        // ---- strings -------------------------------------------------------------------
        ToUpper => map_text(subject, cx, |s| s.to_uppercase()),
        ToLower => map_text(subject, cx, |s| s.to_lowercase()),
        Trim => Ok(match text(subject, cx) {
            Some(Cow::Borrowed(s)) => Value::Str(Cow::Borrowed(string::java_trim(s))),
            Some(Cow::Owned(s)) => {
                let t = string::java_trim(&s);
                if t.len() == s.len() { Value::owned(s) } else { Value::owned(t.to_string()) }
            }
            None => Value::Null,
        }),
        ToString => Ok(text(subject, cx).map(str_val).unwrap_or(Value::Null)),
        UrlEncode => map_text(subject, cx, string::url_encode),
        UrlDecode => match text(subject, cx) {
            Some(s) => Ok(Value::owned(string::url_decode(&s)?)),
            None => Ok(Value::Null),
        },
        Base64Encode => {
            use base64::Engine;
            map_text(subject, cx, |s| base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
        }
        Base64Decode => match text(subject, cx) {
            Some(s) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim().as_bytes())
                    .map_err(|e| ElError::eval(format!("base64Decode: {e}")))?;
                Ok(Value::owned(String::from_utf8_lossy(&bytes).into_owned()))
            }
            None => Ok(Value::Null),
        },
        EscapeJson => map_text(subject, cx, escape::escape_json),
        UnescapeJson => map_text(subject, cx, escape::unescape_json),
        EscapeXml => map_text(subject, cx, escape::escape_xml),
        UnescapeXml => map_text(subject, cx, escape::unescape_xml),
        EscapeCsv => map_text(subject, cx, escape::escape_csv),
        UnescapeCsv => map_text(subject, cx, escape::unescape_csv),
        EscapeHtml3 => map_text(subject, cx, |s| escape::escape_html(s, false)),
        EscapeHtml4 => map_text(subject, cx, |s| escape::escape_html(s, true)),
        UnescapeHtml3 => map_text(subject, cx, |s| escape::unescape_html(s, false)),
        UnescapeHtml4 => map_text(subject, cx, |s| escape::unescape_html(s, true)),
        EvaluateElString => match text(subject, cx) {
            Some(s) => {
                let expr = Expression::compile(&s).map_err(|e| ElError::eval(format!("evaluateELString: {e}")))?;
                Ok(Value::owned(expr.evaluate_with(cx.attrs, None, cx.env)?))
            }
            None => Ok(Value::Null),
        },
        SubstringBefore | SubstringBeforeLast | SubstringAfter | SubstringAfterLast => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Str(Cow::Borrowed("")));
            };
            let Some(needle) = arg_text(c, 0, cx)? else {
                return Ok(Value::Str(s));
            };
            if needle.is_empty() {
                return Ok(Value::Str(s));
            }
            let found = match c.func {
                SubstringBefore | SubstringAfter => s.find(&*needle),
                _ => s.rfind(&*needle),
            };
            let Some(i) = found else {
                return Ok(Value::Str(s));
            };
            let before = matches!(c.func, SubstringBefore | SubstringBeforeLast);
            Ok(Value::Str(match s {
                Cow::Borrowed(b) => Cow::Borrowed(if before { &b[..i] } else { &b[i + needle.len()..] }),
                Cow::Owned(mut o) => {
                    if before {
                        o.truncate(i);
                        Cow::Owned(o)
                    } else {
                        Cow::Owned(o[i + needle.len()..].to_string())
                    }
                }
            }))
        }
        ReplaceNull => match text(subject, cx) {
            Some(s) => Ok(Value::Str(s)),
            None => Ok(arg_text(c, 0, cx)?.map(str_val).unwrap_or(Value::Null)),
        },
        ReplaceEmpty => match text(subject, cx) {
            Some(s) if !s.trim().is_empty() => Ok(Value::Str(s)),
            _ => Ok(arg_text(c, 0, cx)?.map(str_val).unwrap_or(Value::Null)),
        },
        Append => {
            let a = arg_text(c, 0, cx)?;
            Ok(match (text(subject, cx), a) {
                (Some(s), None) => Value::Str(s),
                (None, Some(a)) => Value::Str(a),
                (None, None) => Value::Str(Cow::Borrowed("")),
                (Some(s), Some(a)) => {
                    let mut o = s.into_owned();
                    o.push_str(&a);
                    Value::owned(o)
                }
            })
        }
        Prepend => {
            let a = arg_text(c, 0, cx)?;
            Ok(match (text(subject, cx), a) {
                (Some(s), None) => Value::Str(s),
                (None, Some(a)) => Value::Str(a),
                (None, None) => Value::Str(Cow::Borrowed("")),
                (Some(s), Some(a)) => {
                    let mut o = String::with_capacity(s.len() + a.len());
                    o.push_str(&a);
                    o.push_str(&s);
                    Value::owned(o)
                }
            })
        }
        Substring => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Str(Cow::Borrowed("")));
            };
            let Some(start) = arg_whole(c, 0, cx)? else {
                return Err(ElError::eval("substring: the starting index is not a number"));
            };
            let end = match c.args.len() {
                2 => Some(
                    arg_whole(c, 1, cx)?.ok_or_else(|| ElError::eval("substring: the ending index is not a number"))?,
                ),
                _ => None,
            };
            Ok(Value::owned(string::substring(&s, start, end)?))
        }
        Replace => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let from = arg_text(c, 0, cx)?.unwrap_or_default();
            let to = arg_text(c, 1, cx)?.unwrap_or_default();
            Ok(Value::owned(s.replace(&*from, &to)))
        }
        ReplaceFirst | ReplaceAll => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let pat = arg_text(c, 0, cx)?.unwrap_or_default();
            let to = arg_text(c, 1, cx)?.unwrap_or_default();
            let re = regex_for(c, &pat, false)?;
            Ok(Value::owned(string::regex_replace(&s, &re, &to, c.func == ReplaceAll)?))
        }
        PadLeft | PadRight => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let Some(n) = arg_whole(c, 0, cx)? else {
                return Ok(Value::Str(s));
            };
            let padding =
                if c.args.len() > 1 { arg_text(c, 1, cx)?.unwrap_or(Cow::Borrowed("_")) } else { Cow::Borrowed("_") };
            Ok(Value::owned(string::pad(&s, n, &padding, c.func == PadLeft)))
        }
        Repeat => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let min =
                arg_whole(c, 0, cx)?.ok_or_else(|| ElError::eval("repeat: the number of times is not a number"))?;
            let times = if c.args.len() > 1 {
                let max = arg_whole(c, 1, cx)?.ok_or_else(|| ElError::eval("repeat: the maximum is not a number"))?;
                if min <= 0 || max <= 0 || min > max {
                    return Err(ElError::eval(format!(
                        "repeat: the minimum ({min}) must be positive and not greater than the maximum ({max})"
                    )));
                }
                misc::random_between(min, max)
            } else {
                if min <= 0 {
                    return Err(ElError::eval(format!("repeat: the number of times must be positive but was {min}")));
                }
                min
            };
            let total = (s.len() as u128) * (times as u128);
            if total > 256 * 1024 * 1024 {
                return Err(ElError::eval("repeat: result would exceed 256 MiB"));
            }
            Ok(Value::owned(s.repeat(times as usize)))
        }
        GetDelimitedField => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let index =
                arg_whole(c, 0, cx)?.ok_or_else(|| ElError::eval("getDelimitedField: index is not a number"))?;
            let delim =
                if c.args.len() > 1 { arg_text(c, 1, cx)?.unwrap_or(Cow::Borrowed(",")) } else { Cow::Borrowed(",") };
            let quote =
                if c.args.len() > 2 { arg_text(c, 2, cx)?.unwrap_or(Cow::Borrowed("\"")) } else { Cow::Borrowed("\"") };
            let esc =
                if c.args.len() > 3 { arg_text(c, 3, cx)?.unwrap_or(Cow::Borrowed("\\")) } else { Cow::Borrowed("\\") };
            let strip = match c.args.get(4) {
                Some(a) => a.eval(cx)?.to_bool().unwrap_or(false),
                None => false,
            };
            Ok(Value::owned(string::get_delimited_field(&s, index, &delim, &quote, &esc, strip)?))
        }
        Uuid3 | Uuid5 => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let ns = arg_text(c, 0, cx)?;
            Ok(Value::owned(misc::uuid_named(&s, ns.as_deref(), c.func == Uuid5)?))
        }
        Hash => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let alg = arg_text(c, 0, cx)?.unwrap_or_default();
            Ok(Value::owned(misc::hash(&s, &alg)?))
        }
        IfElse => {
            if subject.to_bool() == Some(true) {
                Ok(arg_text(c, 0, cx)?.map(str_val).unwrap_or(Value::Null))
            } else {
                Ok(arg_text(c, 1, cx)?.map(str_val).unwrap_or(Value::Null))
            }
        }
        Join => Ok(text(subject, cx).map(str_val).unwrap_or(Value::Str(Cow::Borrowed("")))),
        Count => Ok(Value::Whole(match subject {
            Value::Null | Value::Bool(false) => 0,
            _ => 1,
        })),
        Format => {
            let Some(ms) = subject.to_date(cx.env)? else {
                return Ok(Value::Null);
            };
            let fmt = arg_text(c, 0, cx)?.unwrap_or_default();
            let zone = zone_arg(c, 1, cx)?;
            Ok(Value::owned(date::format_millis(ms, &fmt, zone.as_ref().unwrap_or(cx.env.zone()))?))
        }
        FormatInstant => {
            let Some(ns) = subject.to_instant(cx.env)? else {
                return Ok(Value::Null);
            };
            let fmt = arg_text(c, 0, cx)?.unwrap_or_default();
            let zone = zone_arg(c, 1, cx)?;
            Ok(Value::owned(date::format_nanos(ns, &fmt, zone.as_ref().unwrap_or(cx.env.zone()))?))
        }
        ToRadix => {
            let Some(v) = subject.to_whole()? else {
                return Ok(Value::Null);
            };
            let radix = arg_whole(c, 0, cx)?.unwrap_or(10);
            let width = arg_whole(c, 1, cx)?;
            Ok(Value::owned(string::to_radix(v, radix, width)?))
        }
        FromRadix => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let radix = arg_whole(c, 0, cx)?.unwrap_or(10);
            Ok(Value::Whole(string::from_radix(s.trim(), radix)?))
        }
        JsonPath => {
            let s = text(subject, cx);
            let path = arg_text(c, 0, cx)?.unwrap_or_default();
            Ok(Value::owned(json::json_path(s.as_deref(), &path)?))
        }
        JsonPathDelete | JsonPathSet | JsonPathAdd | JsonPathPut => {
            let s = text(subject, cx);
            let path = arg_text(c, 0, cx)?.unwrap_or_default();
            let edit = match c.func {
                JsonPathDelete => json::Edit::Delete,
                JsonPathSet => json::Edit::Set(json::to_json(c.args[1].eval(cx)?)),
                JsonPathAdd => json::Edit::Add(json::to_json(c.args[1].eval(cx)?)),
                _ => {
                    let key = arg_text(c, 1, cx)?.unwrap_or_default().into_owned();
                    json::Edit::Put(key, json::to_json(c.args[2].eval(cx)?))
                }
            };
            Ok(Value::owned(json::json_edit(s.as_deref(), &path, edit)?))
        }
        // ---- booleans ------------------------------------------------------------------
        IsNull => Ok(Value::Bool(subject == Value::Null)),
        NotNull => Ok(Value::Bool(subject != Value::Null)),
        IsEmpty => Ok(Value::Bool(match text(subject, cx) {
            Some(s) => string::java_trim(&s).is_empty(),
            None => true,
        })),
        Not => Ok(match subject.to_bool() {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        }),
        IsJson => Ok(Value::Bool(json::is_json(text(subject, cx).as_deref()))),
        Find | Matches => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Bool(false));
            };
            let Some(pat) = arg_text(c, 0, cx)? else {
                return Ok(Value::Bool(false));
            };
            let re = regex_for(c, &pat, c.func == Matches)?;
            Ok(Value::Bool(re.is_match(&s).map_err(|e| ElError::eval(format!("regex failed: {e}")))?))
        }
        EqualsIgnoreCase | StartsWith | EndsWith | Contains => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Bool(false));
            };
            let Some(a) = arg_text(c, 0, cx)? else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match c.func {
                EqualsIgnoreCase => {
                    s.chars().count() == a.chars().count()
                        && s.chars().zip(a.chars()).all(|(x, y)| {
                            x == y || x.to_uppercase().eq(y.to_uppercase()) || x.to_lowercase().eq(y.to_lowercase())
                        })
                }
                StartsWith => s.starts_with(&*a),
                EndsWith => s.ends_with(&*a),
                _ => s.contains(&*a),
            }))
        }
        Equals => {
            let a = subject;
            if a == Value::Null {
                return Ok(Value::Bool(false));
            }
            let b = c.args[0].eval(cx)?;
            if b == Value::Null {
                return Ok(Value::Bool(false));
            }
            let (Some(x), Some(y)) = (a.equality_text(cx.env), b.equality_text(cx.env)) else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(x == y))
        }
        Gt | Ge | Lt | Le => compare(c, subject, cx),
        And => match subject.to_bool() {
            Some(true) => Ok(Value::Bool(c.args[0].eval(cx)?.to_bool() == Some(true))),
            _ => Ok(Value::Bool(false)),
        },
        Or => match subject.to_bool() {
            Some(true) => Ok(Value::Bool(true)),
            _ => Ok(Value::Bool(c.args[0].eval(cx)?.to_bool() == Some(true))),
        },
        In => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Bool(false));
            };
            for a in c.args.iter() {
                if text(a.eval(cx)?, cx).is_some_and(|v| v == s) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        // ---- numbers -------------------------------------------------------------------
        Length => Ok(Value::Whole(text(subject, cx).map(|s| string::utf16_len(&s) as i64).unwrap_or(0))),
        IndexOf | LastIndexOf => {
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Whole(-1));
            };
            let Some(n) = arg_text(c, 0, cx)? else {
                return Ok(Value::Whole(-1));
            };
            let found = if c.func == IndexOf { s.find(&*n) } else { s.rfind(&*n) };
            Ok(Value::Whole(found.map(|b| string::byte_to_utf16(&s, b) as i64).unwrap_or(-1)))
        }
        ToNumber => Ok(subject.to_whole()?.map(Value::Whole).unwrap_or(Value::Null)),
        ToDecimal => Ok(subject.to_decimal()?.map(Value::Decimal).unwrap_or(Value::Null)),
        ToMicros | ToNanos => Ok(match subject.to_instant(cx.env)? {
            Some(ns) => {
                let v = if c.func == ToMicros { ns.div_euclid(1000) } else { ns };
                Value::Whole(i64::try_from(v).map_err(|_| ElError::eval("value out of range"))?)
            }
            None => Value::Null,
        }),
        Plus | Minus | Multiply | Divide | Mod => arithmetic(c, subject, cx),
        Math => {
            let name = arg_text(c, 0, cx)?.unwrap_or_default();
            if c.subject.is_none() {
                return Ok(math::math(&name, None, None, true)?.into_value());
            }
            let s = subject.to_number()?;
            if s.is_none() {
                return Ok(Value::Null);
            }
            let a = if c.args.len() > 1 { arg_num(c, 1, cx)? } else { None };
            if c.args.len() > 1 && a.is_none() {
                return Ok(Value::Null);
            }
            Ok(math::math(&name, s, a, false)?.into_value())
        }
        // ---- dates ---------------------------------------------------------------------
        ToDate => {
            if c.args.is_empty() || c.subject_ty != Ty::Str {
                return Ok(subject.to_whole()?.map(Value::Date).unwrap_or(Value::Null));
            }
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let fmt = arg_text(c, 0, cx)?.unwrap_or_default();
            let zone = zone_arg(c, 1, cx)?;
            let ns = date::parse_date(&s, &fmt, zone.as_ref().unwrap_or(cx.env.zone()), false, cx.env.now_millis())?;
            Ok(Value::Date(ns.div_euclid(1_000_000) as i64))
        }
        ToInstant => {
            if c.args.is_empty() || c.subject_ty != Ty::Str {
                return Ok(match subject {
                    Value::Str(_) => subject.to_instant(cx.env)?.map(Value::Instant).unwrap_or(Value::Null),
                    other => other.to_whole()?.map(|ms| Value::Instant(ms as i128 * 1_000_000)).unwrap_or(Value::Null),
                });
            }
            let Some(s) = text(subject, cx) else {
                return Ok(Value::Null);
            };
            let fmt = arg_text(c, 0, cx)?.unwrap_or_default();
            let zone = zone_arg(c, 1, cx)?;
            let ns = date::parse_date(&s, &fmt, zone.as_ref().unwrap_or(cx.env.zone()), true, cx.env.now_millis())?;
            Ok(Value::Instant(ns))
        }
        // ---- subjectless ---------------------------------------------------------------
        Now => Ok(Value::Date(cx.env.now_millis())),
        Uuid => Ok(Value::owned(uuid::Uuid::new_v4().hyphenated().to_string())),
        NextInt => Ok(Value::Whole(misc::next_int())),
        Random => Ok(Value::Whole(misc::random_long())),
        Ip => Ok(Value::owned(misc::ip())),
        Hostname => Ok(Value::owned(misc::hostname())),
        Thread => Ok(Value::owned(std::thread::current().name().unwrap_or("unnamed").to_string())),
        Literal => Ok(arg_text(c, 0, cx)?.map(str_val).unwrap_or(Value::Null)),
        GetStateValue => Ok(Value::Null),
        GetUri => {
            let mut parts: [Option<String>; 7] = Default::default();
            for (i, p) in parts.iter_mut().enumerate() {
                if i != 3 {
                    *p = arg_text(c, i, cx)?.map(Cow::into_owned);
                }
            }
            let port_val = c.args[3].eval(cx)?;
            let port_text = port_val.clone().into_text(cx.env).map(Cow::into_owned);
            let port = port_val.to_whole()?;
            Ok(Value::owned(misc::get_uri(parts, port, port_text.as_deref())?))
        }
        AnyAttribute
        | AllAttributes
        | AnyMatchingAttribute
        | AllMatchingAttributes
        | AnyDelineatedValue
        | AllDelineatedValues => Err(ElError::eval("multi-attribute function used outside of an expression root")),
    }
}
