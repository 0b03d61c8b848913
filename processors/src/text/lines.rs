//! Streaming line handling for the text processors. A line ends with `\n`, `\r\n` or a
//! lone `\r` (as NiFi's line demarcators); the last line may have no ending.

use std::io::{self, BufRead, Cursor, Write};

use bytes::Bytes;
use sluice_engine::{FlowFile, ProcessError, ProcessSession};

use super::common::BadInput;

/// Content of this size or less is processed in memory and written with one
/// `ProcessSession::write`; larger content is streamed.
pub const IN_MEMORY_LIMIT: u64 = 1024 * 1024;

/// A buffered reader over a flowfile's content: the cached bytes for content held in memory
/// (no copy), a 64 KiB buffered stream otherwise.
pub fn reader(session: &ProcessSession, ff: &FlowFile) -> Result<Box<dyn BufRead + Send>, ProcessError> {
    match ff.content.cached() {
        Some(b) => Ok(Box::new(Cursor::new(b))),
        None => Ok(Box::new(io::BufReader::with_capacity(64 * 1024, session.read(ff)?))),
    }
}

/// Reads the next line (with its ending) into `buf` (cleared first). Returns false at the
/// end of input. A line longer than `max` bytes is a `BadInput`.
pub fn read_line(src: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    buf.clear();
    loop {
        let chunk = src.fill_buf()?;
        if chunk.is_empty() {
            return Ok(!buf.is_empty());
        }
        match memchr::memchr2(b'\n', b'\r', chunk) {
            None => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                src.consume(n);
                check(buf, max)?;
            }
            Some(i) => {
                let is_cr = chunk[i] == b'\r';
                buf.extend_from_slice(&chunk[..=i]);
                src.consume(i + 1);
                if is_cr {
                    let next = src.fill_buf()?;
                    if next.first() == Some(&b'\n') {
                        buf.push(b'\n');
                        src.consume(1);
                    }
                }
                check(buf, max)?;
                return Ok(true);
            }
        }
    }
}

fn check(buf: &[u8], max: usize) -> io::Result<()> {
    if buf.len() > max {
        Err(BadInput(format!("a line is longer than the Maximum Buffer Size ({max} bytes)")).into())
    } else {
        Ok(())
    }
}

/// Splits a line into its text and its ending (`\r\n`, `\n`, `\r` or nothing).
pub fn split_eol(line: &[u8]) -> (&[u8], &[u8]) {
    let n = line.len();
    if line.ends_with(b"\r\n") {
        (&line[..n - 2], &line[n - 2..])
    } else if n > 0 && (line[n - 1] == b'\n' || line[n - 1] == b'\r') {
        (&line[..n - 1], &line[n - 1..])
    } else {
        (line, &[])
    }
}

/// What a line scan found: its length with the ending, the ending's length, and whether it
/// starts with a given prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Bytes including the line ending.
    pub len: u64,
    /// Bytes of the line ending (0, 1 or 2).
    pub eol: u64,
    /// Whether the line starts with the prefix given to `scan_line`.
    pub starts_with: bool,
}

/// Measures the next line without keeping it (bounded memory whatever its length).
pub fn scan_line(src: &mut dyn BufRead, prefix: &[u8]) -> io::Result<Option<LineInfo>> {
    let mut len = 0u64;
    let mut head: Vec<u8> = Vec::new();
    loop {
        let chunk = src.fill_buf()?;
        if chunk.is_empty() {
            return Ok((len > 0).then(|| LineInfo { len, eol: 0, starts_with: starts(&head, prefix) }));
        }
        let found = memchr::memchr2(b'\n', b'\r', chunk);
        let body = found.unwrap_or(chunk.len());
        if head.len() < prefix.len() {
            let take = (prefix.len() - head.len()).min(body);
            head.extend_from_slice(&chunk[..take]);
        }
        match found {
            None => {
                len += chunk.len() as u64;
                let n = chunk.len();
                src.consume(n);
            }
            Some(i) => {
                let is_cr = chunk[i] == b'\r';
                len += i as u64 + 1;
                src.consume(i + 1);
                let mut eol = 1;
                if is_cr && src.fill_buf()?.first() == Some(&b'\n') {
                    src.consume(1);
                    len += 1;
                    eol = 2;
                }
                return Ok(Some(LineInfo { len, eol, starts_with: starts(&head, prefix) }));
            }
        }
    }
}

fn starts(head: &[u8], prefix: &[u8]) -> bool {
    !prefix.is_empty() && head.starts_with(prefix)
}

/// Copies exactly `n` bytes from `src` to `out` (fewer only if the input ends).
pub fn copy_n(src: &mut dyn BufRead, out: &mut dyn Write, mut n: u64) -> io::Result<()> {
    while n > 0 {
        let chunk = src.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        let take = (chunk.len() as u64).min(n) as usize;
        out.write_all(&chunk[..take])?;
        src.consume(take);
        n -= take as u64;
    }
    Ok(())
}

/// Skips exactly `n` bytes of `src`.
pub fn skip_n(src: &mut dyn BufRead, n: u64) -> io::Result<()> {
    copy_n(src, &mut io::sink(), n)
}

/// Writes into memory for small content or streams into the content repository for large
/// content, so that small flowfiles cost one buffer and large ones bounded memory.
pub fn write_content(
    session: &mut ProcessSession,
    ff: &mut FlowFile,
    size_hint: u64,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), ProcessError> {
    if size_hint <= IN_MEMORY_LIMIT {
        let mut buf = Vec::with_capacity(size_hint as usize + 64);
        f(&mut buf)?;
        session.write(ff, Bytes::from(buf))
    } else {
        session.write_with(ff, |w| {
            let mut bw = io::BufWriter::with_capacity(64 * 1024, w);
            f(&mut bw)?;
            bw.flush()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut src = io::BufReader::with_capacity(3, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while read_line(&mut src, &mut buf, 1000).unwrap() {
            out.push(buf.clone());
        }
        out
    }

    #[test]
    fn read_line_handles_every_ending_across_buffer_edges() {
        let got = lines(b"ab\r\ncd\ref\n\ngh");
        let want: Vec<&[u8]> = vec![b"ab\r\n", b"cd\r", b"ef\n", b"\n", b"gh"];
        assert_eq!(got, want.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn read_line_rejects_long_lines() {
        let mut src: &[u8] = b"abcdef\n";
        let err = read_line(&mut src, &mut Vec::new(), 3).unwrap_err();
        assert!(super::super::common::bad_input_of(&err).is_some());
    }

    #[test]
    fn scan_line_measures_and_matches_prefix() {
        let mut src = io::BufReader::with_capacity(2, &b"#h\r\nxy\rz"[..]);
        assert_eq!(scan_line(&mut src, b"#h").unwrap(), Some(LineInfo { len: 4, eol: 2, starts_with: true }));
        assert_eq!(scan_line(&mut src, b"#h").unwrap(), Some(LineInfo { len: 3, eol: 1, starts_with: false }));
        assert_eq!(scan_line(&mut src, b"#h").unwrap(), Some(LineInfo { len: 1, eol: 0, starts_with: false }));
        assert_eq!(scan_line(&mut src, b"#h").unwrap(), None);
    }

    #[test]
    fn split_eol_variants() {
        assert_eq!(split_eol(b"a\r\n"), (&b"a"[..], &b"\r\n"[..]));
        assert_eq!(split_eol(b"a\n"), (&b"a"[..], &b"\n"[..]));
        assert_eq!(split_eol(b"a"), (&b"a"[..], &b""[..]));
    }
}
