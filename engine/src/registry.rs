//! The registry of processor types: descriptors and factories, looked up by type name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::processor::{Processor, ProcessorDescriptor, ProcessorFactory};
use crate::service::{ServiceFactory, ServiceType};

/// One registered processor type.
#[derive(Clone)]
pub struct ProcessorType {
    /// Its descriptor.
    pub descriptor: Arc<ProcessorDescriptor>,
    /// Creates instances.
    pub factory: ProcessorFactory,
}

/// All processor types the engine can instantiate.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, ProcessorType>,
    services: BTreeMap<String, ServiceType>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a type (replacing one of the same name).
    pub fn register(&mut self, descriptor: ProcessorDescriptor, factory: ProcessorFactory) {
        self.types.insert(descriptor.type_name.clone(), ProcessorType { descriptor: Arc::new(descriptor), factory });
    }

    /// The type called `name`.
    pub fn get(&self, name: &str) -> Option<&ProcessorType> {
        self.types.get(name)
    }

    /// A new instance of `name`.
    pub fn create(&self, name: &str) -> Option<Box<dyn Processor>> {
        self.types.get(name).map(|t| (t.factory)())
    }

    /// All descriptors, sorted by type name.
    pub fn descriptors(&self) -> impl Iterator<Item = &Arc<ProcessorDescriptor>> {
        self.types.values().map(|t| &t.descriptor)
    }

    /// Type names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(|s| s.as_str())
    }

    /// Registers a controller service type providing `provides` (replacing one of the same name).
    pub fn register_service(&mut self, descriptor: ProcessorDescriptor, provides: &str, factory: ServiceFactory) {
        self.services.insert(
            descriptor.type_name.clone(),
            ServiceType { descriptor: Arc::new(descriptor), provides: provides.to_string(), factory },
        );
    }

    /// The controller service type called `name`.
    pub fn service_type(&self, name: &str) -> Option<&ServiceType> {
        self.services.get(name)
    }

    /// All controller service types, sorted by name.
    pub fn service_types(&self) -> impl Iterator<Item = &ServiceType> {
        self.services.values()
    }
}
