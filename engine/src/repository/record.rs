//! Binary codec of the durable flowfile repository: frames, commit records and flowfile
//! records, shared by the write-ahead log and the checkpoint snapshot.
//!
//! Every file is a sequence of *frames*:
//!
//! ```text
//! frame   = len: u32 LE | crc: u32 LE | payload (len bytes)      crc = crc32(len LE ++ payload)
//! payload = kind: u8 | ...
//! ```
//!
//! The length is covered by the checksum, so a torn or overwritten header is detected like a
//! torn body. Payload kinds:
//!
//! ```text
//! LOG_HEADER  magic "SLUICEWAL" | version u8 | file number u64 LE | previous file's length u64 LE
//! COMMIT      seq u64 LE | events len u32 LE | events (sluice_provenance batch) | n changes varint
//!             | changes: 0 queue-str uuid[16]        (dequeue)
//!                        1 queue-str flowfile        (enqueue)
//! SNAP_HEADER magic "SLUICESNAP" | version u8 | seq u64 LE | first log u64 LE | flowfiles u64 LE
//! SNAP_QUEUE  queue-str | n varint | flowfile * n
//! SNAP_END    queues varint | flowfiles varint
//! flowfile    id[16] | entry ms (zigzag) | lineage start - entry (zigzag) | queued - entry (zigzag)
//!             | penalty until (zigzag) | retry count | n attrs | (name-str value-str) * n
//!             | content: 0 (empty) | 1 len bytes (in memory, inlined) | 2 segment offset len (claim)
//! ```
//!
//! Integers without a stated width are LEB128 varints. Strings are per-frame interned: a
//! varint `v` whose low two bits say what follows: `0` an inline string of `v >> 2` bytes
//! (which also gets the next table index), `1` the table entry `v >> 2`, `2` the flowfile's
//! id as text (the `uuid` attribute, and often `filename`). Attribute names and short values
//! repeat across the flowfiles of a commit or snapshot chunk, so they are written once per
//! frame, and decoding shares one `Arc<str>` per distinct string.
//!
//! Decoding never panics on arbitrary input: every length is checked against the bytes left.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use sluice_provenance::ContentRef;
use uuid::Uuid;

use crate::attributes::{AttrStr, Attributes};
use crate::content::Content;
use crate::flowfile::FlowFile;

use super::RepoChange;

/// Bytes of a frame header (length and checksum).
pub(crate) const FRAME_HEADER: usize = 8;
/// The largest payload a frame may have; bigger commits are refused.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Payload kind: first frame of every log file.
pub(crate) const KIND_LOG_HEADER: u8 = 0x01;
/// Payload kind: one session commit.
pub(crate) const KIND_COMMIT: u8 = 0x02;
/// Payload kind: first frame of a snapshot.
pub(crate) const KIND_SNAP_HEADER: u8 = 0x11;
/// Payload kind: a run of queued flowfiles of one queue.
pub(crate) const KIND_SNAP_QUEUE: u8 = 0x12;
/// Payload kind: last frame of a snapshot (its presence proves the snapshot complete).
pub(crate) const KIND_SNAP_END: u8 = 0x13;

/// Magic of a log file header.
pub(crate) const LOG_MAGIC: &[u8; 9] = b"SLUICEWAL";
/// Magic of a snapshot header.
pub(crate) const SNAP_MAGIC: &[u8; 10] = b"SLUICESNAP";
/// Format version of logs and snapshots.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Bytes of a commit payload before its body: kind and seq.
pub(crate) const COMMIT_PREFIX: usize = 9;

const TAG_DEQUEUE: u8 = 0;
const TAG_ENQUEUE: u8 = 1;
const CONTENT_EMPTY: u8 = 0;
const CONTENT_MEMORY: u8 = 1;
const CONTENT_STORED: u8 = 2;
const STR_INLINE: u64 = 0;
const STR_REF: u64 = 1;
const STR_ID: u64 = 2;
/// Values up to this length are interned (names always are); longer ones are rarely shared.
const INTERN_VALUE_MAX: usize = 32;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The checksum of a frame: covers the length field and the payload.
pub(crate) fn frame_crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Starts a frame in `out`: reserves the header; returns where it starts.
pub(crate) fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    start
}

