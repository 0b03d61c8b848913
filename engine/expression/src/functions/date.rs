//! Dates and instants: Java time-zone IDs, `SimpleDateFormat`-compatible formatting and
//! lenient parsing (`format`, `toDate`), `DateTimeFormatter`-style variants (`formatInstant`,
//! `toInstant`), and NiFi's implicit string-to-date conversions.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetName, Tz};

use crate::EvalEnv;
use crate::error::ElError;

/// A Java `TimeZone`: either an IANA zone or a custom fixed `GMT±hh:mm` offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// IANA / tzdb zone.
    Named(Tz),
    /// Custom fixed offset (seconds east of UTC) with its Java display name, e.g. `GMT+08:00`.
    Fixed {
        /// Offset in seconds east of UTC.
        secs: i32,
        /// Java display name, e.g. `GMT+08:00`.
        name: String,
    },
}

/// Java's legacy three-letter zone IDs (`ZoneId.SHORT_IDS`) that tzdb does not define.
const SHORT_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

fn fixed_name(secs: i32) -> String {
    if secs == 0 {
        return "GMT".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("GMT{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Parse `[+-]h`, `[+-]hh`, `[+-]hhmm`, `[+-]hh:mm` into seconds.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, body) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = if let Some((h, m)) = body.split_once(':') {
        (h, m)
    } else if body.len() <= 2 {
        (body, "0")
    } else if body.len() == 4 {
        (&body[..2], &body[2..])
    } else {
        return None;
    };
    if h.is_empty() || h.len() > 2 || m.len() > 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

impl Zone {
    /// Java `TimeZone.getTimeZone(id)`: tzdb IDs, `GMT±hh:mm` custom IDs, legacy short IDs;
    /// anything unknown silently becomes GMT (as in Java).
    pub fn parse(id: &str) -> Zone {
        Self::try_parse(id).unwrap_or(Zone::Named(Tz::GMT))
    }

    /// Like [`Zone::parse`] but `None` for unknown IDs.
    pub fn try_parse(id: &str) -> Option<Zone> {
        let id = id.trim();
        if let Ok(tz) = id.parse::<Tz>() {
            return Some(Zone::Named(tz));
        }
        for prefix in ["GMT", "UTC", "UT"] {
            if let Some(rest) = id.strip_prefix(prefix)
                && let Some(secs) = parse_offset(rest)
            {
                return Some(Zone::Fixed { secs, name: fixed_name(secs) });
            }
        }
        SHORT_IDS.iter().find(|(k, _)| *k == id).and_then(|(_, v)| v.parse::<Tz>().ok()).map(Zone::Named)
    }

    /// Offset (seconds) and short display name in effect at the UTC instant `utc`.
    fn offset_at(&self, utc: &NaiveDateTime) -> (i32, String) {
        match self {
            Zone::Fixed { secs, name } => (*secs, name.clone()),
            Zone::Named(tz) => {
                let off = tz.offset_from_utc_datetime(utc);
                let secs = off.fix().local_minus_utc();
                let name = match off.abbreviation() {
                    Some(a) if !a.starts_with(['+', '-']) => a.to_string(),
                    _ => fixed_name(secs),
                };
                (secs, name)
            }
        }
    }

    /// Local wall-clock time to UTC (Java lenient rules: earlier offset on overlaps, the
    /// pre-transition offset inside gaps).
    fn local_to_utc(&self, local: &NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Zone::Fixed { secs, .. } => local.checked_sub_signed(Duration::seconds(*secs as i64)),
            Zone::Named(tz) => match tz.from_local_datetime(local) {
                chrono::LocalResult::Single(dt) => Some(dt.naive_utc()),
                chrono::LocalResult::Ambiguous(a, _) => Some(a.naive_utc()),
                chrono::LocalResult::None => {
                    let before = local.checked_sub_signed(Duration::hours(24))?;
                    let off = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                    local.checked_sub_signed(Duration::seconds(off as i64))
                }
            },
        }
    }

    /// The zone's ID as Java prints it.
    pub fn id(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed { name, .. } => name.clone(),
        }
    }
}

