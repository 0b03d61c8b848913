//! The processor API: type descriptors, the `Processor` trait, and its errors.

use std::sync::Arc;

use serde::Serialize;

use crate::context::ProcessContext;
use crate::property::PropertyDescriptor;
use crate::session::ProcessSession;

/// A named outlet of a processor; flowfiles are transferred to relationships, and
/// connections subscribe to them.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Relationship {
    /// Name, e.g. `success`.
    pub name: Arc<str>,
    /// What goes there.
    pub description: Arc<str>,
}

impl Relationship {
    /// A relationship with a name and description.
    pub fn new(name: &str, description: &str) -> Self {
        Relationship { name: Arc::from(name), description: Arc::from(description) }
    }
}

/// Whether a processor type takes incoming connections.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InputRequirement {
    /// Runs only with input.
    Required,
    /// Runs with or without input.
    Allowed,
    /// A source: takes no input.
    Forbidden,
}

/// How a processor type accepts properties beyond its declared ones.
#[derive(Clone, Debug, Serialize)]
pub struct DynamicProperties {
    /// What a dynamic property's name means.
    pub name_meaning: String,
    /// What its value means.
    pub value_meaning: String,
    /// Whether values may hold expressions.
    pub expression_language: bool,
    /// Whether each dynamic property also defines a relationship of the same name
    /// (RouteOnAttribute's "route to property name").
    pub creates_relationships: bool,
}

/// Computes a processor's relationships from its properties (for processors whose
/// relationships are dynamic, such as RouteOnAttribute).
pub type RelationshipsFor = fn(&std::collections::BTreeMap<String, String>) -> Vec<String>;

/// Everything the editor and the engine need to know about a processor type.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessorDescriptor {
    /// Type name, e.g. `GenerateFlowFile` (NiFi's where NiFi has the same processor).
    #[serde(rename = "type")]
    pub type_name: String,
    /// What it does, in a sentence or two.
    pub description: String,
    /// Search tags.
    pub tags: Vec<String>,
    /// Declared properties, in display order.
    pub properties: Vec<PropertyDescriptor>,
    /// Declared relationships.
    pub relationships: Vec<Relationship>,
    /// Dynamic properties, if accepted.
    pub dynamic_properties: Option<DynamicProperties>,
    /// Input requirement.
    pub input_requirement: InputRequirement,
    /// Default scheduling period for new instances (e.g. `1 min` for pollers).
    pub default_period: String,
    /// For types whose relationships depend on configuration (RouteOnAttribute): the
    /// relationship names for given properties. None = the declared ones.
    #[serde(skip)]
    pub relationships_for: Option<RelationshipsFor>,
    /// Whether the type's purpose is routing: an input it transfers with its content unchanged
    /// is recorded as ROUTE even when it set attributes on the way (as NiFi's routing
    /// processors report), instead of ATTRIBUTES_MODIFIED.
    #[serde(skip)]
    pub routes: bool,
}

impl ProcessorDescriptor {
    /// A descriptor with a name and description; add the rest with the builder methods.
    pub fn new(type_name: &str, description: &str) -> Self {
        ProcessorDescriptor {
            type_name: type_name.into(),
            description: description.into(),
            tags: Vec::new(),
            properties: Vec::new(),
            relationships: Vec::new(),
            dynamic_properties: None,
            input_requirement: InputRequirement::Required,
            default_period: "0 sec".into(),
            relationships_for: None,
            routes: false,
        }
    }

    /// Marks the type as a router (see [`ProcessorDescriptor::routes`]).
    pub fn routing(mut self) -> Self {
        self.routes = true;
        self
    }

    /// Adds search tags.
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| t.to_string()).collect();
        self
    }

    /// Adds a property.
    pub fn property(mut self, p: PropertyDescriptor) -> Self {
        self.properties.push(p);
        self
    }

    /// Adds a relationship.
    pub fn relationship(mut self, r: Relationship) -> Self {
        self.relationships.push(r);
        self
    }

    /// Accepts dynamic properties.
    pub fn dynamic(mut self, d: DynamicProperties) -> Self {
        self.dynamic_properties = Some(d);
        self
    }

    /// Sets the input requirement.
    pub fn input(mut self, r: InputRequirement) -> Self {
        self.input_requirement = r;
        self
    }

    /// Sets the default run schedule.
    pub fn default_period(mut self, p: &str) -> Self {
        self.default_period = p.into();
        self
    }

    /// Makes the relationship set depend on the configured properties.
    pub fn relationships_from(mut self, f: fn(&std::collections::BTreeMap<String, String>) -> Vec<String>) -> Self {
        self.relationships_for = Some(f);
        self
    }

    /// The declared property called `name`.
    pub fn find_property(&self, name: &str) -> Option<&PropertyDescriptor> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// An error from a processor; the session is rolled back and a bulletin posted.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Misconfiguration found at run time.
    #[error("configuration: {0}")]
    Config(String),
    /// An I/O failure (content, files, network).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else, with a message for the bulletin.
    #[error("{0}")]
    Other(String),
    /// The session was misused (a flowfile not transferred, unknown relationship...).
    #[error("session: {0}")]
    Session(String),
    /// The flowfile repository could not record the commit (e.g. disk full).
    #[error("repository: {0}")]
    Repository(String),
}

impl ProcessError {
    /// Shorthand for `ProcessError::Other`.
    pub fn other(msg: impl Into<String>) -> Self {
        ProcessError::Other(msg.into())
    }
}

/// A processor instance. Shared by its concurrent tasks, so `on_trigger` takes `&self`;
/// `on_scheduled` and `on_stopped` run with no task active.
pub trait Processor: Send + Sync {
    /// Called once when the processor starts, before any `on_trigger`: compile expressions,
    /// open clients, check configuration beyond what validators can.
    fn on_scheduled(&mut self, _ctx: &ProcessContext) -> Result<(), ProcessError> {
        Ok(())
    }

    /// Does one unit of work: take flowfiles from the session, transfer or remove each.
    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError>;

    /// Called once after the last task finished when the processor stops.
    fn on_stopped(&mut self, _ctx: &ProcessContext) {}

    /// Extra validation beyond the descriptors (cross-property rules); reasons returned.
    fn validate(&self, _ctx: &ProcessContext) -> Vec<String> {
        Vec::new()
    }
}

/// Creates processor instances of one type.
pub type ProcessorFactory = fn() -> Box<dyn Processor>;