/// Completes the frame begun at `start` (fills in length and checksum).
pub(crate) fn end_frame(out: &mut [u8], start: usize) -> Result<(), DecodeError> {
    let len = out.len() - start - FRAME_HEADER;
    if len == 0 || len > MAX_FRAME {
        return Err(DecodeError("frame payload empty or larger than 1 GiB"));
    }
    let len = len as u32;
    let crc = frame_crc(len, &out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The result of reading one frame at a position of an in-memory file image.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A valid frame: its payload and the offset just after it.
    Valid { payload: &'a [u8], next: usize },
    /// No bytes left: a clean end.
    End,
    /// Not a valid frame (torn, truncated, corrupt).
    Invalid(&'static str),
}

/// Reads the frame at `pos` of `buf`.
pub(crate) fn read_frame(buf: &[u8], pos: usize) -> Frame<'_> {
    let rest = &buf[pos.min(buf.len())..];
    if rest.is_empty() {
        return Frame::End;
    }
    if rest.len() < FRAME_HEADER {
        return Frame::Invalid("truncated frame header");
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len == 0 || len as usize > MAX_FRAME {
        return Frame::Invalid("bad frame length");
    }
    let Some(payload) = rest.get(FRAME_HEADER..FRAME_HEADER + len as usize) else {
        return Frame::Invalid("frame runs past the end of the file");
    };
    if frame_crc(len, payload) != crc {
        return Frame::Invalid("frame checksum mismatch");
    }
    Frame::Valid { payload, next: pos + FRAME_HEADER + len as usize }
}

// ---------------------------------------------------------------------------------------
// Primitive encoding

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// A cursor over a payload; every read is bounds-checked.
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError("unexpected end of record"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError("length runs past the end of the record"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long"))
    }

    pub(crate) fn ivarint(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.varint()?))
    }

    /// A count of items that each take at least `min_bytes`, checked against what is left.
    pub(crate) fn count(&mut self, min_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(DecodeError("count larger than the record"));
        }
        Ok(n as usize)
    }

    pub(crate) fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let b = self.bytes(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_bytes(a))
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError("trailing bytes after record"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Interned strings

/// A small, fast hasher (FxHash) for maps keyed by strings and ids in hot paths.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxBuild;

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// See [`FxBuild`].
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.add(u64::from_le_bytes(a));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(a) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Interns strings while one frame is encoded.
pub(crate) struct StrEnc<'a> {
    map: HashMap<&'a str, u32, FxBuild>,
    next: u32,
    /// The interned string last written at each attribute slot (name or value at a position
    /// of the list) with its number: flowfiles of one queue mostly repeat them, so a compare
    /// replaces a hash lookup.
    recent: Vec<(&'a str, u32)>,
}

impl Default for StrEnc<'_> {
    fn default() -> Self {
        StrEnc { map: HashMap::with_capacity_and_hasher(32, FxBuild), next: 0, recent: Vec::new() }
    }
}

impl<'a> StrEnc<'a> {
    /// Writes `s`, as a reference if it was written before in this frame and was interned;
    /// returns its number in the frame's string table.
    pub(crate) fn put(&mut self, out: &mut Vec<u8>, s: &'a str, intern: bool) -> u32 {
        if let Some(&i) = self.map.get(s) {
            put_varint(out, (u64::from(i) << 2) | STR_REF);
            return i;
        }
        put_varint(out, ((s.len() as u64) << 2) | STR_INLINE);
        out.extend_from_slice(s.as_bytes());
        let i = self.next;
        if intern {
            self.map.insert(s, i);
        }
        self.next += 1;
        i
    }

    /// [`Self::put`] of an interned string for attribute slot `slot`, first checking what
    /// that slot held last.
    #[inline]
    pub(crate) fn put_slot(&mut self, out: &mut Vec<u8>, s: &'a str, slot: usize) {
        if let Some(&(last, i)) = self.recent.get(slot)
            && last == s
        {
            put_varint(out, (u64::from(i) << 2) | STR_REF);
            return;
        }
        let i = self.put(out, s, true);
        if slot < self.recent.len() {
            self.recent[slot] = (s, i);
        } else if slot == self.recent.len() && slot < 128 {
            self.recent.push((s, i));
        }
    }
}

/// The table of strings seen while one frame is decoded.
#[derive(Default)]
pub(crate) struct StrDec {
    table: Vec<AttrStr>,
}

impl StrDec {
    /// Reads a string; `id_text` supplies the flowfile's id as text when the tag asks for it.
    pub(crate) fn get(
        &mut self,
        d: &mut Dec<'_>,
        id_text: &mut dyn FnMut() -> AttrStr,
    ) -> Result<AttrStr, DecodeError> {
        let v = d.varint()?;
        match v & 3 {
            STR_INLINE => {
                let len = usize::try_from(v >> 2).map_err(|_| DecodeError("string too long"))?;
                let b = d.bytes(len)?;
                let s = AttrStr::new(std::str::from_utf8(b).map_err(|_| DecodeError("string is not UTF-8"))?);
                self.table.push(s.clone());
                Ok(s)
            }
            STR_REF => {
                let i = usize::try_from(v >> 2).map_err(|_| DecodeError("string reference too large"))?;
                self.table.get(i).cloned().ok_or(DecodeError("string reference out of range"))
            }
            STR_ID => Ok(id_text()),
            _ => Err(DecodeError("bad string tag")),
        }
    }

    /// Reads a string that cannot be the flowfile's id.
    pub(crate) fn get_plain(&mut self, d: &mut Dec<'_>) -> Result<AttrStr, DecodeError> {
        self.get(d, &mut AttrStr::default)
    }
}

// ---------------------------------------------------------------------------------------
// Flowfiles

/// Appends the record of `ff` to `out`.
pub(crate) fn encode_flowfile<'a>(out: &mut Vec<u8>, ff: &'a FlowFile, strs: &mut StrEnc<'a>) {
    out.extend_from_slice(ff.id.as_bytes());
    put_ivarint(out, ff.entry_millis);
    put_ivarint(out, ff.lineage_start_millis.wrapping_sub(ff.entry_millis));
    put_ivarint(out, ff.queued_millis.wrapping_sub(ff.entry_millis));
    put_ivarint(out, ff.penalty_until_millis);
    put_varint(out, u64::from(ff.retry_count));
    let mut id_buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id_text: &str = ff.id.hyphenated().encode_lower(&mut id_buf);
    put_varint(out, ff.attributes.len() as u64);
    for (i, (name, value)) in ff.attributes.iter().enumerate() {
        strs.put_slot(out, name, 2 * i);
        if value == id_text {
            put_varint(out, STR_ID);
        } else if value.len() <= INTERN_VALUE_MAX {
            strs.put_slot(out, value, 2 * i + 1);
        } else {
            strs.put(out, value, false);
        }
    }
    match &ff.content {
        Content::Empty => out.push(CONTENT_EMPTY),
        Content::Memory(b) => {
            out.push(CONTENT_MEMORY);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Content::Stored(c) => {
            out.push(CONTENT_STORED);
            put_varint(out, c.segment);
            put_varint(out, c.offset);
            put_varint(out, c.len);
        }
    }
}

/// Decodes a flowfile record; `claim` turns a stored location back into content (the
/// content repository's `claim_existing`, so that its segment is referenced again).
pub(crate) fn decode_flowfile(
    d: &mut Dec<'_>,
    strs: &mut StrDec,
    claim: &dyn Fn(ContentRef) -> Content,
) -> Result<FlowFile, DecodeError> {
    let id = d.uuid()?;
    let entry_millis = d.ivarint()?;
    let lineage_start_millis = entry_millis.wrapping_add(d.ivarint()?);
    let queued_millis = entry_millis.wrapping_add(d.ivarint()?);
    let penalty_until_millis = d.ivarint()?;
    let retry_count = u32::try_from(d.varint()?).map_err(|_| DecodeError("retry count too large"))?;
    let n = d.count(2)?;
    let mut id_text: Option<AttrStr> = None;
    let mut text = || {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        id_text.get_or_insert_with(|| AttrStr::new(&*id.hyphenated().encode_lower(&mut buf))).clone()
    };
    let mut attrs = Vec::with_capacity(n);
    for _ in 0..n {
        let name = strs.get_plain(d)?;
        let value = strs.get(d, &mut text)?;
        attrs.push((name, value));
    }
    let content = match d.u8()? {
        CONTENT_EMPTY => Content::Empty,
        CONTENT_MEMORY => {
            let len = d.count(1)?;
            Content::Memory(Bytes::copy_from_slice(d.bytes(len)?))
        }
        CONTENT_STORED => {
            let segment = d.varint()?;
            let offset = d.varint()?;
            let len = d.varint()?;
            claim(ContentRef { segment, offset, len })
        }
        _ => return Err(DecodeError("bad content tag")),
    };
    Ok(FlowFile {
        id,
        attributes: Attributes::from_shared(Arc::new(attrs)),
        content,
        entry_millis,
        lineage_start_millis,
        queued_millis,
        penalty_until_millis,
        retry_count,
        session_slot: u32::MAX,
    })
}

// ---------------------------------------------------------------------------------------
// Commit records

/// Encodes the body of a commit record (everything after kind and seq) into `out`.
pub(crate) fn encode_commit_body(
    out: &mut Vec<u8>,
    changes: &[RepoChange<'_>],
    events: &[sluice_provenance::ProvenanceEvent],
) {
    let at = out.len();
    out.extend_from_slice(&[0u8; 4]);
    if !events.is_empty() {
        sluice_provenance::encode_events_into(events, out);
    }
    let events_len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&events_len.to_le_bytes());
    put_varint(out, changes.len() as u64);
    let mut strs = StrEnc::default();
    for change in changes {
        match change {
            RepoChange::Dequeue { queue, id } => {
                out.push(TAG_DEQUEUE);
                strs.put(out, queue, true);
                out.extend_from_slice(id.as_bytes());
            }
            RepoChange::Enqueue { queue, flowfile } => {
                out.push(TAG_ENQUEUE);
                strs.put(out, queue, true);
                encode_flowfile(out, flowfile, &mut strs);
            }
        }
    }
}

/// Appends a whole commit frame (header, kind, seq, body) to `out`.
pub(crate) fn encode_commit_frame(out: &mut Vec<u8>, seq: u64, body: &[u8]) -> Result<(), DecodeError> {
    let start = begin_frame(out);
    out.push(KIND_COMMIT);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(body);
    end_frame(out, start)
}

/// One change as read back from the log.
#[derive(Debug)]
pub(crate) enum DecodedChange {
    /// `flowfile` was queued in `queue`.
    Enqueue(AttrStr, FlowFile),
    /// `id` left `queue`.
    Dequeue(AttrStr, Uuid),
}

/// The fixed part of a commit payload, read without decoding the changes.
pub(crate) struct CommitHead<'a> {
    /// Sequence number.
    pub seq: u64,
    /// The encoded provenance events (empty when the commit had none).
    pub events: &'a [u8],
    /// The encoded changes.
    pub changes: &'a [u8],
}

