//! Controller services in the live flow: add, change, enable, disable and remove them, and
//! hand their instances to the processors that reference them.
//!
//! As in NiFi, a service's properties change only while it is disabled, it is disabled only
//! while no running processor uses it, and it is removed only when nothing references it:
//! each of these is a conflict (409) naming what stands in the way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FlowController, check_revision};
use crate::bulletin::Level;
use crate::context::ProcessContext;
use crate::error::EngineError;
use crate::flow::definition::ServiceDef;
use crate::node::ProcessorNode;
use crate::processor::ProcessorDescriptor;
use crate::service::{ServiceInstance, ServiceType};

/// A controller service of the live flow.
pub struct ServiceNode {
    /// Id (what referencing properties hold).
    pub id: Arc<str>,
    /// Its type.
    pub service_type: ServiceType,
    config: RwLock<ServiceConfig>,
    instance: RwLock<Option<ServiceInstance>>,
    /// Why the last enable failed, shown until the next attempt.
    last_error: RwLock<Option<String>>,
    revision: AtomicU64,
}

#[derive(Clone)]
struct ServiceConfig {
    name: String,
    properties: BTreeMap<String, String>,
    comments: String,
}

impl ServiceNode {
    /// Whether it is enabled (its instance exists).
    pub fn is_enabled(&self) -> bool {
        self.instance.read().is_some()
    }

    /// Display name.
    pub fn name(&self) -> String {
        self.config.read().name.clone()
    }

    fn descriptor(&self) -> &Arc<ProcessorDescriptor> {
        &self.service_type.descriptor
    }
}

/// A controller service as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceView {
    /// Id.
    pub id: String,
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Display name.
    pub name: String,
    /// The API it provides (what referencing properties ask for).
    pub provides: String,
    /// `ENABLED` or `DISABLED`.
    pub state: &'static str,
    /// Property values (sensitive ones are masked by the web layer).
    pub properties: BTreeMap<String, String>,
    /// Why it cannot be enabled; empty when it can.
    pub validation_errors: Vec<String>,
    /// Ids of the processors whose properties reference it.
    pub referencing_processors: Vec<String>,
    /// Comments.
    pub comments: String,
    /// Revision, bumped on every change.
    pub revision: u64,
}

/// A request to add a controller service.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Optional id (a UUID is generated otherwise).
    #[serde(default)]
    pub id: Option<String>,
    /// Optional name.
    #[serde(default)]
    pub name: Option<String>,
    /// Optional properties.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, String>>,
    /// Enable it at once.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Optional comments.
    #[serde(default)]
    pub comments: Option<String>,
}

/// A change to a controller service.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// The revision the change is based on (409 when stale).
    #[serde(default)]
    pub revision: Option<u64>,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Properties to set; null removes one.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Option<String>>>,
    /// New comments.
    #[serde(default)]
    pub comments: Option<String>,
}

impl FlowController {
    /// All controller services, in flow order.
    pub fn services(&self) -> Vec<ServiceView> {
        let nodes = self.graph.read().services.clone();
        nodes.iter().map(|s| self.service_view(s)).collect()
    }

    /// One controller service.
    pub fn service(&self, id: &str) -> Result<ServiceView, EngineError> {
        let s = self.service_node(id)?;
        Ok(self.service_view(&s))
    }

    /// Adds a controller service (disabled unless asked otherwise).
    pub fn add_service(&self, req: NewService) -> Result<ServiceView, EngineError> {
        let def = ServiceDef {
            id: req.id.clone().unwrap_or_else(|| Uuid::new_v4().to_string()),
            type_name: req.type_name.clone(),
            name: req.name.clone().unwrap_or_default(),
            properties: req.properties.clone().unwrap_or_default(),
            enabled: false,
            comments: req.comments.clone().unwrap_or_default(),
        };
        let node = {
            let _edit = self.edit.lock();
            if self.find_service(&def.id).is_some()
                || self.find_node(&def.id).is_some()
                || self.find_connection(&def.id).is_some()
            {
                return Err(EngineError::Conflict(format!("id '{}' is already used", def.id)));
            }
            let node = self.build_service(&def)?;
            self.graph.write().services.push(node.clone());
            self.after_change("controller_service", &def.id, "added");
            node
        };
        if req.enabled == Some(true) {
            self.enable_service(&node.id)?;
        }
        Ok(self.service_view(&node))
    }

