//! Recovery: rebuilds the queued flowfiles from the newest snapshot plus the log files
//! written after it, and collects the provenance events that provenance had not persisted.
//!
//! Rules:
//! - log files are numbered; each starts with a header that records how long the previous
//!   file's valid part was when it was closed, so garbage after it (a failed write that could
//!   not be truncated) is ignored;
//! - in the last log file, an invalid frame followed by no valid commit frame is a torn tail
//!   (a crash mid-write): it is cut off;
//! - any other invalid frame is corruption: an error naming the file and offset;
//! - log files older than the snapshot's first log only matter for their provenance events.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_provenance::{ContentRef, ProvenanceEvent};

use super::RepoError;
use super::checkpoint::{self, SnapshotHeader, SnapshotItem};
use super::index::QueueIndex;
use super::record::{self, DecodedChange, Frame, KIND_COMMIT};
use super::wal::{LogInfo, QueueTable, parse_log_name};
use crate::content::Content;

/// Everything recovery learned.
pub(crate) struct RecoveryOutput {
    /// The queued flowfiles.
    pub index: QueueIndex,
    /// Queue names and numbers used by `index`.
    pub table: QueueTable,
    /// Events of commits above the provenance watermark, in seq order.
    pub provenance: Vec<(u64, Vec<ProvenanceEvent>)>,
    /// Highest seq in the snapshot or the log.
    pub last_seq: u64,
    /// The log files kept, by number.
    pub logs: BTreeMap<u64, LogInfo>,
    /// The last log file's number and valid length (torn tail cut off).
    pub last_log: Option<(u64, u64)>,
    /// The snapshot used, with its size.
    pub snapshot: Option<(PathBuf, u64, SnapshotHeader)>,
    /// Older snapshots and temporary files that can be removed.
    pub stale: Vec<PathBuf>,
    /// Log bytes replayed on top of the snapshot.
    pub replayed_bytes: u64,
}

fn corrupt(path: &Path, offset: usize, why: &str) -> RepoError {
    RepoError::Corrupt(format!("log file {} at offset {offset}: {why}", path.display()))
}

