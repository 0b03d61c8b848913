//! The in-memory index of queued flowfiles that checkpoints are written from.
//!
//! It mirrors what the log says is queued: per queue, the flowfiles in enqueue order. The
//! entries are clones of the engine's own flowfiles (attributes and content are shared, so
//! an entry costs about a hundred bytes), and it holds exactly the queued flowfiles: memory
//! is bounded by what is queued, not by history.
//!
//! A queue is a run of fixed-size chunks behind `Arc`s. A checkpoint captures the index by
//! cloning those `Arc`s (one per 256 flowfiles), so commits are held up for microseconds
//! even with a million flowfiles queued; a chunk that changes while the snapshot is being
//! written is copied once (copy on write).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use super::record::FxBuild;
use crate::flowfile::FlowFile;

/// Slots per chunk.
const CHUNK: u64 = 256;

type Chunk = Arc<Vec<Option<FlowFile>>>;

/// One queue's flowfiles in order, by position. Chunk `k` holds positions
/// `k * CHUNK .. (k + 1) * CHUNK`. Removed entries leave a hole; holes at the front are
/// dropped, and the queue is compacted (renumbered) when holes dominate, so removal anywhere
/// is O(1) amortized and order is kept.
#[derive(Default)]
struct Slots {
    /// Chunk number of `chunks[0]`.
    first_chunk: u64,
    chunks: VecDeque<Chunk>,
    /// First position that may hold a flowfile.
    base: u64,
    /// Next position to fill.
    end: u64,
    live: usize,
}

impl Slots {
    fn slot(&self, pos: u64) -> Option<&FlowFile> {
        if pos < self.base || pos >= self.end {
            return None;
        }
        let k = (pos / CHUNK - self.first_chunk) as usize;
        self.chunks.get(k)?.get((pos % CHUNK) as usize)?.as_ref()
    }

    fn push(&mut self, ff: FlowFile) -> u64 {
        let pos = self.end;
        if self.chunks.is_empty() || pos.is_multiple_of(CHUNK) {
            if self.chunks.is_empty() {
                self.first_chunk = pos / CHUNK;
            }
            let mut v = Vec::with_capacity(CHUNK as usize);
            v.resize_with((pos % CHUNK) as usize, || None);
            self.chunks.push_back(Arc::new(v));
        }
        if let Some(last) = self.chunks.back_mut() {
            Arc::make_mut(last).push(Some(ff));
        }
        self.end += 1;
        self.live += 1;
        pos
    }

    fn take(&mut self, pos: u64) -> Option<FlowFile> {
        if pos < self.base || pos >= self.end {
            return None;
        }
        let k = (pos / CHUNK - self.first_chunk) as usize;
        let chunk = self.chunks.get_mut(k)?;
        chunk.get((pos % CHUNK) as usize)?.as_ref()?;
        let ff = Arc::make_mut(chunk)[(pos % CHUNK) as usize].take();
        self.live -= 1;
        ff
    }

    /// Drops holes and whole chunks at the front.
    fn trim_front(&mut self) {
        while self.base < self.end && self.slot(self.base).is_none() {
            self.base += 1;
            if self.base.is_multiple_of(CHUNK) {
                self.chunks.pop_front();
                self.first_chunk += 1;
            }
        }
        if self.base == self.end {
            self.chunks.clear();
            self.first_chunk = self.base / CHUNK;
        }
    }

    fn view(&self) -> QueueView {
        QueueView {
            first_chunk: self.first_chunk,
            chunks: self.chunks.iter().cloned().collect(),
            base: self.base,
            end: self.end,
            live: self.live,
        }
    }
}

/// A frozen copy of one queue (shares the chunks with the index until they change).
pub(crate) struct QueueView {
    first_chunk: u64,
    chunks: Vec<Chunk>,
    base: u64,
    end: u64,
    live: usize,
}

impl QueueView {
    /// Number of flowfiles.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The flowfiles in queue order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &FlowFile> + '_ {
        self.chunks.iter().enumerate().flat_map(move |(k, chunk)| {
            let start = (self.first_chunk + k as u64) * CHUNK;
            chunk
                .iter()
                .enumerate()
                .filter(move |(i, _)| (self.base..self.end).contains(&(start + *i as u64)))
                .filter_map(|(_, s)| s.as_ref())
        })
    }
}

/// Queued flowfiles per queue number, in order, with a lookup by (queue, id).
#[derive(Default)]
pub(crate) struct QueueIndex {
    queues: Vec<Slots>,
    loc: HashMap<(u32, Uuid), u64, FxBuild>,
}

