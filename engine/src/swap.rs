//! Swapping: a queue holding more than its swap threshold (default 20,000 flowfiles) keeps the
//! excess in swap files on disk, so memory stays bounded whatever the backlog.
//!
//! Swap files are a memory relief, not a durability mechanism: every queued flowfile is already
//! in the flowfile repository, which is what recovery reads. So the files are written without
//! fsync and the swap directory is emptied at start. Content is not copied: a swapped flowfile
//! keeps its content claim by location, and the swap file pins one claim per segment it
//! references, so no segment is released while a swapped flowfile still points into it.
//! Transient in-memory content (the `memory` durability mode) is written into the swap file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sluice_provenance::ContentRef;
use uuid::Uuid;

use crate::attributes::Attributes;
use crate::content::{Content, ContentRepository};
use crate::flowfile::FlowFile;

/// Default number of flowfiles a queue holds in memory before it swaps.
pub const DEFAULT_SWAP_THRESHOLD: usize = 20_000;

const MAGIC: &[u8; 8] = b"SLSWAP1\n";

/// Where and when queues swap; shared by every connection of a flow controller.
pub struct SwapSpace {
    dir: PathBuf,
    content: Arc<ContentRepository>,
    threshold: usize,
    next: AtomicU64,
    files: AtomicU64,
}

/// One batch of flowfiles on disk, oldest first.
pub(crate) struct SwapFile {
    path: PathBuf,
    /// How many flowfiles it holds.
    pub(crate) count: usize,
    /// One claim per content segment its flowfiles reference: keeps those segments alive.
    pins: Vec<Content>,
}

impl SwapSpace {
    /// Swap space in `dir` (emptied now: swap files never outlive the process).
    pub fn open(dir: &Path, content: Arc<ContentRepository>, threshold: usize) -> io::Result<Arc<Self>> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(SwapSpace {
            dir: dir.to_path_buf(),
            content,
            threshold: threshold.max(1),
            next: AtomicU64::new(0),
            files: AtomicU64::new(0),
        }))
    }

    /// Flowfiles a queue keeps in memory before swapping.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// How many flowfiles go in one swap file.
    pub(crate) fn batch(&self) -> usize {
        (self.threshold / 2).max(1)
    }

    /// Swap files currently on disk (all queues).
    pub fn files_on_disk(&self) -> u64 {
        self.files.load(Ordering::Acquire)
    }

    /// Writes `ffs` to a new swap file. On error nothing is lost: the caller keeps them.
    pub(crate) fn write(&self, ffs: &[FlowFile]) -> io::Result<SwapFile> {
        let path = self.dir.join(format!("{:012}.swap", self.next.fetch_add(1, Ordering::AcqRel)));
        let result = (|| {
            let mut w = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
            w.write_all(MAGIC)?;
            w.write_all(&(ffs.len() as u64).to_le_bytes())?;
            let mut pins: HashMap<u64, Content> = HashMap::new();
            for ff in ffs {
                encode(&mut w, ff)?;
                if let Content::Stored(c) = &ff.content {
                    pins.entry(c.segment).or_insert_with(|| ff.content.clone());
                }
            }
            w.into_inner().map_err(|e| e.into_error())?;
            Ok(SwapFile { path: path.clone(), count: ffs.len(), pins: pins.into_values().collect() })
        })();
        match result {
            Ok(f) => {
                self.files.fetch_add(1, Ordering::AcqRel);
                Ok(f)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Reads a swap file back (and deletes it). On error the file stays where it is.
    pub(crate) fn read(&self, file: &SwapFile) -> io::Result<Vec<FlowFile>> {
        let mut r = BufReader::with_capacity(256 * 1024, File::open(&file.path)?);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a swap file", file.path.display()),
            ));
        }
        let n = read_u64(&mut r)? as usize;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(decode(&mut r, &self.content)?);
        }
        Ok(out)
    }

    /// Deletes a swap file whose flowfiles are back in memory (its pins drop with it).
    pub(crate) fn discard(&self, file: SwapFile) {
        let _ = std::fs::remove_file(&file.path);
        drop(file.pins);
        self.files.fetch_sub(1, Ordering::AcqRel);
    }
}

fn encode(w: &mut impl Write, ff: &FlowFile) -> io::Result<()> {
    w.write_all(ff.id.as_bytes())?;
    for v in [ff.entry_millis, ff.lineage_start_millis, ff.queued_millis, ff.penalty_until_millis] {
        w.write_all(&v.to_le_bytes())?;
    }
    w.write_all(&ff.retry_count.to_le_bytes())?;
    w.write_all(&(ff.attributes.len() as u32).to_le_bytes())?;
    for (k, v) in ff.attributes.iter() {
        write_str(w, k)?;
        write_str(w, v)?;
    }
    match &ff.content {
        Content::Empty => w.write_all(&[0]),
        Content::Memory(b) => {
            w.write_all(&[1])?;
            w.write_all(&(b.len() as u64).to_le_bytes())?;
            w.write_all(b)
        }
        Content::Stored(c) => {
            w.write_all(&[2])?;
            for v in [c.segment, c.offset, c.len] {
                w.write_all(&v.to_le_bytes())?;
            }
            Ok(())
        }
    }
}

fn decode(r: &mut impl Read, content: &ContentRepository) -> io::Result<FlowFile> {
    let mut id = [0u8; 16];
    r.read_exact(&mut id)?;
    let entry = read_u64(r)? as i64;
    let lineage = read_u64(r)? as i64;
    let queued = read_u64(r)? as i64;
    let penalty = read_u64(r)? as i64;
    let mut retry = [0u8; 4];
    r.read_exact(&mut retry)?;
    let mut n = [0u8; 4];
    r.read_exact(&mut n)?;
    let n = u32::from_le_bytes(n) as usize;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        pairs.push((read_str(r)?, read_str(r)?));
    }
    let mut tag = [0u8; 1];
    r.read_exact(&mut tag)?;
    let body = match tag[0] {
        0 => Content::Empty,
        1 => {
            let len = read_u64(r)? as usize;
            let mut b = vec![0u8; len];
            r.read_exact(&mut b)?;
            Content::Memory(Bytes::from(b))
        }
        2 => {
            let segment = read_u64(r)?;
            let offset = read_u64(r)?;
            let len = read_u64(r)?;
            content.claim_existing(ContentRef { segment, offset, len })
        }
        t => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("swap file: unknown content tag {t}"))),
    };
    let mut ff = FlowFile::new_at(body, entry);
    ff.id = Uuid::from_bytes(id);
    ff.attributes = Attributes::from_pairs(pairs);
    ff.lineage_start_millis = lineage;
    ff.queued_millis = queued;
    ff.penalty_until_millis = penalty;
    ff.retry_count = u32::from_le_bytes(retry);
    Ok(ff)
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u32).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn read_str(r: &mut impl Read) -> io::Result<String> {
    let mut n = [0u8; 4];
    r.read_exact(&mut n)?;
    let mut b = vec![0u8; u32::from_le_bytes(n) as usize];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
