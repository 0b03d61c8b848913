//! The small storage trait the repository needs, and its sled implementation.
//!
//! The repository keeps everything in one ordered key-value tree under key prefixes (`b/`, `i/`,
//! `a/`, `m/`), because sled applies a batch atomically only within one tree: a block, its index
//! summary and the durable WAL sequence number must appear together or not at all after a crash.
//! Anything that offers atomic batches, point reads, prefix scans and a durable flush can replace
//! sled behind [`ProvenanceStore`].

use std::collections::BTreeMap;
use std::path::Path;

use crate::blob::{BlobFiles, MIN_EXTERNAL_BYTES, Pointer, TAG_EXTERNAL, TAG_INLINE};
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
    /// The largest value the repository should write (it makes smaller blocks of large
    /// events). 96 KiB unless the store says otherwise.
    fn max_value_bytes(&self) -> usize {
        crate::block::MAX_BLOCK_VALUE_BYTES
    }
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

/// Marks a store whose sled values carry a tag byte (inline or a pointer into a segment file).
/// Stores created before segment files existed lack it and keep raw values in sled.
const FORMAT_KEY: &[u8] = b"s/value_format";
const FORMAT_TAGGED: &[u8] = b"2";

/// [`ProvenanceStore`] over one sled tree (sled pinned at 0.34.7), with large values in
/// append-only segment files ([`crate::blob`]) and sled holding pointers to them.
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    /// Segment files for large values; `None` for a store of the older all-in-sled format.
    blobs: Option<BlobFiles>,
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
            .flush_every_ms(None)
            .open()?;
        Self::from_db(db, &dir.join("segments"), false)
    }

    /// A temporary database, removed when dropped (tests and benchmarks).
    pub fn temporary() -> Result<Self, ProvenanceError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(SLED_CACHE_BYTES)
            .segment_size(SLED_SEGMENT_BYTES)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open()?;
        let segments = std::env::temp_dir().join(format!(
            "sluice-provenance-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        Self::from_db(db, &segments, true)
    }

    fn from_db(db: sled::Db, segments: &Path, temporary: bool) -> Result<Self, ProvenanceError> {
        let tree = db.open_tree(TREE)?;
        let tagged = match tree.get(FORMAT_KEY)? {
            Some(v) => &*v == FORMAT_TAGGED,
            None if tree.is_empty() => {
                tree.insert(FORMAT_KEY, FORMAT_TAGGED)?;
                true
            }
            None => false,
        };
        let blobs = if tagged {
            let mut live = BTreeMap::new();
            for item in tree.iter() {
                let (_, v) = item?;
                if let Some(p) = Pointer::decode(&v) {
                    *live.entry(p.segment).or_insert(0u64) += 1;
                }
            }
            Some(BlobFiles::open(segments, live, temporary)?)
        } else {
            None
        };
        Ok(SledStore { db, tree, blobs })
    }

    /// The value as the repository wrote it, from what sled holds.
    fn resolve(&self, stored: &[u8]) -> Result<Vec<u8>, ProvenanceError> {
        let Some(blobs) = &self.blobs else { return Ok(stored.to_vec()) };
        match stored.first() {
            Some(&TAG_INLINE) => Ok(stored[1..].to_vec()),
            Some(&TAG_EXTERNAL) => match Pointer::decode(stored) {
                // Missing bytes (a segment cut short by a power loss) make a corrupt value, as
                // bad bytes do, rather than a failing store.
                Some(p) => blobs.read(p).map_err(|e| match e {
                    ProvenanceError::Io(io)
                        if matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::NotFound) =>
                    {
                        ProvenanceError::decode(format!("segment {} has no bytes at {}: {io}", p.segment, p.offset))
                    }
                    other => other,
                }),
                None => Err(ProvenanceError::decode("malformed segment pointer")),
            },
            _ => Err(ProvenanceError::decode("stored value without its format tag")),
        }
    }

    /// The segment pointer `key` holds now, if any.
    fn pointer_of(&self, key: &[u8]) -> Result<Option<Pointer>, ProvenanceError> {
        Ok(self.tree.get(key)?.and_then(|v| Pointer::decode(&v)))
    }
}

