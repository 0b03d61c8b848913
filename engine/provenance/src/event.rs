//! The provenance event: what happened to which flowfile, where, and with which attributes and
//! content before and after.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// An attribute name or value. Short strings (up to 23 bytes, most names and many values) are
/// stored inline and static names need no allocation, so copying an attribute list touches no
/// shared reference count: on two cores such counts bounced between the caches and cost more
/// than the rest of a flowfile's trip through a processor.
pub type AttrStr = smol_str::SmolStr;

/// The engine's attribute storage: an ordered list of `(name, value)` pairs shared copy-on-write,
/// so that attaching the attributes to an event is a reference-count increment.
pub type AttrMap = Arc<Vec<(AttrStr, AttrStr)>>;

/// The kind of a provenance event; the same set as Apache NiFi's, so that users recognise them.
///
/// Serialised (serde, [`EventType::as_str`]) in NiFi's spelling: `CREATE`, `CONTENT_MODIFIED`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// A flowfile was created from data generated inside the flow.
    Create,
    /// Data was received from an external system.
    Receive,
    /// The content of an existing flowfile was overwritten with data fetched from outside.
    Fetch,
    /// Data was sent to an external system.
    Send,
    /// A flowfile's content was downloaded by a user (through the API).
    Download,
    /// A flowfile ended its life in the flow (auto-terminated or removed).
    Drop,
    /// A flowfile expired in a queue.
    Expire,
    /// One or more children were derived from a parent; the event belongs to the parent.
    Fork,
    /// Several parents were merged into one child; the event belongs to the child.
    Join,
    /// An exact copy of a flowfile was made; the event belongs to the original.
    Clone,
    /// A flowfile's content was changed.
    ContentModified,
    /// A flowfile's attributes were changed.
    AttributesModified,
    /// A flowfile was routed to a relationship.
    Route,
    /// A flowfile was replayed from provenance.
    Replay,
    /// Additional information was attached to a flowfile's history.
    AddInfo,
    /// A remote procedure was invoked on behalf of a flowfile.
    RemoteInvocation,
    /// Anything else.
    Unknown,
}

impl EventType {
    /// Every event type, in wire-code order (the index is the codec's one-byte code).
    pub const ALL: [EventType; 17] = [
        EventType::Create,
        EventType::Receive,
        EventType::Fetch,
        EventType::Send,
        EventType::Download,
        EventType::Drop,
        EventType::Expire,
        EventType::Fork,
        EventType::Join,
        EventType::Clone,
        EventType::ContentModified,
        EventType::AttributesModified,
        EventType::Route,
        EventType::Replay,
        EventType::AddInfo,
        EventType::RemoteInvocation,
        EventType::Unknown,
    ];

    /// The type's name, e.g. `"CONTENT_MODIFIED"`; the same spelling as serde uses (NiFi's names,
    /// except that NiFi writes `ADDINFO` where this writes `ADD_INFO`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "CREATE",
            EventType::Receive => "RECEIVE",
            EventType::Fetch => "FETCH",
            EventType::Send => "SEND",
            EventType::Download => "DOWNLOAD",
            EventType::Drop => "DROP",
            EventType::Expire => "EXPIRE",
            EventType::Fork => "FORK",
            EventType::Join => "JOIN",
            EventType::Clone => "CLONE",
            EventType::ContentModified => "CONTENT_MODIFIED",
            EventType::AttributesModified => "ATTRIBUTES_MODIFIED",
            EventType::Route => "ROUTE",
            EventType::Replay => "REPLAY",
            EventType::AddInfo => "ADD_INFO",
            EventType::RemoteInvocation => "REMOTE_INVOCATION",
            EventType::Unknown => "UNKNOWN",
        }
    }

    /// The one-byte wire code (index into [`EventType::ALL`]).
    #[inline]
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The type for a wire code, `None` for an unknown code.
    #[inline]
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The bit of this type in a block's event-type mask.
    #[inline]
    pub(crate) fn mask_bit(self) -> u32 {
        1u32 << self.code()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned by [`EventType::from_str`] for a name that is not an event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provenance event type: {0:?}")]
pub struct ParseEventTypeError(pub String);

impl FromStr for EventType {
    type Err = ParseEventTypeError;

    /// Parses a type name case-insensitively; `-` and spaces are accepted in place of `_`, and
    /// NiFi's `ADDINFO` is accepted as well as `ADD_INFO` (query strings are typed by people).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        if norm == "ADDINFO" {
            return Ok(EventType::AddInfo);
        }
        EventType::ALL.iter().copied().find(|t| t.as_str() == norm).ok_or_else(|| ParseEventTypeError(s.to_string()))
    }
}

