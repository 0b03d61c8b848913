//! Runtime values and NiFi's implicit conversions between them.

use std::borrow::Cow;

use crate::EvalEnv;
use crate::error::ElError;
use crate::functions::date;
use crate::number_format::{NumberKind, classify, java_double_to_string, parse_java_double, parse_java_long};

/// A value produced while evaluating an expression. `Null` is NiFi's `null` (a missing
/// attribute, a failed conversion); it renders as the empty string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Str(Cow<'a, str>),
    Bool(bool),
    /// NiFi WHOLE_NUMBER (Java `Long`).
    Whole(i64),
    /// NiFi DECIMAL (Java `Double`).
    Decimal(f64),
    /// NiFi DATE: epoch milliseconds.
    Date(i64),
    /// NiFi INSTANT: epoch nanoseconds.
    Instant(i128),
}

/// A number that is either whole or decimal (NiFi's NUMBER type).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Whole(i64),
    Decimal(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Whole(w) => w as f64,
            Num::Decimal(d) => d,
        }
    }

    pub fn as_i64(self) -> i64 {
        match self {
            Num::Whole(w) => w,
            Num::Decimal(d) => d as i64,
        }
    }

    pub fn into_value<'a>(self) -> Value<'a> {
        match self {
            Num::Whole(w) => Value::Whole(w),
            Num::Decimal(d) => Value::Decimal(d),
        }
    }
}

impl<'a> Value<'a> {
    /// Convenience constructor for owned strings.
    pub fn owned(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }

    /// Render as text (NiFi's StringCastEvaluator). `None` for null.
    pub fn into_text(self, env: &EvalEnv) -> Option<Cow<'a, str>> {
        Some(match self {
            Value::Null => return None,
            Value::Str(s) => s,
            Value::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Value::Whole(w) => Cow::Owned(w.to_string()),
            Value::Decimal(d) => Cow::Owned(java_double_to_string(d)),
            Value::Date(ms) => Cow::Owned(date::java_date_to_string(ms, env)),
            Value::Instant(ns) => Cow::Owned(date::instant_to_string(ns)),
        })
    }

    /// Boolean view (NiFi BooleanCastEvaluator: a String is true iff it is "true", ignoring
    /// case and surrounding whitespace). Compile-time checks guarantee only Bool/Str reach here.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) => Some(s.trim().eq_ignore_ascii_case("true")),
            _ => Some(false),
        }
    }

    /// NiFi NumberCastEvaluator.
    pub fn to_number(&self) -> Result<Option<Num>, ElError> {
        Ok(match self {
            Value::Null => None,
            Value::Whole(w) => Some(Num::Whole(*w)),
            Value::Decimal(d) => Some(Num::Decimal(*d)),
            Value::Date(ms) => Some(Num::Whole(*ms)),
            Value::Instant(ns) => Some(Num::Whole(instant_millis(*ns))),
            Value::Bool(_) => None,
            Value::Str(s) => {
                let t = s.trim();
                match classify(t) {
                    NumberKind::Whole => Some(Num::Whole(parse_java_long(t).map_err(ElError::eval)?)),
                    NumberKind::Decimal => parse_java_double(t).map(Num::Decimal),
                    NumberKind::NotNumber => None,
                }
            }
        })
    }

    /// NiFi WholeNumberCastEvaluator (decimals are truncated toward zero).
    pub fn to_whole(&self) -> Result<Option<i64>, ElError> {
        Ok(self.to_number()?.map(Num::as_i64))
    }

    /// NiFi DecimalCastEvaluator.
    pub fn to_decimal(&self) -> Result<Option<f64>, ElError> {
        Ok(self.to_number()?.map(Num::as_f64))
    }

    /// NiFi DateCastEvaluator: epoch millis from numbers, digit strings, `Date.toString()` text
    /// or `yyyy/MM/dd HH:mm:ss[.SSS]`.
    pub fn to_date(&self, env: &EvalEnv) -> Result<Option<i64>, ElError> {
        Ok(match self {
            Value::Null => None,
            Value::Date(ms) => Some(*ms),
            Value::Instant(ns) => Some(instant_millis(*ns)),
            Value::Whole(w) => Some(*w),
            Value::Decimal(d) => Some(*d as i64),
            Value::Bool(_) => None,
            Value::Str(s) => Some(date::implicit_string_to_date(s.trim(), env)?),
        })
    }

    /// NiFi InstantCastEvaluator: epoch nanos.
    pub fn to_instant(&self, env: &EvalEnv) -> Result<Option<i128>, ElError> {
        Ok(match self {
            Value::Null => None,
            Value::Instant(ns) => Some(*ns),
            Value::Date(ms) => Some(*ms as i128 * 1_000_000),
            Value::Whole(w) => Some(*w as i128 * 1_000_000),
            Value::Decimal(d) => Some((*d as i64) as i128 * 1_000_000),
            Value::Bool(_) => None,
            Value::Str(s) => Some(date::implicit_string_to_instant(s.trim(), env)?),
        })
    }

    /// NiFi EqualsEvaluator normalisation: compare text, with dates as epoch millis.
    pub fn equality_text(self, env: &EvalEnv) -> Option<Cow<'a, str>> {
        match self {
            Value::Date(ms) => Some(Cow::Owned(ms.to_string())),
            other => other.into_text(env),
        }
    }
}

/// Epoch nanos to epoch millis (floor), like `Instant.toEpochMilli`.
pub(crate) fn instant_millis(ns: i128) -> i64 {
    let ms = ns.div_euclid(1_000_000);
    ms.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}
