//! Environment-dependent and miscellaneous functions: `UUID`/`UUID3`/`UUID5`, `hash`,
//! `hostname`, `ip`, `random`, `nextInt`, `getUri`.

use std::sync::atomic::{AtomicI64, Ordering};

use md5::Digest;

use crate::error::ElError;

fn random_bits() -> u64 {
    let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
    a ^ b.rotate_left(17)
}

/// A uniformly distributed double in `[0, 1)`.
pub fn random_f64() -> f64 {
    (random_bits() >> 11) as f64 / (1u64 << 53) as f64
}

/// NiFi `random()`: a non-negative random long.
pub fn random_long() -> i64 {
    (random_bits() >> 1) as i64
}

static SEQUENCE: AtomicI64 = AtomicI64::new(0);

/// NiFi `nextInt()`: a process-wide one-up counter starting at 0.
pub fn next_int() -> i64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// Random number in `[min, max]` for `repeat(min, max)`.
pub fn random_between(min: i64, max: i64) -> i64 {
    let span = (max as i128 - min as i128 + 1) as u128;
    (min as i128 + (random_bits() as u128 % span) as i128) as i64
}

/// NiFi `UUID3`/`UUID5`: name-based UUID of `name` in `namespace` (no namespace bytes when
/// the namespace is null).
pub fn uuid_named(name: &str, namespace: Option<&str>, v5: bool) -> Result<String, ElError> {
    let ns_bytes: Vec<u8> = match namespace {
        Some(ns) => uuid::Uuid::parse_str(ns.trim())
            .map_err(|e| ElError::eval(format!("invalid UUID namespace '{ns}': {e}")))?
            .as_bytes()
            .to_vec(),
        None => Vec::new(),
    };
    let mut bytes = [0u8; 16];
    if v5 {
        let mut h = sha1::Sha1::new();
        h.update(&ns_bytes);
        h.update(name.as_bytes());
        bytes.copy_from_slice(&h.finalize()[..16]);
    } else {
        let mut h = md5::Md5::new();
        h.update(&ns_bytes);
        h.update(name.as_bytes());
        bytes.copy_from_slice(&h.finalize());
    }
    let version: u8 = if v5 { 0x50 } else { 0x30 };
    bytes[6] = (bytes[6] & 0x0f) | version;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// NiFi `hash(algorithm)`: lowercase hex digest of the UTF-8 bytes.
pub fn hash(value: &str, algorithm: &str) -> Result<String, ElError> {
    let d = value.as_bytes();
    Ok(match algorithm.to_ascii_uppercase().as_str() {
        "MD5" => hex(&md5::Md5::digest(d)),
        "SHA-1" | "SHA1" | "SHA" => hex(&sha1::Sha1::digest(d)),
        "SHA-224" => hex(&sha2::Sha224::digest(d)),
        "SHA-256" => hex(&sha2::Sha256::digest(d)),
        "SHA-384" => hex(&sha2::Sha384::digest(d)),
        "SHA-512" => hex(&sha2::Sha512::digest(d)),
        "SHA-512/224" => hex(&sha2::Sha512_224::digest(d)),
        "SHA-512/256" => hex(&sha2::Sha512_256::digest(d)),
        _ => {
            return Err(ElError::eval(format!("hash: {algorithm} MessageDigest not available")));
        }
    })
}

/// The local host name (NiFi `hostname()`).
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The local host's IP address (NiFi `ip()`), resolved from the host name.
pub fn ip() -> String {
    use std::net::ToSocketAddrs;
    (hostname().as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| {
            let all: Vec<_> = it.by_ref().collect();
            all.iter().find(|a| a.is_ipv4()).or_else(|| all.first()).map(|a| a.ip().to_string())
        })
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// Percent-encode characters not allowed in a URI component (like `java.net.URI`'s quoting).
fn quote(s: &str, extra_allowed: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "_-!.~'()*,;:$&+=".contains(c) || extra_allowed.contains(c) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// NiFi `getUri(scheme, userInfo, host, port, path, query, fragment)` (`java.net.URI`).
pub fn get_uri(parts: [Option<String>; 7], port: Option<i64>, port_text: Option<&str>) -> Result<String, ElError> {
    let [scheme, user, host, _, path, query, fragment] = parts;
    if port.is_none()
        && let Some(t) = port_text
    {
        return Err(ElError::eval(format!(
            "Could not evaluate 'getUri' function with argument '{t}' which is not a number"
        )));
    }
    let mut out = String::new();
    if let Some(s) = scheme {
        out.push_str(&s);
        out.push(':');
    }
    if host.is_some() || user.is_some() {
        out.push_str("//");
        if let Some(u) = user {
            out.push_str(&quote(&u, ""));
            out.push('@');
        }
        if let Some(h) = host {
            out.push_str(&h);
        }
        if let Some(p) = port.filter(|p| *p >= 0) {
            out.push(':');
            out.push_str(&p.to_string());
        }
    }
    if let Some(p) = path {
        out.push_str(&quote(&p, "/@"));
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(&quote(&q, "/?@"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&quote(&f, "/?@"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_match_nifi() {
        assert_eq!(
            uuid_named("u5IkOYFFvYioYBJSNI2XNjPaVoRjXYnr", Some("b9e81de3-7047-4b5e-a822-8fff5b49f808"), false)
                .unwrap(),
            "7ab88cc4-7748-3214-812a-1bc4500a911a"
        );
        assert_eq!(
            uuid_named("u5IkOYFFvYioYBJSNI2XNjPaVoRjXYnr", Some("245b55a8-397d-4480-a41e-16603c8cf9ad"), true).unwrap(),
            "74f6dc12-6d84-500c-9583-e9fed79912ea"
        );
    }

    #[test]
    fn hashes() {
        assert_eq!(hash("john", "MD5").unwrap(), "527bd5b5d689e2c32ae974c6229ff785");
        assert_eq!(hash("string value", "SHA-1").unwrap(), "34990db823e7bb2b47278a7fbf08c62d9e8e4307");
        assert!(hash("x", "NOT_A_ALGO").is_err());
    }

    #[test]
    fn uri() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            get_uri(
                [
                    s("https"),
                    s("admin:admin"),
                    s("nifi.apache.org"),
                    None,
                    s("/path/data "),
                    s("key=value &key2=value2"),
                    s("frag1")
                ],
                Some(1234),
                None
            )
            .unwrap(),
            "https://admin:admin@nifi.apache.org:1234/path/data%20?key=value%20&key2=value2#frag1"
        );
    }
}
