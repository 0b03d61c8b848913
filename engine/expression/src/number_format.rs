//! Java-compatible number text: `Double.toString` formatting and NiFi's `NumberParsing` rules
//! for turning attribute strings into whole numbers (i64) or decimals (f64).

/// Format a double exactly like Java's `Double.toString` (JDK 19+, shortest round-trip digits):
/// plain notation for `1e-3 <= |x| < 1e7` (always with a fractional part, e.g. `100.0`),
/// otherwise computerized scientific notation `d.dddE±n` (e.g. `1.0E10`, `1.0E-5`).
pub fn java_double_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "3.5000000000000284e0", "1e10".
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(24);
    if x < 0.0 {
        out.push('-');
    }
    let abs = x.abs();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Classification of a (trimmed) string per NiFi's `NumberParsing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    /// Not a number.
    NotNumber,
    /// Optional sign then decimal digits, or a `0x` hex integer.
    Whole,
    /// A Java floating point literal (incl. `NaN`, `Infinity`, hex floats with `p` exponent).
    Decimal,
}

fn strip_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn all_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_prefix(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// Classify text the way NiFi's `NumberParsing.parse` does.
pub fn classify(s: &str) -> NumberKind {
    let (_, body) = strip_sign(s);
    if all_digits(body) || hex_prefix(body).is_some_and(all_hex) {
        return NumberKind::Whole;
    }
    if is_java_double(body) { NumberKind::Decimal } else { NumberKind::NotNumber }
}

fn is_java_double(body: &str) -> bool {
    if body == "Infinity" || body == "NaN" {
        return true;
    }
    if let Some(hex) = hex_prefix(body) {
        // hex digits [ '.' hexdigits? ] p exponent  |  '.' hexdigits [p exponent]
        let (mant, exp) = match hex.find(['p', 'P']) {
            Some(i) => (&hex[..i], Some(&hex[i + 1..])),
            None => (hex, None),
        };
        if let Some(e) = exp {
            let (_, e) = strip_sign(e);
            if !all_digits(e) {
                return false;
            }
        }
        let (ip, fp) = match mant.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (mant, None),
        };
        return match (ip.is_empty(), fp) {
            (false, None) => all_hex(ip) && exp.is_some(),
            (false, Some(f)) => all_hex(ip) && (f.is_empty() || all_hex(f)) && exp.is_some(),
            (true, Some(f)) => all_hex(f),
            (true, None) => false,
        };
    }
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(e) = exp {
        let (_, e) = strip_sign(e);
        if !all_digits(e) {
            return false;
        }
    }
    match mant.split_once('.') {
        Some((ip, fp)) => {
            if ip.is_empty() {
                all_digits(fp)
            } else if fp.is_empty() {
                false
            } else {
                all_digits(ip) && all_digits(fp)
            }
        }
        None => all_digits(mant) && exp.is_some(),
    }
}

