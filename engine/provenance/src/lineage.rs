//! Lineage: the graph of a flowfile's history across FORK, JOIN and CLONE.
//!
//! From the start flowfile the search goes *up* through parents (the flowfile of a FORK/CLONE
//! that lists it as a child, the parents of a JOIN that produced it) and *down* through children
//! (the children of its FORK/CLONE events, the result of a JOIN it took part in), transitively,
//! round by round. Each round is one pass over the block summaries for all frontier flowfiles.
//! Siblings met on the way (the other parents of a join) appear as flowfile nodes but are not
//! expanded, which keeps the graph about the start flowfile and bounded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::error::ProvenanceError;
use crate::event::{EventType, ProvenanceEvent};
use crate::query::events_touching;
use crate::repository::Shared;

/// Default bound on the number of nodes (flowfiles plus events) of a lineage graph.
pub const MAX_LINEAGE_NODES: usize = 10_000;

/// A node of a lineage graph: a flowfile or an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineageNode {
    /// A flowfile; `id` is `"ff:<uuid>"`.
    Flowfile {
        /// Node id, `"ff:<uuid>"`.
        id: String,
        /// The flowfile's UUID.
        uuid: Uuid,
    },
    /// An event; `id` is `"ev:<event id>"`.
    Event {
        /// Node id, `"ev:<event id>"`.
        id: String,
        /// The event's id (for `ProvenanceRepository::event`).
        event_id: u64,
        /// Its type.
        event_type: EventType,
        /// Its time.
        timestamp_millis: i64,
        /// The flowfile it belongs to.
        flowfile_uuid: Uuid,
        /// Component id.
        component_id: Arc<str>,
        /// Component name.
        component_name: Arc<str>,
    },
}

impl LineageNode {
    /// The node's id, as used in edges.
    pub fn id(&self) -> &str {
        match self {
            LineageNode::Flowfile { id, .. } | LineageNode::Event { id, .. } => id,
        }
    }
}

/// A lineage graph. Edges point forward in time: flowfile → its first event → its next event …;
/// a parent's last event before a JOIN → the JOIN; a FORK/CLONE → each child flowfile.
///
/// Serialises as `{"nodes": [...], "edges": [{"from", "to"}], "truncated": bool}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lineage {
    /// Flowfile nodes (the start flowfile first), then event nodes by id.
    pub nodes: Vec<LineageNode>,
    /// `(from, to)` node ids.
    pub edges: Vec<(String, String)>,
    /// Whether the search stopped at the node bound before the whole lineage was found.
    pub truncated: bool,
}

impl Lineage {
    /// The UUIDs of the flowfile nodes.
    pub fn flowfiles(&self) -> Vec<Uuid> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                LineageNode::Flowfile { uuid, .. } => Some(*uuid),
                LineageNode::Event { .. } => None,
            })
            .collect()
    }

    /// The ids of the event nodes.
    pub fn event_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                LineageNode::Event { event_id, .. } => Some(*event_id),
                LineageNode::Flowfile { .. } => None,
            })
            .collect()
    }
}

impl Serialize for Lineage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Edges<'a>(&'a [(String, String)]);
        impl Serialize for Edges<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct Edge<'a> {
                    from: &'a str,
                    to: &'a str,
                }
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for (from, to) in self.0 {
                    seq.serialize_element(&Edge { from, to })?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Lineage", 3)?;
        st.serialize_field("nodes", &self.nodes)?;
        st.serialize_field("edges", &Edges(&self.edges))?;
        st.serialize_field("truncated", &self.truncated)?;
        st.end()
    }
}

fn ff_node_id(u: &Uuid) -> String {
    format!("ff:{u}")
}

fn ev_node_id(id: u64) -> String {
    format!("ev:{id}")
}