/// Splits a commit payload (starting with its kind byte).
pub(crate) fn commit_head(payload: &[u8]) -> Result<CommitHead<'_>, DecodeError> {
    let mut d = Dec::new(payload);
    if d.u8()? != KIND_COMMIT {
        return Err(DecodeError("not a commit record"));
    }
    let seq = d.u64_le()?;
    let n = d.u32_le()? as usize;
    let events = d.bytes(n)?;
    let changes = &payload[d.pos..];
    Ok(CommitHead { seq, events, changes })
}

/// Decodes the changes part of a commit record.
pub(crate) fn decode_changes(
    buf: &[u8],
    claim: &dyn Fn(ContentRef) -> Content,
) -> Result<Vec<DecodedChange>, DecodeError> {
    let mut d = Dec::new(buf);
    let n = d.count(18)?;
    let mut strs = StrDec::default();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match d.u8()? {
            TAG_DEQUEUE => {
                let q = strs.get_plain(&mut d)?;
                out.push(DecodedChange::Dequeue(q, d.uuid()?));
            }
            TAG_ENQUEUE => {
                let q = strs.get_plain(&mut d)?;
                out.push(DecodedChange::Enqueue(q, decode_flowfile(&mut d, &mut strs, claim)?));
            }
            _ => return Err(DecodeError("bad change tag")),
        }
    }
    d.finish()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Log file header