/// Recovers the state in `dir`. `watermark`: provenance has persisted the events of every
/// commit up to it (`u64::MAX` when provenance is off).
pub(crate) fn recover(
    dir: &Path,
    claim: &dyn Fn(ContentRef) -> Content,
    watermark: u64,
) -> Result<RecoveryOutput, RepoError> {
    let mut logs_found: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut snapshots: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(no) = parse_log_name(name) {
            logs_found.insert(no, entry.path());
        } else if let Some(seq) = checkpoint::parse_snapshot_name(name) {
            snapshots.insert(seq, entry.path());
        } else if checkpoint::is_temp_snapshot(name) {
            stale.push(entry.path());
        }
    }

    let mut index = QueueIndex::default();
    let mut table = QueueTable::default();
    let mut snapshot = None;
    if let Some((_, path)) = snapshots.pop_last() {
        let header = checkpoint::read_snapshot(&path, claim, &mut |item| match item {
            SnapshotItem::Start(info) => index.reserve(usize::try_from(info.flowfiles).unwrap_or(0).min(1 << 28)),
            SnapshotItem::Flowfile(q, ff) => {
                let no = table.number(q);
                index.enqueue(no, ff);
            }
        })?;
        let size = std::fs::metadata(&path)?.len();
        snapshot = Some((path, size, header));
    }
    stale.extend(snapshots.into_values());
    let (snap_seq, first_log) = snapshot.as_ref().map_or((0, 0), |(_, _, h)| (h.seq, h.first_log));

    // The files to replay (from the snapshot's first log on, or all) must all be there.
    let needed: Vec<u64> = logs_found.range(first_log..).map(|(n, _)| *n).collect();
    let start = if snapshot.is_some() { first_log } else { needed.first().copied().unwrap_or(0) };
    let expected: Vec<u64> = (start..start + needed.len() as u64).collect();
    if needed != expected {
        return Err(RepoError::Corrupt(format!(
            "log files from {start} are not contiguous (found {needed:?}) in {}",
            dir.display()
        )));
    }

    // Each file's header tells the valid length of the file before it.
    let mut images: Vec<(u64, PathBuf, Vec<u8>)> = Vec::with_capacity(logs_found.len());
    for (no, path) in logs_found {
        let bytes = std::fs::read(&path)?;
        images.push((no, path, bytes));
    }
    let mut out = RecoveryOutput {
        index,
        table,
        provenance: Vec::new(),
        last_seq: snap_seq,
        logs: BTreeMap::new(),
        last_log: None,
        snapshot,
        stale,
        replayed_bytes: 0,
    };
    let mut prev_seq = 0u64;
    let n_files = images.len();
    for i in 0..n_files {
        let is_last = i + 1 == n_files;
        let (no, path, bytes) = &images[i];
        // Only the very next file knows this one's length (files may be deleted out of order).
        let next_prev_len = images
            .get(i + 1)
            .filter(|(next, _, _)| *next == *no + 1)
            .and_then(|(_, _, b)| header_of(b))
            .map(|h| h.prev_len);
        let physical = bytes.len();
        let logical = match next_prev_len {
            Some(len) if len != u64::MAX => {
                if len > physical as u64 {
                    return Err(corrupt(path, physical, &format!("file is shorter than the {len} bytes recorded")));
                }
                len as usize
            }
            _ => physical,
        };
        let image = &bytes[..logical];
        let mut info = LogInfo { bytes: logical as u64, max_seq: 0, max_event_seq: 0 };
        if image.is_empty() {
            out.logs.insert(*no, info);
            if is_last {
                out.last_log = Some((*no, 0));
            }
            continue;
        }
        let mut pos = match record::read_frame(image, 0) {
            Frame::Valid { payload, next } => match record::decode_log_header(payload) {
                Ok(h) if h.file_no == *no => next,
                Ok(_) => return Err(corrupt(path, 0, "header names another file number")),
                Err(e) => return Err(corrupt(path, 0, e.0)),
            },
            // A crash while the file was being created: it holds nothing.
            _ if is_last => 0,
            Frame::End => 0,
            Frame::Invalid(why) => return Err(corrupt(path, 0, why)),
        };
        let replay = *no >= first_log;
        let mut valid_len = if pos == 0 { 0 } else { logical };
        while pos > 0 {
            match record::read_frame(image, pos) {
                Frame::End => break,
                Frame::Valid { payload, next } => {
                    let head = record::commit_head(payload).map_err(|e| corrupt(path, pos, e.0))?;
                    if head.seq <= prev_seq {
                        return Err(corrupt(path, pos, &format!("seq {} after seq {prev_seq}", head.seq)));
                    }
                    prev_seq = head.seq;
                    info.max_seq = head.seq;
                    if !head.events.is_empty() {
                        info.max_event_seq = head.seq;
                        if head.seq > watermark {
                            let events = sluice_provenance::decode_events(head.events)
                                .map_err(|e| corrupt(path, pos, &format!("provenance events: {e}")))?;
                            out.provenance.push((head.seq, events));
                        }
                    }
                    if replay && head.seq > snap_seq {
                        let changes =
                            record::decode_changes(head.changes, claim).map_err(|e| corrupt(path, pos, e.0))?;
                        for change in changes {
                            match change {
                                DecodedChange::Enqueue(q, ff) => {
                                    let n = out.table.number(&q);
                                    out.index.enqueue(n, ff);
                                }
                                DecodedChange::Dequeue(q, id) => {
                                    let n = out.table.number(&q);
                                    out.index.dequeue(n, id);
                                }
                            }
                        }
                        out.replayed_bytes += (next - pos) as u64;
                    }
                    out.last_seq = out.last_seq.max(head.seq);
                    pos = next;
                }
                Frame::Invalid(why) => {
                    if !is_last {
                        return Err(corrupt(path, pos, why));
                    }
                    if let Some(at) = later_valid_commit(image, pos, prev_seq) {
                        return Err(corrupt(
                            path,
                            pos,
                            &format!("{why}, yet a valid commit follows at offset {at}: not a torn tail"),
                        ));
                    }
                    tracing::warn!(file = %path.display(), offset = pos, reason = why, cut = logical - pos, "cutting off the torn tail of the flowfile log");
                    valid_len = pos;
                    break;
                }
            }
        }
        if is_last {
            if valid_len < physical {
                OpenOptions::new().write(true).open(path)?.set_len(valid_len as u64)?;
            }
            info.bytes = valid_len as u64;
            out.last_log = Some((*no, valid_len as u64));
        }
        out.logs.insert(*no, info);
    }
    Ok(out)
}

/// The header of a log image, if it has a valid one.
fn header_of(image: &[u8]) -> Option<record::LogHeader> {
    match record::read_frame(image, 0) {
        Frame::Valid { payload, .. } => record::decode_log_header(payload).ok(),
        _ => None,
    }
}

/// The offset of a valid commit frame after `from` with a seq above `after`, if any.
///
/// A torn write leaves garbage only at the end; a valid record after the damage means the
/// damage is in the middle. Candidates are filtered cheaply (length in range, commit kind,
/// plausible seq) before the checksum is computed, so the scan is linear in practice.
fn later_valid_commit(image: &[u8], from: usize, after: u64) -> Option<usize> {
    let min = record::FRAME_HEADER + record::COMMIT_PREFIX + 4;
    let mut at = from + 1;
    while at + min <= image.len() {
        let len = u32::from_le_bytes([image[at], image[at + 1], image[at + 2], image[at + 3]]) as usize;
        let body = at + record::FRAME_HEADER;
        if len >= record::COMMIT_PREFIX + 4 && body + len <= image.len() && image[body] == KIND_COMMIT {
            let mut s = [0u8; 8];
            s.copy_from_slice(&image[body + 1..body + 9]);
            let seq = u64::from_le_bytes(s);
            if seq > after
                && seq - after < (1 << 40)
                && let Frame::Valid { .. } = record::read_frame(image, at)
            {
                return Some(at);
            }
        }
        at += 1;
    }
    None
}

/// Gives queue names their numbers while recovering.
impl QueueTable {
    pub(crate) fn number(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.map.get(name) {
            return n;
        }
        let n = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.map.insert(name, n);
        n
    }
}
