//! Compact binary encoding of provenance events.
//!
//! Two forms share one event layout:
//! - a single event ([`encode_event`] / [`decode_event`]): every string inline;
//! - a batch ([`encode_events`] / [`decode_events`]): a string table up front holds component
//!   ids, types and names, relationships, flow revisions, queue ids and attribute *names*, which
//!   repeat across events; ids and timestamps are delta-encoded against the previous event.
//!
//! Batches are what blocks hold and what the engine may put in its write-ahead log. Decoding
//! never panics on arbitrary input: every length is checked against the bytes that remain, so
//! garbage yields [`ProvenanceError::Decode`], never a huge allocation.
//!
//! Event layout (varints are LEB128, zigzag for signed deltas):
//! ```text
//! id delta (zigzag) | type u8 | flags u8 | timestamp delta (zigzag) | duration
//! | flowfile uuid (16) | n parents, uuids | n children, uuids
//! | component id, type, name (strref) | [relationship strref] | [details str] | [transit str]
//! | [previous attrs] | updated attrs (unless flag SAME_ATTRS) | [prev content] | [upd content]
//! | size | lineage start delta vs timestamp (zigzag) | flow revision strref | [queue strref]
//! ```
//! A `strref` is a varint `v`: `v & 1 == 1` means string-table entry `v >> 1`, else an inline
//! string of `v >> 1` bytes follows. When previous attributes are present, updated attributes are
//! written as a diff: per entry a tag `0` (same pair as previous entry at the same index) or `1`
//! followed by name strref and value.
//!
//! In a version 2 batch the count before an attribute list (or a diff) is `n << 1` for a list
//! written out, or `(k << 1) | 1` for "the k-th list written in this batch again": each
//! distinct attribute list is written once per batch; an attribute value is `len << 1`
//! followed by its bytes, or the tag `1` for the event's flowfile uuid as text.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::ProvenanceError;
use crate::event::{AttrMap, AttrStr, ContentRef, EventType, ProvenanceEvent};
use crate::hash::FxBuild;

/// First byte of a batch in format version 1 (still read).
const BATCH_MAGIC_V1: u8 = 0xB1;
/// First byte of a batch in format version 2, written now: an attribute list already written
/// in the batch (the same shared list, e.g. a DROP after a ROUTE of the same flowfile) is a
/// back-reference instead of a copy.
const BATCH_MAGIC: u8 = 0xB2;

const F_RELATIONSHIP: u8 = 1;
const F_DETAILS: u8 = 1 << 1;
const F_TRANSIT: u8 = 1 << 2;
const F_PREV_ATTRS: u8 = 1 << 3;
const F_SAME_ATTRS: u8 = 1 << 4;
const F_PREV_CONTENT: u8 = 1 << 5;
const F_UPD_CONTENT: u8 = 1 << 6;
const F_QUEUE: u8 = 1 << 7;

/// Encodes one event (all strings inline) and appends it to `out`.
pub fn encode_event(event: &ProvenanceEvent, out: &mut Vec<u8>) {
    let mut enc = Encoder {
        table: None,
        prev_id: 0,
        prev_ts: 0,
        last_names: Vec::new(),
        maps: None,
        uuid_text: [0; 36],
        last_fields: [(0, 0, 0); 6],
    };
    enc.event(event, out);
}

/// Decodes one event written by [`encode_event`]; returns it and the number of bytes consumed.
pub fn decode_event(buf: &[u8]) -> Result<(ProvenanceEvent, usize), ProvenanceError> {
    let mut r = Reader { buf, pos: 0 };
    let mut dec = Decoder { table: Vec::new(), prev_id: 0, prev_ts: 0, maps: None, uuid: Uuid::nil() };
    let ev = dec.event(&mut r)?;
    Ok((ev, r.pos))
}

