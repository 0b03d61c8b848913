//! Helpers shared by the integration tests: building realistic events.
#![allow(dead_code)]

use std::sync::Arc;

use sluice_provenance::{AttrMap, AttrStr, ContentRef, EventType, ProvenanceEvent};
use uuid::Uuid;

/// Attribute list from string pairs.
pub fn attrs(pairs: &[(&str, &str)]) -> AttrMap {
    Arc::new(pairs.iter().map(|(k, v)| (AttrStr::new(*k), AttrStr::new(*v))).collect())
}

/// A plain event: component named `component` (id `"id-<component>"`), five attributes.
pub fn event(id: u64, ty: EventType, ff: Uuid, component: &str, ts: i64) -> ProvenanceEvent {
    let ffs = ff.to_string();
    ProvenanceEvent {
        id,
        event_type: ty,
        timestamp_millis: ts,
        duration_millis: 1,
        flowfile_uuid: ff,
        parent_uuids: Vec::new(),
        child_uuids: Vec::new(),
        component_id: Arc::from(format!("id-{component}")),
        component_type: Arc::from("TestProcessor"),
        component_name: Arc::from(component),
        relationship: None,
        details: None,
        transit_uri: None,
        previous_attributes: None,
        updated_attributes: attrs(&[
            ("uuid", &ffs),
            ("filename", &format!("file-{id}.txt")),
            ("path", "./in/"),
            ("mime.type", "text/plain"),
            ("batch", &format!("{}", id / 100)),
        ]),
        previous_content: None,
        updated_content: Some(ContentRef { segment: id / 1000, offset: id * 10, len: 10 }),
        size: 10,
        lineage_start_millis: ts - 5,
        flow_revision: Arc::from("abc123"),
        source_queue_id: None,
    }
}

/// An event with every optional field set and previous attributes that differ in one entry.
pub fn full_event(id: u64) -> ProvenanceEvent {
    let prev = attrs(&[("uuid", "x"), ("filename", "a.txt"), ("colour", "blue"), ("ünïcödé", "✓ ok")]);
    let mut upd: Vec<_> = prev.as_ref().clone();
    upd[2].1 = AttrStr::new("red");
    upd.push((AttrStr::new("new"), AttrStr::new("")));
    ProvenanceEvent {
        id,
        event_type: EventType::Fork,
        timestamp_millis: 1_700_000_000_123 + id as i64,
        duration_millis: 42,
        flowfile_uuid: Uuid::new_v4(),
        parent_uuids: vec![Uuid::new_v4()],
        child_uuids: vec![Uuid::new_v4(), Uuid::new_v4()],
        component_id: Arc::from("5b1c-22"),
        component_type: Arc::from("SplitText"),
        component_name: Arc::from("Split lines"),
        relationship: Some(Arc::from("splits")),
        details: Some("split into 2".into()),
        transit_uri: Some("file:///tmp/x".into()),
        previous_attributes: Some(prev),
        updated_attributes: Arc::new(upd),
        previous_content: Some(ContentRef { segment: 1, offset: 2, len: 3 }),
        updated_content: Some(ContentRef { segment: u64::MAX, offset: 0, len: 1 << 40 }),
        size: 1 << 40,
        lineage_start_millis: -5,
        flow_revision: Arc::from("deadbeef"),
        source_queue_id: Some(Arc::from("conn-1")),
    }
}
