//! Queries: by flowfile, component, event type, time range and attribute value, newest first,
//! with an id cursor for pagination.
//!
//! The in-memory block summaries rule out most blocks; the attribute filter (read from the store)
//! rules out more for attribute queries; only the remaining candidates are decoded, newest first,
//! stopping as soon as no older block can contribute to the top `limit`.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::block::{AttrFilter, BlockSummary, PREFIX_ATTR, block_key};
use crate::error::ProvenanceError;
use crate::event::{EventType, ProvenanceEvent};
use crate::hash::uuid_hash;
use crate::repository::Shared;

/// Default [`Query::limit`].
pub const DEFAULT_QUERY_LIMIT: usize = 100;

/// A provenance search. Every `Some` criterion must hold (AND); results are newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Events concerning this flowfile: as the event's flowfile, a parent or a child.
    pub flowfile: Option<Uuid>,
    /// Events emitted by this component, matched exactly against its id or its name.
    pub component: Option<String>,
    /// Events of this type.
    pub event_type: Option<EventType>,
    /// `(name, value)`: events where the attribute had exactly this value before or after.
    pub attribute: Option<(String, String)>,
    /// Events at or after this time (epoch ms).
    pub since_millis: Option<i64>,
    /// Events at or before this time (epoch ms).
    pub until_millis: Option<i64>,
    /// At most this many events (default 100).
    pub limit: usize,
    /// Pagination cursor: only events with an id below this (pass the previous
    /// [`QueryResult::next_before_id`]).
    pub before_id: Option<u64>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            flowfile: None,
            component: None,
            event_type: None,
            attribute: None,
            since_millis: None,
            until_millis: None,
            limit: DEFAULT_QUERY_LIMIT,
            before_id: None,
        }
    }
}

impl Query {
    /// Whether `e` satisfies every criterion.
    pub fn matches(&self, e: &ProvenanceEvent) -> bool {
        self.before_id.is_none_or(|b| e.id < b)
            && self.since_millis.is_none_or(|s| e.timestamp_millis >= s)
            && self.until_millis.is_none_or(|u| e.timestamp_millis <= u)
            && self.event_type.is_none_or(|t| e.event_type == t)
            && self.component.as_deref().is_none_or(|c| &*e.component_id == c || &*e.component_name == c)
            && self.flowfile.is_none_or(|f| e.touches(&f))
            && self.attribute.as_ref().is_none_or(|(n, v)| e.has_attribute_value(n, v))
    }

    /// Whether a block with this summary may hold a matching event.
    fn may_match(&self, b: &BlockSummary, ff_hash: Option<u32>) -> bool {
        self.before_id.is_none_or(|id| b.min_id < id)
            && b.overlaps_time(self.since_millis, self.until_millis)
            && self.event_type.is_none_or(|t| b.may_have_type(t))
            && self.component.as_deref().is_none_or(|c| b.may_have_component(c))
            && ff_hash.is_none_or(|h| b.may_have_flowfile(h))
    }
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// Matching events, newest (highest id) first, at most `limit`.
    pub events: Vec<ProvenanceEvent>,
    /// When `limit` events were returned: the cursor for the next page (the lowest id returned).
    /// `None` when the results are complete.
    pub next_before_id: Option<u64>,
    /// How many blocks were read and decoded to answer.
    pub scanned_blocks: usize,
}

