//! Blocks: a few hundred to a few thousand events, encoded as one batch and compressed, plus the
//! block's index summary (what a query needs to decide whether to decode it) and its attribute
//! filter.
//!
//! Key layout in the one sled tree (see [`crate::store`]):
//! - `b/<block id, u64 BE>` → block value: format byte `1`, then LZ4 (size-prepended) of an
//!   [`crate::encode_events`] batch, events sorted by id;
//! - `i/<block id>` → [`BlockSummary`] (version byte `1`, then varints);
//! - `a/<block id>` → [`AttrFilter`], a Bloom filter over `name=value` attribute pairs, read only by
//!   attribute queries (it is too large to keep every block's in memory).

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::codec::{Reader, decode_events, encode_events_into, put_varint};
use crate::error::ProvenanceError;
use crate::event::{AttrStr, EventType, ProvenanceEvent};
use crate::hash::{FxBuild, attr_hash, attr_name_hash, attr_value_hash, uuid_hash};

/// Block value format: LZ4 block compression of an event batch.
const BLOCK_FORMAT_LZ4: u8 = 1;
/// Summary format version.
const SUMMARY_VERSION: u8 = 1;
/// Refuse to decompress a block that claims to be larger than this (corruption guard).
const MAX_BLOCK_RAW: usize = 512 << 20;

/// Largest block value the writer makes (unless one event alone is larger): a sled leaf holds
/// up to 16 values and must stay below sled's blob threshold (see [`crate::store`]).
pub(crate) const MAX_BLOCK_VALUE_BYTES: usize = 96 << 10;

/// Key prefix of block values.
pub(crate) const PREFIX_BLOCK: &[u8] = b"b/";
/// Key prefix of block index summaries.
pub(crate) const PREFIX_INDEX: &[u8] = b"i/";
/// Key prefix of attribute filters.
pub(crate) const PREFIX_ATTR: &[u8] = b"a/";

