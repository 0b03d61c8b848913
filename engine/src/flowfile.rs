//! The flowfile: the unit of data that moves through a flow.

use std::sync::Arc;

use uuid::Uuid;

use crate::attributes::{AttrStr, Attributes};
use crate::content::Content;

/// Milliseconds since the Unix epoch, the engine's wall-clock unit.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One piece of data in the flow: attributes plus a reference to immutable content.
///
/// Cloning is cheap (attributes and content are shared); a clone keeps the same id, so
/// code that needs a new flowfile asks the session for a child or a clone instead.
#[derive(Clone, Debug)]
pub struct FlowFile {
    /// Unique id, also exposed as the `uuid` attribute.
    pub id: Uuid,
    /// Attributes, shared copy-on-write.
    pub attributes: Attributes,
    /// Where the bytes are.
    pub content: Content,
    /// When the flowfile entered the flow (ms since epoch).
    pub entry_millis: i64,
    /// When the oldest ancestor of this flowfile entered the flow (ms since epoch).
    pub lineage_start_millis: i64,
    /// When it entered its current queue (ms since epoch); used by prioritizers and expiry.
    pub queued_millis: i64,
    /// Until when it is penalized (ms since epoch); 0 when not penalized.
    pub penalty_until_millis: i64,
    /// How many times it was routed to a retried relationship by the current processor.
    pub retry_count: u32,
    /// Index of this flowfile in the session that handed it out (`u32::MAX` outside a session).
    pub(crate) session_slot: u32,
}

const KEY_UUID: AttrStr = AttrStr::new_static(crate::attributes::UUID);
const KEY_FILENAME: AttrStr = AttrStr::new_static(crate::attributes::FILENAME);
const KEY_PATH: AttrStr = AttrStr::new_static(crate::attributes::PATH);
const DEFAULT_PATH: AttrStr = AttrStr::new_static("./");

impl FlowFile {
    /// A new flowfile with the standard attributes (`uuid`, `filename`, `path`).
    pub fn new(content: Content) -> Self {
        Self::new_at(content, now_millis())
    }

    /// A new flowfile entering the flow at `now` (ms since epoch). The standard attribute
    /// names are shared, so a new flowfile costs two allocations for its attributes.
    pub fn new_at(content: Content, now: i64) -> Self {
        let id = Uuid::new_v4();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id_text = AttrStr::new(&*id.hyphenated().encode_lower(&mut buf));
        let mut pairs = Vec::with_capacity(6);
        pairs.extend([(KEY_UUID, id_text.clone()), (KEY_FILENAME, id_text), (KEY_PATH, DEFAULT_PATH)]);
        let attributes = Attributes::from_shared(Arc::new(pairs));
        FlowFile {
            id,
            attributes,
            content,
            entry_millis: now,
            lineage_start_millis: now,
            queued_millis: now,
            penalty_until_millis: 0,
            retry_count: 0,
            session_slot: u32::MAX,
        }
    }

    /// Content size in bytes.
    pub fn size(&self) -> u64 {
        self.content.len()
    }

    /// Shortcut for an attribute value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(name)
    }

    /// Sets an attribute (copy-on-write). `uuid` cannot be changed and is ignored.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        if name != crate::attributes::UUID {
            self.attributes.insert(name, value);
        }
    }

    /// Removes an attribute. `uuid` cannot be removed and is ignored.
    pub fn remove_attr(&mut self, name: &str) {
        if name != crate::attributes::UUID {
            self.attributes.remove(name);
        }
    }

    /// Whether the flowfile is penalized at `now`.
    pub fn is_penalized(&self, now: i64) -> bool {
        self.penalty_until_millis > now
    }
}