impl ProvenanceStore for SledStore {
    fn apply(&self, batch: StoreBatch) -> Result<(), ProvenanceError> {
        let mut b = sled::Batch::default();
        let mut released = Vec::new();
        for op in batch.ops {
            let key = match &op {
                StoreOp::Put(k, _) | StoreOp::Delete(k) => k,
            };
            if key.as_slice() == FORMAT_KEY {
                return Err(ProvenanceError::Storage("the key s/value_format is reserved".into()));
            }
            let Some(blobs) = &self.blobs else {
                match op {
                    StoreOp::Put(k, v) => b.insert(k, v),
                    StoreOp::Delete(k) => b.remove(k),
                }
                continue;
            };
            if let Some(p) = self.pointer_of(key)? {
                released.push(p);
            }
            match op {
                StoreOp::Put(k, v) if v.len() >= MIN_EXTERNAL_BYTES => {
                    // Written before sled points to it (see crate::blob for the ordering).
                    b.insert(k, blobs.append(&v)?.encode());
                }
                StoreOp::Put(k, mut v) => {
                    v.insert(0, TAG_INLINE);
                    b.insert(k, v);
                }
                StoreOp::Delete(k) => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        if let Some(blobs) = &self.blobs {
            for p in released {
                blobs.release(p);
            }
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenanceError> {
        match self.tree.get(key)? {
            Some(v) => Ok(Some(self.resolve(&v)?)),
            None => Ok(None),
        }
    }

    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), ProvenanceError> {
        for item in self.tree.scan_prefix(prefix) {
            let (k, v) = item?;
            if &*k == FORMAT_KEY {
                continue;
            }
            if !visit(&k, &self.resolve(&v)?)? {
                break;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), ProvenanceError> {
        if let Some(blobs) = &self.blobs {
            blobs.sync()?;
        }
        self.tree.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.blobs.as_ref().map_or(0, BlobFiles::size_on_disk)
    }

    /// 1 MiB with segment files (sled holds only pointers); 96 KiB for a store of the older
    /// format, so sled keeps its values in its fsynced log.
    fn max_value_bytes(&self) -> usize {
        if self.blobs.is_some() { 1 << 20 } else { crate::block::MAX_BLOCK_VALUE_BYTES }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &SledStore, key: &[u8], value: Vec<u8>) {
        let mut b = StoreBatch::default();
        b.put(key.to_vec(), value);
        store.apply(b).unwrap();
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("segments")).map(|d| d.count()).unwrap_or(0)
    }

    #[test]
    fn large_values_live_in_segments_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            put(&store, b"b/1", vec![7u8; 50_000]);
            put(&store, b"m/x", b"small".to_vec());
            store.flush().unwrap();
            // sled holds a pointer, not the 50 KB.
            assert_eq!(store.tree.get(b"b/1").unwrap().unwrap().len(), 17);
            assert_eq!(segments(dir.path()), 1);
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.get(b"b/1").unwrap(), Some(vec![7u8; 50_000]));
        assert_eq!(store.get(b"m/x").unwrap(), Some(b"small".to_vec()));
        let mut seen = Vec::new();
        store
            .scan_prefix(b"", &mut |k, v| {
                seen.push((k.to_vec(), v.len()));
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, vec![(b"b/1".to_vec(), 50_000), (b"m/x".to_vec(), 5)], "the format key is not visible");
        // Deleting the only pointer into an old segment deletes the segment.
        let mut b = StoreBatch::default();
        b.delete(b"b/1".to_vec());
        store.apply(b).unwrap();
        assert_eq!(store.get(b"b/1").unwrap(), None);
        assert_eq!(segments(dir.path()), 0);
    }

    #[test]
    fn a_store_of_the_older_format_keeps_raw_values() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older Sluice left: raw values, no format key.
            let db = sled::Config::new().path(dir.path()).segment_size(SLED_SEGMENT_BYTES).open().unwrap();
            db.open_tree(TREE).unwrap().insert(b"b/1", vec![3u8; 5000]).unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.blobs.is_none());
        assert_eq!(store.get(b"b/1").unwrap(), Some(vec![3u8; 5000]));
        put(&store, b"b/2", vec![4u8; 5000]);
        assert_eq!(store.get(b"b/2").unwrap(), Some(vec![4u8; 5000]));
        assert_eq!(segments(dir.path()), 0);
    }

    #[test]
    fn a_pointer_past_the_end_of_its_segment_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        put(&store, b"b/1", vec![1u8; 4000]);
        let seg = std::fs::read_dir(dir.path().join("segments")).unwrap().next().unwrap().unwrap().path();
        std::fs::OpenOptions::new().write(true).open(seg).unwrap().set_len(100).unwrap();
        assert!(matches!(store.get(b"b/1"), Err(ProvenanceError::Decode(_))));
        let mut b = StoreBatch::default();
        b.put(FORMAT_KEY.to_vec(), b"x".to_vec());
        assert!(store.apply(b).is_err(), "the format key is reserved");
    }
}