/// Appends a log file header frame.
pub(crate) fn encode_log_header(out: &mut Vec<u8>, file_no: u64, prev_len: u64) -> Result<(), DecodeError> {
    let start = begin_frame(out);
    out.push(KIND_LOG_HEADER);
    out.extend_from_slice(LOG_MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&file_no.to_le_bytes());
    out.extend_from_slice(&prev_len.to_le_bytes());
    end_frame(out, start)
}

/// A decoded log file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogHeader {
    /// The file's number.
    pub file_no: u64,
    /// Valid length of the previous log file when this one was started (`u64::MAX`: unknown).
    pub prev_len: u64,
}

/// Decodes a log header payload.
pub(crate) fn decode_log_header(payload: &[u8]) -> Result<LogHeader, DecodeError> {
    let mut d = Dec::new(payload);
    if d.u8()? != KIND_LOG_HEADER || d.bytes(LOG_MAGIC.len())? != LOG_MAGIC {
        return Err(DecodeError("not a log file header"));
    }
    if d.u8()? != FORMAT_VERSION {
        return Err(DecodeError("unsupported log format version"));
    }
    let h = LogHeader { file_no: d.u64_le()?, prev_len: d.u64_le()? };
    d.finish()?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ContentRepository;

    /// A deterministic generator (xorshift), so failures reproduce.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn random_string(r: &mut Rng) -> String {
        const PIECES: [&str; 8] = ["a", "filename", "é", "mime.type", "", "😀", "x.y.z", "0123456789"];
        (0..r.below(5)).map(|_| PIECES[r.below(PIECES.len() as u64) as usize]).collect()
    }

    fn random_i64(r: &mut Rng) -> i64 {
        match r.below(4) {
            0 => 0,
            1 => i64::MIN + r.below(3) as i64,
            2 => i64::MAX - r.below(3) as i64,
            _ => 1_700_000_000_000 + r.below(1 << 40) as i64 - (1 << 39),
        }
    }

    fn random_flowfile(r: &mut Rng, content: &Arc<ContentRepository>) -> FlowFile {
        let c = match r.below(3) {
            0 => Content::Empty,
            1 => Content::Memory(Bytes::from((0..r.below(300)).map(|i| i as u8).collect::<Vec<u8>>())),
            _ => content.claim_existing(ContentRef {
                segment: r.next(),
                offset: r.below(1 << 62),
                len: 1 + r.below(1 << 62),
            }),
        };
        let mut ff = FlowFile::new(c);
        ff.id = Uuid::from_u128(u128::from(r.next()) << 64 | u128::from(r.next()));
        let id_text = ff.id.to_string();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for _ in 0..r.below(12) {
            let value = if r.below(4) == 0 { id_text.clone() } else { random_string(r) };
            pairs.push((random_string(r), value));
        }
        pairs.push(("uuid".into(), id_text));
        ff.attributes = Attributes::from_shared(Arc::new(
            pairs.into_iter().map(|(k, v)| (AttrStr::from(k), AttrStr::from(v))).collect(),
        ));
        ff.entry_millis = random_i64(r);
        ff.lineage_start_millis = random_i64(r);
        ff.queued_millis = random_i64(r);
        ff.penalty_until_millis = random_i64(r);
        ff.retry_count = match r.below(3) {
            0 => 0,
            1 => u32::MAX,
            _ => r.next() as u32,
        };
        ff
    }

    pub(crate) fn assert_same_flowfile(a: &FlowFile, b: &FlowFile) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.attributes.iter().collect::<Vec<_>>(), b.attributes.iter().collect::<Vec<_>>());
        match (&a.content, &b.content) {
            (Content::Empty, Content::Empty) => {}
            (Content::Memory(x), Content::Memory(y)) => assert_eq!(x, y),
            (Content::Stored(x), Content::Stored(y)) => assert_eq!(x.location(), y.location()),
            (x, y) => panic!("content differs: {x:?} vs {y:?}"),
        }
        assert_eq!(a.entry_millis, b.entry_millis);
        assert_eq!(a.lineage_start_millis, b.lineage_start_millis);
        assert_eq!(a.queued_millis, b.queued_millis);
        assert_eq!(a.penalty_until_millis, b.penalty_until_millis);
        assert_eq!(a.retry_count, b.retry_count);
        assert_eq!(b.session_slot, u32::MAX);
    }

    #[test]
    fn record_codec_round_trips_random_commits() {
        let content = ContentRepository::in_memory();
        let claim = |loc: ContentRef| content.claim_existing(loc);
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..500 {
            let ffs: Vec<FlowFile> = (0..r.below(20)).map(|_| random_flowfile(&mut r, &content)).collect();
            let queues: Vec<String> = (0..ffs.len() + 3).map(|_| format!("q{}", r.below(4))).collect();
            let mut changes = Vec::new();
            for (i, ff) in ffs.iter().enumerate() {
                if r.below(3) == 0 {
                    changes
                        .push(RepoChange::Dequeue { queue: &queues[i + 1], id: Uuid::from_u128(u128::from(r.next())) });
                }
                changes.push(RepoChange::Enqueue { queue: &queues[i], flowfile: ff });
            }
            let mut body = Vec::new();
            encode_commit_body(&mut body, &changes, &[]);
            let mut frame = Vec::new();
            encode_commit_frame(&mut frame, round, &body).expect("frame");
            let Frame::Valid { payload, next } = read_frame(&frame, 0) else { panic!("frame not valid") };
            assert_eq!(next, frame.len());
            let head = commit_head(payload).expect("head");
            assert_eq!(head.seq, round);
            assert!(head.events.is_empty());
            let decoded = decode_changes(head.changes, &claim).expect("decode");
            assert_eq!(decoded.len(), changes.len());
            for (want, got) in changes.iter().zip(&decoded) {
                match (want, got) {
                    (RepoChange::Dequeue { queue, id }, DecodedChange::Dequeue(q, i)) => {
                        assert_eq!(*queue, &**q);
                        assert_eq!(id, i);
                    }
                    (RepoChange::Enqueue { queue, flowfile }, DecodedChange::Enqueue(q, f)) => {
                        assert_eq!(*queue, &**q);
                        assert_same_flowfile(flowfile, f);
                    }
                    _ => panic!("change kind differs"),
                }
            }
        }
    }

    #[test]
    fn decoding_garbage_never_panics() {
        let content = ContentRepository::in_memory();
        let claim = |loc: ContentRef| content.claim_existing(loc);
        let mut r = Rng(7);
        let ff = random_flowfile(&mut r, &content);
        let mut body = Vec::new();
        encode_commit_body(&mut body, &[RepoChange::Enqueue { queue: "q", flowfile: &ff }], &[]);
        for _ in 0..20_000 {
            let mut b = body.clone();
            let i = r.below(b.len() as u64) as usize;
            b[i] ^= 1 << r.below(8);
            b.truncate(b.len() - r.below(4) as usize);
            let _ = decode_changes(&b[4..], &claim);
        }
    }

    #[test]
    fn frames_detect_every_single_bit_flip() {
        let mut frame = Vec::new();
        encode_log_header(&mut frame, 3, 99).expect("header");
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut f = frame.clone();
                f[byte] ^= 1 << bit;
                assert!(matches!(read_frame(&f, 0), Frame::Invalid(_)), "flip at {byte}:{bit} undetected");
            }
        }
        let Frame::Valid { payload, .. } = read_frame(&frame, 0) else { panic!() };
        assert_eq!(decode_log_header(payload), Ok(LogHeader { file_no: 3, prev_len: 99 }));
    }
}
