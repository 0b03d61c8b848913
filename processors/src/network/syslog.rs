//! A syslog message parser for RFC 5424 and RFC 3164 (BSD) messages, producing NiFi's
//! `syslog.*` attributes. Pure functions, no I/O; ListenSyslog uses it.

use std::sync::LazyLock;

use regex::Regex;

/// A parsed syslog message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyslogMessage {
    /// PRI (facility * 8 + severity).
    pub priority: u8,
    /// RFC 5424 version (None for RFC 3164).
    pub version: Option<String>,
    /// The timestamp as written (None when `-`).
    pub timestamp: Option<String>,
    /// The hostname (None when `-`).
    pub hostname: Option<String>,
    /// APP-NAME (RFC 5424), or the tag of an RFC 3164 message.
    pub appname: Option<String>,
    /// PROCID (RFC 5424), or the `[pid]` of an RFC 3164 tag.
    pub procid: Option<String>,
    /// MSGID (RFC 5424).
    pub messageid: Option<String>,
    /// Structured data: (`SD-ID.param`, value).
    pub structured_data: Vec<(String, String)>,
    /// The free-form message.
    pub body: String,
}

impl SyslogMessage {
    /// Severity (PRI mod 8).
    pub fn severity(&self) -> u8 {
        self.priority % 8
    }

    /// Facility (PRI / 8).
    pub fn facility(&self) -> u8 {
        self.priority / 8
    }

    /// NiFi's attributes: syslog.priority, .severity, .facility, .version, .timestamp,
    /// .hostname, .appname, .procid, .messageid, .structuredData.<id>.<param>, .body.
    pub fn attributes(&self) -> Vec<(String, String)> {
        let mut a = vec![
            ("syslog.priority".to_string(), self.priority.to_string()),
            ("syslog.severity".to_string(), self.severity().to_string()),
            ("syslog.facility".to_string(), self.facility().to_string()),
        ];
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.push((k.to_string(), v.clone()));
            }
        };
        opt("syslog.version", &self.version);
        opt("syslog.timestamp", &self.timestamp);
        opt("syslog.hostname", &self.hostname);
        opt("syslog.appname", &self.appname);
        opt("syslog.procid", &self.procid);
        opt("syslog.messageid", &self.messageid);
        for (k, v) in &self.structured_data {
            a.push((format!("syslog.structuredData.{k}"), v.clone()));
        }
        a.push(("syslog.body".to_string(), self.body.clone()));
        a
    }
}

static RFC3164: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)^((?:[A-Z][a-z]{2}\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2})|(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?))\s+(\S+)(?:\s(.*))?$",
    )
    .expect("valid regex")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)^([^\s\[\]:]{1,48})(?:\[([^\]\s]*)\])?:\s?").expect("valid regex"));
static RFC3339: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$").expect("valid regex")
});

/// Parses one message (trailing CR/LF/NUL ignored); None when it is not valid syslog.
pub fn parse(raw: &str) -> Option<SyslogMessage> {
    let raw = raw.trim_end_matches(['\r', '\n', '\0']);
    let rest = raw.strip_prefix('<')?;
    let close = rest.find('>')?;
    if close == 0 || close > 3 || !rest[..close].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let priority: u16 = rest[..close].parse().ok()?;
    if priority > 191 {
        return None;
    }
    let priority = priority as u8;
    let rest = &rest[close + 1..];
    // RFC 5424: a version (1-2 digits, not starting with 0) and a space follow PRI.
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=2).contains(&digits) && rest.as_bytes().get(digits) == Some(&b' ') && !rest.starts_with('0') {
        return parse_5424(priority, &rest[..digits], &rest[digits + 1..]);
    }
    parse_3164(priority, rest)
}

fn nil(v: &str) -> Option<String> {
    if v == "-" { None } else { Some(v.to_string()) }
}

fn parse_5424(priority: u8, version: &str, rest: &str) -> Option<SyslogMessage> {
    let mut parts = rest.splitn(6, ' ');
    let timestamp = parts.next()?;
    let hostname = parts.next()?;
    let appname = parts.next()?;
    let procid = parts.next()?;
    let msgid = parts.next()?;
    let tail = parts.next()?;
    if timestamp != "-" && !RFC3339.is_match(timestamp) {
        return None;
    }
    for (field, max) in [(hostname, 255), (appname, 48), (procid, 128), (msgid, 32)] {
        if field.is_empty() || field.len() > max || !field.bytes().all(|b| (33..=126).contains(&b)) {
            return None;
        }
    }
    let (structured_data, body) = parse_structured_data(tail)?;
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    Some(SyslogMessage {
        priority,
        version: Some(version.to_string()),
        timestamp: nil(timestamp),
        hostname: nil(hostname),
        appname: nil(appname),
        procid: nil(procid),
        messageid: nil(msgid),
        structured_data,
        body: body.to_string(),
    })
}

