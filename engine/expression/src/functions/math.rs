//! NiFi `math(name[, arg])`: dispatch to Java `Math` methods by name and argument types
//! (long variants for whole numbers, double variants otherwise).

use crate::error::ElError;
use crate::functions::misc::random_f64;
use crate::value::Num;

/// Java `Math` methods reachable through NiFi's `math(name[, arg])`.
pub fn math(name: &str, subject: Option<Num>, arg: Option<Num>, subjectless: bool) -> Result<Num, ElError> {
    if subjectless {
        return match name {
            "random" => Ok(Num::Decimal(random_f64())),
            _ => Err(ElError::eval(format!(
                "Cannot evaluate 'math' function because no subjectless method was found with the name:'{name}'"
            ))),
        };
    }
    let Some(s) = subject else {
        return Err(ElError::eval("Cannot evaluate 'math' function because the subject is null"));
    };
    match arg {
        None => {
            if let Num::Whole(w) = s
                && let Some(r) = long1(name, w)?
            {
                return Ok(r);
            }
            double1(name, s.as_f64()).ok_or_else(|| {
                ElError::eval(format!(
                    "Cannot evaluate 'math' function because no method was found matching the passed parameters: name:'{name}', one argument of type: '{}'",
                    if matches!(s, Num::Whole(_)) { "long" } else { "double" }
                ))
            })
        }
        Some(a) => {
            if let (Num::Whole(x), Num::Whole(y)) = (s, a)
                && let Some(r) = long2(name, x, y)?
            {
                return Ok(r);
            }
            if name == "scalb"
                && let Num::Whole(y) = a
            {
                let e = y.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                return Ok(Num::Decimal(s.as_f64() * 2f64.powi(e.clamp(-2000, 2000))));
            }
            double2(name, s.as_f64(), a.as_f64()).ok_or_else(|| {
                let t = |n: Num| if matches!(n, Num::Whole(_)) { "long" } else { "double" };
                ElError::eval(format!(
                    "Cannot evaluate 'math' function because no method was found matching the passed parameters: name:'{name}', first argument type: '{}', second argument type:  '{}'",
                    t(s),
                    t(a)
                ))
            })
        }
    }
}

fn overflow(name: &str) -> ElError {
    ElError::eval(format!("math('{name}'): long overflow"))
}

fn long1(name: &str, x: i64) -> Result<Option<Num>, ElError> {
    Ok(Some(Num::Whole(match name {
        "abs" => x.wrapping_abs(),
        "negateExact" => x.checked_neg().ok_or_else(|| overflow(name))?,
        "incrementExact" => x.checked_add(1).ok_or_else(|| overflow(name))?,
        "decrementExact" => x.checked_sub(1).ok_or_else(|| overflow(name))?,
        _ => return Ok(None),
    })))
}

fn long2(name: &str, x: i64, y: i64) -> Result<Option<Num>, ElError> {
    let div0 = || ElError::eval("math: / by zero");
    Ok(Some(Num::Whole(match name {
        "max" => x.max(y),
        "min" => x.min(y),
        "addExact" => x.checked_add(y).ok_or_else(|| overflow(name))?,
        "subtractExact" => x.checked_sub(y).ok_or_else(|| overflow(name))?,
        "multiplyExact" => x.checked_mul(y).ok_or_else(|| overflow(name))?,
        "floorDiv" => {
            if y == 0 {
                return Err(div0());
            }
            x.wrapping_div(y) - i64::from((x % y != 0) && ((x < 0) != (y < 0)))
        }
        "floorMod" => {
            if y == 0 {
                return Err(div0());
            }
            let m = x.wrapping_rem(y);
            if m != 0 && ((m < 0) != (y < 0)) { m + y } else { m }
        }
        _ => return Ok(None),
    })))
}

fn double1(name: &str, x: f64) -> Option<Num> {
    Some(Num::Decimal(match name {
        "abs" => x.abs(),
        "acos" => x.acos(),
        "asin" => x.asin(),
        "atan" => x.atan(),
        "cbrt" => x.cbrt(),
        "ceil" => x.ceil(),
        "cos" => x.cos(),
        "cosh" => x.cosh(),
        "exp" => x.exp(),
        "expm1" => x.exp_m1(),
        "floor" => x.floor(),
        "log" => x.ln(),
        "log10" => x.log10(),
        "log1p" => x.ln_1p(),
        "rint" => x.round_ties_even(),
        "signum" => {
            if x == 0.0 || x.is_nan() {
                x
            } else {
                x.signum()
            }
        }
        "sin" => x.sin(),
        "sinh" => x.sinh(),
        "sqrt" => x.sqrt(),
        "tan" => x.tan(),
        "tanh" => x.tanh(),
        "toDegrees" => x.to_degrees(),
        "toRadians" => x.to_radians(),
        "ulp" => {
            let next = f64::from_bits(x.abs().to_bits() + 1);
            next - x.abs()
        }
        "nextUp" => next_up(x),
        "nextDown" => -next_up(-x),
        "round" => return Some(Num::Whole((x + 0.5).floor() as i64)),
        "getExponent" => {
            return Some(Num::Whole(((x.to_bits() >> 52) & 0x7ff) as i64 - 1023));
        }
        _ => return None,
    }))
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn double2(name: &str, x: f64, y: f64) -> Option<Num> {
    Some(Num::Decimal(match name {
        "pow" => x.powf(y),
        "atan2" => x.atan2(y),
        "hypot" => x.hypot(y),
        "max" => {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.max(y)
            }
        }
        "min" => {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.min(y)
            }
        }
        "copySign" => x.copysign(y),
        "IEEEremainder" => x - (x / y).round_ties_even() * y,
        "nextAfter" => {
            if x < y {
                next_up(x)
            } else if x > y {
                -next_up(-x)
            } else {
                y
            }
        }
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_dispatch() {
        assert_eq!(math("abs", Some(Num::Whole(-64)), None, false).unwrap(), Num::Whole(64));
        assert_eq!(math("abs", Some(Num::Decimal(-64.1)), None, false).unwrap(), Num::Decimal(64.1));
        assert_eq!(math("max", Some(Num::Whole(-64)), Some(Num::Whole(2)), false).unwrap(), Num::Whole(2));
        assert_eq!(math("scalb", Some(Num::Decimal(1.5)), Some(Num::Whole(2)), false).unwrap(), Num::Decimal(6.0));
        let e = math("absolute", Some(Num::Decimal(-1.0)), None, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expression evaluation failed: Cannot evaluate 'math' function because no method was found matching the passed parameters: name:'absolute', one argument of type: 'double'"
        );
        assert!(math("rand", None, None, true).is_err());
    }
}
