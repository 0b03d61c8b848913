//! Errors of the engine's control API (the web layer maps them to HTTP status codes).

use crate::flow::load::{FlowError, FlowIssue};

/// What went wrong with a request to change or read the flow.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No such processor, connection, flowfile or event.
    #[error("{0}")]
    NotFound(String),
    /// A stale revision or a conflicting state (e.g. deleting a non-empty connection).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed or names something invalid.
    #[error("{message}")]
    Invalid {
        /// Summary.
        message: String,
        /// Each problem with where it is.
        issues: Vec<FlowIssue>,
    },
    /// Storage failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A repository could not be opened or used.
    #[error("repository: {0}")]
    Repository(String),
}

impl EngineError {
    /// An `Invalid` error with a single message.
    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::Invalid { message: message.into(), issues: Vec::new() }
    }
}

impl From<FlowError> for EngineError {
    fn from(e: FlowError) -> Self {
        EngineError::Invalid { message: e.to_string(), issues: e.issues }
    }
}
