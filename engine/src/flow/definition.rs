//! The flow definition: what `flows/*.json` and the data dir's `flow.json` hold. Field
//! order is fixed and maps are sorted, so that one change in the editor is one line of
//! `git diff`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::node::{RetryConfig, RunState, Scheduling};

/// The current flow file schema version.
pub const FLOW_VERSION: u32 = 1;

/// A whole flow.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    /// Schema version (currently 1).
    pub version: u32,
    /// Short name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What the flow does, for people reading it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Parameters referenced as `#{name}` in property values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Names of parameters that hold secrets: their value comes from the environment
    /// (`SLUICE_PARAM_<NAME>`) or is kept sealed by the data dir's secret store (a plain value
    /// is sealed when the flow is loaded), never as plain text in the saved file. Only
    /// sensitive properties may reference them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sensitive_parameters: BTreeSet<String>,
    /// Controller services: shared clients that processors reference by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controller_services: Vec<ServiceDef>,
    /// Processors.
    #[serde(default)]
    pub processors: Vec<ProcessorDef>,
    /// Connections.
    #[serde(default)]
    pub connections: Vec<ConnectionDef>,
    /// Free-text labels on the canvas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LabelDef>,
}

impl Default for FlowDefinition {
    fn default() -> Self {
        FlowDefinition {
            version: FLOW_VERSION,
            name: String::new(),
            description: String::new(),
            parameters: BTreeMap::new(),
            sensitive_parameters: BTreeSet::new(),
            controller_services: Vec::new(),
            processors: Vec::new(),
            connections: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// A canvas position.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Position {
    /// X.
    pub x: f64,
    /// Y.
    pub y: f64,
}

/// A processor in the flow file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessorDef {
    /// Unique id within the flow.
    pub id: String,
    /// Processor type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Display name (defaults to the type).
    #[serde(default)]
    pub name: String,
    /// Canvas position.
    #[serde(default)]
    pub position: Position,
    /// Property values by name (sorted).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Run state at start.
    #[serde(default)]
    pub state: RunState,
    /// Relationships whose flowfiles are dropped.
    #[serde(default)]
    pub auto_terminated_relationships: Vec<String>,
    /// Scheduling.
    #[serde(default)]
    pub scheduling: Scheduling,
    /// Retry of some relationships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// Comments.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comments: String,
}

/// A controller service in the flow file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// Unique id within the flow (processors' service properties hold it).
    pub id: String,
    /// Service type name, e.g. `DBCPConnectionPool`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Display name (defaults to the type).
    #[serde(default)]
    pub name: String,
    /// Property values by name (sorted; sensitive ones sealed).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Whether it is enabled when the flow loads.
    #[serde(default)]
    pub enabled: bool,
    /// Comments.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comments: String,
}

/// A connection in the flow file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDef {
    /// Unique id within the flow.
    pub id: String,
    /// Optional display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Source processor id.
    pub source: String,
    /// Relationships of the source that feed it.
    pub relationships: Vec<String>,
    /// Destination processor id.
    pub destination: String,
    /// Queue count at which the source stops.
    #[serde(default = "default_object_threshold")]
    pub back_pressure_object_threshold: u64,
    /// Queued data size at which the source stops.
    #[serde(default = "default_size_threshold")]
    pub back_pressure_data_size_threshold: String,
    /// Prioritizer names (NiFi's), first decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prioritizers: Vec<String>,
    /// Flowfiles older than this are dropped ("0 sec" = never).
    #[serde(default = "default_expiration")]
    pub flowfile_expiration: String,
    /// Canvas bend points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bends: Vec<Position>,
}

fn default_object_threshold() -> u64 {
    crate::connection::DEFAULT_OBJECT_THRESHOLD
}
fn default_size_threshold() -> String {
    "1 GB".into()
}
fn default_expiration() -> String {
    "0 sec".into()
}

/// A label on the canvas.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelDef {
    /// Unique id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Position.
    #[serde(default)]
    pub position: Position,
    /// Width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(f64, f64)>,
}

impl FlowDefinition {
    /// Pretty JSON with a trailing newline, as written to disk.
    pub fn to_pretty_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("flow definitions always serialize");
        s.push('\n');
        s
    }

    /// A short, stable hash of the definition (recorded in provenance events).
    pub fn revision_hash(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.to_pretty_json().as_bytes());
        hex::encode(&digest[..6])
    }
}
