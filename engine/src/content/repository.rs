//! The content repository: segment files on disk (or nothing, in memory mode), reference
//! counts per segment, and an archive of released segments kept for provenance.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use sluice_provenance::ContentRef;

use super::segment::{ActiveSegment, parse_segment_name, segment_path};
use super::{Content, StoredClaim};

/// File in the repository directory holding an id above every segment the archive removed.
const NEXT_SEGMENT_FILE: &str = "next-segment";

/// Settings of the content repository.
#[derive(Clone, Debug)]
pub struct ContentRepositoryConfig {
    /// A segment stops taking new claims once it is this large.
    pub max_appendable_size: u64,
    /// Content up to this size written from memory keeps an in-memory copy.
    pub cache_limit: usize,
    /// How long released segments are kept for provenance content viewing and replay.
    pub archive_max_age: Duration,
    /// The most bytes the archive of released segments may hold.
    pub archive_max_bytes: u64,
    /// Whether writes must be synced to the device before a commit (power-loss safety).
    pub fsync: bool,
}

impl Default for ContentRepositoryConfig {
    fn default() -> Self {
        ContentRepositoryConfig {
            max_appendable_size: 1 << 20,
            cache_limit: 8 << 10,
            archive_max_age: Duration::from_secs(12 * 3600),
            archive_max_bytes: 1 << 30,
            fsync: false,
        }
    }
}

/// Figures about the repository, for status and metrics.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ContentStats {
    /// Segment files present.
    pub segments: usize,
    /// Bytes in segment files still referenced by flowfiles.
    pub live_bytes: u64,
    /// Bytes in released segments kept for provenance.
    pub archived_bytes: u64,
}

struct SegmentInfo {
    refs: u64,
    size: u64,
    /// Still being appended to (never removed while so).
    open: bool,
    /// When its last claim was released (for archive ageing).
    released_at: SystemTime,
}

/// Stores flowfile content in append-only segment files, or keeps it in memory.
pub struct ContentRepository {
    dir: Option<PathBuf>,
    config: ContentRepositoryConfig,
    next_segment: AtomicU64,
    appendable: Mutex<Vec<ActiveSegment>>,
    segments: Mutex<HashMap<u64, SegmentInfo>>,
    dirty: Mutex<Vec<Arc<File>>>,
    readers: Mutex<HashMap<u64, Arc<File>>>,
    me: Weak<ContentRepository>,
}

impl ContentRepository {
    /// A repository that keeps all content in memory (durability `memory`).
    pub fn in_memory() -> Arc<Self> {
        Self::build(None, ContentRepositoryConfig::default(), 0, HashMap::new())
    }