/// The process' default zone: `TZ` if set and valid, else the system zone, else UTC.
pub fn system_zone() -> Zone {
    if let Ok(tz) = std::env::var("TZ")
        && let Some(z) = Zone::try_parse(tz.trim_start_matches(':'))
    {
        return z;
    }
    iana_time_zone::get_timezone().ok().and_then(|id| Zone::try_parse(&id)).unwrap_or(Zone::Named(Tz::UTC))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

fn long_zone_name(abbrev: &str) -> Option<&'static str> {
    Some(match abbrev {
        "UTC" => "Coordinated Universal Time",
        "GMT" => "Greenwich Mean Time",
        "EST" => "Eastern Standard Time",
        "EDT" => "Eastern Daylight Time",
        "CST" => "Central Standard Time",
        "CDT" => "Central Daylight Time",
        "MST" => "Mountain Standard Time",
        "MDT" => "Mountain Daylight Time",
        "PST" => "Pacific Standard Time",
        "PDT" => "Pacific Daylight Time",
        "CET" => "Central European Standard Time",
        "CEST" => "Central European Summer Time",
        "EET" => "Eastern European Standard Time",
        "EEST" => "Eastern European Summer Time",
        "BST" => "British Summer Time",
        _ => return None,
    })
}

/// A compiled date pattern element.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(String),
    Field(char, usize),
}

fn is_numeric_field(c: char, count: usize, dtf: bool) -> bool {
    match c {
        'M' | 'L' => count < 3,
        'y' | 'Y' | 'd' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' | 'D' | 'F' | 'w' | 'W' | 'n' | 'A' | 'N' => true,
        'u' => true,
        'e' | 'c' => dtf && count < 3,
        _ => false,
    }
}

fn compile_pattern(p: &str, dtf: bool) -> Result<Vec<Item>, ElError> {
    let valid: &str = if dtf { "GuyYDMLdQqwWEecFahKkHmsSnANVzOXxZ" } else { "GyYMLwWDdFEuaHkKhmsSzZX" };
    let mut items: Vec<Item> = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let push_lit = |items: &mut Vec<Item>, s: &str| {
        if let Some(Item::Lit(prev)) = items.last_mut() {
            prev.push_str(s);
        } else {
            items.push(Item::Lit(s.to_string()));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                push_lit(&mut items, "'");
                i += 2;
                continue;
            }
            let mut j = i + 1;
            let mut lit = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        return Err(ElError::eval(format!("Unterminated quote in date pattern '{p}'")));
                    }
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        lit.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        lit.push(*ch);
                        j += 1;
                    }
                }
            }
            push_lit(&mut items, &lit);
            i = j + 1;
        } else if c.is_ascii_alphabetic() {
            if !valid.contains(c) {
                return Err(ElError::eval(format!("Illegal pattern character '{c}' in date pattern '{p}'")));
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            items.push(Item::Field(c, n));
            i += n;
        } else if dtf && (c == '[' || c == ']') {
            i += 1;
        } else {
            push_lit(&mut items, &c.to_string());
            i += 1;
        }
    }
    Ok(items)
}

/// Broken-down local time.
struct Parts {
    dt: NaiveDateTime,
    offset: i32,
    abbrev: String,
    zone_id: String,
}

fn parts(epoch_nanos: i128, zone: &Zone) -> Result<Parts, ElError> {
    let secs = epoch_nanos.div_euclid(1_000_000_000);
    let nanos = epoch_nanos.rem_euclid(1_000_000_000) as u32;
    let secs = i64::try_from(secs).map_err(|_| ElError::eval("date out of range"))?;
    let utc = DateTime::from_timestamp(secs, nanos).ok_or_else(|| ElError::eval("date out of range"))?.naive_utc();
    let (offset, abbrev) = zone.offset_at(&utc);
    let dt =
        utc.checked_add_signed(Duration::seconds(offset as i64)).ok_or_else(|| ElError::eval("date out of range"))?;
    Ok(Parts { dt, offset, abbrev, zone_id: zone.id() })
}