/// Encodes a batch of events (with a string table) into a new buffer.
pub fn encode_events(events: &[ProvenanceEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_events_into(events, &mut out);
    out
}

/// Encodes a batch of events (with a string table), appending to `out`.
pub fn encode_events_into(events: &[ProvenanceEvent], out: &mut Vec<u8>) {
    encode_batch(events, out, true);
}

/// Encodes a batch in format version 1 (no back-references), as releases before it wrote;
/// kept so that tests can check that stored version 1 data still decodes.
#[doc(hidden)]
pub fn encode_events_v1(events: &[ProvenanceEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch(events, &mut out, false);
    out
}

fn encode_batch(events: &[ProvenanceEvent], out: &mut Vec<u8>, v2: bool) {
    let mut body = Vec::with_capacity(events.len() * 160);
    let mut interner = Interner::with_capacity(64);
    {
        let mut enc = Encoder {
            table: Some(&mut interner),
            prev_id: 0,
            prev_ts: 0,
            last_names: Vec::new(),
            maps: v2.then(|| HashMap::with_capacity_and_hasher(events.len(), FxBuild::default())),
            uuid_text: [0; 36],
            last_fields: [(0, 0, 0); 6],
        };
        for ev in events {
            enc.event(ev, &mut body);
        }
    }
    let table_bytes: usize = interner.strings.iter().map(|s| s.len() + 2).sum();
    out.reserve(16 + table_bytes + body.len());
    out.push(if v2 { BATCH_MAGIC } else { BATCH_MAGIC_V1 });
    put_varint(out, events.len() as u64);
    put_varint(out, interner.strings.len() as u64);
    for s in &interner.strings {
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&body);
}

/// Decodes a batch written by [`encode_events`]. The whole input must be one batch.
pub fn decode_events(buf: &[u8]) -> Result<Vec<ProvenanceEvent>, ProvenanceError> {
    let mut r = Reader { buf, pos: 0 };
    let maps = match r.u8()? {
        BATCH_MAGIC => Some(Vec::new()),
        BATCH_MAGIC_V1 => None,
        _ => return Err(ProvenanceError::decode("not an event batch (bad magic)")),
    };
    // Every event takes at least 20 bytes, every table entry at least 1.
    let count = r.count(20)?;
    let n_strings = r.count(1)?;
    let mut table = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        table.push(r.inline_str()?);
    }
    let mut dec = Decoder { table, prev_id: 0, prev_ts: 0, maps, uuid: Uuid::nil() };
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(dec.event(&mut r)?);
    }
    if r.pos != buf.len() {
        return Err(ProvenanceError::decode("trailing bytes after event batch"));
    }
    Ok(events)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Per-batch string table. Strings are looked up first by pointer (the engine shares `Arc<str>`s,
/// so most lookups are a pointer hash) and then by content.
struct Interner<'a> {
    by_ptr: HashMap<(usize, usize), u32, FxBuild>,
    by_str: HashMap<&'a str, u32, FxBuild>,
    strings: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    fn with_capacity(n: usize) -> Self {
        Interner {
            by_ptr: HashMap::with_capacity_and_hasher(n, FxBuild::default()),
            by_str: HashMap::with_capacity_and_hasher(n, FxBuild::default()),
            strings: Vec::with_capacity(n),
        }
    }

    #[inline]
    fn intern(&mut self, s: &'a str) -> u32 {
        // All strings borrowed by one batch are alive for the whole encode, so a (ptr, len) pair
        // identifies one string's content for that duration.
        let key = (s.as_ptr() as usize, s.len());
        if let Some(&i) = self.by_ptr.get(&key) {
            return i;
        }
        let i = self.by_content(s);
        self.by_ptr.insert(key, i);
        i
    }

    /// Looks `s` up by content only: for attribute names, which [`AttrStr`] stores inline in
    /// each list, so that their addresses differ per list.
    #[inline]
    fn by_content(&mut self, s: &'a str) -> u32 {
        match self.by_str.entry(s) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                let i = self.strings.len() as u32;
                self.strings.push(s);
                v.insert(i);
                i
            }
        }
    }
}

