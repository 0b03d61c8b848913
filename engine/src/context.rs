//! The process context: a started processor's configuration as its code sees it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sluice_expression::{AttributeSource, Expression};

use crate::bulletin::{BulletinBoard, Level};
use crate::flowfile::FlowFile;
use crate::processor::{ProcessError, ProcessorDescriptor};
use crate::repository::Durability;
use crate::scheduler::Waker;

/// Configuration and controls of a running processor, shared by its tasks.
pub struct ProcessContext {
    /// Processor id.
    pub id: Arc<str>,
    /// Processor name.
    pub name: Arc<str>,
    /// Processor type.
    pub type_name: Arc<str>,
    /// The type's descriptor.
    pub descriptor: Arc<ProcessorDescriptor>,
    properties: BTreeMap<String, String>,
    expressions: HashMap<String, Expression>,
    yield_requested: AtomicBool,
    waker: Option<Waker>,
    state_dir: Option<PathBuf>,
    bulletins: Option<Arc<BulletinBoard>>,
    /// Whether the processor has incoming connections.
    pub has_incoming: bool,
    durability: Durability,
    services: HashMap<String, crate::service::ServiceInstance>,
}

impl ProcessContext {
    /// Builds a context from configured properties (defaults are filled in here and
    /// expressions compiled once).
    pub fn new(
        id: Arc<str>,
        name: Arc<str>,
        descriptor: Arc<ProcessorDescriptor>,
        configured: &BTreeMap<String, String>,
    ) -> Result<Self, ProcessError> {
        let mut properties = BTreeMap::new();
        for p in &descriptor.properties {
            if let Some(v) = configured.get(&p.name).or(p.default_value.as_ref()) {
                properties.insert(p.name.clone(), v.clone());
            }
        }
        for (k, v) in configured {
            properties.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut expressions = HashMap::new();
        for (k, v) in &properties {
            let el = descriptor
                .find_property(k)
                .map(|p| p.expression_language)
                .unwrap_or_else(|| descriptor.dynamic_properties.as_ref().is_some_and(|d| d.expression_language));
            if el && v.contains("${") {
                let e = Expression::compile(v).map_err(|e| ProcessError::Config(format!("'{k}': {e}")))?;
                expressions.insert(k.clone(), e);
            }
        }
        Ok(ProcessContext {
            id,
            name,
            type_name: Arc::from(descriptor.type_name.as_str()),
            descriptor,
            properties,
            expressions,
            yield_requested: AtomicBool::new(false),
            waker: None,
            state_dir: None,
            bulletins: None,
            has_incoming: false,
            durability: Durability::Os,
            services: HashMap::new(),
        })
    }

    /// Gives the context the instances of the controller services its properties name.
    pub(crate) fn set_services(&mut self, services: HashMap<String, crate::service::ServiceInstance>) {
        self.services = services;
    }

    /// The shared instance of the controller service that property `name` references, as a
    /// `T` (the type the service's API stands for). None when the property is not set; the
    /// engine refuses to start a processor whose referenced service is missing or disabled.
    pub fn service<T: std::any::Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.services.get(name).and_then(|s| s.clone().downcast::<T>().ok())
    }

    pub(crate) fn attach(
        &mut self,
        waker: Waker,
        state_dir: Option<PathBuf>,
        bulletins: Arc<BulletinBoard>,
        has_incoming: bool,
    ) {
        self.waker = Some(waker);
        self.state_dir = state_dir;
        self.bulletins = Some(bulletins);
        self.has_incoming = has_incoming;
    }

    /// Sets the engine's durability (the default, for contexts outside an engine, is `os`).
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// The engine's durability: what a committed session survives. A processor that writes
    /// outside the repositories syncs its writes when this is `fsync`, and need not otherwise.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The raw value of a property (with its default), without evaluating expressions.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(|s| s.as_str())
    }

    /// A property evaluated without flowfile attributes (environment only).
    pub fn value(&self, name: &str) -> Result<Option<String>, ProcessError> {
        match self.expressions.get(name) {
            Some(e) => {
                let empty: Vec<(&str, &str)> = Vec::new();
                e.evaluate(&empty).map(Some).map_err(|e| ProcessError::Config(format!("'{name}': {e}")))
            }
            None => Ok(self.property(name).map(str::to_string)),
        }
    }

    /// A property evaluated against a flowfile's attributes.
    pub fn evaluate(&self, name: &str, ff: &FlowFile) -> Result<Option<String>, ProcessError> {
        self.evaluate_with(name, &ff.attributes)
    }

    /// A property evaluated against any attribute source.
    pub fn evaluate_with(&self, name: &str, attrs: &dyn AttributeSource) -> Result<Option<String>, ProcessError> {
        match self.expressions.get(name) {
            Some(e) => {
                e.evaluate(attrs).map(Some).map_err(|e| ProcessError::Other(format!("evaluating '{name}': {e}")))
            }
            None => Ok(self.property(name).map(str::to_string)),
        }
    }

    /// The compiled expression of a property, if it holds one.
    pub fn expression(&self, name: &str) -> Option<&Expression> {
        self.expressions.get(name)
    }

    /// A property parsed as a whole number.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ProcessError> {
        self.value(name)?
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ProcessError::Config(format!("'{name}' is not a whole number: '{v}'")))
            })
            .transpose()
    }

    /// A property parsed as a boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ProcessError> {
        self.value(name)?
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ProcessError::Config(format!("'{name}' is not true or false: '{v}'"))),
            })
            .transpose()
    }

    /// A property parsed as a time period.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ProcessError> {
        self.value(name)?.map(|v| crate::units::parse_duration(&v).map_err(ProcessError::Config)).transpose()
    }

    /// A property parsed as a data size in bytes.
    pub fn data_size(&self, name: &str) -> Result<Option<u64>, ProcessError> {
        self.value(name)?.map(|v| crate::units::parse_data_size(&v).map_err(ProcessError::Config)).transpose()
    }

    /// Properties not declared by the type (dynamic properties), sorted by name.
    pub fn dynamic_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .filter(|(k, _)| self.descriptor.find_property(k).is_none())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// All configured properties with defaults, sorted by name.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// Asks the scheduler not to run this processor again for its yield duration (e.g. a
    /// remote system is down, or a source found nothing).
    pub fn yield_now(&self) {
        self.yield_requested.store(true, Ordering::Release);
    }

    pub(crate) fn take_yield(&self) -> bool {
        self.yield_requested.swap(false, Ordering::AcqRel)
    }

    /// A handle that asynchronous I/O (listeners) uses to have this processor triggered
    /// as soon as data arrives.
    pub fn waker(&self) -> Option<Waker> {
        self.waker.clone()
    }

    /// A directory where this processor may keep state across restarts (None in memory mode).
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join(&*self.id))
    }

    /// Posts a bulletin for this processor.
    pub fn bulletin(&self, level: Level, message: impl Into<String>) {
        if let Some(b) = &self.bulletins {
            b.post(level, &self.id, &self.name, message);
        }
    }
}
