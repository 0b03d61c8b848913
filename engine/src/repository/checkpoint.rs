//! Checkpoint snapshots: the queued flowfiles of every queue, in order, as of one log
//! sequence number, so that recovery reads the snapshot plus the log written after it
//! instead of the whole history.
//!
//! A snapshot is written to a temporary file, synced, and renamed into place (then the
//! directory is synced), so a crash leaves either the old or the new snapshot, never a
//! partial one. Its frames use the log's framing (see [`super::record`]); the final
//! `SNAP_END` frame, which carries the counts, proves it complete.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_provenance::ContentRef;

use super::RepoError;
use super::index::QueueView;
use super::record::{
    self, Dec, DecodeError, FORMAT_VERSION, FRAME_HEADER, KIND_SNAP_END, KIND_SNAP_HEADER, KIND_SNAP_QUEUE, MAX_FRAME,
    SNAP_MAGIC, StrDec, StrEnc,
};
use crate::content::Content;
use crate::flowfile::FlowFile;

/// Flowfiles per snapshot frame (each frame has its own string table).
const CHUNK_FLOWFILES: usize = 2048;
/// A snapshot frame is closed once its payload passes this size.
const CHUNK_BYTES: usize = 1 << 20;

/// The file name of the snapshot taken at `seq`.
pub(crate) fn snapshot_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("checkpoint-{seq:020}.snap"))
}

/// The seq of a snapshot file name written by [`snapshot_path`].
pub(crate) fn parse_snapshot_name(name: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?.strip_suffix(".snap")?.parse().ok()
}

/// Whether `name` is a leftover temporary snapshot (from a crash mid-checkpoint).
pub(crate) fn is_temp_snapshot(name: &str) -> bool {
    name.starts_with("checkpoint-") && name.ends_with(".snap.tmp")
}

/// Syncs a directory, so that files created, renamed or removed in it stay so.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What a snapshot header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotHeader {
    /// Every commit up to this seq is reflected.
    pub seq: u64,
    /// Log files from this number on hold the commits after `seq`.
    pub first_log: u64,
}

/// Header fields known only when reading (the count is written by [`write_snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotInfo {
    /// Seq and first log.
    pub header: SnapshotHeader,
    /// Flowfiles in the snapshot.
    pub flowfiles: u64,
}