/// Where a flowfile's content lives in the content repository: segment, offset and length.
///
/// Events carry one before and one after the change so that provenance can show and replay
/// old content (as long as the content repository keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentRef {
    /// Content repository segment id.
    pub segment: u64,
    /// Byte offset within the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// One provenance event, as built by the engine's session commit.
///
/// Cheap to clone: strings that repeat across events (component, attribute names and values) are
/// shared `Arc<str>`s, and attribute maps are shared [`AttrMap`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvenanceEvent {
    /// Unique, monotonic id from [`crate::ProvenanceRepository::allocate_ids`].
    pub id: u64,
    /// What happened.
    pub event_type: EventType,
    /// When it happened (Unix epoch milliseconds).
    pub timestamp_millis: i64,
    /// How long the operation took.
    pub duration_millis: u64,
    /// The flowfile the event belongs to (for JOIN: the child; for FORK/CLONE: the parent).
    pub flowfile_uuid: Uuid,
    /// Parents of a JOIN (or any event that derives from several flowfiles).
    pub parent_uuids: Vec<Uuid>,
    /// Children of a FORK or CLONE.
    pub child_uuids: Vec<Uuid>,
    /// Id of the processor (or other component) that emitted the event.
    pub component_id: Arc<str>,
    /// Type of that component, e.g. `"UpdateAttribute"`.
    pub component_type: Arc<str>,
    /// User-given name of that component.
    pub component_name: Arc<str>,
    /// Relationship the flowfile was routed to, for ROUTE and similar events.
    pub relationship: Option<Arc<str>>,
    /// Free-text details.
    pub details: Option<String>,
    /// Remote URI for RECEIVE / SEND / FETCH.
    pub transit_uri: Option<String>,
    /// Attributes before the event; `None` when not known or not applicable (e.g. CREATE).
    pub previous_attributes: Option<AttrMap>,
    /// Attributes after the event (always present).
    pub updated_attributes: AttrMap,
    /// Content before the event, `None` for none or in-memory-only content.
    pub previous_content: Option<ContentRef>,
    /// Content after the event, `None` for none or in-memory-only content.
    pub updated_content: Option<ContentRef>,
    /// Content size after the event, in bytes.
    pub size: u64,
    /// When the flowfile's lineage began (epoch milliseconds).
    pub lineage_start_millis: i64,
    /// Short hash of the flow definition that produced the event.
    pub flow_revision: Arc<str>,
    /// Connection the flowfile was taken from, needed to replay it.
    pub source_queue_id: Option<Arc<str>>,
}