fn pad(out: &mut String, v: i64, width: usize) {
    let s = v.unsigned_abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

/// US week fields (Sunday first, minimal days 1): (week-year, week-of-year).
fn us_week(d: NaiveDate) -> (i32, i64) {
    let jan1 = NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d);
    let jan1_dow = jan1.weekday().num_days_from_sunday() as i64;
    let doy = d.ordinal0() as i64;
    let week = (doy + jan1_dow) / 7 + 1;
    // the last days of December may belong to week 1 of the next year
    let week_start = d - Duration::days(d.weekday().num_days_from_sunday() as i64);
    if let Some(next_jan1) = NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
        && week_start + Duration::days(6) >= next_jan1
    {
        return (d.year() + 1, 1);
    }
    (d.year(), week)
}

fn offset_text(out: &mut String, secs: i32, colon: bool, with_minutes: bool, z_for_zero: bool) {
    if secs == 0 && z_for_zero {
        out.push('Z');
        return;
    }
    out.push(if secs < 0 { '-' } else { '+' });
    let a = secs.unsigned_abs();
    let (h, m) = (a / 3600, (a % 3600) / 60);
    pad(out, h as i64, 2);
    if with_minutes || m != 0 {
        if colon {
            out.push(':');
        }
        pad(out, m as i64, 2);
    }
}

fn format_parts(p: &Parts, items: &[Item], dtf: bool) -> String {
    let mut out = String::with_capacity(32);
    let d = p.dt;
    for it in items {
        let (c, n) = match it {
            Item::Lit(s) => {
                out.push_str(s);
                continue;
            }
            Item::Field(c, n) => (*c, *n),
        };
        let year = d.year() as i64;
        match c {
            'G' => out.push_str(if year > 0 { "AD" } else { "BC" }),
            'y' | 'u' if c == 'y' || dtf => {
                let y = if c == 'y' && year <= 0 { 1 - year } else { year };
                if n == 2 {
                    pad(&mut out, y.rem_euclid(100), 2);
                } else {
                    pad(&mut out, y, n);
                }
            }
            'Y' => {
                let (wy, _) = us_week(d.date());
                if n == 2 {
                    pad(&mut out, (wy as i64).rem_euclid(100), 2);
                } else {
                    pad(&mut out, wy as i64, n);
                }
            }
            'M' | 'L' => match n {
                1 | 2 => pad(&mut out, d.month() as i64, n),
                3 => out.push_str(&MONTHS[d.month0() as usize][..3]),
                _ => out.push_str(MONTHS[d.month0() as usize]),
            },
            'Q' | 'q' => {
                let q = d.month0() / 3 + 1;
                match n {
                    1 | 2 => pad(&mut out, q as i64, n),
                    3 => out.push_str(&format!("Q{q}")),
                    _ => out.push_str(["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"][(q - 1) as usize]),
                }
            }
            'w' => pad(&mut out, us_week(d.date()).1, n),
            'W' => {
                let first = d.date().with_day(1).unwrap_or(d.date());
                let fd = first.weekday().num_days_from_sunday() as i64;
                pad(&mut out, (d.day() as i64 - 1 + fd) / 7 + 1, n)
            }
            'D' => pad(&mut out, d.ordinal() as i64, n),
            'd' => pad(&mut out, d.day() as i64, n),
            'F' => pad(&mut out, (d.day() as i64 - 1) / 7 + 1, n),
            'E' => {
                let name = DAYS[d.weekday().num_days_from_sunday() as usize];
                out.push_str(if n >= 4 { name } else { &name[..3] });
            }
            'e' | 'c' => {
                if n >= 3 {
                    let name = DAYS[d.weekday().num_days_from_sunday() as usize];
                    out.push_str(if n >= 4 { name } else { &name[..3] });
                } else {
                    pad(&mut out, d.weekday().num_days_from_sunday() as i64 + 1, n)
                }
            }
            'u' => pad(&mut out, d.weekday().number_from_monday() as i64, n),
            'a' => out.push_str(if d.hour() < 12 { "AM" } else { "PM" }),
            'H' => pad(&mut out, d.hour() as i64, n),
            'k' => pad(&mut out, if d.hour() == 0 { 24 } else { d.hour() as i64 }, n),
            'K' => pad(&mut out, (d.hour() % 12) as i64, n),
            'h' => pad(&mut out, if d.hour().is_multiple_of(12) { 12 } else { (d.hour() % 12) as i64 }, n),
            'm' => pad(&mut out, d.minute() as i64, n),
            's' => pad(&mut out, d.second() as i64, n),
            'S' => {
                let nanos = d.nanosecond() % 1_000_000_000;
                if dtf {
                    let digits = format!("{nanos:09}");
                    if n <= 9 {
                        out.push_str(&digits[..n]);
                    } else {
                        out.push_str(&digits);
                        for _ in 9..n {
                            out.push('0');
                        }
                    }
                } else {
                    pad(&mut out, (nanos / 1_000_000) as i64, n);
                }
            }
            'n' => pad(&mut out, (d.nanosecond() % 1_000_000_000) as i64, n),
            'A' => pad(&mut out, d.num_seconds_from_midnight() as i64 * 1000 + (d.nanosecond() / 1_000_000) as i64, n),
            'N' => pad(
                &mut out,
                d.num_seconds_from_midnight() as i64 * 1_000_000_000 + (d.nanosecond() % 1_000_000_000) as i64,
                n,
            ),
            'z' => {
                if n >= 4 {
                    out.push_str(long_zone_name(&p.abbrev).unwrap_or(&p.abbrev));
                } else {
                    out.push_str(&p.abbrev);
                }
            }
            'V' => out.push_str(&p.zone_id),
            'Z' => {
                if !dtf || n <= 3 {
                    offset_text(&mut out, p.offset, false, true, false);
                } else if n == 4 {
                    out.push_str(&fixed_name(p.offset));
                } else {
                    offset_text(&mut out, p.offset, true, true, true);
                }
            }
            'O' => {
                if p.offset == 0 {
                    out.push_str("GMT");
                } else {
                    out.push_str("GMT");
                    if n >= 4 {
                        offset_text(&mut out, p.offset, true, true, false);
                    } else {
                        out.push(if p.offset < 0 { '-' } else { '+' });
                        let a = p.offset.unsigned_abs();
                        out.push_str(&(a / 3600).to_string());
                        if !a.is_multiple_of(3600) {
                            out.push(':');
                            pad(&mut out, ((a % 3600) / 60) as i64, 2);
                        }
                    }
                }
            }
            'X' | 'x' => {
                let z = c == 'X';
                match n {
                    1 => offset_text(&mut out, p.offset, false, false, z),
                    2 | 4 => offset_text(&mut out, p.offset, false, true, z),
                    _ => offset_text(&mut out, p.offset, true, true, z),
                }
            }
            _ => {}
        }
    }
    out
}

