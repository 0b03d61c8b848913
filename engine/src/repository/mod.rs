//! The flowfile repository: a durable record of which flowfile is queued where, written
//! by every session commit so that a restart after a crash puts every queued flowfile
//! back in its queue.

mod checkpoint;
mod index;
mod memory;
mod record;
mod recovery;
#[cfg(test)]
mod tests;
mod wal;

pub use memory::MemoryFlowFileRepository;
pub use wal::{ProvenanceSink, WalConfig, WalRepository, WalStats};

use std::sync::Arc;

use sluice_provenance::ProvenanceEvent;
use uuid::Uuid;

use crate::flowfile::FlowFile;

/// How durable a commit is when it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written to the OS before the commit returns: survives a crash of the process.
    #[default]
    Os,
    /// Synced to the device per group commit: survives power loss.
    Fsync,
    /// Not persisted: for tests and benchmarks.
    Memory,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "os" => Ok(Durability::Os),
            "fsync" => Ok(Durability::Fsync),
            "memory" => Ok(Durability::Memory),
            _ => Err(format!("unknown durability '{s}': use os, fsync or memory")),
        }
    }
}

/// One change a session commit makes to the set of queued flowfiles.
#[derive(Debug)]
pub enum RepoChange<'a> {
    /// The flowfile (new or changed) is now queued in `queue`.
    Enqueue {
        /// Connection id.
        queue: &'a str,
        /// The flowfile as queued.
        flowfile: &'a FlowFile,
    },
    /// The flowfile left `queue` for good (dropped, expired, or moved on and re-enqueued by
    /// an `Enqueue` in the same commit).
    Dequeue {
        /// Connection id.
        queue: &'a str,
        /// Flowfile id.
        id: Uuid,
    },
}

/// Errors of the flowfile repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Reading or writing the log failed (a full disk among others).
    #[error("flowfile repository I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The log holds something it cannot read.
    #[error("flowfile repository is corrupt: {0}")]
    Corrupt(String),
}

/// What recovery found: queued flowfiles per connection id, in queue order.
#[derive(Default, Debug)]
pub struct Recovered {
    /// (connection id, flowfiles in order)
    pub queues: Vec<(String, Vec<FlowFile>)>,
    /// Provenance events of commits that provenance had not yet persisted, with their seq.
    pub provenance: Vec<(u64, Vec<ProvenanceEvent>)>,
    /// Highest sequence number seen.
    pub last_seq: u64,
}

/// Records session commits durably.
pub trait FlowFileRepository: Send + Sync {
    /// Records one commit (queue changes and the provenance events they caused) and
    /// returns its sequence number once it is as durable as the mode promises.
    fn commit(&self, changes: &[RepoChange<'_>], events: &[ProvenanceEvent]) -> Result<u64, RepoError>;

    /// [`Self::commit`] taking the events by value: a repository that hands them on to
    /// provenance itself keeps them (no copy) and returns an empty list; otherwise they come
    /// back for the caller to submit.
    fn commit_owned(
        &self,
        changes: &[RepoChange<'_>],
        events: Vec<ProvenanceEvent>,
    ) -> Result<(u64, Vec<ProvenanceEvent>), RepoError> {
        Ok((self.commit(changes, &events)?, events))
    }

    /// The durability mode.
    fn durability(&self) -> Durability;

    /// Tells the repository that provenance has persisted every event up to `seq`, so log
    /// records up to there are only needed for queue state.
    fn provenance_persisted(&self, _seq: u64) {}

    /// Bytes the repository occupies on disk.
    fn disk_bytes(&self) -> u64 {
        0
    }
}

/// A shared handle to a flowfile repository.
pub type SharedFlowFileRepository = Arc<dyn FlowFileRepository>;

/// Opens the durable flowfile repository in `dir` (write-ahead log with group commit).
///
/// Compatibility entry point without a content repository: flowfiles recovered from the log
/// stay recorded (so a later start that recovers them loses nothing) but are not returned,
/// and `fsync` mode cannot sync content first. Use [`WalRepository::open`], which returns
/// the recovered state, at startup.
pub fn open_durable(dir: &std::path::Path, durability: Durability) -> Result<SharedFlowFileRepository, RepoError> {
    if durability == Durability::Memory {
        return Ok(Arc::new(MemoryFlowFileRepository::new()));
    }
    let (repo, recovered) = wal::open_detached(dir, durability)?;
    let queued: usize = recovered.queues.iter().map(|(_, q)| q.len()).sum();
    if queued > 0 {
        tracing::warn!(queued, "flowfiles recovered but not restored: open the repository with WalRepository::open");
    }
    Ok(repo)
}
