//! Codec: round trips of single events and batches, and robustness on garbage.

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use sluice_provenance::{
    AttrStr, ContentRef, EventType, ProvenanceEvent, decode_event, decode_events, encode_event, encode_events,
    encode_events_v1,
};
use uuid::Uuid;

#[test]
fn full_event_round_trips_single_and_batch() {
    let events: Vec<_> = (0..50).map(common::full_event).collect();
    for e in &events {
        let mut buf = Vec::new();
        encode_event(e, &mut buf);
        buf.extend_from_slice(b"tail");
        let (d, n) = decode_event(&buf).unwrap();
        assert_eq!(&d, e);
        assert_eq!(n, buf.len() - 4);
    }
    let batch = encode_events(&events);
    assert_eq!(decode_events(&batch).unwrap(), events);
}

#[test]
fn shared_attribute_maps_stay_shared_after_decoding() {
    let mut e = common::event(7, EventType::Route, Uuid::new_v4(), "Route", 1000);
    e.previous_attributes = Some(e.updated_attributes.clone());
    let d = decode_events(&encode_events(&[e.clone()])).unwrap().remove(0);
    assert_eq!(d, e);
    assert!(Arc::ptr_eq(d.previous_attributes.as_ref().unwrap(), &d.updated_attributes));
}

/// The life of one flowfile as the engine records it: CREATE, then a change of attributes
/// (previous = the list CREATE carried), then ROUTE and DROP sharing one list.
fn one_flowfile_life(id: u64) -> Vec<ProvenanceEvent> {
    let ff = Uuid::from_u128(u128::from(id) + 1);
    let create = common::event(id * 4, EventType::Create, ff, "Generate", 1000);
    let mut modified = common::event(id * 4 + 1, EventType::AttributesModified, ff, "Update", 1001);
    let mut after = create.updated_attributes.as_ref().clone();
    after.push((AttrStr::new("stage"), AttrStr::new("updated")));
    modified.previous_attributes = Some(create.updated_attributes.clone());
    modified.updated_attributes = Arc::new(after);
    let mut route = common::event(id * 4 + 2, EventType::Route, ff, "Route", 1002);
    route.previous_attributes = Some(modified.updated_attributes.clone());
    route.updated_attributes = modified.updated_attributes.clone();
    let mut drop = common::event(id * 4 + 3, EventType::Drop, ff, "Route", 1002);
    drop.updated_attributes = route.updated_attributes.clone();
    vec![create, modified, route, drop]
}

#[test]
fn lists_shared_between_events_are_written_once_and_stay_shared() {
    let events: Vec<_> = (0..100).flat_map(one_flowfile_life).collect();
    let v2 = encode_events(&events);
    let v1 = encode_events_v1(&events);
    let d = decode_events(&v2).unwrap();
    assert_eq!(d, events);
    // Each flowfile has two distinct lists; version 1 wrote one or two per event.
    assert!(v2.len() * 4 < v1.len() * 3, "v2 {} bytes, v1 {} bytes", v2.len(), v1.len());
    for life in d.chunks(4) {
        assert!(Arc::ptr_eq(life[1].previous_attributes.as_ref().unwrap(), &life[0].updated_attributes));
        assert!(Arc::ptr_eq(&life[3].updated_attributes, &life[1].updated_attributes));
    }
}

#[test]
fn version_1_batches_still_decode() {
    let mut events: Vec<_> = (0..20).flat_map(one_flowfile_life).collect();
    events.extend((0..20).map(common::full_event));
    assert_eq!(decode_events(&encode_events_v1(&events)).unwrap(), events);
}

#[test]
fn empty_batch_round_trips() {
    assert!(decode_events(&encode_events(&[])).unwrap().is_empty());
}

#[test]
fn garbage_and_mutations_never_panic() {
    let events: Vec<_> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                common::full_event(i)
            } else {
                common::event(i, EventType::Send, Uuid::new_v4(), "Put", i as i64)
            }
        })
        .collect();
    let batch = encode_events(&events);
    let mut single = Vec::new();
    encode_event(&events[0], &mut single);
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let src = if round % 2 == 0 { &batch } else { &single };
        let mut b = src.clone();
        match next() % 4 {
            0 => {
                let n = (next() % 8 + 1) as usize;
                for _ in 0..n {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            1 => b.truncate((next() as usize) % b.len()),
            2 => {
                let i = (next() as usize) % b.len();
                b.insert(i, next() as u8);
            }
            _ => {
                b = (0..(next() % 300)).map(|_| next() as u8).collect();
            }
        }
        let _ = decode_events(&b);
        let _ = decode_event(&b);
    }
}