/// Builds the lineage of `start`, with at most `max_nodes` nodes.
pub(crate) fn build(shared: &Shared, start: Uuid, max_nodes: usize) -> Result<Lineage, ProvenanceError> {
    let max_nodes = max_nodes.max(1);
    let mut events: BTreeMap<u64, ProvenanceEvent> = BTreeMap::new();
    let mut flowfiles: Vec<Uuid> = vec![start];
    let mut ff_seen: HashSet<Uuid> = HashSet::from([start]);
    let mut up_seen: HashSet<Uuid> = HashSet::from([start]);
    let mut down_seen: HashSet<Uuid> = HashSet::from([start]);
    let mut up: HashSet<Uuid> = HashSet::from([start]);
    let mut down: HashSet<Uuid> = HashSet::from([start]);
    let mut truncated = false;
    let mut scanned = 0usize;

    while !(up.is_empty() && down.is_empty()) {
        if events.len() + flowfiles.len() >= max_nodes {
            truncated = true;
            break;
        }
        let frontier: HashSet<Uuid> = up.union(&down).copied().collect();
        let found = events_touching(shared, &frontier, &mut scanned)?;
        let mut next_up = HashSet::new();
        let mut next_down = HashSet::new();
        for e in found {
            let ff_down = down.contains(&e.flowfile_uuid);
            let parent_down = e.parent_uuids.iter().any(|p| down.contains(p));
            if ff_down || parent_down {
                for c in &e.child_uuids {
                    if down_seen.insert(*c) {
                        next_down.insert(*c);
                    }
                }
                if parent_down && down_seen.insert(e.flowfile_uuid) {
                    next_down.insert(e.flowfile_uuid);
                }
            }
            let ff_up = up.contains(&e.flowfile_uuid);
            let child_up = e.child_uuids.iter().any(|c| up.contains(c));
            if ff_up || child_up {
                for p in &e.parent_uuids {
                    if up_seen.insert(*p) {
                        next_up.insert(*p);
                    }
                }
                if child_up && up_seen.insert(e.flowfile_uuid) {
                    next_up.insert(e.flowfile_uuid);
                }
            }
            for u in std::iter::once(&e.flowfile_uuid).chain(&e.parent_uuids).chain(&e.child_uuids) {
                if ff_seen.insert(*u) {
                    flowfiles.push(*u);
                }
            }
            events.entry(e.id).or_insert(e);
        }
        up = next_up;
        down = next_down;
    }

    // Enforce the bound strictly: keep the flowfiles found first and the oldest events.
    if flowfiles.len() + events.len() > max_nodes {
        truncated = true;
        flowfiles.truncate(max_nodes);
        let room = max_nodes - flowfiles.len();
        while events.len() > room {
            events.pop_last();
        }
    }
    tracing::debug!(%start, events = events.len(), flowfiles = flowfiles.len(), scanned, "lineage built");
    Ok(assemble(flowfiles, events, truncated))
}

fn assemble(flowfiles: Vec<Uuid>, events: BTreeMap<u64, ProvenanceEvent>, truncated: bool) -> Lineage {
    let ff_set: HashSet<Uuid> = flowfiles.iter().copied().collect();
    let mut by_ff: HashMap<Uuid, Vec<u64>> = HashMap::new();
    for e in events.values() {
        by_ff.entry(e.flowfile_uuid).or_default().push(e.id); // ascending: BTreeMap order
    }
    let mut edges = Vec::new();
    let mut edge_set: HashSet<(String, String)> = HashSet::new();
    let mut add = |from: String, to: String| {
        if edge_set.insert((from.clone(), to.clone())) {
            edges.push((from, to));
        }
    };
    for ff in &flowfiles {
        if let Some(ids) = by_ff.get(ff) {
            add(ff_node_id(ff), ev_node_id(ids[0]));
            for w in ids.windows(2) {
                add(ev_node_id(w[0]), ev_node_id(w[1]));
            }
        }
    }
    for e in events.values() {
        for p in &e.parent_uuids {
            if *p == e.flowfile_uuid || !ff_set.contains(p) {
                continue;
            }
            let from = by_ff
                .get(p)
                .and_then(|ids| {
                    let i = ids.partition_point(|&id| id < e.id);
                    i.checked_sub(1).map(|i| ev_node_id(ids[i]))
                })
                .unwrap_or_else(|| ff_node_id(p));
            add(from, ev_node_id(e.id));
        }
        for c in &e.child_uuids {
            if *c != e.flowfile_uuid && ff_set.contains(c) {
                add(ev_node_id(e.id), ff_node_id(c));
            }
        }
    }
    let mut nodes: Vec<LineageNode> =
        flowfiles.iter().map(|u| LineageNode::Flowfile { id: ff_node_id(u), uuid: *u }).collect();
    nodes.extend(events.values().map(|e| LineageNode::Event {
        id: ev_node_id(e.id),
        event_id: e.id,
        event_type: e.event_type,
        timestamp_millis: e.timestamp_millis,
        flowfile_uuid: e.flowfile_uuid,
        component_id: e.component_id.clone(),
        component_name: e.component_name.clone(),
    }));
    Lineage { nodes, edges, truncated }
}