    /// Changes a disabled controller service.
    pub fn update_service(&self, id: &str, patch: ServicePatch) -> Result<ServiceView, EngineError> {
        let s = self.service_node(id)?;
        let _edit = self.edit.lock();
        check_revision("controller service", id, patch.revision, s.revision.load(Ordering::Acquire))?;
        let mut cfg = s.config.read().clone();
        if let Some(props) = &patch.properties {
            if s.is_enabled() {
                return Err(EngineError::Conflict(format!(
                    "controller service '{}' is enabled; disable it before changing its properties",
                    cfg.name
                )));
            }
            for (k, v) in props {
                match v {
                    Some(v) => cfg.properties.insert(k.clone(), v.clone()),
                    None => cfg.properties.remove(k),
                };
            }
            self.seal(s.descriptor(), &mut cfg.properties)?;
        }
        if let Some(n) = &patch.name {
            cfg.name = n.clone();
        }
        if let Some(c) = &patch.comments {
            cfg.comments = c.clone();
        }
        if patch.properties.is_some() {
            // The last failed enable was about the old values.
            *s.last_error.write() = None;
        }
        *s.config.write() = cfg;
        s.revision.fetch_add(1, Ordering::AcqRel);
        self.after_change("controller_service", id, "changed");
        Ok(self.service_view(&s))
    }

    /// Enables a controller service: validates it and builds its shared instance. Refused
    /// with the reasons when it is invalid or its client cannot be built.
    pub fn enable_service(&self, id: &str) -> Result<ServiceView, EngineError> {
        let s = self.service_node(id)?;
        {
            let _edit = self.edit.lock();
            if !s.is_enabled() {
                let built = self.build_instance(&s);
                *s.last_error.write() = built.as_ref().err().map(|e| e.join("; "));
                match built {
                    Ok(instance) => *s.instance.write() = Some(instance),
                    Err(errs) => {
                        s.revision.fetch_add(1, Ordering::AcqRel);
                        self.after_change("controller_service", id, "changed");
                        return Err(EngineError::invalid(format!(
                            "controller service '{}' cannot be enabled: {}",
                            s.name(),
                            errs.join("; ")
                        )));
                    }
                }
                s.revision.fetch_add(1, Ordering::AcqRel);
                self.after_change("controller_service", id, "changed");
            }
        }
        Ok(self.service_view(&s))
    }

    /// Disables a controller service; refused while a running processor uses it.
    pub fn disable_service(&self, id: &str) -> Result<ServiceView, EngineError> {
        let s = self.service_node(id)?;
        let _edit = self.edit.lock();
        let running: Vec<String> =
            self.referencing(id).iter().filter(|n| n.is_running()).map(|n| format!("'{}'", n.name())).collect();
        if !running.is_empty() {
            return Err(EngineError::Conflict(format!(
                "controller service '{}' is used by running processors {}; stop them first",
                s.name(),
                running.join(", ")
            )));
        }
        if s.instance.write().take().is_some() {
            s.revision.fetch_add(1, Ordering::AcqRel);
            self.after_change("controller_service", id, "changed");
        }
        Ok(self.service_view(&s))
    }