impl QueryResult {
    /// The JSON view for the HTTP API: `{"events": [summary...], "next_before_id", "scanned_blocks"}`.
    pub fn summary_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct View<'a> {
            events: Vec<crate::event::EventSummary<'a>>,
            next_before_id: Option<u64>,
            scanned_blocks: usize,
        }
        serde_json::to_value(View {
            events: self.events.iter().map(|e| e.summary()).collect(),
            next_before_id: self.next_before_id,
            scanned_blocks: self.scanned_blocks,
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Runs `q` against the repository.
pub(crate) fn run(shared: &Shared, q: &Query) -> Result<QueryResult, ProvenanceError> {
    let limit = q.limit;
    let mut result = QueryResult::default();
    if limit == 0 {
        return Ok(result);
    }
    let ff_hash = q.flowfile.as_ref().map(uuid_hash);
    let mut candidates = shared.blocks_where(|b| q.may_match(b, ff_hash));
    // Ids are allocated before events reach the writer, so neighbouring blocks' id ranges can
    // overlap a little: visit by highest id and stop when the next block cannot beat the top.
    candidates.reverse();
    candidates.sort_by_key(|b| std::cmp::Reverse(b.max_id));

    let mut found: Vec<ProvenanceEvent> = Vec::new();
    let mut threshold: Option<u64> = None; // lowest id among the current top `limit`
    for b in candidates {
        if threshold.is_some_and(|t| b.max_id < t) {
            break;
        }
        if let Some((name, value)) = &q.attribute
            && !attr_filter_may_match(shared, &b, name, value)?
        {
            continue;
        }
        let Some(events) = shared.load_block(b.block_id)? else {
            continue;
        };
        result.scanned_blocks += 1;
        let before = found.len();
        // Events are sorted by id; walk newest first.
        for e in events.iter().rev() {
            if threshold.is_some_and(|t| e.id < t) {
                break;
            }
            if q.matches(e) {
                found.push(e.clone());
            }
        }
        if found.len() >= limit && found.len() != before {
            found.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
            // A WAL replay after a crash may have stored an event twice.
            found.dedup_by_key(|e| e.id);
            found.truncate(limit);
            threshold = found.last().map(|e| e.id);
        }
    }
    found.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    // A WAL replay after a crash may have stored an event twice.
    found.dedup_by_key(|e| e.id);
    found.truncate(limit);
    result.next_before_id = if found.len() == limit { found.last().map(|e| e.id) } else { None };
    result.events = found;
    Ok(result)
}

fn attr_filter_may_match(shared: &Shared, b: &BlockSummary, name: &str, value: &str) -> Result<bool, ProvenanceError> {
    match shared.store.get(&block_key(PREFIX_ATTR, b.block_id))? {
        Some(v) => Ok(AttrFilter::decode(&v).map_or(true, |f| f.may_contain(name, value))),
        None => Ok(true),
    }
}

/// One event by id.
pub(crate) fn event_by_id(shared: &Shared, id: u64) -> Result<Option<ProvenanceEvent>, ProvenanceError> {
    let candidates = shared.blocks_where(|b| b.min_id <= id && id <= b.max_id);
    for b in candidates.iter().rev() {
        if let Some(events) = shared.load_block(b.block_id)?
            && let Ok(i) = events.binary_search_by_key(&id, |e| e.id)
        {
            return Ok(Some(events[i].clone()));
        }
    }
    Ok(None)
}

/// Every event that concerns any of `uuids` (as flowfile, parent or child), from every block
/// whose flowfile filter admits one of them. Used by lineage.
pub(crate) fn events_touching(
    shared: &Shared,
    uuids: &HashSet<Uuid>,
    scanned: &mut usize,
) -> Result<Vec<ProvenanceEvent>, ProvenanceError> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let mut hashes: Vec<u32> = uuids.iter().map(uuid_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let candidates: Vec<Arc<BlockSummary>> = shared.blocks_where(|b| hashes.iter().any(|h| b.may_have_flowfile(*h)));
    let mut out = Vec::new();
    for b in candidates {
        let Some(events) = shared.load_block(b.block_id)? else {
            continue;
        };
        *scanned += 1;
        for e in events.iter() {
            if uuids.contains(&e.flowfile_uuid)
                || e.parent_uuids.iter().any(|u| uuids.contains(u))
                || e.child_uuids.iter().any(|u| uuids.contains(u))
            {
                out.push(e.clone());
            }
        }
    }
    Ok(out)
}
