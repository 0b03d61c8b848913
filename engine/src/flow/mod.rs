//! The flow: its definition (the JSON file), loading and checking it, and the live graph.

pub mod controller;
pub mod definition;
pub mod load;
pub mod view;

pub use controller::{Download, EngineConfig, FlowChange, FlowController, NewService, ServicePatch, ServiceView};
pub use definition::FlowDefinition;
pub use load::{FlowError, FlowIssue, parse_flow};