fn arb_str() -> impl Strategy<Value = Arc<str>> {
    prop_oneof![
        Just(Arc::<str>::from("")),
        Just(Arc::<str>::from("GetFile")),
        "[a-zA-Z0-9._ -]{0,24}".prop_map(Arc::from),
        any::<String>().prop_map(Arc::from),
    ]
}

fn arb_attrs() -> impl Strategy<Value = Vec<(AttrStr, AttrStr)>> {
    proptest::collection::vec((arb_str(), arb_str()), 0..8)
        .prop_map(|v| v.into_iter().map(|(k, v)| (AttrStr::new(&*k), AttrStr::new(&*v))).collect())
}

fn arb_content() -> impl Strategy<Value = Option<ContentRef>> {
    proptest::option::of((any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(segment, offset, len)| ContentRef {
        segment,
        offset,
        len,
    }))
}

fn arb_event() -> impl Strategy<Value = ProvenanceEvent> {
    let head = (
        any::<u64>(),
        0..EventType::ALL.len(),
        any::<i64>(),
        any::<u64>(),
        any::<u128>(),
        proptest::collection::vec(any::<u128>(), 0..3),
        proptest::collection::vec(any::<u128>(), 0..3),
        (arb_str(), arb_str(), arb_str()),
        proptest::option::of(arb_str()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
    );
    let tail = (
        proptest::option::of(arb_attrs()),
        arb_attrs(),
        0..3u8,
        arb_content(),
        arb_content(),
        any::<u64>(),
        any::<i64>(),
        arb_str(),
        proptest::option::of(arb_str()),
    );
    (head, tail).prop_map(
        |(
            (id, t, ts, dur, ff, parents, children, (cid, ctype, cname), rel, details, transit),
            (prev, upd, share, pc, uc, size, lineage, rev, queue),
        )| {
            let upd = Arc::new(upd);
            let prev = match (prev, share) {
                // Same Arc (unchanged attributes), or a modified copy (diff path), or independent.
                (Some(_), 0) => Some(upd.clone()),
                (Some(_), 1) => {
                    let mut v = upd.as_ref().clone();
                    if let Some(first) = v.first_mut() {
                        first.1 = AttrStr::new("changed");
                    }
                    v.push((AttrStr::new("extra"), AttrStr::new("x")));
                    Some(Arc::new(v))
                }
                (p, _) => p.map(Arc::new),
            };
            ProvenanceEvent {
                id,
                event_type: EventType::ALL[t],
                timestamp_millis: ts,
                duration_millis: dur,
                flowfile_uuid: Uuid::from_u128(ff),
                parent_uuids: parents.into_iter().map(Uuid::from_u128).collect(),
                child_uuids: children.into_iter().map(Uuid::from_u128).collect(),
                component_id: cid,
                component_type: ctype,
                component_name: cname,
                relationship: rel,
                details,
                transit_uri: transit,
                previous_attributes: prev,
                updated_attributes: upd,
                previous_content: pc,
                updated_content: uc,
                size,
                lineage_start_millis: lineage,
                flow_revision: rev,
                source_queue_id: queue,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_events_round_trip(events in proptest::collection::vec(arb_event(), 0..12)) {
        let batch = encode_events(&events);
        prop_assert_eq!(&decode_events(&batch).unwrap(), &events);
        for e in &events {
            let mut b = Vec::new();
            encode_event(e, &mut b);
            let (d, n) = decode_event(&b).unwrap();
            prop_assert_eq!(&d, e);
            prop_assert_eq!(n, b.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_events(&bytes);
        let _ = decode_event(&bytes);
        let mut with_magic = vec![0xB1];
        with_magic.extend_from_slice(&bytes);
        let _ = decode_events(&with_magic);
    }
}