/// The key of block `id` under `prefix`.
pub(crate) fn block_key(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The block id in a key made by [`block_key`].
pub(crate) fn key_block_id(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(2..10)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// In-memory summary of one block: enough to rule the block out of most queries without reading
/// it. Kept for every block, rebuilt on open from the `i/` keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockSummary {
    pub block_id: u64,
    pub min_id: u64,
    pub max_id: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub events: u32,
    /// Bytes this block occupies in the store (block + summary + attribute filter values).
    pub stored_bytes: u64,
    /// Bit `t.code()` set when an event of type `t` is in the block.
    pub type_mask: u32,
    /// Sorted, deduplicated component ids *and* names of the block's events.
    pub components: Box<[Arc<str>]>,
    /// Sorted, deduplicated 32-bit hashes of every flowfile, parent and child UUID in the block.
    pub flowfiles: Box<[u32]>,
}

impl BlockSummary {
    /// Whether the block may hold an event of `component` (an id or a name).
    pub fn may_have_component(&self, component: &str) -> bool {
        self.components.binary_search_by(|c| (**c).cmp(component)).is_ok()
    }

    /// Whether the block may hold an event concerning a flowfile with this [`uuid_hash`].
    pub fn may_have_flowfile(&self, hash: u32) -> bool {
        self.flowfiles.binary_search(&hash).is_ok()
    }

    /// Whether the block may hold an event of type `t`.
    pub fn may_have_type(&self, t: EventType) -> bool {
        self.type_mask & t.mask_bit() != 0
    }

    /// Whether the block's time range meets `[since, until]`.
    pub fn overlaps_time(&self, since: Option<i64>, until: Option<i64>) -> bool {
        since.is_none_or(|s| self.max_ts >= s) && until.is_none_or(|u| self.min_ts <= u)
    }

    /// Serialises the summary (the `i/` value).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.flowfiles.len() * 5);
        out.push(SUMMARY_VERSION);
        put_varint(&mut out, self.block_id);
        put_varint(&mut out, self.min_id);
        put_varint(&mut out, self.max_id - self.min_id);
        out.extend_from_slice(&self.min_ts.to_le_bytes());
        put_varint(&mut out, self.max_ts.wrapping_sub(self.min_ts) as u64);
        put_varint(&mut out, u64::from(self.events));
        put_varint(&mut out, self.stored_bytes);
        put_varint(&mut out, u64::from(self.type_mask));
        put_varint(&mut out, self.components.len() as u64);
        for c in self.components.iter() {
            put_varint(&mut out, c.len() as u64);
            out.extend_from_slice(c.as_bytes());
        }
        put_varint(&mut out, self.flowfiles.len() as u64);
        let mut prev = 0u32;
        for &h in self.flowfiles.iter() {
            put_varint(&mut out, u64::from(h - prev));
            prev = h;
        }
        out
    }

    /// Parses an `i/` value; component strings are shared through `pool`.
    pub fn decode(buf: &[u8], pool: &StringPool) -> Result<Self, ProvenanceError> {
        let mut r = Reader::new(buf);
        if r.u8()? != SUMMARY_VERSION {
            return Err(ProvenanceError::decode("unknown block summary version"));
        }
        let block_id = r.varint()?;
        let min_id = r.varint()?;
        let max_id = min_id.checked_add(r.varint()?).ok_or_else(|| ProvenanceError::decode("id range overflow"))?;
        let ts: [u8; 8] = r.bytes(8)?.try_into().expect("8 bytes");
        let min_ts = i64::from_le_bytes(ts);
        let max_ts = min_ts.wrapping_add(r.varint()? as i64);
        let events = u32::try_from(r.varint()?).map_err(|_| ProvenanceError::decode("event count overflow"))?;
        let stored_bytes = r.varint()?;
        let type_mask = u32::try_from(r.varint()?).map_err(|_| ProvenanceError::decode("type mask overflow"))?;
        let nc = r.count(1)?;
        let mut components = Vec::with_capacity(nc);
        for _ in 0..nc {
            components.push(pool.intern(r.str_bytes()?));
        }
        let nf = r.count(1)?;
        let mut flowfiles = Vec::with_capacity(nf);
        let mut prev = 0u32;
        for _ in 0..nf {
            let d = u32::try_from(r.varint()?).map_err(|_| ProvenanceError::decode("flowfile hash overflow"))?;
            prev = prev.checked_add(d).ok_or_else(|| ProvenanceError::decode("flowfile hash overflow"))?;
            flowfiles.push(prev);
        }
        if r.pos != buf.len() {
            return Err(ProvenanceError::decode("trailing bytes after block summary"));
        }
        Ok(BlockSummary {
            block_id,
            min_id,
            max_id,
            min_ts,
            max_ts,
            events,
            stored_bytes,
            type_mask,
            components: components.into_boxed_slice(),
            flowfiles: flowfiles.into_boxed_slice(),
        })
    }
}

/// Interns component strings across all block summaries, so that ten thousand blocks naming the
/// same twenty processors hold twenty strings.
#[derive(Default)]
pub(crate) struct StringPool {
    set: Mutex<HashSet<Arc<str>, FxBuild>>,
}

impl StringPool {
    /// The pooled copy of `s`.
    pub fn intern(&self, s: &str) -> Arc<str> {
        let mut set = self.set.lock();
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        set.insert(a.clone());
        a
    }
}

/// A Bloom filter over a block's attribute `name=value` pairs (previous and updated).
///
/// About 10 bits per pair and 7 probes: ~1% false positives, so an attribute query decodes about
/// one block in a hundred that do not match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttrFilter {
    k: u32,
    bits: Vec<u64>,
}

impl AttrFilter {
    const K: u32 = 7;
    const BITS_PER_ITEM: usize = 10;

    fn with_items(n: usize) -> Self {
        // At most 2^32 bits: probes are mapped with 32-bit multiply-shift.
        let words = (n * Self::BITS_PER_ITEM).div_ceil(64).clamp(1, 1 << 26);
        AttrFilter { k: Self::K, bits: vec![0; words] }
    }

    /// The bit positions for hash `h`: double hashing, each 32-bit probe mapped onto the `m`
    /// bits by multiply-shift (a division per probe made the writer measurably slower).
    #[inline]
    fn probes(m: u64, k: u32, h: u64) -> impl Iterator<Item = usize> {
        let h1 = h as u32;
        let h2 = ((h >> 32) as u32) | 1;
        (0..k).map(move |i| ((u64::from(h1.wrapping_add(i.wrapping_mul(h2))) * m) >> 32) as usize)
    }