    /// Opens (or creates) the repository in `dir`; existing segments start released, and
    /// claims recovered from the flowfile repository re-reference them via `claim_existing`.
    pub fn open(dir: &Path, config: ContentRepositoryConfig) -> io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        let mut segments = HashMap::new();
        let mut max_id = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) else { continue };
            let meta = entry.metadata()?;
            max_id = max_id.max(id);
            segments.insert(
                id,
                SegmentInfo {
                    refs: 0,
                    size: meta.len(),
                    open: false,
                    released_at: meta.modified().unwrap_or_else(|_| SystemTime::now()),
                },
            );
        }
        // Ids of segments the archive removed are above every file left; never hand them out
        // again (provenance events keep naming them).
        let removed_below = std::fs::read_to_string(dir.join(NEXT_SEGMENT_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let next = (max_id + 1).max(removed_below);
        let repo = Self::build(Some(dir.to_path_buf()), config, next, segments);
        // Created now, so that cleanup only rewrites it in place (which works on a full disk).
        if let Err(e) = repo.persist_next_segment(dir, next) {
            tracing::warn!(error = %e, "could not record the next content segment id");
        }
        Ok(repo)
    }

    fn build(
        dir: Option<PathBuf>,
        config: ContentRepositoryConfig,
        next: u64,
        segments: HashMap<u64, SegmentInfo>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| ContentRepository {
            dir,
            config,
            next_segment: AtomicU64::new(next.max(1)),
            appendable: Mutex::new(Vec::new()),
            segments: Mutex::new(segments),
            dirty: Mutex::new(Vec::new()),
            readers: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    /// Whether content is only kept in memory.
    pub fn is_memory(&self) -> bool {
        self.dir.is_none()
    }

    /// The repository's directory (None in memory mode).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Stores `data` and returns the content that refers to it.
    pub fn write_bytes(&self, data: Bytes) -> io::Result<Content> {
        if data.is_empty() {
            return Ok(Content::Empty);
        }
        let Some(dir) = &self.dir else { return Ok(Content::Memory(data)) };
        let mut seg = self.take_segment(dir)?;
        let offset = match seg.append(&data) {
            Ok(o) => o,
            Err(e) => {
                self.retire(seg);
                return Err(e);
            }
        };
        let cache = (data.len() <= self.config.cache_limit).then_some(data.clone());
        let claim = self.new_claim(seg.id, offset, data.len() as u64, cache);
        self.put_back(seg);
        Ok(claim)
    }

    /// A writer for content of any size, streamed to a segment of its own.
    pub fn writer(&self) -> io::Result<ContentWriter> {
        match &self.dir {
            None => Ok(ContentWriter {
                repo: self.me.clone(),
                target: WriterTarget::Memory(Vec::new()),
                start: 0,
                failed: false,
            }),
            Some(dir) => {
                let seg = self.take_segment(dir)?;
                let start = seg.size;
                Ok(ContentWriter {
                    repo: self.me.clone(),
                    target: WriterTarget::Segment(Some(seg)),
                    start,
                    failed: false,
                })
            }
        }
    }

    /// Re-references content at `loc` (recovery from the flowfile repository).
    pub fn claim_existing(&self, loc: ContentRef) -> Content {
        if loc.len == 0 {
            return Content::Empty;
        }
        self.new_claim(loc.segment, loc.offset, loc.len, None)
    }

    /// Opens archived content for provenance; `None` once the segment has aged out.
    pub fn read_archived(&self, loc: ContentRef) -> io::Result<Option<Box<dyn Read + Send>>> {
        if self.dir.is_none() || !self.segments.lock().contains_key(&loc.segment) {
            return Ok(None);
        }
        match self.open_range(loc) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Flushes written segments to the device (durability `fsync`); called before the
    /// flowfile repository syncs a group commit.
    pub fn sync(&self) -> io::Result<()> {
        if !self.config.fsync {
            return Ok(());
        }
        let files = std::mem::take(&mut *self.dirty.lock());
        for f in files {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Removes released segments older than the archive age, then the oldest released
    /// ones while the archive is over its size cap; returns how many files were removed.
    pub fn cleanup(&self) -> usize {
        let Some(dir) = &self.dir else { return 0 };
        let now = SystemTime::now();
        let mut doomed = Vec::new();
        {
            let segs = self.segments.lock();
            let mut released: Vec<(u64, SystemTime, u64)> = segs
                .iter()
                .filter(|(_, s)| s.refs == 0 && !s.open)
                .map(|(id, s)| (*id, s.released_at, s.size))
                .collect();
            released.sort_by_key(|(_, t, _)| *t);
            let mut archived: u64 = released.iter().map(|(_, _, s)| s).sum();
            for (id, at, size) in released {
                let too_old = now.duration_since(at).unwrap_or_default() > self.config.archive_max_age;
                if too_old || archived > self.config.archive_max_bytes {
                    archived -= size;
                    doomed.push(id);
                }
            }
        }
        if doomed.is_empty() {
            return 0;
        }
        // Record an id above every removed one first, so a restart cannot reuse their ids.
        let mark = self.next_segment.load(Ordering::Relaxed).max(doomed.iter().max().map_or(0, |m| m + 1));
        if let Err(e) = self.persist_next_segment(dir, mark) {
            // Freeing space matters more (the disk may be full); ids may repeat after a restart.
            tracing::warn!(error = %e, "could not record the next content segment id");
        }
        {
            // Re-check: a segment may have been claimed again (replay) meanwhile.
            let mut segs = self.segments.lock();
            doomed.retain(|id| {
                let gone = segs.get(id).is_some_and(|s| s.refs == 0 && !s.open);
                if gone {
                    segs.remove(id);
                }
                gone
            });
        }
        let mut readers = self.readers.lock();
        for id in &doomed {
            readers.remove(id);
            if let Err(e) = std::fs::remove_file(segment_path(dir, *id)) {
                tracing::warn!(segment = id, error = %e, "could not remove content segment");
            }
        }
        doomed.len()
    }

    /// Writes `mark` to the next-segment file: fixed width, overwritten in place, so no write
    /// after the first needs a new block.
    fn persist_next_segment(&self, dir: &Path, mark: u64) -> io::Result<()> {
        let f = OpenOptions::new().create(true).write(true).truncate(false).open(dir.join(NEXT_SEGMENT_FILE))?;
        f.write_all_at(format!("{mark:020}\n").as_bytes(), 0)?;
        if self.config.fsync {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Current figures.
    pub fn stats(&self) -> ContentStats {
        let segs = self.segments.lock();
        let mut st = ContentStats { segments: segs.len(), ..Default::default() };
        for s in segs.values() {
            if s.refs == 0 && !s.open {
                st.archived_bytes += s.size;
            } else {
                st.live_bytes += s.size;
            }
        }
        st
    }

    pub(crate) fn open_range(&self, loc: ContentRef) -> io::Result<Box<dyn Read + Send>> {
        let file = self.reader_file(loc.segment)?;
        Ok(Box::new(RangeReader { file, pos: loc.offset, end: loc.offset + loc.len }))
    }

    pub(crate) fn release(&self, segment: u64) {
        let mut segs = self.segments.lock();
        if let Some(s) = segs.get_mut(&segment) {
            s.refs = s.refs.saturating_sub(1);
            if s.refs == 0 {
                s.released_at = SystemTime::now();
            }
        }
    }

    fn new_claim(&self, segment: u64, offset: u64, len: u64, cache: Option<Bytes>) -> Content {
        {
            let mut segs = self.segments.lock();
            let s = segs.entry(segment).or_insert(SegmentInfo {
                refs: 0,
                size: offset + len,
                open: false,
                released_at: SystemTime::now(),
            });
            s.refs += 1;
            s.size = s.size.max(offset + len);
        }
        Content::Stored(Arc::new(StoredClaim { segment, offset, len, cache, repo: self.me.clone() }))
    }

    fn reader_file(&self, segment: u64) -> io::Result<Arc<File>> {
        if let Some(f) = self.readers.lock().get(&segment) {
            return Ok(f.clone());
        }
        let dir = self.dir.as_ref().ok_or_else(|| io::Error::other("memory repository has no segments"))?;
        let f = Arc::new(File::open(segment_path(dir, segment))?);
        let mut readers = self.readers.lock();
        if readers.len() > 256 {
            readers.clear();
        }
        readers.insert(segment, f.clone());
        Ok(f)
    }

    fn take_segment(&self, dir: &Path) -> io::Result<ActiveSegment> {
        if let Some(seg) = self.appendable.lock().pop() {
            return Ok(seg);
        }
        let id = self.next_segment.fetch_add(1, Ordering::Relaxed);
        let seg = ActiveSegment::create(dir, id)?;
        self.segments.lock().insert(id, SegmentInfo { refs: 0, size: 0, open: true, released_at: SystemTime::now() });
        Ok(seg)
    }

    fn put_back(&self, seg: ActiveSegment) {
        if self.config.fsync
            && let Ok(f) = seg.file.try_clone()
        {
            self.dirty.lock().push(Arc::new(f));
        }
        if seg.size < self.config.max_appendable_size {
            self.appendable.lock().push(seg);
        } else {
            self.retire(seg);
        }
    }

    fn retire(&self, seg: ActiveSegment) {
        if let Some(s) = self.segments.lock().get_mut(&seg.id) {
            s.open = false;
            s.size = seg.size;
            if s.refs == 0 {
                s.released_at = SystemTime::now();
            }
        }
    }
}

enum WriterTarget {
    Memory(Vec<u8>),
    Segment(Option<ActiveSegment>),
}

/// Streams content of any size into the repository; `finish` returns the content.
pub struct ContentWriter {
    repo: Weak<ContentRepository>,
    target: WriterTarget,
    start: u64,
    failed: bool,
}

impl ContentWriter {
    /// Completes the write and returns the content written.
    pub fn finish(mut self) -> io::Result<Content> {
        let repo = self.repo.upgrade().ok_or_else(|| io::Error::other("content repository is closed"))?;
        match &mut self.target {
            WriterTarget::Memory(v) => {
                Ok(if v.is_empty() { Content::Empty } else { Content::Memory(Bytes::from(std::mem::take(v))) })
            }
            WriterTarget::Segment(seg) => {
                let seg = seg.take().expect("segment present until finish");
                if self.failed {
                    repo.retire(seg);
                    return Err(io::Error::other("content write failed earlier"));
                }
                let len = seg.size - self.start;
                let content = if len == 0 { Content::Empty } else { repo.new_claim(seg.id, self.start, len, None) };
                repo.put_back(seg);
                Ok(content)
            }
        }
    }
}

impl Write for ContentWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.target {
            WriterTarget::Memory(v) => {
                v.extend_from_slice(buf);
                Ok(buf.len())
            }
            WriterTarget::Segment(Some(seg)) => match seg.append(buf) {
                Ok(_) => Ok(buf.len()),
                Err(e) => {
                    self.failed = true;
                    Err(e)
                }
            },
            WriterTarget::Segment(None) => Err(io::Error::other("writer finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ContentWriter {
    fn drop(&mut self) {
        // Abandoned (rolled back): the bytes written are garbage that no claim refers to.
        if let WriterTarget::Segment(seg) = &mut self.target
            && let (Some(seg), Some(repo)) = (seg.take(), self.repo.upgrade())
        {
            repo.retire(seg);
        }
    }
}

struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "content segment is shorter than its claim"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
