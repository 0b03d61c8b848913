//! Large values of the provenance store (compressed event blocks, attribute filters) kept in
//! append-only segment files beside sled, with sled holding a 17-byte pointer to each.
//!
//! Why: sled keeps the values it writes in its page cache, and under a sustained stream of
//! ~50 KiB blocks that grew to over 100 MiB of resident memory (measured with heaptrack on
//! the throughput benchmark); it also spends a core's fraction copying them through its log.
//! Appending to a file and storing a pointer costs one `pwrite` per value and keeps memory flat.
//!
//! Ordering: a value is written to its segment before the sled batch that points to it is
//! applied, so after a crash of the process every pointer sled recovered refers to bytes the OS
//! already had. `sync` syncs the segments before sled flushes. A segment is deleted once no
//! pointer refers to it (retention removes blocks oldest first, so segments empty in order).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::ProvenanceError;

/// Values at least this long go to a segment file; smaller ones stay inline in sled.
pub(crate) const MIN_EXTERNAL_BYTES: usize = 1024;
/// A segment is closed and a new one begun once it reaches this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// First byte of a stored sled value: the value follows inline.
pub(crate) const TAG_INLINE: u8 = 0;
/// First byte of a stored sled value: a pointer (segment u32, offset u64, length u32) follows.
pub(crate) const TAG_EXTERNAL: u8 = 1;

/// Where an external value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl Pointer {
    /// The sled value for this pointer.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17);
        v.push(TAG_EXTERNAL);
        v.extend_from_slice(&self.segment.to_be_bytes());
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(&self.len.to_be_bytes());
        v
    }

    /// Reads a pointer from a stored sled value, or `None` when the value is inline.
    pub fn decode(stored: &[u8]) -> Option<Pointer> {
        if stored.len() != 17 || stored[0] != TAG_EXTERNAL {
            return None;
        }
        Some(Pointer {
            segment: u32::from_be_bytes(stored[1..5].try_into().ok()?),
            offset: u64::from_be_bytes(stored[5..13].try_into().ok()?),
            len: u32::from_be_bytes(stored[13..17].try_into().ok()?),
        })
    }
}

struct State {
    /// The segment being appended to and its length.
    current: u32,
    current_len: u64,
    /// Open handles (the current one and any read since).
    files: HashMap<u32, Arc<File>>,
    /// Pointers per segment.
    live: BTreeMap<u32, u64>,
    /// Segments written since the last sync.
    unsynced: Vec<u32>,
}

/// The segment files of one store.
pub(crate) struct BlobFiles {
    dir: PathBuf,
    state: Mutex<State>,
    /// Remove the directory when dropped (temporary stores).
    remove_on_drop: bool,
}

fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.seg"))
}