    /// Removes a disabled controller service that no processor references.
    pub fn remove_service(&self, id: &str, revision: Option<u64>) -> Result<(), EngineError> {
        let s = self.service_node(id)?;
        let _edit = self.edit.lock();
        check_revision("controller service", id, revision, s.revision.load(Ordering::Acquire))?;
        if s.is_enabled() {
            return Err(EngineError::Conflict(format!(
                "controller service '{}' is enabled; disable it first",
                s.name()
            )));
        }
        let users: Vec<String> = self.referencing(id).iter().map(|n| format!("'{}'", n.name())).collect();
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "controller service '{}' is referenced by processors {}; change them first",
                s.name(),
                users.join(", ")
            )));
        }
        self.graph.write().services.retain(|x| !Arc::ptr_eq(x, &s));
        self.after_change("controller_service", id, "removed");
        Ok(())
    }

    pub(super) fn find_service(&self, id: &str) -> Option<Arc<ServiceNode>> {
        self.graph.read_recursive().services.iter().find(|s| *s.id == *id).cloned()
    }

    fn service_node(&self, id: &str) -> Result<Arc<ServiceNode>, EngineError> {
        self.find_service(id).ok_or_else(|| EngineError::NotFound(format!("no controller service '{id}'")))
    }

    /// A service node from its definition (disabled), with sensitive values sealed.
    pub(super) fn build_service(&self, def: &ServiceDef) -> Result<Arc<ServiceNode>, EngineError> {
        let t = self.registry.service_type(&def.type_name).ok_or_else(|| {
            let known: Vec<String> = self.registry.service_types().map(|t| t.descriptor.type_name.clone()).collect();
            EngineError::invalid(format!(
                "unknown controller service type '{}' (known: {})",
                def.type_name,
                known.join(", ")
            ))
        })?;
        let mut properties = def.properties.clone();
        self.seal(&t.descriptor, &mut properties)?;
        let name = if def.name.is_empty() { def.type_name.clone() } else { def.name.clone() };
        Ok(Arc::new(ServiceNode {
            id: Arc::from(def.id.as_str()),
            service_type: t.clone(),
            config: RwLock::new(ServiceConfig { name, properties, comments: def.comments.clone() }),
            instance: RwLock::new(None),
            last_error: RwLock::new(None),
            revision: AtomicU64::new(1),
        }))
    }

    /// The flow file's form of a service.
    pub(super) fn service_def(&self, s: &ServiceNode) -> ServiceDef {
        let cfg = s.config.read();
        ServiceDef {
            id: s.id.to_string(),
            type_name: s.descriptor().type_name.clone(),
            name: cfg.name.clone(),
            properties: cfg.properties.clone(),
            enabled: s.is_enabled(),
            comments: cfg.comments.clone(),
        }
    }

    /// Enables a service as a flow loads; a failure is a bulletin, the service stays disabled.
    pub(super) fn enable_on_load(&self, s: &Arc<ServiceNode>) {
        match self.build_instance(s) {
            Ok(i) => *s.instance.write() = Some(i),
            Err(errs) => {
                let msg = format!("not enabled: {}", errs.join("; "));
                *s.last_error.write() = Some(errs.join("; "));
                self.runtime.bulletins.post(Level::Warning, &s.id, &s.name(), msg);
            }
        }
    }

    fn service_issues(&self, s: &ServiceNode) -> (Vec<String>, Option<ProcessContext>) {
        let cfg = s.config.read().clone();
        let mut errs = crate::flow::load::processor_issues(
            s.descriptor(),
            &cfg.properties,
            &crate::node::Scheduling::default(),
            &[],
            &[],
            false,
        );
        if !errs.is_empty() {
            return (errs, None);
        }
        let props = match self.resolve_properties(s.descriptor(), &cfg.properties) {
            Ok(p) => p,
            Err(e) => return (vec![e], None),
        };
        match ProcessContext::new(s.id.clone(), Arc::from(cfg.name.as_str()), s.descriptor().clone(), &props) {
            Ok(ctx) => (errs, Some(ctx)),
            Err(e) => {
                errs.push(e.to_string());
                (errs, None)
            }
        }
    }

    fn build_instance(&self, s: &ServiceNode) -> Result<ServiceInstance, Vec<String>> {
        let (errs, ctx) = self.service_issues(s);
        match ctx {
            Some(ctx) if errs.is_empty() => (s.service_type.factory)(&ctx).map_err(|e| vec![e]),
            _ => Err(errs),
        }
    }

    /// The processors whose service properties name `id`.
    fn referencing(&self, id: &str) -> Vec<Arc<ProcessorNode>> {
        self.graph
            .read_recursive()
            .processors
            .iter()
            .filter(|n| {
                let cfg = n.config.read();
                n.descriptor.properties.iter().any(|p| {
                    p.controller_service.is_some() && cfg.properties.get(&p.name).is_some_and(|v| v.trim() == id)
                })
            })
            .cloned()
            .collect()
    }

    /// The instances of the services a processor's properties reference, by property name;
    /// an error names the property and why its service cannot be used.
    pub(super) fn services_for(
        &self,
        d: &ProcessorDescriptor,
        properties: &BTreeMap<String, String>,
    ) -> Result<HashMap<String, ServiceInstance>, String> {
        let mut out = HashMap::new();
        for p in &d.properties {
            let Some(api) = &p.controller_service else { continue };
            let Some(id) = properties.get(&p.name).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
            let s = self
                .find_service(id)
                .ok_or_else(|| format!("'{}' names controller service '{id}', which does not exist", p.name))?;
            if s.service_type.provides != *api {
                return Err(format!(
                    "'{}' needs a {api} service; '{}' is a {} ({})",
                    p.name,
                    s.name(),
                    s.descriptor().type_name,
                    s.service_type.provides
                ));
            }
            let instance = s.instance.read().clone().ok_or_else(|| {
                format!("'{}': controller service '{}' is disabled; enable it first", p.name, s.name())
            })?;
            out.insert(p.name.clone(), instance);
        }
        Ok(out)
    }

    fn service_view(&self, s: &ServiceNode) -> ServiceView {
        let cfg = s.config.read().clone();
        let validation_errors = if s.is_enabled() {
            Vec::new()
        } else {
            let (mut errs, _) = self.service_issues(s);
            if errs.is_empty()
                && let Some(e) = s.last_error.read().clone()
            {
                errs.push(e);
            }
            errs
        };
        ServiceView {
            id: s.id.to_string(),
            type_name: s.descriptor().type_name.clone(),
            name: cfg.name,
            provides: s.service_type.provides.clone(),
            state: if s.is_enabled() { "ENABLED" } else { "DISABLED" },
            properties: cfg.properties,
            validation_errors,
            referencing_processors: self.referencing(&s.id).iter().map(|n| n.id.to_string()).collect(),
            comments: cfg.comments,
            revision: s.revision.load(Ordering::Acquire),
        }
    }
}
