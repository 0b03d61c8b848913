//! Helpers for the processors that run external commands: argument splitting, process
//! groups (so a timeout kills the command and everything it started), and bounded capture
//! of an output stream.

use std::io::{self, Read};
use std::process::{Child, Command};

/// Splits an argument string on `delimiter`; double quotes group text containing the
/// delimiter (the quotes are removed). Empty arguments between delimiters are dropped.
pub fn split_args(text: &str, delimiter: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut had_quotes = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                had_quotes = true;
            }
            c if c == delimiter && !quoted => {
                if !cur.is_empty() || had_quotes {
                    out.push(std::mem::take(&mut cur));
                }
                had_quotes = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || had_quotes {
        out.push(cur);
    }
    out
}

/// Makes the command lead a new process group, so `kill_group` reaches its children too.
pub fn own_group(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
}

/// Kills the process group led by `child` (SIGKILL), or the child alone off Unix. The
/// caller must not have reaped the child (so its id still names its group).
pub fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group; it has no
            // memory-safety preconditions. The child is not reaped yet, so the group id
            // cannot have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Reads all of `r`, keeping at most `max` bytes (the rest is read and dropped, so the
/// writer never blocks on a full pipe). Returns the kept bytes and whether any were dropped.
pub fn read_bounded(mut r: impl Read, max: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut dropped = false;
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        dropped |= n > room;
    }
    Ok((kept, dropped))
}

/// Text of at most `max` characters (lossy UTF-8).
pub fn truncate_text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_quotes() {
        assert_eq!(split_args("-c;echo a;b", ';'), vec!["-c", "echo a", "b"]);
        assert_eq!(split_args(r#"-c;"echo a;b""#, ';'), vec!["-c", "echo a;b"]);
        assert_eq!(split_args("a  b", ' '), vec!["a", "b"]);
        assert_eq!(split_args(r#"x;"";y"#, ';'), vec!["x", "", "y"]);
        assert!(split_args("", ';').is_empty());
    }

    #[test]
    fn bounded_read_drains() {
        let data = vec![1u8; 100_000];
        let (kept, dropped) = read_bounded(&data[..], 10).unwrap();
        assert_eq!(kept.len(), 10);
        assert!(dropped);
        assert_eq!(truncate_text("héllo".as_bytes(), 2), "hé");
    }
}
