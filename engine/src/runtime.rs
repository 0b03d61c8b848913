//! The shared services every session uses: repositories, provenance, bulletins, clock.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use sluice_provenance::ProvenanceRepository;

use crate::bulletin::BulletinBoard;
use crate::content::ContentRepository;
use crate::repository::SharedFlowFileRepository;
use crate::schedule::Clock;

/// Services shared by the scheduler, sessions and the controller.
pub struct Runtime {
    /// Content storage.
    pub content: Arc<ContentRepository>,
    /// Flowfile repository (write-ahead log or memory).
    pub flowfiles: SharedFlowFileRepository,
    /// Whether the flowfile repository hands each commit's events to provenance itself (in
    /// commit order); otherwise the session submits them.
    pub provenance_by_repository: bool,
    /// Provenance repository; None when provenance is off.
    pub provenance: Option<Arc<ProvenanceRepository>>,
    /// Bulletins.
    pub bulletins: Arc<BulletinBoard>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Short hash of the running flow definition, recorded in provenance events.
    pub flow_revision: RwLock<Arc<str>>,
    /// Where processors keep state (None in memory mode).
    pub state_dir: Option<PathBuf>,
    /// The durability in effect (memory without a data dir): processors that write outside
    /// the repositories (PutFile) sync their output only in `fsync` mode, to match what a
    /// commit survives.
    pub durability: crate::repository::Durability,
}

impl Runtime {
    /// Current time in ms since epoch.
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }
}