impl BlobFiles {
    /// Opens the segment directory. `live` counts the pointers sled holds per segment (from a
    /// scan at open); segments nobody points to are deleted, and appending starts in a new
    /// segment after the highest existing one (a torn tail of the last is never reused).
    pub fn open(dir: &Path, live: BTreeMap<u32, u64>, remove_on_drop: bool) -> Result<Self, ProvenanceError> {
        std::fs::create_dir_all(dir)?;
        let mut highest = 0u32;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".seg")).and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            highest = highest.max(id);
            if !live.contains_key(&id) {
                std::fs::remove_file(entry.path())?;
            }
        }
        let current = highest + 1;
        let blobs = BlobFiles {
            dir: dir.to_path_buf(),
            state: Mutex::new(State { current, current_len: 0, files: HashMap::new(), live, unsynced: Vec::new() }),
            remove_on_drop,
        };
        Ok(blobs)
    }

    fn file(&self, state: &mut State, id: u32, create: bool) -> Result<Arc<File>, ProvenanceError> {
        if let Some(f) = state.files.get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(OpenOptions::new().read(true).write(create).create(create).open(segment_path(&self.dir, id))?);
        state.files.insert(id, f.clone());
        Ok(f)
    }

    /// Appends `value` and returns where it went. On a failed write nothing is recorded and the
    /// next append overwrites the same range.
    pub fn append(&self, value: &[u8]) -> Result<Pointer, ProvenanceError> {
        let mut st = self.state.lock();
        if st.current_len >= SEGMENT_BYTES {
            let old = st.current;
            if st.live.get(&old).copied().unwrap_or(0) == 0 {
                st.files.remove(&old);
                let _ = std::fs::remove_file(segment_path(&self.dir, old));
            }
            st.current += 1;
            st.current_len = 0;
        }
        let id = st.current;
        let file = self.file(&mut st, id, true)?;
        let offset = st.current_len;
        file.write_all_at(value, offset)?;
        st.current_len += value.len() as u64;
        *st.live.entry(id).or_insert(0) += 1;
        if !st.unsynced.contains(&id) {
            st.unsynced.push(id);
        }
        Ok(Pointer { segment: id, offset, len: value.len() as u32 })
    }

    /// Reads a value.
    pub fn read(&self, p: Pointer) -> Result<Vec<u8>, ProvenanceError> {
        let file = {
            let mut st = self.state.lock();
            self.file(&mut st, p.segment, false)?
        };
        let mut buf = vec![0u8; p.len as usize];
        file.read_exact_at(&mut buf, p.offset)?;
        Ok(buf)
    }

    /// A pointer is gone (its key deleted or replaced): a segment nobody points to any more,
    /// other than the one being appended to, is deleted.
    pub fn release(&self, p: Pointer) {
        let mut st = self.state.lock();
        let Some(n) = st.live.get_mut(&p.segment) else { return };
        *n = n.saturating_sub(1);
        if *n == 0 && p.segment != st.current {
            st.live.remove(&p.segment);
            st.files.remove(&p.segment);
            st.unsynced.retain(|&s| s != p.segment);
            if let Err(e) = std::fs::remove_file(segment_path(&self.dir, p.segment)) {
                tracing::warn!(segment = p.segment, error = %e, "could not remove an emptied provenance segment");
            }
        }
    }

    /// Syncs every segment written since the last call.
    pub fn sync(&self) -> Result<(), ProvenanceError> {
        let files: Vec<Arc<File>> = {
            let mut st = self.state.lock();
            let ids = std::mem::take(&mut st.unsynced);
            ids.iter().filter_map(|id| st.files.get(id).cloned()).collect()
        };
        for f in files {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Bytes in segment files.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok()?.metadata().ok().map(|m| m.len())).sum())
            .unwrap_or(0)
    }
}

impl Drop for BlobFiles {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_and_inline_values_are_not_pointers() {
        let p = Pointer { segment: 7, offset: 1 << 40, len: 99_000 };
        assert_eq!(Pointer::decode(&p.encode()), Some(p));
        assert_eq!(Pointer::decode(&[TAG_INLINE, 1, 2, 3]), None);
    }

    #[test]
    fn append_read_release_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobFiles::open(dir.path(), BTreeMap::new(), false).unwrap();
        let a = blobs.append(&[1u8; 5000]).unwrap();
        let b = blobs.append(&[2u8; 3000]).unwrap();
        assert_eq!((a.segment, a.offset, b.offset), (1, 0, 5000));
        assert_eq!(blobs.read(b).unwrap(), vec![2u8; 3000]);
        blobs.sync().unwrap();
        drop(blobs);
        // Reopened with one live pointer in segment 1: it stays, appends go to segment 2.
        let blobs = BlobFiles::open(dir.path(), BTreeMap::from([(1, 1)]), false).unwrap();
        assert_eq!(blobs.read(a).unwrap(), vec![1u8; 5000]);
        let c = blobs.append(&[3u8; 2000]).unwrap();
        assert_eq!(c.segment, 2);
        blobs.release(a);
        assert!(!segment_path(dir.path(), 1).exists(), "an emptied old segment is deleted");
        assert!(segment_path(dir.path(), 2).exists());
        drop(blobs);
        // Reopened with nothing live: every segment goes.
        let _blobs = BlobFiles::open(dir.path(), BTreeMap::new(), false).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
