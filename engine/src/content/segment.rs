//! Segment files: append-only files that hold the bytes of many claims.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A segment open for appending; owned by one writer at a time.
pub(crate) struct ActiveSegment {
    pub id: u64,
    pub file: File,
    pub size: u64,
}

impl ActiveSegment {
    /// Creates a new, empty segment file.
    pub fn create(dir: &Path, id: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, id))?;
        Ok(ActiveSegment { id, file, size: 0 })
    }

    /// Appends `data`; on failure the segment must not be appended to again (its tail may
    /// hold a partial write that no claim refers to).
    pub fn append(&mut self, data: &[u8]) -> io::Result<u64> {
        let offset = self.size;
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(offset)
    }
}

/// The path of segment `id` in `dir`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:012}.seg"))
}

/// Parses a segment id out of a file name written by `segment_path`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_suffix(".seg")?.parse().ok()
}
