//! Content: where a flowfile's bytes live, and the repository that stores them.
//!
//! Small content written from memory keeps a `Bytes` copy beside its stored claim, so the
//! common path never reads the disk back; content of any size can also be streamed in and
//! out of segment files with bounded memory.

mod repository;
mod segment;
#[cfg(test)]
mod tests;

pub use repository::{ContentRepository, ContentRepositoryConfig, ContentStats, ContentWriter};

use std::io::{self, Read};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use sluice_provenance::ContentRef;

/// A flowfile's content: nothing, bytes in memory, or a claim on a repository segment.
#[derive(Clone, Default)]
pub enum Content {
    /// Zero bytes.
    #[default]
    Empty,
    /// Bytes held in memory only (the `memory` durability mode, or transient content).
    Memory(Bytes),
    /// A range of a segment file in the content repository, optionally cached in memory.
    Stored(Arc<StoredClaim>),
}

impl Content {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Empty => 0,
            Content::Memory(b) => b.len() as u64,
            Content::Stored(c) => c.len,
        }
    }

    /// Whether the content has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether both refer to the very same bytes (same claim or same buffer).
    pub fn same_as(&self, other: &Content) -> bool {
        match (self, other) {
            (Content::Empty, Content::Empty) => true,
            (Content::Memory(a), Content::Memory(b)) => {
                a.len() == b.len() && (a.is_empty() || a.as_ptr() == b.as_ptr())
            }
            (Content::Stored(a), Content::Stored(b)) => Arc::ptr_eq(a, b) || a.location() == b.location(),
            _ => false,
        }
    }

    /// The repository location, for provenance (None for memory-only content).
    pub fn location(&self) -> Option<ContentRef> {
        match self {
            Content::Stored(c) => Some(c.location()),
            _ => None,
        }
    }

    /// The bytes in memory if they are there without I/O.
    pub fn cached(&self) -> Option<Bytes> {
        match self {
            Content::Empty => Some(Bytes::new()),
            Content::Memory(b) => Some(b.clone()),
            Content::Stored(c) => c.cache.clone(),
        }
    }

    /// A streaming reader over the content.
    pub fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Content::Empty => Ok(Box::new(io::empty())),
            Content::Memory(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Content::Stored(c) => {
                if let Some(b) = &c.cache {
                    return Ok(Box::new(io::Cursor::new(b.clone())));
                }
                let repo = c.repo.upgrade().ok_or_else(|| io::Error::other("content repository is closed"))?;
                repo.open_range(c.location())
            }
        }
    }

    /// The whole content as bytes. Loads it into memory: use `reader` for content that
    /// may be large.
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        if let Some(b) = self.cached() {
            return Ok(b);
        }
        let mut v = Vec::with_capacity(self.len() as usize);
        self.reader()?.read_to_end(&mut v)?;
        Ok(Bytes::from(v))
    }
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Empty => write!(f, "Empty"),
            Content::Memory(b) => write!(f, "Memory({} bytes)", b.len()),
            Content::Stored(c) => write!(f, "Stored(seg {} @{} +{})", c.segment, c.offset, c.len),
        }
    }
}

/// A claim on a byte range of a segment file. Live claims keep their segment from being
/// removed; dropping the last one releases it to the archive.
pub struct StoredClaim {
    /// Segment id (file name).
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    pub(crate) cache: Option<Bytes>,
    pub(crate) repo: Weak<ContentRepository>,
}

impl StoredClaim {
    /// The location as provenance records it.
    pub fn location(&self) -> ContentRef {
        ContentRef { segment: self.segment, offset: self.offset, len: self.len }
    }
}

impl Drop for StoredClaim {
    fn drop(&mut self) {
        if let Some(repo) = self.repo.upgrade() {
            repo.release(self.segment);
        }
    }
}