/// Writes a snapshot of `queues` atomically; returns its path and size.
pub(crate) fn write_snapshot(
    dir: &Path,
    header: SnapshotHeader,
    queues: &[(Arc<str>, QueueView)],
) -> io::Result<(PathBuf, u64)> {
    let path = snapshot_path(dir, header.seq);
    let tmp = path.with_extension("snap.tmp");
    let result = write_to(&tmp, header, queues).and_then(|size| {
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)?;
        Ok(size)
    });
    match result {
        Ok(size) => Ok((path, size)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn frame_err(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

fn write_to(tmp: &Path, header: SnapshotHeader, queues: &[(Arc<str>, QueueView)]) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
    let mut buf = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
    let mut size = 0u64;
    let start = record::begin_frame(&mut buf);
    buf.push(KIND_SNAP_HEADER);
    buf.extend_from_slice(SNAP_MAGIC);
    buf.push(FORMAT_VERSION);
    buf.extend_from_slice(&header.seq.to_le_bytes());
    buf.extend_from_slice(&header.first_log.to_le_bytes());
    let count: u64 = queues.iter().map(|(_, v)| v.len() as u64).sum();
    buf.extend_from_slice(&count.to_le_bytes());
    record::end_frame(&mut buf, start).map_err(frame_err)?;
    let mut total = 0u64;
    let mut n_queues = 0u64;
    for (name, view) in queues {
        if view.len() == 0 {
            continue;
        }
        n_queues += 1;
        let mut rest = view.iter().peekable();
        while rest.peek().is_some() {
            if buf.len() >= CHUNK_BYTES {
                w.write_all(&buf)?;
                size += buf.len() as u64;
                buf.clear();
            }
            let start = record::begin_frame(&mut buf);
            buf.push(KIND_SNAP_QUEUE);
            let mut strs = StrEnc::default();
            strs.put(&mut buf, name, true);
            let count_at = buf.len();
            buf.extend_from_slice(&[0u8; 4]);
            let mut n = 0usize;
            while n < CHUNK_FLOWFILES && buf.len() - start < CHUNK_BYTES {
                let Some(ff) = rest.next() else { break };
                record::encode_flowfile(&mut buf, ff, &mut strs);
                n += 1;
            }
            // The count is a fixed-width field so it can be filled in after the fact.
            buf[count_at..count_at + 4].copy_from_slice(&(n as u32).to_le_bytes());
            record::end_frame(&mut buf, start).map_err(frame_err)?;
            total += n as u64;
        }
    }
    let start = record::begin_frame(&mut buf);
    buf.push(KIND_SNAP_END);
    record::put_varint(&mut buf, n_queues);
    record::put_varint(&mut buf, total);
    record::end_frame(&mut buf, start).map_err(frame_err)?;
    w.write_all(&buf)?;
    size += buf.len() as u64;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(size)
}

/// Reads frames from a stream, tracking offsets for error messages.
struct FrameStream<R> {
    r: R,
    pos: u64,
    buf: Vec<u8>,
}

impl<R: Read> FrameStream<R> {
    /// The next frame's payload, `None` at a clean end, or an error with its offset.
    fn next(&mut self) -> Result<Option<&[u8]>, (u64, String)> {
        let at = self.pos;
        let mut head = [0u8; FRAME_HEADER];
        let mut got = 0;
        while got < FRAME_HEADER {
            match self.r.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err((at, "truncated frame header".into())),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((at, format!("read failed: {e}"))),
            }
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len as usize > MAX_FRAME {
            return Err((at, "bad frame length".into()));
        }
        self.buf.resize(len as usize, 0);
        self.r.read_exact(&mut self.buf).map_err(|e| (at, format!("truncated frame: {e}")))?;
        if record::frame_crc(len, &self.buf) != crc {
            return Err((at, "frame checksum mismatch".into()));
        }
        self.pos += (FRAME_HEADER + len as usize) as u64;
        Ok(Some(&self.buf))
    }
}

/// What [`read_snapshot`] hands over, in order.
pub(crate) enum SnapshotItem<'a> {
    /// The header, first.
    Start(SnapshotInfo),
    /// Then every queued flowfile with its queue name, in queue order.
    Flowfile(&'a str, FlowFile),
}

/// Reads the snapshot at `path`, handing its header and then every flowfile to `each`;
/// `claim` re-creates stored content claims. Any damage is an error naming the file and
/// offset: a snapshot is synced before it is renamed into place, so it is never torn.
pub(crate) fn read_snapshot(
    path: &Path,
    claim: &dyn Fn(ContentRef) -> Content,
    each: &mut dyn FnMut(SnapshotItem<'_>),
) -> Result<SnapshotHeader, RepoError> {
    let corrupt = |at: u64, why: &str| RepoError::Corrupt(format!("snapshot {} at offset {at}: {why}", path.display()));
    let file = File::open(path)?;
    let mut s = FrameStream { r: BufReader::with_capacity(1 << 20, file), pos: 0, buf: Vec::new() };
    let at = s.pos;
    let header = {
        let p = s.next().map_err(|(at, why)| corrupt(at, &why))?.ok_or_else(|| corrupt(at, "empty file"))?;
        let mut d = Dec::new(p);
        let parse = |d: &mut Dec<'_>| -> Result<SnapshotInfo, DecodeError> {
            if d.u8()? != KIND_SNAP_HEADER || d.bytes(SNAP_MAGIC.len())? != SNAP_MAGIC {
                return Err(DecodeError("not a snapshot header"));
            }
            if d.u8()? != FORMAT_VERSION {
                return Err(DecodeError("unsupported snapshot format version"));
            }
            let header = SnapshotHeader { seq: d.u64_le()?, first_log: d.u64_le()? };
            let info = SnapshotInfo { header, flowfiles: d.u64_le()? };
            d.finish()?;
            Ok(info)
        };
        parse(&mut d).map_err(|e| corrupt(at, e.0))?
    };
    each(SnapshotItem::Start(header));
    let header = header.header;
    let (mut queues, mut total) = (0u64, 0u64);
    let mut last_queue: Option<crate::attributes::AttrStr> = None;
    loop {
        let at = s.pos;
        let p = s.next().map_err(|(at, why)| corrupt(at, &why))?.ok_or_else(|| corrupt(at, "missing end frame"))?;
        let mut d = Dec::new(p);
        let kind = d.u8().map_err(|e| corrupt(at, e.0))?;
        match kind {
            KIND_SNAP_QUEUE => {
                let mut chunk = || -> Result<(), DecodeError> {
                    let mut strs = StrDec::default();
                    let name = strs.get_plain(&mut d)?;
                    let n = d.u32_le()?;
                    if last_queue.as_deref() != Some(&*name) {
                        queues += 1;
                        last_queue = Some(name.clone());
                    }
                    for _ in 0..n {
                        each(SnapshotItem::Flowfile(&name, record::decode_flowfile(&mut d, &mut strs, claim)?));
                    }
                    total += u64::from(n);
                    d.finish()
                };
                chunk().map_err(|e| corrupt(at, e.0))?;
            }
            KIND_SNAP_END => {
                let want = (|| Ok::<_, DecodeError>((d.varint()?, d.varint()?, d.finish()?)))()
                    .map_err(|e| corrupt(at, e.0))?;
                if (want.0, want.1) != (queues, total) {
                    return Err(corrupt(at, "counts do not match the flowfiles read"));
                }
                return Ok(header);
            }
            _ => return Err(corrupt(at, "unexpected frame kind")),
        }
    }
}
