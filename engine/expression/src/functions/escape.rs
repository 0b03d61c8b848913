//! Escaping/unescaping compatible with Apache commons-text `StringEscapeUtils`
//! (`escapeJson`, `escapeXml10`, `escapeCsv`, `escapeHtml3`, `escapeHtml4` and inverses).

/// ISO-8859-1 entities (code points 160..=255), as in HTML 3.2.
const ISO8859_1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo", "not", "shy",
    "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil", "sup1", "ordm",
    "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig",
    "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
    "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN",
    "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc",
    "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml",
    "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
];

/// HTML 4.0 extended entities (beyond ISO-8859-1).
const HTML40_EXTENDED: &[(u32, &str)] = &[
    (402, "fnof"),
    (913, "Alpha"),
    (914, "Beta"),
    (915, "Gamma"),
    (916, "Delta"),
    (917, "Epsilon"),
    (918, "Zeta"),
    (919, "Eta"),
    (920, "Theta"),
    (921, "Iota"),
    (922, "Kappa"),
    (923, "Lambda"),
    (924, "Mu"),
    (925, "Nu"),
    (926, "Xi"),
    (927, "Omicron"),
    (928, "Pi"),
    (929, "Rho"),
    (931, "Sigma"),
    (932, "Tau"),
    (933, "Upsilon"),
    (934, "Phi"),
    (935, "Chi"),
    (936, "Psi"),
    (937, "Omega"),
    (945, "alpha"),
    (946, "beta"),
    (947, "gamma"),
    (948, "delta"),
    (949, "epsilon"),
    (950, "zeta"),
    (951, "eta"),
    (952, "theta"),
    (953, "iota"),
    (954, "kappa"),
    (955, "lambda"),
    (956, "mu"),
    (957, "nu"),
    (958, "xi"),
    (959, "omicron"),
    (960, "pi"),
    (961, "rho"),
    (962, "sigmaf"),
    (963, "sigma"),
    (964, "tau"),
    (965, "upsilon"),
    (966, "phi"),
    (967, "chi"),
    (968, "psi"),
    (969, "omega"),
    (977, "thetasym"),
    (978, "upsih"),
    (982, "piv"),
    (8226, "bull"),
    (8230, "hellip"),
    (8242, "prime"),
    (8243, "Prime"),
    (8254, "oline"),
    (8260, "frasl"),
    (8472, "weierp"),
    (8465, "image"),
    (8476, "real"),
    (8482, "trade"),
    (8501, "alefsym"),
    (8592, "larr"),
    (8593, "uarr"),
    (8594, "rarr"),
    (8595, "darr"),
    (8596, "harr"),
    (8629, "crarr"),
    (8656, "lArr"),
    (8657, "uArr"),
    (8658, "rArr"),
    (8659, "dArr"),
    (8660, "hArr"),
    (8704, "forall"),
    (8706, "part"),
    (8707, "exist"),
    (8709, "empty"),
    (8711, "nabla"),
    (8712, "isin"),
    (8713, "notin"),
    (8715, "ni"),
    (8719, "prod"),
    (8721, "sum"),
    (8722, "minus"),
    (8727, "lowast"),
    (8730, "radic"),
    (8733, "prop"),
    (8734, "infin"),
    (8736, "ang"),
    (8743, "and"),
    (8744, "or"),
    (8745, "cap"),
    (8746, "cup"),
    (8747, "int"),
    (8756, "there4"),
    (8764, "sim"),
    (8773, "cong"),
    (8776, "asymp"),
    (8800, "ne"),
    (8801, "equiv"),
    (8804, "le"),
    (8805, "ge"),
    (8834, "sub"),
    (8835, "sup"),
    (8836, "nsub"),
    (8838, "sube"),
    (8839, "supe"),
    (8853, "oplus"),
    (8855, "otimes"),
    (8869, "perp"),
    (8901, "sdot"),
    (8968, "lceil"),
    (8969, "rceil"),
    (8970, "lfloor"),
    (8971, "rfloor"),
    (9001, "lang"),
    (9002, "rang"),
    (9674, "loz"),
    (9824, "spades"),
    (9827, "clubs"),
    (9829, "hearts"),
    (9830, "diams"),
    (338, "OElig"),
    (339, "oelig"),
    (352, "Scaron"),
    (353, "scaron"),
    (376, "Yuml"),
    (710, "circ"),
    (732, "tilde"),
    (8194, "ensp"),
    (8195, "emsp"),
    (8201, "thinsp"),
    (8204, "zwnj"),
    (8205, "zwj"),
    (8206, "lrm"),
    (8207, "rlm"),
    (8211, "ndash"),
    (8212, "mdash"),
    (8216, "lsquo"),
    (8217, "rsquo"),
    (8218, "sbquo"),
    (8220, "ldquo"),
    (8221, "rdquo"),
    (8222, "bdquo"),
    (8224, "dagger"),
    (8225, "Dagger"),
    (8240, "permil"),
    (8249, "lsaquo"),
    (8250, "rsaquo"),
    (8364, "euro"),
];

fn basic_entity(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "quot",
        '&' => "amp",
        '<' => "lt",
        '>' => "gt",
        _ => return None,
    })
}

fn entity_for(c: char, html4: bool) -> Option<&'static str> {
    if let Some(e) = basic_entity(c) {
        return Some(e);
    }
    let cp = c as u32;
    if (160..=255).contains(&cp) {
        return Some(ISO8859_1[(cp - 160) as usize]);
    }
    if html4 {
        return HTML40_EXTENDED.iter().find(|(p, _)| *p == cp).map(|(_, n)| *n);
    }
    None
}