    #[inline]
    fn insert(&mut self, h: u64) {
        let m = (self.bits.len() * 64) as u64;
        for bit in Self::probes(m, self.k, h) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether the pair may be in the block (false positives possible, no false negatives).
    pub fn may_contain(&self, name: &str, value: &str) -> bool {
        let m = (self.bits.len() * 64) as u64;
        Self::probes(m, self.k, attr_hash(name, value)).all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// Serialises the filter (the `a/` value).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.bits.len() * 8);
        out.push(self.k as u8);
        put_varint(&mut out, self.bits.len() as u64);
        for w in &self.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Parses an `a/` value.
    pub fn decode(buf: &[u8]) -> Result<Self, ProvenanceError> {
        let mut r = Reader::new(buf);
        let k = u32::from(r.u8()?);
        if k == 0 || k > 32 {
            return Err(ProvenanceError::decode("bad attribute filter"));
        }
        let n = r.count(8)?;
        if n == 0 || n > (u32::MAX as usize) / 64 {
            return Err(ProvenanceError::decode("empty attribute filter"));
        }
        let mut bits = Vec::with_capacity(n);
        for _ in 0..n {
            let w: [u8; 8] = r.bytes(8)?.try_into().expect("8 bytes");
            bits.push(u64::from_le_bytes(w));
        }
        Ok(AttrFilter { k, bits })
    }
}

/// A block ready to be written: its three values and its in-memory summary.
pub(crate) struct BuiltBlock {
    pub summary: BlockSummary,
    pub block_value: Vec<u8>,
    pub summary_value: Vec<u8>,
    pub attr_value: Vec<u8>,
}

/// Builds block `block_id` from `events` (sorted by id here if they are not already).
///
/// `scratch` is a reusable buffer for the uncompressed batch.
pub(crate) fn build_block(
    block_id: u64,
    events: &mut [ProvenanceEvent],
    pool: &StringPool,
    scratch: &mut Vec<u8>,
) -> BuiltBlock {
    if !events.is_sorted_by_key(|e| e.id) {
        events.sort_by_key(|e| e.id);
    }
    scratch.clear();
    encode_events_into(events, scratch);
    let mut block_value = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(scratch.len())];
    block_value[0] = BLOCK_FORMAT_LZ4;
    block_value[1..5].copy_from_slice(&(scratch.len() as u32).to_le_bytes());
    let n = lz4_flex::block::compress_into(scratch, &mut block_value[5..])
        .expect("output sized by get_maximum_output_size");
    block_value.truncate(5 + n);

    let mut min_ts = i64::MAX;
    let mut max_ts = i64::MIN;
    let mut type_mask = 0u32;
    let mut comps: Vec<&Arc<str>> = Vec::with_capacity(32);
    let mut flowfiles: Vec<u32> = Vec::with_capacity(events.len() * 2);
    let mut attr_items = 0usize;
    for e in events.iter() {
        min_ts = min_ts.min(e.timestamp_millis);
        max_ts = max_ts.max(e.timestamp_millis);
        type_mask |= e.event_type.mask_bit();
        for c in [&e.component_id, &e.component_name] {
            if !comps.iter().any(|x| Arc::ptr_eq(x, c)) {
                comps.push(c);
            }
        }
        flowfiles.push(uuid_hash(&e.flowfile_uuid));
        flowfiles.extend(e.parent_uuids.iter().map(uuid_hash));
        flowfiles.extend(e.child_uuids.iter().map(uuid_hash));
        attr_items += e.updated_attributes.len();
        if let Some(p) = &e.previous_attributes
            && !Arc::ptr_eq(p, &e.updated_attributes)
        {
            attr_items += p.len();
        }
    }
    let mut comp_strs: Vec<&str> = comps.iter().map(|c| &***c).collect();
    comp_strs.sort_unstable();
    comp_strs.dedup();
    let components: Box<[Arc<str>]> = comp_strs.iter().map(|c| pool.intern(c)).collect();
    flowfiles.sort_unstable();
    flowfiles.dedup();

    let mut filter = AttrFilter::with_items(attr_items);
    // The same few attribute names repeat on every event: hash each name once.
    let mut name_hashes: Vec<(AttrStr, u64)> = Vec::with_capacity(32);
    let mut name_hash = |k: &AttrStr| -> u64 {
        if let Some(&(_, h)) = name_hashes.iter().find(|(q, _)| q == k) {
            return h;
        }
        let h = attr_name_hash(k);
        if name_hashes.len() < 256 {
            name_hashes.push((k.clone(), h));
        }
        h
    };
    // Consecutive events of one flowfile share attribute lists (a ROUTE and its DROP, a
    // CREATE and the next step's "previous"): each list is hashed once per block.
    let mut seen: HashSet<usize, FxBuild> = HashSet::with_capacity_and_hasher(events.len() * 2, FxBuild::default());
    // Long values (a flowfile's uuid as `uuid` and `filename`) are shared by all the lists of
    // one flowfile: remember the hash of the last few by (name hash, address).
    let mut long_hashes = [(0u64, 0usize, 0u64); 64];
    let mut value_hash = |nh: u64, v: &AttrStr| -> u64 {
        if v.len() <= 23 {
            return attr_value_hash(nh, v);
        }
        let p = v.as_ptr() as usize;
        let slot = &mut long_hashes[((p >> 4) ^ nh as usize) & 63];
        if slot.0 == nh && slot.1 == p {
            return slot.2;
        }
        let h = attr_value_hash(nh, v);
        *slot = (nh, p, h);
        h
    };
    for e in events.iter() {
        // Every list in `seen` has all its pairs in the filter.
        let upd = &e.updated_attributes;
        let prev = e.previous_attributes.as_ref().filter(|p| !Arc::ptr_eq(p, upd));
        if let Some(p) = prev
            && seen.insert(Arc::as_ptr(p) as usize)
        {
            for (k, v) in p.iter() {
                filter.insert(value_hash(name_hash(k), v));
            }
        }
        if seen.insert(Arc::as_ptr(upd) as usize) {
            for (i, (k, v)) in upd.iter().enumerate() {
                // Pairs unchanged from the previous list at the same position are in already.
                let same = prev.and_then(|p| p.get(i)).is_some_and(|(pk, pv)| pk == k && pv == v);
                if !same {
                    filter.insert(value_hash(name_hash(k), v));
                }
            }
        }
    }
    let attr_value = filter.encode();

    let (min_id, max_id) = match (events.first(), events.last()) {
        (Some(f), Some(l)) => (f.id, l.id),
        _ => (0, 0),
    };
    let mut summary = BlockSummary {
        block_id,
        min_id,
        max_id,
        min_ts: if events.is_empty() { 0 } else { min_ts },
        max_ts: if events.is_empty() { 0 } else { max_ts },
        events: events.len() as u32,
        stored_bytes: 0,
        type_mask,
        components,
        flowfiles: flowfiles.into_boxed_slice(),
    };
    // The summary's own size is part of stored_bytes; its varint can change length, so settle it.
    let fixed = (block_value.len() + attr_value.len() + 3 * 10) as u64;
    summary.stored_bytes = fixed;
    let mut summary_value = summary.encode();
    summary.stored_bytes = fixed + summary_value.len() as u64;
    summary_value = summary.encode();
    BuiltBlock { summary, block_value, summary_value, attr_value }
}

/// Decodes a block value (`b/`) into its events, sorted by id.
pub(crate) fn decode_block(value: &[u8]) -> Result<Vec<ProvenanceEvent>, ProvenanceError> {
    let (&format, rest) = value.split_first().ok_or_else(|| ProvenanceError::decode("empty block"))?;
    if format != BLOCK_FORMAT_LZ4 {
        return Err(ProvenanceError::decode("unknown block format"));
    }
    let size: [u8; 4] =
        rest.get(..4).and_then(|s| s.try_into().ok()).ok_or_else(|| ProvenanceError::decode("truncated block"))?;
    let size = u32::from_le_bytes(size) as usize;
    if size > MAX_BLOCK_RAW {
        return Err(ProvenanceError::decode("block claims an implausible size"));
    }
    let raw =
        lz4_flex::block::decompress(&rest[4..], size).map_err(|e| ProvenanceError::decode(format!("lz4: {e}")))?;
    decode_events(&raw)
}
