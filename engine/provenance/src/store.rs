//! The small storage trait the repository needs, and its sled implementation.
//!
//! The repository keeps everything in one ordered key-value tree under key prefixes (`b/`, `i/`,
//! `a/`, `m/`), because sled applies a batch atomically only within one tree: a block, its index
//! summary and the durable WAL sequence number must appear together or not at all after a crash.
//! Anything that offers atomic batches, point reads, prefix scans and a durable flush can replace
//! sled behind [`ProvenanceStore`].

use std::path::Path;

use crate::error::ProvenanceError;

/// One write in a [`StoreBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert or replace `key` with `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key` (no error if absent).
    Delete(Vec<u8>),
}

/// A set of writes applied atomically by [`ProvenanceStore::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreBatch {
    /// The writes, applied in order.
    pub ops: Vec<StoreOp>,
}

impl StoreBatch {
    /// Adds an insert.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(StoreOp::Put(key, value));
    }

    /// Adds a removal.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(StoreOp::Delete(key));
    }
}

/// Visitor of [`ProvenanceStore::scan_prefix`]: gets each key and value, returns whether to go on.
pub type ScanVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, ProvenanceError> + 'a;

/// Ordered key-value storage with atomic batches, as the provenance repository uses it.
pub trait ProvenanceStore: Send + Sync + 'static {
    /// Applies all writes of `batch` atomically: after a crash, either all or none are visible.
    fn apply(&self, batch: StoreBatch) -> Result<(), ProvenanceError>;
    /// Reads one value.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenanceError>;
    /// Visits every `(key, value)` whose key starts with `prefix`, in key order, until `visit`
    /// returns `Ok(false)` or an error.
    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), ProvenanceError>;
    /// Makes every applied batch durable (fsync).
    fn flush(&self) -> Result<(), ProvenanceError>;
    /// Bytes the store occupies on disk (0 when unknown or in memory).
    fn size_on_disk(&self) -> u64;
}

/// sled's page cache size for the provenance database. Queries cache decoded blocks themselves
/// and recent blocks are what is read, so a modest cache is enough.
const SLED_CACHE_BYTES: u64 = 64 << 20;
/// sled log segment size. sled stores any log message larger than a quarter segment (128 KiB
/// with the default 512 KiB) as a separate "blob" file, which sled 0.34.7 writes without ever
/// fsyncing it (a power loss after `flush` could lose it); a leaf of up to 16 ~50 KiB blocks
/// exceeds that. With 8 MiB segments (2 MiB messages), and block values capped at
/// `MAX_BLOCK_VALUE_BYTES` (96 KiB), leaves stay in sled's fsynced log. Costs ~35% more disk
/// than the default. Persisted in sled's `conf`: a store must always be opened with the same
/// value.
const SLED_SEGMENT_BYTES: usize = 8 << 20;
/// Name of the single tree holding everything.
const TREE: &str = "provenance";

/// [`ProvenanceStore`] over one sled tree (sled pinned at 0.34.7).
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, ProvenanceError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(SLED_CACHE_BYTES)
            .segment_size(SLED_SEGMENT_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Self::from_db(db)
    }

    /// A temporary database, removed when dropped (tests and benchmarks).
    pub fn temporary() -> Result<Self, ProvenanceError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(SLED_CACHE_BYTES)
            .segment_size(SLED_SEGMENT_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self, ProvenanceError> {
        let tree = db.open_tree(TREE)?;
        Ok(SledStore { db, tree })
    }
}

impl ProvenanceStore for SledStore {
    fn apply(&self, batch: StoreBatch) -> Result<(), ProvenanceError> {
        let mut b = sled::Batch::default();
        for op in batch.ops {
            match op {
                StoreOp::Put(k, v) => b.insert(k, v),
                StoreOp::Delete(k) => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenanceError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), ProvenanceError> {
        for item in self.tree.scan_prefix(prefix) {
            let (k, v) = item?;
            if !visit(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), ProvenanceError> {
        self.tree.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