/// Format epoch millis with a `SimpleDateFormat` pattern in `zone`.
pub fn format_millis(ms: i64, pattern: &str, zone: &Zone) -> Result<String, ElError> {
    let items = compile_pattern(pattern, false)?;
    Ok(format_parts(&parts(ms as i128 * 1_000_000, zone)?, &items, false))
}

/// Format epoch nanos with a `DateTimeFormatter` pattern in `zone`.
pub fn format_nanos(ns: i128, pattern: &str, zone: &Zone) -> Result<String, ElError> {
    let items = compile_pattern(pattern, true)?;
    Ok(format_parts(&parts(ns, zone)?, &items, true))
}

/// Java `Date.toString()`: `EEE MMM dd HH:mm:ss zzz yyyy` in the default zone.
pub fn java_date_to_string(ms: i64, env: &EvalEnv) -> String {
    format_millis(ms, "EEE MMM dd HH:mm:ss zzz yyyy", env.zone()).unwrap_or_else(|_| ms.to_string())
}

/// Java `Instant.toString()`: ISO-8601 in UTC, fraction in groups of three digits.
pub fn instant_to_string(ns: i128) -> String {
    let Ok(p) = parts(ns, &Zone::Named(Tz::UTC)) else {
        return ns.to_string();
    };
    let d = p.dt;
    let mut s = String::with_capacity(30);
    let y = d.year() as i64;
    if y > 9999 {
        s.push('+');
    }
    pad(&mut s, y, 4);
    s.push_str(&format!("-{:02}-{:02}T{:02}:{:02}:{:02}", d.month(), d.day(), d.hour(), d.minute(), d.second()));
    let nanos = d.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        if nanos % 1_000_000 == 0 {
            s.push_str(&format!(".{:03}", nanos / 1_000_000));
        } else if nanos % 1000 == 0 {
            s.push_str(&format!(".{:06}", nanos / 1000));
        } else {
            s.push_str(&format!(".{nanos:09}"));
        }
    }
    s.push('Z');
    s
}