impl QueueIndex {
    /// Room for `n` more flowfiles (recovery knows how many are coming).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.loc.reserve(n);
    }

    /// Appends `ff` to queue `q`; an entry with the same id already there moves to the tail.
    pub(crate) fn enqueue(&mut self, q: u32, mut ff: FlowFile) {
        ff.session_slot = u32::MAX;
        let qi = q as usize;
        if self.queues.len() <= qi {
            self.queues.resize_with(qi + 1, Slots::default);
        }
        let id = ff.id;
        let pos = self.queues[qi].push(ff);
        if let Some(old) = self.loc.insert((q, id), pos) {
            self.clear(q, old);
        }
    }

    /// Removes `id` from queue `q`; false if it was not there.
    pub(crate) fn dequeue(&mut self, q: u32, id: Uuid) -> bool {
        match self.loc.remove(&(q, id)) {
            Some(pos) => {
                self.clear(q, pos);
                true
            }
            None => false,
        }
    }

    /// Empties the slot at `pos` (already gone from `loc`), dropping holes at the front and
    /// compacting when holes dominate.
    fn clear(&mut self, q: u32, pos: u64) {
        let s = &mut self.queues[q as usize];
        if s.take(pos).is_none() {
            return;
        }
        s.trim_front();
        let span = s.end - s.base;
        if span > 2 * CHUNK && (s.live as u64) * 2 < span {
            // Compact: renumber the live entries after the current end.
            let old = std::mem::take(s);
            let fresh = old.end.next_multiple_of(CHUNK);
            *s = Slots { first_chunk: fresh / CHUNK, base: fresh, end: fresh, ..Slots::default() };
            for ff in old.view().iter() {
                let pos = s.push(ff.clone());
                self.loc.insert((q, ff.id), pos);
            }
        }
    }

    /// Number of queued flowfiles.
    pub(crate) fn len(&self) -> usize {
        self.loc.len()
    }

    /// A frozen view of every non-empty queue, in order; cheap (it shares chunks).
    pub(crate) fn capture(&self, names: &[Arc<str>]) -> Vec<(Arc<str>, QueueView)> {
        let mut out = Vec::new();
        for (q, s) in self.queues.iter().enumerate() {
            if s.live == 0 {
                continue;
            }
            let name = names.get(q).cloned().unwrap_or_else(|| Arc::from(format!("#{q}")));
            out.push((name, s.view()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Content;

    fn ff(n: u128) -> FlowFile {
        let mut f = FlowFile::new(Content::Empty);
        f.id = Uuid::from_u128(n);
        f
    }

    fn ids(ix: &QueueIndex, q: usize) -> Vec<u128> {
        let names: Vec<Arc<str>> = (0..4).map(|i| Arc::from(format!("q{i}"))).collect();
        ix.capture(&names)
            .into_iter()
            .find(|(n, _)| **n == *format!("q{q}"))
            .map(|(_, v)| v.iter().map(|f| f.id.as_u128()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn keeps_order_through_removals_and_compaction() {
        let mut ix = QueueIndex::default();
        let mut model: Vec<u128> = Vec::new();
        for i in 0..1000u128 {
            ix.enqueue(1, ff(i));
            model.push(i);
            if i % 3 == 0 {
                // remove from the middle
                let victim = model[model.len() / 2];
                assert!(ix.dequeue(1, Uuid::from_u128(victim)));
                model.retain(|x| *x != victim);
            }
            if i % 7 == 0 && !model.is_empty() {
                let head = model.remove(0);
                assert!(ix.dequeue(1, Uuid::from_u128(head)));
            }
        }
        assert_eq!(ids(&ix, 1), model);
        assert_eq!(ix.len(), model.len());
        // Re-enqueueing an id moves it to the tail.
        let first = model.remove(0);
        ix.enqueue(1, ff(first));
        model.push(first);
        assert_eq!(ids(&ix, 1), model);
        assert!(!ix.dequeue(1, Uuid::from_u128(5_000)));
        assert!(!ix.dequeue(2, Uuid::from_u128(first)));
        assert!(ids(&ix, 2).is_empty());
    }

    #[test]
    fn random_operations_match_a_model_and_captures_stay_frozen() {
        let mut ix = QueueIndex::default();
        let mut model: Vec<Vec<u128>> = vec![Vec::new(); 3];
        let mut frozen: Vec<(Vec<QueueView>, Vec<Vec<u128>>)> = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = 0u128;
        for step in 0..60_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let q = (rng % 3) as usize;
            match (rng >> 8) % 10 {
                0..=4 => {
                    ix.enqueue(q as u32, ff(next));
                    model[q].push(next);
                    next += 1;
                }
                5..=7 if !model[q].is_empty() => {
                    let id = model[q].remove(0);
                    assert!(ix.dequeue(q as u32, Uuid::from_u128(id)));
                }
                8 if !model[q].is_empty() => {
                    let i = ((rng >> 20) as usize) % model[q].len();
                    let id = model[q].remove(i);
                    assert!(ix.dequeue(q as u32, Uuid::from_u128(id)));
                }
                9 if !model[q].is_empty() => {
                    // re-enqueue moves to the tail
                    let i = ((rng >> 20) as usize) % model[q].len();
                    let id = model[q].remove(i);
                    model[q].push(id);
                    ix.enqueue(q as u32, ff(id));
                }
                _ => {}
            }
            if step % 5000 == 0 {
                let names: Vec<Arc<str>> = (0..3).map(|i| Arc::from(format!("q{i}"))).collect();
                let mut views = Vec::new();
                let mut want = Vec::new();
                for (name, view) in ix.capture(&names) {
                    let qi: usize = name[1..].parse().expect("name");
                    want.push(model[qi].clone());
                    views.push(view);
                }
                frozen.push((views, want));
            }
        }
        for (q, m) in model.iter().enumerate() {
            assert_eq!(ids(&ix, q), *m);
        }
        assert_eq!(ix.len(), model.iter().map(Vec::len).sum::<usize>());
        // Views taken earlier still show the queues as they were then.
        for (views, want) in &frozen {
            for (v, w) in views.iter().zip(want) {
                assert_eq!(v.iter().map(|f| f.id.as_u128()).collect::<Vec<_>>(), *w);
                assert_eq!(v.len(), w.len());
            }
        }
    }
}
