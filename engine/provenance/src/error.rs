//! Errors of the provenance repository.

/// Everything that can go wrong in the provenance repository.
///
/// Decoding errors are distinct from storage errors so that a caller can tell a corrupt block
/// (skip it, report it) from a failing disk (stop, alert).
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// The underlying sled database failed.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A storage backend other than sled failed, or sled returned something unexpected.
    #[error("storage: {0}")]
    Storage(String),
    /// Bytes could not be decoded as events, a block or a block index: they are corrupt or
    /// were written by an incompatible version.
    #[error("decode: {0}")]
    Decode(String),
    /// The repository was closed: its writer thread no longer accepts work.
    #[error("provenance repository is closed")]
    Closed,
    /// An I/O error outside sled (e.g. creating the directory).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ProvenanceError {
    /// Shorthand for a [`ProvenanceError::Decode`] with a static reason.
    pub(crate) fn decode(reason: impl Into<String>) -> Self {
        ProvenanceError::Decode(reason.into())
    }
}