fn match_name(input: &str, names: &[&str]) -> Option<(usize, usize)> {
    // full names first, then three-letter abbreviations, case-insensitive
    for (i, n) in names.iter().enumerate() {
        if input.len() >= n.len() && input.is_char_boundary(n.len()) && input[..n.len()].eq_ignore_ascii_case(n) {
            return Some((i, n.len()));
        }
    }
    for (i, n) in names.iter().enumerate() {
        if input.len() >= 3 && input.is_char_boundary(3) && input[..3].eq_ignore_ascii_case(&n[..3]) {
            return Some((i, 3));
        }
    }
    None
}

/// Common zone abbreviations accepted when parsing `z`.
const ZONE_ABBREVS: &[(&str, i32)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("UT", 0),
    ("Z", 0),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("HST", -10 * 3600),
    ("CET", 3600),
    ("CEST", 2 * 3600),
    ("EET", 2 * 3600),
    ("EEST", 3 * 3600),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("IST", 5 * 3600 + 1800),
    ("JST", 9 * 3600),
    ("KST", 9 * 3600),
    ("AEST", 10 * 3600),
    ("AEDT", 11 * 3600),
];

/// Parse a zone at the start of `input`; returns (offset secs, bytes consumed).
fn parse_zone_prefix(input: &str) -> Option<(i32, usize)> {
    for prefix in ["GMT", "UTC"] {
        if input.len() >= 3 && input.is_char_boundary(3) && input[..3].eq_ignore_ascii_case(prefix) {
            let rest = &input[3..];
            if let Some((off, len)) = parse_offset_prefix(rest) {
                return Some((off, 3 + len));
            }
            return Some((0, 3));
        }
    }
    if let Some(r) = parse_offset_prefix(input) {
        return Some(r);
    }
    if input.starts_with('Z') {
        return Some((0, 1));
    }
    let mut best: Option<(i32, usize)> = None;
    for (name, off) in ZONE_ABBREVS {
        if input.len() >= name.len()
            && input.is_char_boundary(name.len())
            && input[..name.len()].eq_ignore_ascii_case(name)
            && best.is_none_or(|(_, l)| name.len() > l)
        {
            best = Some((*off, name.len()));
        }
    }
    best
}

fn parse_offset_prefix(input: &str) -> Option<(i32, usize)> {
    let b = input.as_bytes();
    if !matches!(b.first(), Some(b'+') | Some(b'-')) {
        return None;
    }
    let mut end = 1;
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b':') && end < 6 {
        end += 1;
    }
    // try longest candidate first
    for len in (2..=end).rev() {
        if let Some(off) = parse_offset(&input[..len]) {
            return Some((off, len));
        }
    }
    None
}

#[derive(Default)]
struct Fields {
    year: Option<i64>,
    two_digit_year: bool,
    month: Option<i64>,
    day: Option<i64>,
    doy: Option<i64>,
    hour24: Option<i64>,
    hour12: Option<(i64, bool)>, // (value, is_h_field)
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nanos: Option<i64>,
    offset: Option<i32>,
    zone: Option<Zone>,
}

