//! NiFi-style durations ("30 sec", "5 mins", "100 ms") and data sizes ("1 GB", "10 KB").

use std::time::Duration;

/// Parses a NiFi time period such as `30 sec`, `5 mins`, `100 ms`, `1 hour`, `2 days`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a time period: expected a number and a unit, like '30 sec'"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let secs = match unit.as_str() {
        "ns" | "nanos" | "nanosecond" | "nanoseconds" => value / 1e9,
        "ms" | "millis" | "millisecond" | "milliseconds" => value / 1e3,
        "s" | "sec" | "secs" | "second" | "seconds" => value,
        "" if value == 0.0 => 0.0,
        "m" | "min" | "mins" | "minute" | "minutes" => value * 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => value * 3600.0,
        "d" | "day" | "days" => value * 86400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => value * 7.0 * 86400.0,
        _ => return Err(format!("'{text}' has an unknown time unit '{unit}' (use ms, sec, mins, hours, days)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}' is not a valid time period"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes a duration as NiFi does: `0 sec`, `30 sec`, `5 mins`, `100 ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0 sec".into()
    } else if ms.is_multiple_of(86_400_000) {
        plural(ms / 86_400_000, "day")
    } else if ms.is_multiple_of(3_600_000) {
        plural(ms / 3_600_000, "hour")
    } else if ms.is_multiple_of(60_000) {
        format!("{} min{}", ms / 60_000, if ms / 60_000 == 1 { "" } else { "s" })
    } else if ms.is_multiple_of(1000) {
        format!("{} sec", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn plural(n: u128, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Parses a data size such as `1 GB`, `10 KB`, `512 B`, `1.5 MB` (binary multiples, as NiFi).
pub fn parse_data_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 =
        num.parse().map_err(|_| format!("'{text}' is not a data size: expected a number and a unit, like '1 GB'"))?;
    let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" | "BYTES" | "" => 1.0,
        "KB" | "K" | "KIB" => 1024.0,
        "MB" | "M" | "MIB" => 1024.0 * 1024.0,
        "GB" | "G" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "T" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("'{text}' has an unknown size unit '{other}' (use B, KB, MB, GB, TB)")),
    };
    let v = value * mult;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{text}' is not a valid data size"));
    }
    Ok(v as u64)
}

/// Writes a data size as NiFi does, in the largest whole unit: `1 GB`, `10 KB`, `100 B`.
pub fn format_data_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    for (name, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {name}", bytes / size);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_nifi_words() {
        for (text, ms) in [
            ("0 sec", 0),
            ("30 sec", 30_000),
            ("5 mins", 300_000),
            ("100 ms", 100),
            ("1 hour", 3_600_000),
            ("2 days", 172_800_000),
        ] {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(ms), "{text}");
            assert_eq!(format_duration(Duration::from_millis(ms)), text);
        }
        assert_eq!(parse_duration("1.5 secs").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("ten sec").unwrap_err().contains("ten sec"));
        assert!(parse_duration("10 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn data_sizes_round_trip() {
        assert_eq!(parse_data_size("1 GB").unwrap(), 1 << 30);
        assert_eq!(parse_data_size("10 KB").unwrap(), 10 << 10);
        assert_eq!(parse_data_size("512 B").unwrap(), 512);
        assert_eq!(format_data_size(1 << 30), "1 GB");
        assert_eq!(format_data_size(1000), "1000 B");
        assert!(parse_data_size("1 XB").is_err());
    }
}
