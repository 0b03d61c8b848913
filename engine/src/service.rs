//! Controller services: clients shared by several processors (a database pool, credentials,
//! a TLS context), configured once in the flow, enabled and disabled as a whole, and
//! referenced from processors by a property naming the service's id (as in NiFi).
//!
//! A service type is described like a processor (a [`ProcessorDescriptor`] with properties
//! and no relationships), so its properties are validated, sealed when sensitive and shown
//! by the same code; it names the API it provides, and its factory builds the shared
//! instance from the resolved properties when the service is enabled.

use std::any::Any;
use std::sync::Arc;

use crate::context::ProcessContext;
use crate::processor::ProcessorDescriptor;

/// The shared instance of an enabled service; processors downcast it to the type its API
/// stands for (see [`ProcessContext::service`]).
pub type ServiceInstance = Arc<dyn Any + Send + Sync>;

/// Builds a service's instance from its properties (defaults applied, parameters and
/// sensitive values resolved); an error keeps the service disabled and is shown to the user.
pub type ServiceFactory = fn(&ProcessContext) -> Result<ServiceInstance, String>;

/// One registered controller service type.
#[derive(Clone)]
pub struct ServiceType {
    /// Name, description and properties (no relationships).
    pub descriptor: Arc<ProcessorDescriptor>,
    /// The API it provides, which referencing properties name (e.g. `DatabaseConnectionPool`).
    pub provides: String,
    /// Builds the instance when the service is enabled.
    pub factory: ServiceFactory,
}