/// Parse `text` with a date pattern. SDF mode (`dtf == false`) is lenient and ignores trailing
/// text, like `SimpleDateFormat.parse`; DTF mode requires the whole text to match.
/// Returns epoch nanos.
pub fn parse_date(text: &str, pattern: &str, zone: &Zone, dtf: bool, now_ms: i64) -> Result<i128, ElError> {
    let items = compile_pattern(pattern, dtf)?;
    let fail = || {
        ElError::eval(format!(
            "Cannot parse attribute value as a date; date format: {pattern}; attribute value: {text}"
        ))
    };
    let mut f = Fields::default();
    let mut pos = 0usize;
    for (idx, it) in items.iter().enumerate() {
        let rest = &text[pos..];
        match it {
            Item::Lit(l) => {
                if rest.starts_with(l.as_str()) {
                    pos += l.len();
                } else if !dtf && l.trim().is_empty() && rest.starts_with(char::is_whitespace) {
                    // lenient whitespace
                    let ws = rest.len() - rest.trim_start().len();
                    pos += ws;
                } else {
                    return Err(fail());
                }
            }
            Item::Field(c, n) => {
                let (c, n) = (*c, *n);
                if is_numeric_field(c, n, dtf) {
                    let abutting =
                        matches!(items.get(idx + 1), Some(Item::Field(nc, nn)) if is_numeric_field(*nc, *nn, dtf));
                    let b = rest.as_bytes();
                    let mut len = 0;
                    let neg = !abutting && matches!(c, 'y' | 'u' | 'Y') && b.first() == Some(&b'-');
                    if neg {
                        len = 1;
                    }
                    let max =
                        if abutting || (dtf && matches!(c, 'H' | 'm' | 's' | 'd' | 'M' | 'h' | 'k' | 'K') && n == 2) {
                            n + len
                        } else {
                            usize::MAX
                        };
                    while len < b.len() && len < max && b[len].is_ascii_digit() {
                        len += 1;
                    }
                    let digits = &rest[usize::from(neg)..len];
                    if digits.is_empty() || digits.len() > 18 {
                        return Err(fail());
                    }
                    let mut v: i64 = digits.parse().map_err(|_| fail())?;
                    if neg {
                        v = -v;
                    }
                    pos += len;
                    match c {
                        'y' | 'Y' | 'u' if c != 'u' || dtf => {
                            f.year = Some(v);
                            f.two_digit_year = n <= 2 && digits.len() == 2 && !neg;
                        }
                        'M' | 'L' => f.month = Some(v),
                        'd' => f.day = Some(v),
                        'D' => f.doy = Some(v),
                        'H' => f.hour24 = Some(v),
                        'k' => f.hour24 = Some(if v == 24 { 0 } else { v }),
                        'h' => f.hour12 = Some((v, true)),
                        'K' => f.hour12 = Some((v, false)),
                        'm' => f.minute = Some(v),
                        's' => f.second = Some(v),
                        'S' => {
                            f.nanos = Some(if dtf {
                                let mut s = digits.to_string();
                                s.truncate(9);
                                while s.len() < 9 {
                                    s.push('0');
                                }
                                s.parse().map_err(|_| fail())?
                            } else {
                                v.saturating_mul(1_000_000)
                            })
                        }
                        'n' => f.nanos = Some(v),
                        'A' => {
                            f.hour24 = Some(v / 3_600_000);
                            f.minute = Some(v / 60_000 % 60);
                            f.second = Some(v / 1000 % 60);
                            f.nanos = Some(v % 1000 * 1_000_000);
                        }
                        _ => {} // week fields, day-of-week numbers: parsed and ignored
                    }
                } else {
                    match c {
                        'M' | 'L' => {
                            let (i, l) = match_name(rest, &MONTHS).ok_or_else(fail)?;
                            f.month = Some(i as i64 + 1);
                            pos += l;
                        }
                        'E' | 'e' | 'c' => {
                            let (_, l) = match_name(rest, &DAYS).ok_or_else(fail)?;
                            pos += l;
                        }
                        'a' => {
                            if rest.len() >= 2 && rest.is_char_boundary(2) && rest[..2].eq_ignore_ascii_case("AM") {
                                f.pm = Some(false);
                            } else if rest.len() >= 2
                                && rest.is_char_boundary(2)
                                && rest[..2].eq_ignore_ascii_case("PM")
                            {
                                f.pm = Some(true);
                            } else {
                                return Err(fail());
                            }
                            pos += 2;
                        }
                        'G' if rest.len() >= 2
                            && rest.is_char_boundary(2)
                            && (rest[..2].eq_ignore_ascii_case("AD") || rest[..2].eq_ignore_ascii_case("BC")) =>
                        {
                            pos += 2;
                        }
                        'V' => {
                            let end = rest.find(|ch: char| ch.is_whitespace()).unwrap_or(rest.len());
                            let z = Zone::try_parse(&rest[..end]).ok_or_else(fail)?;
                            f.zone = Some(z);
                            pos += end;
                        }
                        'z' | 'Z' | 'X' | 'x' | 'O' => {
                            let (off, l) = parse_zone_prefix(rest).ok_or_else(fail)?;
                            f.offset = Some(off);
                            pos += l;
                        }
                        'Q' | 'q' => {
                            let l = rest.bytes().take_while(|b| b.is_ascii_alphanumeric()).count();
                            pos += l.max(1).min(rest.len());
                        }
                        _ => return Err(fail()),
                    }
                }
            }
        }
    }
    if dtf && pos != text.len() {
        return Err(fail());
    }
    // two-digit years: SimpleDateFormat window (80 years back, 20 ahead); DTF base 2000
    let mut year = f.year.unwrap_or(1970);
    if f.two_digit_year {
        if dtf {
            year += 2000;
        } else {
            let now_year = DateTime::from_timestamp_millis(now_ms).map(|d| d.year() as i64).unwrap_or(2000);
            let start = now_year - 80;
            let mut y = start.div_euclid(100) * 100 + year;
            if y < start {
                y += 100;
            }
            year = y;
        }
    }
    if !(-200_000..=200_000).contains(&year) {
        return Err(fail());
    }
    let month = f.month.unwrap_or(1) - 1;
    let y = year + month.div_euclid(12);
    let base = NaiveDate::from_ymd_opt(y as i32, (month.rem_euclid(12) + 1) as u32, 1).ok_or_else(fail)?;
    let date = match f.doy {
        Some(doy) => NaiveDate::from_ymd_opt(year as i32, 1, 1)
            .ok_or_else(fail)?
            .checked_add_signed(Duration::try_days(doy - 1).ok_or_else(fail)?),
        None => base.checked_add_signed(Duration::try_days(f.day.unwrap_or(1) - 1).ok_or_else(fail)?),
    }
    .ok_or_else(fail)?;
    let mut hour = match (f.hour24, f.hour12) {
        (Some(h), _) => h,
        (None, Some((h, is_h))) => {
            if is_h && h == 12 {
                0
            } else {
                h
            }
        }
        (None, None) => 0,
    };
    if f.hour24.is_none() && f.pm == Some(true) {
        hour += 12;
    }
    let secs = hour
        .checked_mul(3600)
        .and_then(|h| h.checked_add(f.minute.unwrap_or(0).checked_mul(60)?))
        .and_then(|s| s.checked_add(f.second.unwrap_or(0)))
        .ok_or_else(fail)?;
    let local = date
        .and_hms_opt(0, 0, 0)
        .ok_or_else(fail)?
        .checked_add_signed(Duration::try_seconds(secs).ok_or_else(fail)?)
        .and_then(|d| d.checked_add_signed(Duration::nanoseconds(f.nanos.unwrap_or(0))))
        .ok_or_else(fail)?;
    let utc = match (f.offset, &f.zone) {
        (Some(off), _) => local.checked_sub_signed(Duration::seconds(off as i64)),
        (None, Some(z)) => z.local_to_utc(&local),
        (None, None) => zone.local_to_utc(&local),
    }
    .ok_or_else(fail)?
    .and_utc();
    Ok(utc.timestamp() as i128 * 1_000_000_000 + utc.timestamp_subsec_nanos() as i128)
}