struct Encoder<'t, 'a> {
    table: Option<&'t mut Interner<'a>>,
    prev_id: u64,
    prev_ts: i64,
    /// The attribute names last seen at each position with their table entries: events of one
    /// flow mostly carry the same names in the same order, so this skips the table's hashing.
    last_names: Vec<(&'a str, u32)>,
    /// In a batch: the attribute lists written so far (by address; all live for the whole
    /// encode) and their numbers, for back-references.
    maps: Option<HashMap<usize, u32, FxBuild>>,
    /// The current event's flowfile uuid as text (version 2 value tag).
    uuid_text: [u8; uuid::fmt::Hyphenated::LENGTH],
    /// Address, length and table entry of the string last written in each shared field.
    last_fields: [(usize, usize, u32); 6],
}

impl<'a> Encoder<'_, 'a> {
    #[inline]
    fn strref(&mut self, s: &'a str, out: &mut Vec<u8>) {
        match self.table.as_deref_mut() {
            Some(t) => put_varint(out, (u64::from(t.intern(s)) << 1) | 1),
            None => {
                put_varint(out, (s.len() as u64) << 1);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    /// [`Self::strref`] for one of the event's shared string fields (`slot` names which):
    /// consecutive events mostly carry the same strings, so an address compare skips the
    /// table lookup.
    #[inline]
    fn field(&mut self, slot: usize, s: &'a str, out: &mut Vec<u8>) {
        if self.table.is_none() {
            return self.strref(s, out);
        }
        let (p, n) = (s.as_ptr() as usize, s.len());
        let i = match self.last_fields[slot] {
            (lp, ln, i) if lp == p && ln == n && n > 0 => i,
            _ => {
                let i = self.table.as_deref_mut().map(|t| t.intern(s)).unwrap_or(0);
                self.last_fields[slot] = (p, n, i);
                i
            }
        };
        put_varint(out, (u64::from(i) << 1) | 1);
    }

    /// Writes the count before a list (or a diff) that yields `m`; `false` when a
    /// back-reference to an earlier copy of `m` was written instead and nothing follows.
    #[inline]
    fn list_head(&mut self, m: &'a AttrMap, out: &mut Vec<u8>) -> bool {
        let Some(maps) = self.maps.as_mut() else {
            put_varint(out, m.len() as u64);
            return true;
        };
        let next = maps.len() as u32;
        match maps.entry(Arc::as_ptr(m) as usize) {
            Entry::Occupied(e) => {
                put_varint(out, (u64::from(*e.get()) << 1) | 1);
                false
            }
            Entry::Vacant(v) => {
                v.insert(next);
                put_varint(out, (m.len() as u64) << 1);
                true
            }
        }
    }

    fn attrs(&mut self, m: &'a AttrMap, out: &mut Vec<u8>) {
        if !self.list_head(m, out) {
            return;
        }
        for (i, (k, v)) in m.iter().enumerate() {
            self.name(i, k, out);
            self.value(v, out);
        }
    }

    /// Writes an attribute value; in a version 2 batch, the event's own flowfile uuid (the
    /// `uuid` and usually the `filename` of every new flowfile) is a one-byte tag.
    #[inline]
    fn value(&mut self, v: &str, out: &mut Vec<u8>) {
        if self.maps.is_none() {
            return put_str(out, v);
        }
        if v.len() == uuid::fmt::Hyphenated::LENGTH && v.as_bytes() == self.uuid_text.as_slice() {
            out.push(1);
        } else {
            put_varint(out, (v.len() as u64) << 1);
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Writes attribute name `k` found at position `i` of its list.
    #[inline]
    fn name(&mut self, i: usize, k: &'a str, out: &mut Vec<u8>) {
        let Some(t) = self.table.as_deref_mut() else {
            return self.strref(k, out);
        };
        let n = match self.last_names.get(i) {
            Some(&(s, n)) if s == k => n,
            _ => {
                let n = t.by_content(k);
                if i < self.last_names.len() {
                    self.last_names[i] = (k, n);
                } else if i == self.last_names.len() && i < 64 {
                    self.last_names.push((k, n));
                }
                n
            }
        };
        put_varint(out, (u64::from(n) << 1) | 1);
    }

    fn attrs_diff(&mut self, prev: &'a AttrMap, upd: &'a AttrMap, out: &mut Vec<u8>) {
        if !self.list_head(upd, out) {
            return;
        }
        for (i, (k, v)) in upd.iter().enumerate() {
            let same = prev.get(i).is_some_and(|(pk, pv)| pk == k && pv == v);
            if same {
                out.push(0);
            } else {
                out.push(1);
                self.name(i, k, out);
                self.value(v, out);
            }
        }
    }

    fn event(&mut self, ev: &'a ProvenanceEvent, out: &mut Vec<u8>) {
        put_varint(out, zigzag(ev.id.wrapping_sub(self.prev_id) as i64));
        self.prev_id = ev.id;
        out.push(ev.event_type.code());
        let mut flags = 0u8;
        if ev.relationship.is_some() {
            flags |= F_RELATIONSHIP;
        }
        if ev.details.is_some() {
            flags |= F_DETAILS;
        }
        if ev.transit_uri.is_some() {
            flags |= F_TRANSIT;
        }
        if let Some(p) = &ev.previous_attributes {
            flags |= F_PREV_ATTRS;
            if Arc::ptr_eq(p, &ev.updated_attributes) {
                flags |= F_SAME_ATTRS;
            }
        }
        if ev.previous_content.is_some() {
            flags |= F_PREV_CONTENT;
        }
        if ev.updated_content.is_some() {
            flags |= F_UPD_CONTENT;
        }
        if ev.source_queue_id.is_some() {
            flags |= F_QUEUE;
        }
        out.push(flags);
        put_varint(out, zigzag(ev.timestamp_millis.wrapping_sub(self.prev_ts)));
        self.prev_ts = ev.timestamp_millis;
        put_varint(out, ev.duration_millis);
        out.extend_from_slice(ev.flowfile_uuid.as_bytes());
        put_uuids(out, &ev.parent_uuids);
        put_uuids(out, &ev.child_uuids);
        self.field(0, &ev.component_id, out);
        self.field(1, &ev.component_type, out);
        self.field(2, &ev.component_name, out);
        if let Some(r) = &ev.relationship {
            self.field(3, r, out);
        }
        if let Some(d) = &ev.details {
            put_str(out, d);
        }
        if let Some(t) = &ev.transit_uri {
            put_str(out, t);
        }
        if self.maps.is_some() {
            ev.flowfile_uuid.hyphenated().encode_lower(&mut self.uuid_text);
        }
        match &ev.previous_attributes {
            Some(p) if Arc::ptr_eq(p, &ev.updated_attributes) => self.attrs(p, out),
            Some(p) => {
                self.attrs(p, out);
                self.attrs_diff(p, &ev.updated_attributes, out);
            }
            None => self.attrs(&ev.updated_attributes, out),
        }
        if let Some(c) = &ev.previous_content {
            put_content(out, c);
        }
        if let Some(c) = &ev.updated_content {
            put_content(out, c);
        }
        put_varint(out, ev.size);
        put_varint(out, zigzag(ev.lineage_start_millis.wrapping_sub(ev.timestamp_millis)));
        self.field(4, &ev.flow_revision, out);
        if let Some(q) = &ev.source_queue_id {
            self.field(5, q, out);
        }
    }
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` as an LEB128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut buf = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    out.extend_from_slice(&buf[..=n]);
}

#[inline]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[inline]
fn put_uuids(out: &mut Vec<u8>, uuids: &[Uuid]) {
    put_varint(out, uuids.len() as u64);
    for u in uuids {
        out.extend_from_slice(u.as_bytes());
    }
}

#[inline]
fn put_content(out: &mut Vec<u8>, c: &ContentRef) {
    put_varint(out, c.segment);
    put_varint(out, c.offset);
    put_varint(out, c.len);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A bounds-checked cursor over untrusted bytes.
pub(crate) struct Reader<'b> {
    pub(crate) buf: &'b [u8],
    pub(crate) pos: usize,
}

impl<'b> Reader<'b> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'b [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, ProvenanceError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| ProvenanceError::decode("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'b [u8], ProvenanceError> {
        if n > self.remaining() {
            return Err(ProvenanceError::decode("unexpected end of input"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, ProvenanceError> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(ProvenanceError::decode("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(ProvenanceError::decode("varint too long"));
            }
        }
    }

    /// A count of items each taking at least `min_item` bytes: refuses counts the input cannot
    /// hold, so that garbage never causes a large allocation.
    #[inline]
    pub(crate) fn count(&mut self, min_item: usize) -> Result<usize, ProvenanceError> {
        let n = self.varint()?;
        let max = self.remaining() / min_item.max(1);
        if n > max as u64 {
            return Err(ProvenanceError::decode("count exceeds input length"));
        }
        Ok(n as usize)
    }

    #[inline]
    pub(crate) fn str_bytes(&mut self) -> Result<&'b str, ProvenanceError> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(ProvenanceError::decode("string length exceeds input"));
        }
        let b = self.bytes(n as usize)?;
        std::str::from_utf8(b).map_err(|_| ProvenanceError::decode("invalid UTF-8"))
    }

    #[inline]
    fn inline_str(&mut self) -> Result<Arc<str>, ProvenanceError> {
        Ok(Arc::from(self.str_bytes()?))
    }

    #[inline]
    fn uuid(&mut self) -> Result<Uuid, ProvenanceError> {
        let b = self.bytes(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_bytes(a))
    }

    fn uuids(&mut self) -> Result<Vec<Uuid>, ProvenanceError> {
        let n = self.count(16)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.uuid()?);
        }
        Ok(v)
    }

    fn content(&mut self) -> Result<ContentRef, ProvenanceError> {
        Ok(ContentRef { segment: self.varint()?, offset: self.varint()?, len: self.varint()? })
    }
}

struct Decoder {
    table: Vec<Arc<str>>,
    prev_id: u64,
    prev_ts: i64,
    /// In a version 2 batch: the attribute lists decoded so far, for back-references.
    maps: Option<Vec<AttrMap>>,
    /// The current event's flowfile uuid (version 2 value tag).
    uuid: Uuid,
}

impl Decoder {
    #[inline]
    fn strref(&self, r: &mut Reader<'_>) -> Result<Arc<str>, ProvenanceError> {
        let v = r.varint()?;
        if v & 1 == 1 {
            let i = v >> 1;
            self.table
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .cloned()
                .ok_or_else(|| ProvenanceError::decode("string table index out of range"))
        } else {
            let n = v >> 1;
            if n > r.remaining() as u64 {
                return Err(ProvenanceError::decode("string length exceeds input"));
            }
            let b = r.bytes(n as usize)?;
            let s = std::str::from_utf8(b).map_err(|_| ProvenanceError::decode("invalid UTF-8"))?;
            Ok(Arc::from(s))
        }
    }

    /// Reads the count before a list (or diff) of entries of at least `min_item` bytes, or
    /// resolves a back-reference (`Err(map)`).
    fn list_head(&self, r: &mut Reader<'_>, min_item: usize) -> Result<Result<usize, AttrMap>, ProvenanceError> {
        let Some(maps) = &self.maps else {
            return Ok(Ok(r.count(min_item)?));
        };
        let v = r.varint()?;
        if v & 1 == 1 {
            let i = usize::try_from(v >> 1).unwrap_or(usize::MAX);
            return match maps.get(i) {
                Some(m) => Ok(Err(m.clone())),
                None => Err(ProvenanceError::decode("attribute list reference out of range")),
            };
        }
        if v >> 1 > (r.remaining() / min_item) as u64 {
            return Err(ProvenanceError::decode("count exceeds input length"));
        }
        Ok(Ok((v >> 1) as usize))
    }

    /// Reads an attribute value (see `Encoder::value`).
    #[inline]
    fn value(&self, r: &mut Reader<'_>) -> Result<AttrStr, ProvenanceError> {
        if self.maps.is_none() {
            return Ok(AttrStr::new(r.str_bytes()?));
        }
        let v = r.varint()?;
        if v & 1 == 1 {
            return match v {
                1 => {
                    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                    Ok(AttrStr::new(&*self.uuid.hyphenated().encode_lower(&mut buf)))
                }
                _ => Err(ProvenanceError::decode("bad attribute value tag")),
            };
        }
        let n = v >> 1;
        if n > r.remaining() as u64 {
            return Err(ProvenanceError::decode("string length exceeds input"));
        }
        let b = r.bytes(n as usize)?;
        Ok(AttrStr::new(std::str::from_utf8(b).map_err(|_| ProvenanceError::decode("invalid UTF-8"))?))
    }

    fn remember(&mut self, m: AttrMap) -> AttrMap {
        if let Some(maps) = &mut self.maps {
            maps.push(m.clone());
        }
        m
    }

    fn attrs(&mut self, r: &mut Reader<'_>) -> Result<AttrMap, ProvenanceError> {
        let n = match self.list_head(r, 2)? {
            Ok(n) => n,
            Err(m) => return Ok(m),
        };
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let k = AttrStr::new(&*self.strref(r)?);
            let val = self.value(r)?;
            v.push((k, val));
        }
        Ok(self.remember(Arc::new(v)))
    }

    fn attrs_diff(&mut self, prev: &AttrMap, r: &mut Reader<'_>) -> Result<AttrMap, ProvenanceError> {
        let n = match self.list_head(r, 1)? {
            Ok(n) => n,
            Err(m) => return Ok(m),
        };
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            match r.u8()? {
                0 => {
                    let pair = prev.get(i).ok_or_else(|| ProvenanceError::decode("attribute diff out of range"))?;
                    v.push(pair.clone());
                }
                1 => {
                    let k = AttrStr::new(&*self.strref(r)?);
                    let val = self.value(r)?;
                    v.push((k, val));
                }
                _ => return Err(ProvenanceError::decode("bad attribute diff tag")),
            }
        }
        Ok(self.remember(Arc::new(v)))
    }

    fn event(&mut self, r: &mut Reader<'_>) -> Result<ProvenanceEvent, ProvenanceError> {
        let id = self.prev_id.wrapping_add(unzigzag(r.varint()?) as u64);
        self.prev_id = id;
        let event_type =
            EventType::from_code(r.u8()?).ok_or_else(|| ProvenanceError::decode("unknown event type code"))?;
        let flags = r.u8()?;
        let timestamp_millis = self.prev_ts.wrapping_add(unzigzag(r.varint()?));
        self.prev_ts = timestamp_millis;
        let duration_millis = r.varint()?;
        let flowfile_uuid = r.uuid()?;
        self.uuid = flowfile_uuid;
        let parent_uuids = r.uuids()?;
        let child_uuids = r.uuids()?;
        let component_id = self.strref(r)?;
        let component_type = self.strref(r)?;
        let component_name = self.strref(r)?;
        let relationship = if flags & F_RELATIONSHIP != 0 { Some(self.strref(r)?) } else { None };
        let details = if flags & F_DETAILS != 0 { Some(r.str_bytes()?.to_owned()) } else { None };
        let transit_uri = if flags & F_TRANSIT != 0 { Some(r.str_bytes()?.to_owned()) } else { None };
        let (previous_attributes, updated_attributes) = if flags & F_PREV_ATTRS != 0 {
            let prev = self.attrs(r)?;
            if flags & F_SAME_ATTRS != 0 {
                (Some(prev.clone()), prev)
            } else {
                let upd = self.attrs_diff(&prev, r)?;
                (Some(prev), upd)
            }
        } else {
            if flags & F_SAME_ATTRS != 0 {
                return Err(ProvenanceError::decode("same-attributes flag without previous"));
            }
            (None, self.attrs(r)?)
        };
        let previous_content = if flags & F_PREV_CONTENT != 0 { Some(r.content()?) } else { None };
        let updated_content = if flags & F_UPD_CONTENT != 0 { Some(r.content()?) } else { None };
        let size = r.varint()?;
        let lineage_start_millis = timestamp_millis.wrapping_add(unzigzag(r.varint()?));
        let flow_revision = self.strref(r)?;
        let source_queue_id = if flags & F_QUEUE != 0 { Some(self.strref(r)?) } else { None };
        Ok(ProvenanceEvent {
            id,
            event_type,
            timestamp_millis,
            duration_millis,
            flowfile_uuid,
            parent_uuids,
            child_uuids,
            component_id,
            component_type,
            component_name,
            relationship,
            details,
            transit_uri,
            previous_attributes,
            updated_attributes,
            previous_content,
            updated_content,
            size,
            lineage_start_millis,
            flow_revision,
            source_queue_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert_eq!(r.pos, b.len());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // 11 continuation bytes: an error, not a panic.
        let bad = [0xffu8; 11];
        assert!(Reader::new(&bad).varint().is_err());
    }
}
