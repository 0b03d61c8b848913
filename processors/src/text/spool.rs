//! A write buffer that stays in memory while small and spills to an anonymous temporary
//! file when it grows, so a processor can build several outputs at once from one
//! streamed pass (RouteText) with bounded memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Bytes kept in memory before spilling to disk.
const SPILL_AT: usize = 1024 * 1024;

/// An append-only buffer, in memory up to 1 MiB, then in a temporary file (deleted when
/// dropped, even on a crash, as it is unlinked at creation).
#[derive(Default)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<io::BufWriter<File>>,
    len: u64,
}

impl Spool {
    /// An empty spool.
    pub fn new() -> Self {
        Spool::default()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies everything written, in order, to `out`.
    pub fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self.file.take() {
            None => out.write_all(&self.mem),
            Some(bw) => {
                let mut f = bw.into_inner().map_err(|e| e.into_error())?;
                f.seek(SeekFrom::Start(0))?;
                io::copy(&mut (&mut f).take(self.len), out)?;
                self.file = Some(io::BufWriter::new(f));
                Ok(())
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write_all(buf)?,
            None if self.mem.len() + buf.len() > SPILL_AT => {
                let mut f = io::BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?);
                f.write_all(&self.mem)?;
                f.write_all(buf)?;
                self.mem = Vec::new();
                self.file = Some(f);
            }
            None => self.mem.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_reads_back() {
        let mut s = Spool::new();
        let chunk = vec![7u8; 300 * 1024];
        for _ in 0..5 {
            s.write_all(&chunk).unwrap();
        }
        assert!(s.file.is_some());
        assert_eq!(s.len(), 1500 * 1024);
        let mut out = Vec::new();
        s.copy_to(&mut out).unwrap();
        assert_eq!(out.len(), 1500 * 1024);
        assert!(out.iter().all(|b| *b == 7));
        let mut small = Spool::new();
        small.write_all(b"abc").unwrap();
        let mut out = Vec::new();
        small.copy_to(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
