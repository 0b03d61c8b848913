//! The `memory` durability mode: commits are counted, nothing is persisted.

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_provenance::ProvenanceEvent;

use super::{Durability, FlowFileRepository, RepoChange, RepoError};

/// A flowfile repository that persists nothing (for tests and benchmarks).
#[derive(Default)]
pub struct MemoryFlowFileRepository {
    seq: AtomicU64,
}

impl MemoryFlowFileRepository {
    /// A new, empty repository.
    pub fn new() -> Self {
        Self::default()
    }
}

impl FlowFileRepository for MemoryFlowFileRepository {
    fn commit(&self, _changes: &[RepoChange<'_>], _events: &[ProvenanceEvent]) -> Result<u64, RepoError> {
        Ok(self.seq.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn durability(&self) -> Durability {
        Durability::Memory
    }
}
