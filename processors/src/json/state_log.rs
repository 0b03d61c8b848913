//! A small append-only log of JSON lines for processor state that must survive restarts
//! (DetectDuplicate's cache, the Wait/Notify signals). Each change is one line; loading
//! replays the lines and compacts the file to the live entries (written to a temporary
//! file and renamed, so a crash never leaves a half-written log). A torn last line (the
//! process died mid-write) is skipped.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An open state log.
pub struct StateLog {
    path: PathBuf,
    out: BufWriter<File>,
    /// Lines appended since the last compaction.
    appended: usize,
}

impl StateLog {
    /// Reads every well-formed line of the log at `path` (missing file = none).
    pub fn replay<T: DeserializeOwned>(path: &Path) -> io::Result<Vec<T>> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(v) => out.push(v),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "skipping unreadable state line: {e}")
                }
            }
        }
        Ok(out)
    }

    /// Rewrites the log at `path` with exactly `entries` and opens it for appending.
    pub fn create<T: Serialize>(path: &Path, entries: impl IntoIterator<Item = T>) -> io::Result<StateLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            let mut w = BufWriter::new(File::create(&tmp)?);
            for e in entries {
                serde_json::to_writer(&mut w, &e)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(StateLog { path: path.to_path_buf(), out: BufWriter::new(f), appended: 0 })
    }

    /// Appends one entry (buffered; call [`StateLog::flush`]).
    pub fn append<T: Serialize>(&mut self, entry: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, entry)?;
        self.out.write_all(b"\n")?;
        self.appended += 1;
        Ok(())
    }

    /// Hands the appended lines to the operating system.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Whether the log has grown enough past `live` entries to be worth compacting.
    pub fn wants_compaction(&self, live: usize) -> bool {
        self.appended > 4096 && self.appended > live * 2
    }

    /// Rewrites the log with `entries` (the live state).
    pub fn compact<T: Serialize>(&mut self, entries: impl IntoIterator<Item = T>) -> io::Result<()> {
        self.out.flush()?;
        *self = StateLog::create(&self.path, entries)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_and_compacts_and_skips_torn_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("log.jsonl");
        assert!(StateLog::replay::<u32>(&path).expect("missing is empty").is_empty());
        let mut log = StateLog::create(&path, [1u32, 2]).expect("create");
        log.append(&3u32).expect("append");
        log.flush().expect("flush");
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| f.write_all(b"4")).expect("torn");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"x\n").expect("garbage");
        assert_eq!(StateLog::replay::<u32>(&path).expect("replay"), vec![1, 2, 3]);
        let mut log = StateLog::create(&path, [7u32]).expect("compact");
        log.compact([8u32, 9]).expect("compact");
        drop(log);
        assert_eq!(StateLog::replay::<u32>(&path).expect("replay"), vec![8, 9]);
    }
}