static DATE_TO_STRING_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:[a-zA-Z]{3} ){2}\d{2} \d{2}:\d{2}:\d{2} (?:.*?) \d{4}$").expect("valid regex")
});
static ALT_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d{3})?$").expect("valid regex"));

/// NiFi DateCastEvaluator for strings (value already trimmed). Returns epoch millis.
pub fn implicit_string_to_date(s: &str, env: &EvalEnv) -> Result<i64, ElError> {
    if DATE_TO_STRING_RE.is_match(s) {
        let ns = parse_date(s, "EEE MMM dd HH:mm:ss zzz yyyy", env.zone(), false, env.now_millis())?;
        return Ok(ns.div_euclid(1_000_000) as i64);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| ElError::eval(format!("Could not implicitly convert input to DATE: {s}")));
    }
    if let Some(c) = ALT_RE.captures(s) {
        let fmt = if c.get(1).is_some() { "yyyy/MM/dd HH:mm:ss.SSS" } else { "yyyy/MM/dd HH:mm:ss" };
        let ns = parse_date(s, fmt, env.zone(), false, env.now_millis())?;
        return Ok(ns.div_euclid(1_000_000) as i64);
    }
    Err(ElError::eval(format!("Could not implicitly convert input to DATE: {s}")))
}

/// NiFi InstantCastEvaluator for strings: epoch millis digits or an ISO-8601 instant.
pub fn implicit_string_to_instant(s: &str, env: &EvalEnv) -> Result<i128, ElError> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 =
            s.parse().map_err(|_| ElError::eval(format!("Could not implicitly convert input to INSTANT: {s}")))?;
        return Ok(ms as i128 * 1_000_000);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp() as i128 * 1_000_000_000 + dt.timestamp_subsec_nanos() as i128);
    }
    implicit_string_to_date(s, env).map(|ms| ms as i128 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::Named(Tz::UTC)
    }

    #[test]
    fn format_basic() {
        let ms = 1403620278642;
        assert_eq!(format_millis(ms, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", &utc()).unwrap(), "2014-06-24T14:31:18.642Z");
        assert_eq!(format_millis(ms, "EEE MMM dd HH:mm:ss zzz yyyy", &utc()).unwrap(), "Tue Jun 24 14:31:18 UTC 2014");
        let ny = Zone::parse("America/New_York");
        assert_eq!(format_millis(ms, "yyyy/MM/dd HH:mm:ss Z z", &ny).unwrap(), "2014/06/24 10:31:18 -0400 EDT");
        assert_eq!(format_millis(ms, "D h a EEEE MMMM yy", &utc()).unwrap(), "175 2 PM Tuesday June 14");
        assert_eq!(format_millis(0, "X XX XXX", &Zone::parse("GMT+05:30")).unwrap(), "+0530 +0530 +05:30");
    }

    #[test]
    fn parse_basic() {
        let ns = parse_date(
            "2013/11/18 10:22:27.678",
            "yyyy/MM/dd HH:mm:ss.SSS",
            &Zone::parse("America/New_York"),
            false,
            0,
        )
        .unwrap();
        assert_eq!(ns / 1_000_000, 1384788147678);
        let ns = parse_date("20130917162643", "yyyyMMddHHmmss", &utc(), false, 0).unwrap();
        assert_eq!(
            format_millis((ns / 1_000_000) as i64, "yyyy/MM/dd HH:mm:ss", &utc()).unwrap(),
            "2013/09/17 16:26:43"
        );
        let ns = parse_date("10may2004", "ddMMMyyyy", &utc(), false, 0).unwrap();
        assert_eq!(format_millis((ns / 1_000_000) as i64, "yyyy/MM/dd", &utc()).unwrap(), "2004/05/10");
        assert!(parse_date("abc", "yyyy", &utc(), false, 0).is_err());
        assert!(compile_pattern("yyyy-bb", false).is_err());
    }

    #[test]
    fn zones() {
        assert_eq!(Zone::parse("Nowhere/Special"), Zone::Named(Tz::GMT));
        assert_eq!(Zone::parse("GMT-8").id(), "GMT-08:00");
        assert_eq!(Zone::parse("PST"), Zone::Named(Tz::America__Los_Angeles));
    }

    #[test]
    fn instant_text() {
        assert_eq!(instant_to_string(1403620278642 * 1_000_000), "2014-06-24T14:31:18.642Z");
        assert_eq!(instant_to_string(0), "1970-01-01T00:00:00Z");
    }
}
