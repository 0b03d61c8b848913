//! Sluice's dataflow engine: flowfiles of attributes and content move between processors
//! through bounded, back-pressured connections; a scheduler runs processors on a pool of
//! OS threads; every session commit is recorded (flowfile repository, provenance).
//!
//! The engine knows nothing of HTTP: the web layer drives it through [`FlowController`].

pub mod attributes;
pub mod bulletin;
pub mod connection;
pub mod content;
pub mod context;
pub mod error;
pub mod flow;
pub mod flowfile;
pub mod node;
pub mod processor;
pub mod property;
pub mod registry;
pub mod repository;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod session;
pub mod status;
pub mod swap;
pub mod testing;
pub mod units;

pub use attributes::Attributes;
pub use bulletin::{Bulletin, BulletinBoard, Level};
pub use content::{Content, ContentRepository};
pub use context::ProcessContext;
pub use error::EngineError;
pub use flow::{EngineConfig, FlowChange, FlowController, FlowDefinition};
pub use flowfile::FlowFile;
pub use processor::{DynamicProperties, InputRequirement, ProcessError, Processor, ProcessorDescriptor, Relationship};
pub use property::{PropertyDescriptor, Validator};
pub use registry::Registry;
pub use session::ProcessSession;

pub use sluice_expression as expression;
pub use sluice_provenance as provenance;