/// Parse a Java floating point literal (already validated by [`classify`]).
pub fn parse_java_double(s: &str) -> Option<f64> {
    let (neg, body) = strip_sign(s);
    let v = if body == "Infinity" {
        f64::INFINITY
    } else if body == "NaN" {
        f64::NAN
    } else if let Some(hex) = hex_prefix(body) {
        parse_hex_float(hex)?
    } else {
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Parse the part after `0x` of a Java hex float such as `F1.5Bp2`.
fn parse_hex_float(hex: &str) -> Option<f64> {
    let (mant, exp) = match hex.find(['p', 'P']) {
        Some(i) => (&hex[..i], hex[i + 1..].parse::<i64>().ok()?),
        None => (hex, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    let mut acc: u128 = 0;
    let mut shift: i64 = 0; // binary exponent adjustment
    let mut sticky = false;
    for (is_frac, c) in ip.chars().map(|c| (false, c)).chain(fp.chars().map(|c| (true, c))) {
        let d = c.to_digit(16)? as u128;
        if acc >> 120 == 0 {
            acc = (acc << 4) | d;
            if is_frac {
                shift -= 4;
            }
        } else {
            // out of precision: integer digits still scale the value
            if d != 0 {
                sticky = true;
            }
            if !is_frac {
                shift += 4;
            }
        }
    }
    if sticky {
        acc |= 1;
    }
    let total = exp.checked_add(shift)?;
    let m = acc as f64;
    Some(scale_pow2(m, total))
}

fn scale_pow2(mut m: f64, mut e: i64) -> f64 {
    while e > 0 {
        let step = e.min(1000);
        m *= 2f64.powi(step as i32);
        e -= step;
        if m.is_infinite() {
            return m;
        }
    }
    while e < 0 {
        let step = (-e).min(1000);
        m /= 2f64.powi(step as i32);
        e += step;
        if m == 0.0 {
            return m;
        }
    }
    m
}

/// Parse a whole number the way NiFi does: `Long.valueOf`, falling back to `Long.decode` for hex.
/// Returns `Err` on overflow (Java throws `NumberFormatException`).
pub fn parse_java_long(s: &str) -> Result<i64, String> {
    let (neg, body) = strip_sign(s);
    if let Some(hex) = hex_prefix(body) {
        let v = u64::from_str_radix(hex, 16).map_err(|_| format!("For input string: \"{s}\""))?;
        return if neg {
            if v <= (i64::MAX as u64) + 1 {
                Ok((v as i64).wrapping_neg())
            } else {
                Err(format!("For input string: \"{s}\""))
            }
        } else {
            i64::try_from(v).map_err(|_| format!("For input string: \"{s}\""))
        };
    }
    s.parse::<i64>().map_err(|_| format!("For input string: \"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_formatting() {
        let cases: &[(f64, &str)] = &[
            (3.5000000000000284, "3.5000000000000284"),
            (1e10, "1.0E10"),
            (1e-5, "1.0E-5"),
            (0.001, "0.001"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-12.5e-2, "-0.125"),
            (9.876543210012346e132, "9.876543210012346E132"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (0.00099, "9.9E-4"),
        ];
        for (x, want) in cases {
            assert_eq!(java_double_to_string(*x), *want, "{x}");
        }
    }

    #[test]
    fn classification() {
        assert_eq!(classify("123"), NumberKind::Whole);
        assert_eq!(classify("-0x1F"), NumberKind::Whole);
        assert_eq!(classify("1.5"), NumberKind::Decimal);
        assert_eq!(classify(".5e2"), NumberKind::Decimal);
        assert_eq!(classify("1e5"), NumberKind::Decimal);
        assert_eq!(classify("5."), NumberKind::NotNumber);
        assert_eq!(classify("NaN"), NumberKind::Decimal);
        assert_eq!(classify("-Infinity"), NumberKind::Decimal);
        assert_eq!(classify("0xF1.p2"), NumberKind::Decimal);
        assert_eq!(classify("0x1.1"), NumberKind::NotNumber);
        assert_eq!(classify("A.1e123"), NumberKind::NotNumber);
        assert_eq!(classify("abc"), NumberKind::NotNumber);
        assert_eq!(classify(""), NumberKind::NotNumber);
    }

    #[test]
    fn hex_floats() {
        assert_eq!(parse_java_double("0xF1.p2"), Some(964.0));
        assert_eq!(parse_java_double("-0x.5BP0"), Some(-(0x5B as f64) / 256.0));
        assert_eq!(parse_java_double("0xF.Fp10"), Some(15.9375 * 1024.0));
    }

    #[test]
    fn longs() {
        assert_eq!(parse_java_long("0x1234567890ABCDEF"), Ok(0x1234567890ABCDEF));
        assert_eq!(parse_java_long("-0x1234567890abcdef"), Ok(-0x1234567890abcdef));
        assert!(parse_java_long("99999999999999999999").is_err());
    }
}