impl ProvenanceEvent {
    /// The value of an attribute after the event (the last one if a name repeats).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        lookup(&self.updated_attributes, name)
    }

    /// Whether `name` had exactly `value` before or after the event (the query semantics).
    pub fn has_attribute_value(&self, name: &str, value: &str) -> bool {
        let hit = |m: &AttrMap| m.iter().any(|(k, v)| &**k == name && &**v == value);
        hit(&self.updated_attributes)
            || self.previous_attributes.as_ref().is_some_and(|p| !Arc::ptr_eq(p, &self.updated_attributes) && hit(p))
    }

    /// Whether the event concerns `uuid` as its flowfile, a parent or a child.
    pub fn touches(&self, uuid: &Uuid) -> bool {
        self.flowfile_uuid == *uuid || self.parent_uuids.contains(uuid) || self.child_uuids.contains(uuid)
    }

    /// Borrowed, serialisable summary view (list pages of the HTTP API).
    pub fn summary(&self) -> EventSummary<'_> {
        EventSummary {
            id: self.id,
            event_type: self.event_type,
            timestamp_millis: self.timestamp_millis,
            duration_millis: self.duration_millis,
            flowfile_uuid: self.flowfile_uuid,
            parent_uuids: &self.parent_uuids,
            child_uuids: &self.child_uuids,
            component_id: &self.component_id,
            component_type: &self.component_type,
            component_name: &self.component_name,
            relationship: self.relationship.as_deref(),
            details: self.details.as_deref(),
            transit_uri: self.transit_uri.as_deref(),
            size: self.size,
            lineage_start_millis: self.lineage_start_millis,
            flow_revision: &self.flow_revision,
            source_queue_id: self.source_queue_id.as_deref(),
        }
    }

    /// Borrowed, serialisable full view (the single-event page of the HTTP API).
    pub fn detail(&self) -> EventDetail<'_> {
        EventDetail {
            summary: self.summary(),
            previous_attributes: self.previous_attributes.as_deref().map(|v| AttrsJson(v)),
            updated_attributes: AttrsJson(&self.updated_attributes),
            previous_content: self.previous_content,
            updated_content: self.updated_content,
        }
    }

    /// The summary view as a JSON value.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::to_value(self.summary()).unwrap_or(serde_json::Value::Null)
    }

    /// The full view as a JSON value.
    pub fn detail_json(&self) -> serde_json::Value {
        serde_json::to_value(self.detail()).unwrap_or(serde_json::Value::Null)
    }
}

fn lookup<'a>(attrs: &'a [(AttrStr, AttrStr)], name: &str) -> Option<&'a str> {
    attrs.iter().rev().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
}

/// The JSON summary of an event: every field except attributes and content claims.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary<'a> {
    /// See [`ProvenanceEvent::id`].
    pub id: u64,
    /// See [`ProvenanceEvent::event_type`].
    pub event_type: EventType,
    /// See [`ProvenanceEvent::timestamp_millis`].
    pub timestamp_millis: i64,
    /// See [`ProvenanceEvent::duration_millis`].
    pub duration_millis: u64,
    /// See [`ProvenanceEvent::flowfile_uuid`].
    pub flowfile_uuid: Uuid,
    /// See [`ProvenanceEvent::parent_uuids`].
    pub parent_uuids: &'a [Uuid],
    /// See [`ProvenanceEvent::child_uuids`].
    pub child_uuids: &'a [Uuid],
    /// See [`ProvenanceEvent::component_id`].
    pub component_id: &'a str,
    /// See [`ProvenanceEvent::component_type`].
    pub component_type: &'a str,
    /// See [`ProvenanceEvent::component_name`].
    pub component_name: &'a str,
    /// See [`ProvenanceEvent::relationship`].
    pub relationship: Option<&'a str>,
    /// See [`ProvenanceEvent::details`].
    pub details: Option<&'a str>,
    /// See [`ProvenanceEvent::transit_uri`].
    pub transit_uri: Option<&'a str>,
    /// See [`ProvenanceEvent::size`].
    pub size: u64,
    /// See [`ProvenanceEvent::lineage_start_millis`].
    pub lineage_start_millis: i64,
    /// See [`ProvenanceEvent::flow_revision`].
    pub flow_revision: &'a str,
    /// See [`ProvenanceEvent::source_queue_id`].
    pub source_queue_id: Option<&'a str>,
}

/// The JSON detail of an event: the summary plus attributes (as objects) and content claims.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail<'a> {
    /// The summary fields, flattened into the same object.
    #[serde(flatten)]
    pub summary: EventSummary<'a>,
    /// Attributes before the event as a JSON object, or `null`.
    pub previous_attributes: Option<AttrsJson<'a>>,
    /// Attributes after the event as a JSON object.
    pub updated_attributes: AttrsJson<'a>,
    /// `{segment, offset, len}` or `null`.
    pub previous_content: Option<ContentRef>,
    /// `{segment, offset, len}` or `null`.
    pub updated_content: Option<ContentRef>,
}

/// Serialises an attribute list as a JSON object (in attribute order).
#[derive(Debug, Clone, Copy)]
pub struct AttrsJson<'a>(pub &'a [(AttrStr, AttrStr)]);

impl Serialize for AttrsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(&**k, &**v)?;
        }
        m.end()
    }
}