fn char_for_entity(name: &str, html4: bool) -> Option<char> {
    match name {
        "quot" => return Some('"'),
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        _ => {}
    }
    if let Some(i) = ISO8859_1.iter().position(|n| *n == name) {
        return char::from_u32(160 + i as u32);
    }
    if html4 {
        return HTML40_EXTENDED.iter().find(|(_, n)| *n == name).and_then(|(p, _)| char::from_u32(*p));
    }
    None
}

/// `StringEscapeUtils.escapeHtml3` / `escapeHtml4`.
pub fn escape_html(s: &str, html4: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match entity_for(c, html4) {
            Some(e) => {
                out.push('&');
                out.push_str(e);
                out.push(';');
            }
            None => out.push(c),
        }
    }
    out
}

/// Decode `&name;`, `&#NN;`, `&#xHH;` using the given named-entity resolver.
fn unescape_entities(s: &str, named: impl Fn(&str) -> Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&semi| semi > 0 && semi <= 10).and_then(|semi| {
            let ent = &after[..semi];
            let ch = if let Some(num) = ent.strip_prefix('#') {
                let (digits, radix) = match num.strip_prefix(['x', 'X']) {
                    Some(h) => (h, 16),
                    None => (num, 10),
                };
                u32::from_str_radix(digits, radix).ok().and_then(char::from_u32)
            } else {
                named(ent)
            };
            ch.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `StringEscapeUtils.unescapeHtml3` / `unescapeHtml4`.
pub fn unescape_html(s: &str, html4: bool) -> String {
    unescape_entities(s, |n| char_for_entity(n, html4))
}

/// `StringEscapeUtils.escapeXml10`.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `StringEscapeUtils.unescapeXml`.
pub fn unescape_xml(s: &str) -> String {
    unescape_entities(s, |n| match n {
        "quot" => Some('"'),
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        _ => None,
    })
}

const CSV_SPECIAL: [char; 4] = [',', '"', '\r', '\n'];

/// `StringEscapeUtils.escapeCsv`.
pub fn escape_csv(s: &str) -> String {
    if s.contains(CSV_SPECIAL) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// `StringEscapeUtils.unescapeCsv`.
pub fn unescape_csv(s: &str) -> String {
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return s.to_string();
    }
    let inner = &s[1..s.len() - 1];
    if inner.contains(CSV_SPECIAL) { inner.replace("\"\"", "\"") } else { s.to_string() }
}

/// `StringEscapeUtils.escapeJson`: escapes `"`, `\`, `/`, control characters and every
/// character outside printable ASCII as `\uXXXX`.
pub fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 32 || (c as u32) > 0x7f => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04X}", u));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `StringEscapeUtils.unescapeJson` (= `unescapeJava`).
pub fn unescape_json(s: &str) -> String {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let push = |units: &mut Vec<u16>, c: char| {
        let mut buf = [0u16; 2];
        units.extend_from_slice(c.encode_utf16(&mut buf));
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            if c != '\\' {
                push(&mut units, c);
            }
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        match n {
            'u' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] == 'u' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == '+' {
                    j += 1;
                }
                let hex: String = chars.iter().skip(j).take(4).collect();
                match (hex.len() == 4).then(|| u16::from_str_radix(&hex, 16).ok()).flatten() {
                    Some(v) => {
                        units.push(v);
                        i = j + 4;
                    }
                    None => {
                        push(&mut units, '\\');
                        i += 1;
                    }
                }
            }
            '0'..='7' => {
                let mut j = i + 1;
                let max = if n <= '3' { 3 } else { 2 };
                let mut v = 0u16;
                while j < chars.len() && j < i + 1 + max && ('0'..='7').contains(&chars[j]) {
                    v = v * 8 + chars[j] as u16 - '0' as u16;
                    j += 1;
                }
                units.push(v);
                i = j;
            }
            'b' | 'f' | 'n' | 'r' | 't' => {
                push(
                    &mut units,
                    match n {
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        _ => '\t',
                    },
                );
                i += 2;
            }
            other => {
                // \\ \" \' and any other escaped character map to the character itself
                push(&mut units, other);
                i += 2;
            }
        }
    }
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nifi_examples() {
        assert_eq!(escape_json("making air \"QUOTES\"."), "making air \\\"QUOTES\\\".");
        assert_eq!(unescape_json("making air \\\"QUOTES\\\"."), "making air \"QUOTES\".");
        assert_eq!(escape_xml("M & M"), "M &amp; M");
        assert_eq!(unescape_xml("M &amp; M"), "M & M");
        assert_eq!(escape_csv("making air \"QUOTES\"."), "\"making air \"\"QUOTES\"\".\"");
        assert_eq!(unescape_csv("\"making air \"\"QUOTES\"\".\""), "making air \"QUOTES\".");
        assert_eq!(escape_html("special ¡", false), "special &iexcl;");
        assert_eq!(escape_html("special ♣", true), "special &clubs;");
        assert_eq!(unescape_html("special &iexcl;", false), "special ¡");
        assert_eq!(unescape_html("special &clubs;", true), "special ♣");
        assert_eq!(unescape_json("\\u00e9\\n"), "é\n");
        assert_eq!(escape_json("é"), "\\u00E9");
    }
}
