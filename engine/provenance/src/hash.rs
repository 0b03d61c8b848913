//! Small, fast, non-cryptographic hashing used by the codec's string table and the block filters.
//!
//! The std `SipHash` is several times slower than needed on the encode path, and the block filters
//! need hashes that are stable across process restarts (they are persisted), which rules out
//! randomly seeded hashers.

use std::hash::{BuildHasherDefault, Hasher};
use uuid::Uuid;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// An Fx-style hasher (as used by rustc) with a finishing rotation so that hash tables that use
/// the low bits (hashbrown) see well-mixed bits even for aligned pointers.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash.rotate_left(26)
    }
}

/// `BuildHasher` for [`FxHasher`], for `HashMap`s on hot paths.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// The murmur3 64-bit finaliser: a strong bit mixer.
#[inline]
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Stable 64-bit hash of a byte string (persisted in block filters: never change it without
/// bumping the block index format version).
#[inline]
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FxHasher { hash: seed };
    h.write(bytes);
    h.add(bytes.len() as u64);
    fmix64(h.hash)
}

/// Stable 32-bit hash of a flowfile UUID, as kept in each block's flowfile filter.
#[inline]
pub(crate) fn uuid_hash(u: &Uuid) -> u32 {
    let v = u.as_u128();
    let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(17);
    (fmix64(folded) >> 32) as u32
}

/// Stable 64-bit hash of an attribute `name=value` pair, as kept in each block's attribute filter.
#[inline]
pub(crate) fn attr_hash(name: &str, value: &str) -> u64 {
    attr_value_hash(attr_name_hash(name), value)
}

/// First half of [`attr_hash`]: depends on the name only, so writers can cache it per name.
#[inline]
pub(crate) fn attr_name_hash(name: &str) -> u64 {
    hash_bytes(0x9e37_79b9_7f4a_7c15, name.as_bytes())
}

/// Second half of [`attr_hash`].
#[inline]
pub(crate) fn attr_value_hash(name_hash: u64, value: &str) -> u64 {
    hash_bytes(name_hash, value.as_bytes())
}
