//! Serializable views of the live flow, in the shapes of the HTTP contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::flow::definition::{LabelDef, Position};
use crate::node::{RetryConfig, RunState, Scheduling};
use crate::status::ProcessorStatus;

/// A processor as `GET /api/flow` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessorView {
    /// Id.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Name.
    pub name: String,
    /// Canvas position.
    pub position: Position,
    /// Configured properties (sensitive values are masked by the web layer).
    pub properties: BTreeMap<String, String>,
    /// Run state.
    pub state: RunState,
    /// Auto-terminated relationships.
    pub auto_terminated_relationships: Vec<String>,
    /// Every relationship this processor has now.
    pub relationships: Vec<String>,
    /// Why it cannot start (empty when valid).
    pub validation_errors: Vec<String>,
    /// Revision.
    pub revision: u64,
    /// Scheduling.
    pub scheduling: Scheduling,
    /// Retry.
    pub retry: Option<RetryConfig>,
    /// Comments.
    pub comments: String,
    /// Totals over the last 5 minutes.
    pub status: ProcessorStatus,
    /// Tasks running now.
    pub active_tasks: usize,
    /// Bulletins kept for it.
    pub bulletin_count: usize,
}

/// A connection's live figures.
#[derive(Clone, Debug, Serialize, Default)]
pub struct ConnectionStatus {
    /// Flowfiles queued (including in a running session).
    pub queued_count: u64,
    /// Bytes queued.
    pub queued_bytes: u64,
    /// Of those, handed to a running session.
    pub in_flight: u64,
    /// Whether a threshold is reached.
    pub back_pressure: bool,
    /// Fill against the nearer threshold, 0 to 1 (or more).
    pub fill_ratio: f64,
}

/// A connection as `GET /api/flow` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Source processor id.
    pub source: String,
    /// Destination processor id.
    pub destination: String,
    /// Relationships.
    pub relationships: Vec<String>,
    /// Object threshold.
    pub back_pressure_object_threshold: u64,
    /// Size threshold, NiFi style.
    pub back_pressure_data_size_threshold: String,
    /// Prioritizers.
    pub prioritizers: Vec<String>,
    /// Expiration.
    pub flowfile_expiration: String,
    /// Bend points.
    pub bends: Vec<Position>,
    /// Revision.
    pub revision: u64,
    /// Current figures.
    pub status: ConnectionStatus,
}

/// The whole live flow.
#[derive(Clone, Debug, Serialize)]
pub struct FlowView {
    /// Flow revision (bumped on every change).
    pub revision: u64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Hash of the definition.
    pub flow_hash: String,
    /// Processors.
    pub processors: Vec<ProcessorView>,
    /// Connections.
    pub connections: Vec<ConnectionView>,
    /// Labels.
    pub labels: Vec<LabelDef>,
    /// Parameter names (values are not shown).
    pub parameters: Vec<String>,
}

/// A request to add a processor.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewProcessor {
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Optional id (a UUID is generated otherwise).
    #[serde(default)]
    pub id: Option<String>,
    /// Optional name.
    #[serde(default)]
    pub name: Option<String>,
    /// Optional position.
    #[serde(default)]
    pub position: Option<Position>,
    /// Optional properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, String>>,
    /// Optional initial state.
    #[serde(default)]
    pub state: Option<RunState>,
    /// Optional auto-terminated relationships.
    #[serde(default)]
    pub auto_terminated_relationships: Option<Vec<String>>,
    /// Optional scheduling.
    #[serde(default)]
    pub scheduling: Option<Scheduling>,
    /// Optional retry.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// Optional comments.
    #[serde(default)]
    pub comments: Option<String>,
}

/// A change to a processor: only the fields given change. A property set to `null` is
/// removed.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProcessorPatch {
    /// Revision the client last saw; a stale one is refused.
    #[serde(default)]
    pub revision: Option<u64>,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New position.
    #[serde(default)]
    pub position: Option<Position>,
    /// Properties to set (or remove, with null).
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Option<String>>>,
    /// New state.
    #[serde(default)]
    pub state: Option<RunState>,
    /// New auto-terminated set.
    #[serde(default)]
    pub auto_terminated_relationships: Option<Vec<String>>,
    /// New scheduling.
    #[serde(default)]
    pub scheduling: Option<Scheduling>,
    /// New retry (null removes it).
    #[serde(default, deserialize_with = "double_option")]
    pub retry: Option<Option<RetryConfig>>,
    /// New comments.
    #[serde(default)]
    pub comments: Option<String>,
}

/// A request to add a connection.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// Optional id.
    #[serde(default)]
    pub id: Option<String>,
    /// Optional name.
    #[serde(default)]
    pub name: Option<String>,
    /// Source processor id.
    pub source: String,
    /// Destination processor id.
    pub destination: String,
    /// Relationships.
    pub relationships: Vec<String>,
    /// Object threshold.
    #[serde(default)]
    pub back_pressure_object_threshold: Option<u64>,
    /// Size threshold.
    #[serde(default)]
    pub back_pressure_data_size_threshold: Option<String>,
    /// Prioritizers.
    #[serde(default)]
    pub prioritizers: Option<Vec<String>>,
    /// Expiration.
    #[serde(default)]
    pub flowfile_expiration: Option<String>,
    /// Bends.
    #[serde(default)]
    pub bends: Option<Vec<Position>>,
}

/// A change to a connection.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    /// Revision the client last saw.
    #[serde(default)]
    pub revision: Option<u64>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Relationships.
    #[serde(default)]
    pub relationships: Option<Vec<String>>,
    /// Object threshold.
    #[serde(default)]
    pub back_pressure_object_threshold: Option<u64>,
    /// Size threshold.
    #[serde(default)]
    pub back_pressure_data_size_threshold: Option<String>,
    /// Prioritizers.
    #[serde(default)]
    pub prioritizers: Option<Vec<String>>,
    /// Expiration.
    #[serde(default)]
    pub flowfile_expiration: Option<String>,
    /// Bends.
    #[serde(default)]
    pub bends: Option<Vec<Position>>,
    /// Moving the destination (allowed only when the queue is empty).
    #[serde(default)]
    pub destination: Option<String>,
}

fn double_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A queued flowfile as the queue listing shows it.
#[derive(Clone, Debug, Serialize)]
pub struct QueuedFlowFile {
    /// Uuid.
    pub uuid: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Content size.
    pub size: u64,
    /// Time in this queue.
    pub queued_millis: i64,
    /// Time since it entered the flow.
    pub lineage_millis: i64,
    /// Whether it is penalized now.
    pub penalized: bool,
    /// Position in the queue (0 = next out).
    pub position: usize,
}

/// A page of a queue.
#[derive(Clone, Debug, Serialize)]
pub struct QueueListing {
    /// All queued.
    pub total: u64,
    /// The page.
    pub flowfiles: Vec<QueuedFlowFile>,
}