/// Parses STRUCTURED-DATA (`-` or `[id k="v" ...]...`) and returns it with the message after it.
fn parse_structured_data(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    if let Some(rest) = s.strip_prefix('-') {
        return match rest.strip_prefix(' ') {
            Some(body) => Some((Vec::new(), body)),
            None if rest.is_empty() => Some((Vec::new(), "")),
            None => None,
        };
    }
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() != Some(&b'[') {
        return None;
    }
    while b.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        while i < b.len() && b[i] != b' ' && b[i] != b']' {
            if b[i] == b'=' || b[i] == b'"' {
                return None;
            }
            i += 1;
        }
        let id = &s[id_start..i];
        if id.is_empty() {
            return None;
        }
        loop {
            match b.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => {
                    i += 1;
                    let name_start = i;
                    while i < b.len() && b[i] != b'=' {
                        if b[i] == b' ' || b[i] == b']' || b[i] == b'"' {
                            return None;
                        }
                        i += 1;
                    }
                    let name = &s[name_start..i];
                    if name.is_empty() || b.get(i + 1) != Some(&b'"') {
                        return None;
                    }
                    i += 2;
                    let mut value = String::new();
                    loop {
                        let c = *b.get(i)?;
                        match c {
                            b'\\' if matches!(b.get(i + 1), Some(b'"') | Some(b'\\') | Some(b']')) => {
                                value.push(b[i + 1] as char);
                                i += 2;
                            }
                            b'"' => {
                                i += 1;
                                break;
                            }
                            _ => {
                                // Copy one UTF-8 character.
                                let ch = s[i..].chars().next()?;
                                value.push(ch);
                                i += ch.len_utf8();
                            }
                        }
                    }
                    out.push((format!("{id}.{name}"), value));
                }
                _ => return None,
            }
        }
    }
    let body = match &s[i..] {
        "" => "",
        r => r.strip_prefix(' ')?,
    };
    Some((out, body))
}

fn parse_3164(priority: u8, rest: &str) -> Option<SyslogMessage> {
    let c = RFC3164.captures(rest)?;
    let timestamp = c.get(1)?.as_str().to_string();
    let hostname = c.get(2)?.as_str().to_string();
    let body = c.get(3).map(|m| m.as_str()).unwrap_or("").to_string();
    let (appname, procid) = match TAG.captures(&body) {
        Some(t) => (t.get(1).map(|m| m.as_str().to_string()), t.get(2).map(|m| m.as_str().to_string())),
        None => (None, None),
    };
    Some(SyslogMessage {
        priority,
        version: None,
        timestamp: Some(timestamp),
        hostname: Some(hostname),
        appname,
        procid,
        messageid: None,
        structured_data: Vec::new(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_full() {
        let m = parse(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" \
             eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] \u{feff}An application event",
        )
        .expect("valid");
        assert_eq!(m.priority, 165);
        assert_eq!(m.facility(), 20);
        assert_eq!(m.severity(), 5);
        assert_eq!(m.version.as_deref(), Some("1"));
        assert_eq!(m.timestamp.as_deref(), Some("2003-10-11T22:14:15.003Z"));
        assert_eq!(m.hostname.as_deref(), Some("mymachine.example.com"));
        assert_eq!(m.appname.as_deref(), Some("evntslog"));
        assert_eq!(m.procid, None);
        assert_eq!(m.messageid.as_deref(), Some("ID47"));
        assert_eq!(
            m.structured_data,
            vec![
                ("exampleSDID@32473.iut".to_string(), "3".to_string()),
                ("exampleSDID@32473.eventSource".into(), "Application".into()),
                ("exampleSDID@32473.eventID".into(), "1011".into()),
                ("examplePriority@32473.class".into(), "high".into()),
            ]
        );
        assert_eq!(m.body, "An application event");
    }

    #[test]
    fn rfc5424_nil_fields_and_escapes() {
        let m = parse("<34>1 - - su 1234 - [x a=\"q\\\"uo\\]te\\\\\"]").expect("valid");
        assert_eq!(m.timestamp, None);
        assert_eq!(m.hostname, None);
        assert_eq!(m.procid.as_deref(), Some("1234"));
        assert_eq!(m.structured_data, vec![("x.a".to_string(), "q\"uo]te\\".to_string())]);
        assert_eq!(m.body, "");
        let m = parse("<34>1 2003-10-11T22:14:15.003+02:00 host app - - - hello world\n").expect("valid");
        assert_eq!(m.body, "hello world");
    }

    #[test]
    fn rfc3164() {
        let m = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8").expect("valid");
        assert_eq!(m.priority, 34);
        assert_eq!(m.facility(), 4);
        assert_eq!(m.severity(), 2);
        assert_eq!(m.version, None);
        assert_eq!(m.timestamp.as_deref(), Some("Oct 11 22:14:15"));
        assert_eq!(m.hostname.as_deref(), Some("mymachine"));
        assert_eq!(m.appname.as_deref(), Some("su"));
        assert_eq!(m.body, "su: 'su root' failed for lonvick on /dev/pts/8");
        let m = parse("<13>Feb  5 17:32:18 10.0.0.99 sshd[4123]: Accepted publickey").expect("valid");
        assert_eq!(m.timestamp.as_deref(), Some("Feb  5 17:32:18"));
        assert_eq!(m.appname.as_deref(), Some("sshd"));
        assert_eq!(m.procid.as_deref(), Some("4123"));
    }

    #[test]
    fn invalid_messages() {
        for bad in [
            "",
            "hello",
            "<>1 - - - - - -",
            "<192>1 - - - - - -",
            "<1234>Oct 11 22:14:15 host x",
            "<13>not a timestamp host msg",
            "<13>1 yesterday host app - - -",
            "<13>1 - host app - - [broken",
            "<13>1 - host app - -",
            "<13>1 - host app - - x",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} should be invalid");
        }
    }
}
