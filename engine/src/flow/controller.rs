//! The flow controller: owns the live graph and every change to it. Each change validates,
//! applies while the rest keeps running, bumps revisions, saves the flow file atomically,
//! and tells listeners (the web layer) about it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sluice_provenance::{EventType, ProvenanceConfig, ProvenanceEvent, ProvenanceRepository};
use uuid::Uuid;

use crate::bulletin::{BulletinBoard, Level};
use crate::connection::{Connection, ConnectionConfig, Prioritizer};
use crate::content::{ContentRepository, ContentRepositoryConfig};
use crate::context::ProcessContext;
use crate::error::EngineError;
use crate::flow::definition::{ConnectionDef, FlowDefinition, LabelDef, Position, ProcessorDef};
use crate::flow::load::{FlowIssue, check_structure, relationship_names};
use crate::flow::view::*;
use crate::flowfile::FlowFile;
use crate::node::{
    ProcessorConfig, ProcessorNode, RunConfig, RunState, STATE_DISABLED, STATE_RUNNING, STATE_STOPPED, STATE_STOPPING,
    Wiring,
};
use crate::processor::InputRequirement;
use crate::registry::Registry;
use crate::repository::{
    Durability, FlowFileRepository, MemoryFlowFileRepository, SharedFlowFileRepository, WalConfig, WalRepository,
};
use crate::runtime::Runtime;
use crate::schedule::{Clock, CronSchedule, Strategy, SystemClock};
use crate::scheduler::Scheduler;
use crate::secrets::{SecretStore, reveal_sensitive, seal_sensitive};
use crate::swap::SwapSpace;
use crate::units::{format_data_size, parse_data_size, parse_duration};

/// Flowfiles recovered from the repository, by connection id.
type RecoveredQueues = Vec<(String, Vec<FlowFile>)>;

/// How the engine is set up.
#[derive(Clone)]
pub struct EngineConfig {
    /// Where repositories and the saved flow live; None = everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Flowfile repository durability (ignored without a data dir: memory).
    pub durability: Durability,
    /// Whether provenance is recorded.
    pub provenance: bool,
    /// Worker threads (default: number of CPUs).
    pub workers: usize,
    /// The flow file kept in sync with the running flow (default: `<data dir>/flow.json`).
    pub flow_path: Option<PathBuf>,
    /// The clock (tests use a manual one).
    pub clock: Arc<dyn Clock>,
    /// Provenance settings.
    pub provenance_config: ProvenanceConfig,
    /// Content repository settings.
    pub content_config: ContentRepositoryConfig,
    /// Flowfiles a connection keeps in memory before it swaps the rest to disk (needs a data dir).
    pub swap_threshold: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            data_dir: None,
            durability: Durability::Memory,
            provenance: true,
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            flow_path: None,
            clock: Arc::new(SystemClock),
            provenance_config: ProvenanceConfig::default(),
            content_config: ContentRepositoryConfig::default(),
            swap_threshold: crate::swap::DEFAULT_SWAP_THRESHOLD,
        }
    }
}

/// A change to the flow, as told to listeners.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FlowChange {
    /// The new flow revision.
    pub revision: u64,
    /// What changed: `processor`, `connection`, `label`, `flow`.
    pub kind: &'static str,
    /// Its id (empty for the whole flow).
    pub id: String,
    /// `added`, `changed`, `removed`, `replaced`.
    pub action: &'static str,
}

mod services;

pub use services::{NewService, ServiceNode, ServicePatch, ServiceView};

struct Graph {
    name: String,
    description: String,
    parameters: BTreeMap<String, String>,
    sensitive_parameters: BTreeSet<String>,
    services: Vec<Arc<ServiceNode>>,
    processors: Vec<Arc<ProcessorNode>>,
    connections: Vec<(Arc<Connection>, ConnMeta)>,
    labels: Vec<LabelDef>,
}

#[derive(Clone)]
struct ConnMeta {
    name: String,
    relationships: Vec<String>,
    bends: Vec<Position>,
    revision: u64,
}

type Listener = Arc<dyn Fn(&FlowChange) + Send + Sync>;

/// The live flow and its services.
pub struct FlowController {
    registry: Arc<Registry>,
    runtime: Arc<Runtime>,
    scheduler: Scheduler,
    graph: RwLock<Graph>,
    /// Serializes structural edits so that validate-then-apply is atomic.
    edit: Mutex<()>,
    revision: AtomicU64,
    flow_path: Option<PathBuf>,
    listeners: RwLock<Vec<Listener>>,
    stop: Arc<AtomicBool>,
    housekeeper: Mutex<Option<JoinHandle<()>>>,
    started_at: Instant,
    /// Seals sensitive property values (see `crate::secrets`); None keeps them as given.
    secrets: RwLock<Option<Arc<dyn SecretStore>>>,
    wal: Option<Arc<WalRepository>>,
    /// Queued flowfiles recovered at start, restored into their connections by the first `load`.
    recovered: Mutex<Option<RecoveredQueues>>,
    /// Where connections swap large backlogs (None without a data dir).
    swap: Option<Arc<SwapSpace>>,
}

impl FlowController {
    /// Opens the repositories, recovers queued flowfiles, and starts the scheduler with an
    /// empty flow. Load a flow with `load`.
    pub fn new(config: EngineConfig, registry: Registry) -> Result<Arc<Self>, EngineError> {
        let bulletins = Arc::new(BulletinBoard::new(1000));
        let mut recovered = crate::repository::Recovered::default();
        let mut wal: Option<Arc<WalRepository>> = None;
        let (content, flowfiles, provenance, state_dir) = match &config.data_dir {
            Some(dir) if config.durability != Durability::Memory => {
                std::fs::create_dir_all(dir)?;
                let mut cc = config.content_config.clone();
                cc.fsync = config.durability == Durability::Fsync;
                let content = ContentRepository::open(&dir.join("content"), cc)?;
                // Provenance first: its watermark tells the log which events to hand back.
                let prov = if config.provenance {
                    Some(
                        ProvenanceRepository::open(&dir.join("provenance"), config.provenance_config.clone())
                            .map_err(|e| EngineError::Repository(format!("provenance: {e}")))?,
                    )
                } else {
                    None
                };
                let watermark = prov.as_ref().map(|p| p.durable_wal_seq());
                let (repo, mut rec) =
                    WalRepository::open(&dir.join("flowfiles"), WalConfig::new(config.durability), &content, watermark)
                        .map_err(|e| EngineError::Repository(e.to_string()))?;
                if let Some(p) = &prov {
                    for (seq, events) in std::mem::take(&mut rec.provenance) {
                        if !events.is_empty() {
                            p.submit(events, seq);
                        }
                    }
                    // From now on the log hands events to provenance in commit order, so the
                    // provenance watermark never passes a commit whose events are unsent.
                    let sink = p.clone();
                    repo.set_provenance_sink(Box::new(move |seq, events| sink.submit(events, seq)));
                }
                recovered.queues = rec.queues;
                recovered.last_seq = rec.last_seq;
                wal = Some(repo.clone());
                let ffr: SharedFlowFileRepository = repo;
                (content, ffr, prov, Some(dir.join("state")))
            }
            _ => {
                let prov = if config.provenance {
                    Some(
                        ProvenanceRepository::in_memory(config.provenance_config.clone())
                            .map_err(|e| EngineError::Repository(format!("provenance: {e}")))?,
                    )
                } else {
                    None
                };
                let ffr: SharedFlowFileRepository = Arc::new(MemoryFlowFileRepository::new());
                (ContentRepository::in_memory(), ffr, prov, config.data_dir.as_ref().map(|d| d.join("state")))
            }
        };
        let swap = match &config.data_dir {
            Some(dir) => Some(SwapSpace::open(&dir.join("swap"), content.clone(), config.swap_threshold)?),
            None => None,
        };
        let runtime = Arc::new(Runtime {
            content,
            flowfiles,
            provenance_by_repository: wal.is_some(),
            provenance,
            bulletins,
            clock: config.clock.clone(),
            flow_revision: RwLock::new(Arc::from("")),
            state_dir,
            durability: if wal.is_some() { config.durability } else { Durability::Memory },
        });
        let scheduler = Scheduler::start(runtime.clone(), config.workers);
        let flow_path = config.flow_path.clone().or_else(|| config.data_dir.as_ref().map(|d| d.join("flow.json")));
        let fc = Arc::new(FlowController {
            registry: Arc::new(registry),
            runtime,
            scheduler,
            graph: RwLock::new(Graph {
                name: String::new(),
                description: String::new(),
                parameters: BTreeMap::new(),
                sensitive_parameters: BTreeSet::new(),
                services: Vec::new(),
                processors: Vec::new(),
                connections: Vec::new(),
                labels: Vec::new(),
            }),
            edit: Mutex::new(()),
            revision: AtomicU64::new(1),
            flow_path,
            listeners: RwLock::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(false)),
            housekeeper: Mutex::new(None),
            started_at: Instant::now(),
            wal,
            recovered: Mutex::new(Some(recovered.queues)),
            swap,
            secrets: RwLock::new(None),
        });
        let weak = Arc::downgrade(&fc);
        let stop = fc.stop.clone();
        *fc.housekeeper.lock() = Some(
            std::thread::Builder::new()
                .name("sluice-housekeeping".into())
                .spawn(move || {
                    let mut tick = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(250));
                        tick += 1;
                        if !tick.is_multiple_of(4) {
                            continue;
                        }
                        let Some(fc) = weak.upgrade() else { return };
                        fc.housekeeping(tick / 4);
                    }
                })
                .expect("spawn housekeeping thread"),
        );
        Ok(fc)
    }

    /// The processor type registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Shared services (repositories, provenance, bulletins, clock).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Bulletins.
    pub fn bulletins(&self) -> &BulletinBoard {
        &self.runtime.bulletins
    }

    /// How long the controller has been up.
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// The file the running flow is saved to, if any.
    pub fn flow_path(&self) -> Option<&Path> {
        self.flow_path.as_deref()
    }

    /// Sets the store that seals sensitive property values from now on (set it before `load`).
    pub fn set_secret_store(&self, store: Arc<dyn SecretStore>) {
        *self.secrets.write() = Some(store);
    }

    /// The store sealing sensitive values, if one is set.
    pub fn secret_store(&self) -> Option<Arc<dyn SecretStore>> {
        self.secrets.read().clone()
    }

    fn seal(
        &self,
        d: &crate::processor::ProcessorDescriptor,
        props: &mut BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        match &*self.secrets.read() {
            Some(s) => seal_sensitive(s.as_ref(), d, props).map_err(|e| EngineError::invalid(e.to_string())),
            None => Ok(()),
        }
    }

    fn reveal(
        &self,
        d: &crate::processor::ProcessorDescriptor,
        props: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        match &*self.secrets.read() {
            Some(s) => reveal_sensitive(s.as_ref(), d, props).map_err(|e| e.to_string()),
            None => Ok(props.clone()),
        }
    }

    /// Calls `f` after every change to the flow.
    pub fn subscribe(&self, f: impl Fn(&FlowChange) + Send + Sync + 'static) {
        self.listeners.write().push(Arc::new(f));
    }

    /// The current flow revision.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    // ----- whole-flow operations -----

    /// Replaces the whole flow with `def`. Connections that keep their id keep their queued
    /// flowfiles; removing a connection that holds flowfiles is refused (409).
    pub fn load(&self, def: FlowDefinition) -> Result<(), EngineError> {
        check_structure(&def, &self.registry)?;
        let _edit = self.edit.lock();
        {
            let g = self.graph.read();
            for (c, _) in &g.connections {
                if c.queued_count() > 0 && !def.connections.iter().any(|d| *d.id == *c.id) {
                    return Err(EngineError::Conflict(format!(
                        "connection '{}' holds {} flowfiles and is not in the new flow; empty it first",
                        c.id,
                        c.queued_count()
                    )));
                }
            }
        }
        let parameters = self.sealed_parameters(&def)?;
        let services = def.controller_services.iter().map(|d| self.build_service(d)).collect::<Result<Vec<_>, _>>()?;
        // Stop everything, keep queues by id, rebuild.
        let old: Vec<Arc<ProcessorNode>> = self.graph.read().processors.clone();
        for n in &old {
            self.stop_node(n);
        }
        let mut kept: HashMap<String, Arc<Connection>> = HashMap::new();
        {
            let mut g = self.graph.write();
            for (c, _) in g.connections.drain(..) {
                kept.insert(c.id.to_string(), c);
            }
            g.processors.clear();
            g.name = def.name.clone();
            g.description = def.description.clone();
            g.parameters = parameters;
            g.sensitive_parameters = def.sensitive_parameters.clone();
            g.labels = def.labels.clone();
            g.services = services.clone();
        }
        for (sv, d) in services.iter().zip(&def.controller_services) {
            if d.enabled {
                self.enable_on_load(sv);
            }
        }
        let mut to_start = Vec::new();
        for p in &def.processors {
            let node = self.build_node(p)?;
            if p.state == RunState::Running {
                to_start.push(node.clone());
            }
            if p.state == RunState::Disabled {
                node.state.store(STATE_DISABLED, Ordering::Release);
            }
            self.graph.write().processors.push(node);
        }
        for c in &def.connections {
            let conn = self.build_connection(c, kept.remove(&c.id))?;
            let mut g = self.graph.write();
            g.connections.push((
                conn,
                ConnMeta {
                    name: c.name.clone(),
                    relationships: c.relationships.clone(),
                    bends: c.bends.clone(),
                    revision: 1,
                },
            ));
        }
        self.rewire_all();
        if let Some(queues) = self.recovered.lock().take() {
            let total: usize = queues.iter().map(|(_, q)| q.len()).sum();
            let orphans = self.restore_queues(queues);
            if total > 0 {
                tracing::info!(flowfiles = total, "restored queued flowfiles from the flowfile repository");
            }
            for (id, n) in orphans {
                self.runtime.bulletins.post(
                    Level::Warning,
                    "",
                    "Flow",
                    format!("{n} recovered flowfiles belong to connection '{id}', which is not in the flow; they stay in the repository until a connection with that id exists"),
                );
            }
        }
        self.after_change("flow", "", "replaced");
        for n in to_start {
            if let Err(e) = self.start_node(&n) {
                self.runtime.bulletins.post(Level::Warning, &n.id, &n.name(), format!("not started: {e}"));
            }
        }
        Ok(())
    }

    /// Puts recovered flowfiles back into their connections (after `load`).
    pub fn restore_queues(&self, queues: Vec<(String, Vec<FlowFile>)>) -> Vec<(String, usize)> {
        let mut orphans = Vec::new();
        let now = self.runtime.now();
        for (id, ffs) in queues {
            match self.find_connection(&id) {
                Some(c) => c.enqueue(ffs, now),
                None => orphans.push((id, ffs.len())),
            }
        }
        orphans
    }

    /// The flow definition as it runs now (what is saved to the flow file).
    pub fn export(&self) -> FlowDefinition {
        let g = self.graph.read();
        let processors = g
            .processors
            .iter()
            .map(|n| {
                let c = n.config();
                ProcessorDef {
                    id: n.id.to_string(),
                    type_name: n.descriptor.type_name.clone(),
                    name: c.name,
                    position: Position { x: c.position.0, y: c.position.1 },
                    properties: c.properties,
                    state: n.run_state(),
                    auto_terminated_relationships: c.auto_terminated,
                    scheduling: c.scheduling,
                    retry: c.retry,
                    comments: c.comments,
                }
            })
            .collect();
        let connections = g.connections.iter().map(|(c, m)| connection_def(c, m)).collect();
        FlowDefinition {
            version: crate::flow::definition::FLOW_VERSION,
            name: g.name.clone(),
            description: g.description.clone(),
            parameters: g.parameters.clone(),
            sensitive_parameters: g.sensitive_parameters.clone(),
            controller_services: g.services.iter().map(|sv| self.service_def(sv)).collect(),
            processors,
            connections,
            labels: g.labels.clone(),
        }
    }

    /// The live flow with status, in the contract's shape.
    pub fn snapshot(&self) -> FlowView {
        let g = self.graph.read();
        let processors = g.processors.iter().map(|n| self.processor_view_locked(&g, n)).collect();
        let connections = g.connections.iter().map(|(c, m)| connection_view(c, m)).collect();
        FlowView {
            revision: self.revision(),
            name: g.name.clone(),
            description: g.description.clone(),
            flow_hash: self.runtime.flow_revision.read().to_string(),
            processors,
            connections,
            labels: g.labels.clone(),
            parameters: g.parameters.keys().cloned().collect(),
        }
    }

    /// Stops every processor and the scheduler, flushes provenance. Queued flowfiles stay
    /// in the flowfile repository for the next start.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let nodes: Vec<_> = self.graph.read().processors.clone();
        for n in &nodes {
            // Keep the recorded run state: only stop tasks, do not save the flow as stopped.
            n.state.store(STATE_STOPPING, Ordering::Release);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for n in &nodes {
            while n.active_tasks() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if let Some(ctx) = n.context.read().clone() {
                n.instance.write().on_stopped(&ctx);
            }
        }
        self.scheduler.shutdown();
        if let Some(h) = self.housekeeper.lock().take() {
            let _ = h.join();
        }
        if let Some(p) = &self.runtime.provenance
            && let Err(e) = p.flush()
        {
            tracing::warn!("provenance flush at shutdown failed: {e}");
        }
        if let Some(w) = &self.wal {
            if let Some(p) = &self.runtime.provenance {
                w.provenance_persisted(p.durable_wal_seq());
            }
            if let Err(e) = w.checkpoint() {
                tracing::warn!("flowfile repository checkpoint at shutdown failed: {e}");
            }
        }
    }

    // ----- processors -----

    /// Adds a processor.
    pub fn add_processor(&self, req: NewProcessor) -> Result<ProcessorView, EngineError> {
        let ty = self
            .registry
            .get(&req.type_name)
            .ok_or_else(|| EngineError::invalid(format!("unknown processor type '{}'", req.type_name)))?;
        let id = req.id.clone().unwrap_or_else(|| Uuid::new_v4().to_string());
        let sched = req.scheduling.clone().unwrap_or_else(|| crate::node::Scheduling {
            period: ty.descriptor.default_period.clone(),
            ..Default::default()
        });
        let errs = sched.validate();
        if !errs.is_empty() {
            return Err(EngineError::invalid(errs.join("; ")));
        }
        let def = ProcessorDef {
            id: id.clone(),
            type_name: req.type_name.clone(),
            name: req.name.clone().unwrap_or_default(),
            position: req.position.unwrap_or_default(),
            properties: req.properties.clone().unwrap_or_default(),
            state: RunState::Stopped,
            auto_terminated_relationships: req.auto_terminated_relationships.clone().unwrap_or_default(),
            scheduling: sched,
            retry: req.retry.clone(),
            comments: req.comments.clone().unwrap_or_default(),
        };
        let rels = relationship_names(&ty.descriptor, &def.properties);
        for r in &def.auto_terminated_relationships {
            if !rels.contains(r) {
                return Err(EngineError::invalid(format!(
                    "'{}' has no relationship '{r}' (it has: {})",
                    req.type_name,
                    rels.join(", ")
                )));
            }
        }
        let node = {
            let _edit = self.edit.lock();
            if self.find_node(&id).is_some() || self.find_connection(&id).is_some() {
                return Err(EngineError::Conflict(format!("id '{id}' is already used")));
            }
            let node = self.build_node(&def)?;
            self.graph.write().processors.push(node.clone());
            self.rewire(&node);
            self.after_change("processor", &id, "added");
            node
        };
        match req.state {
            Some(RunState::Running) => self.start_node(&node)?,
            Some(RunState::Disabled) => {
                node.state.store(STATE_DISABLED, Ordering::Release);
                self.after_change("processor", &id, "changed");
            }
            _ => {}
        }
        Ok(self.processor_view(&node))
    }

    /// One processor with status.
    pub fn processor(&self, id: &str) -> Result<ProcessorView, EngineError> {
        let n = self.node(id)?;
        Ok(self.processor_view(&n))
    }

    /// Changes a processor. Property and scheduling changes apply to a running processor by
    /// restarting it (queued flowfiles are untouched).
    pub fn update_processor(&self, id: &str, patch: ProcessorPatch) -> Result<ProcessorView, EngineError> {
        let n = self.node(id)?;
        let was_running;
        {
            let _edit = self.edit.lock();
            check_revision("processor", id, patch.revision, n.revision())?;
            let mut cfg = n.config();
            if let Some(name) = &patch.name {
                cfg.name = name.clone();
            }
            if let Some(p) = patch.position {
                cfg.position = (p.x, p.y);
            }
            if let Some(props) = &patch.properties {
                for (k, v) in props {
                    match v {
                        Some(v) => {
                            cfg.properties.insert(k.clone(), v.clone());
                        }
                        None => {
                            cfg.properties.remove(k);
                        }
                    }
                }
            }
            if let Some(s) = &patch.scheduling {
                let errs = s.validate();
                if !errs.is_empty() {
                    return Err(EngineError::invalid(errs.join("; ")));
                }
                cfg.scheduling = s.clone();
            }
            if let Some(a) = &patch.auto_terminated_relationships {
                let rels = relationship_names(&n.descriptor, &cfg.properties);
                for r in a {
                    if !rels.contains(r) {
                        return Err(EngineError::invalid(format!(
                            "no relationship '{r}' (it has: {})",
                            rels.join(", ")
                        )));
                    }
                }
                let mut a = a.clone();
                a.sort();
                a.dedup();
                cfg.auto_terminated = a;
            }
            if let Some(r) = &patch.retry {
                cfg.retry = r.clone();
            }
            if let Some(c) = &patch.comments {
                cfg.comments = c.clone();
            }
            self.seal(&n.descriptor, &mut cfg.properties)?;
            let only_cosmetic = patch.properties.is_none()
                && patch.scheduling.is_none()
                && patch.auto_terminated_relationships.is_none()
                && patch.retry.is_none();
            was_running = n.is_running() && !only_cosmetic;
            if was_running {
                self.stop_node(&n);
            }
            *n.config.write() = cfg;
            n.bump_revision();
            self.after_change("processor", id, "changed");
        }
        let target = patch.state;
        match target {
            Some(RunState::Running) => self.start_node(&n)?,
            Some(RunState::Stopped) => self.set_stopped(&n),
            Some(RunState::Disabled) => self.set_disabled(&n)?,
            None if was_running => {
                if let Err(e) = self.start_node(&n) {
                    self.runtime.bulletins.post(
                        Level::Warning,
                        id,
                        &n.name(),
                        format!("stopped after the change: {e}"),
                    );
                    self.after_change("processor", id, "changed");
                }
            }
            None => {}
        }
        Ok(self.processor_view(&n))
    }

    /// Removes a stopped processor and its empty connections.
    pub fn remove_processor(&self, id: &str, revision: Option<u64>) -> Result<(), EngineError> {
        let n = self.node(id)?;
        let _edit = self.edit.lock();
        check_revision("processor", id, revision, n.revision())?;
        let attached: Vec<Arc<Connection>> = self
            .graph
            .read()
            .connections
            .iter()
            .filter(|(c, _)| *c.source_id == *id || *c.destination_id == *id)
            .map(|(c, _)| c.clone())
            .collect();
        if let Some(c) = attached.iter().find(|c| c.queued_count() > 0) {
            return Err(EngineError::Conflict(format!(
                "connection '{}' of this processor holds {} flowfiles; empty it first",
                c.id,
                c.queued_count()
            )));
        }
        self.stop_node(&n);
        {
            let mut g = self.graph.write();
            g.connections.retain(|(c, _)| !attached.iter().any(|a| Arc::ptr_eq(a, c)));
            g.processors.retain(|p| !Arc::ptr_eq(p, &n));
        }
        self.rewire_all();
        self.after_change("processor", id, "removed");
        Ok(())
    }

    /// Starts a processor; refused with the reasons when it is invalid.
    pub fn start_processor(&self, id: &str) -> Result<ProcessorView, EngineError> {
        let n = self.node(id)?;
        self.start_node(&n)?;
        Ok(self.processor_view(&n))
    }

    /// Stops a processor (running tasks finish first).
    pub fn stop_processor(&self, id: &str) -> Result<ProcessorView, EngineError> {
        let n = self.node(id)?;
        self.set_stopped(&n);
        Ok(self.processor_view(&n))
    }

    // ----- connections -----

    /// Connects two processors.
    pub fn add_connection(&self, req: NewConnection) -> Result<ConnectionView, EngineError> {
        let _edit = self.edit.lock();
        let id = req.id.clone().unwrap_or_else(|| Uuid::new_v4().to_string());
        if self.find_node(&id).is_some() || self.find_connection(&id).is_some() {
            return Err(EngineError::Conflict(format!("id '{id}' is already used")));
        }
        let def = ConnectionDef {
            id: id.clone(),
            name: req.name.clone().unwrap_or_default(),
            source: req.source.clone(),
            relationships: req.relationships.clone(),
            destination: req.destination.clone(),
            back_pressure_object_threshold: req
                .back_pressure_object_threshold
                .unwrap_or(crate::connection::DEFAULT_OBJECT_THRESHOLD),
            back_pressure_data_size_threshold: req
                .back_pressure_data_size_threshold
                .clone()
                .unwrap_or_else(|| "1 GB".into()),
            prioritizers: req.prioritizers.clone().unwrap_or_default(),
            flowfile_expiration: req.flowfile_expiration.clone().unwrap_or_else(|| "0 sec".into()),
            bends: req.bends.clone().unwrap_or_default(),
        };
        self.check_connection_def(&def)?;
        let conn = self.build_connection(&def, None)?;
        self.graph.write().connections.push((
            conn.clone(),
            ConnMeta {
                name: def.name.clone(),
                relationships: def.relationships.clone(),
                bends: def.bends.clone(),
                revision: 1,
            },
        ));
        self.rewire_ids(&[&def.source, &def.destination]);
        self.after_change("connection", &id, "added");
        self.connection(&id)
    }

    /// One connection with status.
    pub fn connection(&self, id: &str) -> Result<ConnectionView, EngineError> {
        let g = self.graph.read();
        g.connections
            .iter()
            .find(|(c, _)| *c.id == *id)
            .map(|(c, m)| connection_view(c, m))
            .ok_or_else(|| EngineError::NotFound(format!("no connection '{id}'")))
    }

    /// Changes a connection while the flow runs.
    pub fn update_connection(&self, id: &str, patch: ConnectionPatch) -> Result<ConnectionView, EngineError> {
        let _edit = self.edit.lock();
        let (conn, meta) = {
            let g = self.graph.read();
            g.connections
                .iter()
                .find(|(c, _)| *c.id == *id)
                .cloned()
                .ok_or_else(|| EngineError::NotFound(format!("no connection '{id}'")))?
        };
        check_revision("connection", id, patch.revision, meta.revision)?;
        let mut def = connection_def(&conn, &meta);
        if let Some(v) = &patch.name {
            def.name = v.clone();
        }
        if let Some(v) = &patch.relationships {
            def.relationships = v.clone();
        }
        if let Some(v) = patch.back_pressure_object_threshold {
            def.back_pressure_object_threshold = v;
        }
        if let Some(v) = &patch.back_pressure_data_size_threshold {
            def.back_pressure_data_size_threshold = v.clone();
        }
        if let Some(v) = &patch.prioritizers {
            def.prioritizers = v.clone();
        }
        if let Some(v) = &patch.flowfile_expiration {
            def.flowfile_expiration = v.clone();
        }
        if let Some(v) = &patch.bends {
            def.bends = v.clone();
        }
        let moving = patch.destination.as_ref().is_some_and(|d| *d != def.destination);
        if let Some(d) = &patch.destination {
            def.destination = d.clone();
        }
        self.check_connection_def(&def)?;
        if moving {
            if conn.queued_count() > 0 {
                return Err(EngineError::Conflict(format!(
                    "connection '{id}' holds {} flowfiles; empty it before moving it",
                    conn.queued_count()
                )));
            }
            let old_dest = conn.destination_id.to_string();
            let new_conn = self.build_connection(&def, None)?;
            {
                let mut g = self.graph.write();
                if let Some(slot) = g.connections.iter_mut().find(|(c, _)| *c.id == *id) {
                    slot.0 = new_conn;
                    slot.1.revision += 1;
                }
            }
            self.rewire_ids(&[&def.source, &old_dest, &def.destination]);
        } else {
            conn.set_config(connection_config(&def)?);
            {
                let mut g = self.graph.write();
                if let Some(slot) = g.connections.iter_mut().find(|(c, _)| *c.id == *id) {
                    slot.1.name = def.name.clone();
                    slot.1.relationships = def.relationships.clone();
                    slot.1.bends = def.bends.clone();
                    slot.1.revision += 1;
                }
            }
            self.rewire_ids(&[&def.source]);
        }
        self.after_change("connection", id, "changed");
        self.connection(id)
    }

    /// Removes an empty connection; one holding flowfiles is refused (409).
    pub fn remove_connection(&self, id: &str, revision: Option<u64>) -> Result<(), EngineError> {
        let _edit = self.edit.lock();
        let (conn, meta) = {
            let g = self.graph.read();
            g.connections
                .iter()
                .find(|(c, _)| *c.id == *id)
                .cloned()
                .ok_or_else(|| EngineError::NotFound(format!("no connection '{id}'")))?
        };
        check_revision("connection", id, revision, meta.revision)?;
        if conn.queued_count() > 0 {
            return Err(EngineError::Conflict(format!(
                "connection '{id}' holds {} flowfiles; empty it first",
                conn.queued_count()
            )));
        }
        self.graph.write().connections.retain(|(c, _)| !Arc::ptr_eq(c, &conn));
        // Rewiring takes each node's wiring write lock, so no commit that saw the old wiring
        // is still enqueueing once it returns.
        self.rewire_ids(&[&conn.source_id, &conn.destination_id]);
        if conn.queued_count() > 0 {
            // A commit slipped in before the rewire: put the connection back.
            self.graph.write().connections.push((conn.clone(), meta));
            self.rewire_ids(&[&conn.source_id, &conn.destination_id]);
            return Err(EngineError::Conflict(format!(
                "connection '{id}' received flowfiles while being removed; empty it first"
            )));
        }
        self.after_change("connection", id, "removed");
        Ok(())
    }

    /// A page of a connection's queue.
    pub fn list_queue(&self, id: &str, offset: usize, limit: usize) -> Result<QueueListing, EngineError> {
        let c = self.find_connection(id).ok_or_else(|| EngineError::NotFound(format!("no connection '{id}'")))?;
        let now = self.runtime.now();
        let flowfiles = c
            .list(offset, limit)
            .into_iter()
            .enumerate()
            .map(|(i, f)| QueuedFlowFile {
                uuid: f.id.to_string(),
                attributes: f.attributes.to_btree(),
                size: f.size(),
                queued_millis: (now - f.queued_millis).max(0),
                lineage_millis: (now - f.lineage_start_millis).max(0),
                penalized: f.is_penalized(now),
                position: offset + i,
            })
            .collect();
        Ok(QueueListing { total: c.queued_count(), flowfiles })
    }

    /// Empties a connection (flowfiles in a running session stay); each dropped flowfile
    /// gets a DROP provenance event. Returns how many were dropped.
    pub fn empty_queue(&self, id: &str) -> Result<usize, EngineError> {
        let c = self.find_connection(id).ok_or_else(|| EngineError::NotFound(format!("no connection '{id}'")))?;
        let dropped = c.drain();
        let changes: Vec<crate::repository::RepoChange<'_>> =
            dropped.iter().map(|f| crate::repository::RepoChange::Dequeue { queue: &c.id, id: f.id }).collect();
        let now = self.runtime.now();
        let mut events = Vec::new();
        if let Some(prov) = &self.runtime.provenance {
            let first = prov.allocate_ids(dropped.len() as u64);
            for (i, f) in dropped.iter().enumerate() {
                events.push(ProvenanceEvent {
                    id: first + i as u64,
                    event_type: EventType::Drop,
                    timestamp_millis: now,
                    duration_millis: 0,
                    flowfile_uuid: f.id,
                    parent_uuids: Vec::new(),
                    child_uuids: Vec::new(),
                    component_id: c.id.clone(),
                    component_type: Arc::from("Connection"),
                    component_name: Arc::from(format!("queue {}", c.id)),
                    relationship: None,
                    details: Some("queue emptied by user".into()),
                    transit_uri: None,
                    previous_attributes: None,
                    updated_attributes: f.attributes.shared().clone(),
                    previous_content: None,
                    updated_content: f.content.location(),
                    size: f.size(),
                    lineage_start_millis: f.lineage_start_millis,
                    flow_revision: self.runtime.flow_revision.read().clone(),
                    source_queue_id: Some(c.id.clone()),
                });
            }
        }
        self.commit_with_events(&changes, events)?;
        Ok(dropped.len())
    }

    /// A queued flowfile by uuid, with the connection it is in.
    pub fn find_flowfile(&self, uuid: Uuid) -> Option<(FlowFile, String)> {
        let conns: Vec<Arc<Connection>> = self.graph.read().connections.iter().map(|(c, _)| c.clone()).collect();
        conns.iter().find_map(|c| c.find(uuid).map(|f| (f, c.id.to_string())))
    }

    /// Re-enqueues a flowfile (replay) into `connection_id`, recording REPLAY.
    pub fn replay(
        &self,
        connection_id: &str,
        attributes: crate::attributes::Attributes,
        content: crate::content::Content,
        parent: Uuid,
    ) -> Result<Uuid, EngineError> {
        let c = self
            .find_connection(connection_id)
            .ok_or_else(|| EngineError::NotFound(format!("the connection '{connection_id}' no longer exists")))?;
        let mut ff = FlowFile::new(content);
        let id_text = ff.attributes.get(crate::attributes::UUID).unwrap_or_default().to_string();
        ff.attributes = attributes;
        ff.attributes.insert(crate::attributes::UUID, &id_text);
        let now = self.runtime.now();
        let change = [crate::repository::RepoChange::Enqueue { queue: &c.id, flowfile: &ff }];
        let mut events = Vec::new();
        if let Some(prov) = &self.runtime.provenance {
            events.push(ProvenanceEvent {
                id: prov.allocate_ids(1),
                event_type: EventType::Replay,
                timestamp_millis: now,
                duration_millis: 0,
                flowfile_uuid: ff.id,
                parent_uuids: vec![parent],
                child_uuids: Vec::new(),
                component_id: c.destination_id.clone(),
                component_type: Arc::from("Connection"),
                component_name: Arc::from(format!("queue {}", c.id)),
                relationship: None,
                details: Some(format!("replay of {parent}")),
                transit_uri: None,
                previous_attributes: None,
                updated_attributes: ff.attributes.shared().clone(),
                previous_content: None,
                updated_content: ff.content.location(),
                size: ff.size(),
                lineage_start_millis: ff.lineage_start_millis,
                flow_revision: self.runtime.flow_revision.read().clone(),
                source_queue_id: Some(c.id.clone()),
            });
        }
        self.commit_with_events(&change, events)?;
        let id = ff.id;
        c.enqueue([ff], now);
        Ok(id)
    }

    /// Records that a user downloaded content through the API (a DOWNLOAD event, as NiFi
    /// records one when content is viewed or saved from a queue or from provenance): `of` is the
    /// flowfile or event whose content it was, `component` where it was (id, name).
    pub fn record_download(&self, of: Download, component: (&str, &str), details: &str) -> Result<(), EngineError> {
        let Some(prov) = &self.runtime.provenance else { return Ok(()) };
        let events = vec![ProvenanceEvent {
            id: prov.allocate_ids(1),
            event_type: EventType::Download,
            timestamp_millis: self.runtime.now(),
            duration_millis: 0,
            flowfile_uuid: of.flowfile,
            parent_uuids: Vec::new(),
            child_uuids: Vec::new(),
            component_id: Arc::from(component.0),
            component_type: Arc::from("API"),
            component_name: Arc::from(component.1),
            relationship: None,
            details: Some(details.to_string()),
            transit_uri: None,
            previous_attributes: None,
            updated_attributes: of.attributes,
            previous_content: of.content,
            updated_content: of.content,
            size: of.size,
            lineage_start_millis: of.lineage_start_millis,
            flow_revision: self.runtime.flow_revision.read().clone(),
            source_queue_id: None,
        }];
        self.commit_with_events(&[], events)?;
        Ok(())
    }

    /// Records queue changes and their provenance events in the flowfile repository, then
    /// hands the events to provenance unless the repository does that itself (the one path for
    /// changes made outside a session: empty, replay, download).
    fn commit_with_events(
        &self,
        changes: &[crate::repository::RepoChange<'_>],
        events: Vec<ProvenanceEvent>,
    ) -> Result<(), EngineError> {
        let (seq, events) =
            self.runtime.flowfiles.commit_owned(changes, events).map_err(|e| EngineError::Repository(e.to_string()))?;
        if let Some(prov) = &self.runtime.provenance
            && !events.is_empty()
            && !self.runtime.provenance_by_repository
        {
            prov.submit(events, seq);
        }
        Ok(())
    }

    /// Adds, replaces or removes (text None) a label.
    pub fn set_label(&self, label: LabelDef, remove: bool) -> Result<(), EngineError> {
        let _edit = self.edit.lock();
        {
            let mut g = self.graph.write();
            g.labels.retain(|l| l.id != label.id);
            if !remove {
                g.labels.push(label.clone());
            }
        }
        self.after_change("label", &label.id, if remove { "removed" } else { "changed" });
        Ok(())
    }

    // ----- internals -----

    fn node(&self, id: &str) -> Result<Arc<ProcessorNode>, EngineError> {
        self.find_node(id).ok_or_else(|| EngineError::NotFound(format!("no processor '{id}'")))
    }

    fn find_node(&self, id: &str) -> Option<Arc<ProcessorNode>> {
        self.graph.read().processors.iter().find(|n| *n.id == *id).cloned()
    }

    /// A connection by id.
    pub fn find_connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.graph.read().connections.iter().find(|(c, _)| *c.id == *id).map(|(c, _)| c.clone())
    }

    /// All processor nodes.
    pub fn nodes(&self) -> Vec<Arc<ProcessorNode>> {
        self.graph.read().processors.clone()
    }

    /// All connections.
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.graph.read().connections.iter().map(|(c, _)| c.clone()).collect()
    }

    fn build_node(&self, def: &ProcessorDef) -> Result<Arc<ProcessorNode>, EngineError> {
        let ty = self
            .registry
            .get(&def.type_name)
            .ok_or_else(|| EngineError::invalid(format!("unknown processor type '{}'", def.type_name)))?;
        let mut auto = def.auto_terminated_relationships.clone();
        auto.sort();
        auto.dedup();
        let mut properties = def.properties.clone();
        self.seal(&ty.descriptor, &mut properties)?;
        let cfg = ProcessorConfig {
            name: if def.name.is_empty() { def.type_name.clone() } else { def.name.clone() },
            position: (def.position.x, def.position.y),
            properties,
            scheduling: def.scheduling.clone(),
            auto_terminated: auto,
            retry: def.retry.clone(),
            comments: def.comments.clone(),
        };
        Ok(Arc::new(ProcessorNode::new(Arc::from(def.id.as_str()), ty.descriptor.clone(), cfg, (ty.factory)())))
    }

    fn check_connection_def(&self, def: &ConnectionDef) -> Result<(), EngineError> {
        let src = self
            .find_node(&def.source)
            .ok_or_else(|| EngineError::invalid(format!("source: no processor '{}'", def.source)))?;
        let dst = self
            .find_node(&def.destination)
            .ok_or_else(|| EngineError::invalid(format!("destination: no processor '{}'", def.destination)))?;
        if dst.descriptor.input_requirement == InputRequirement::Forbidden {
            return Err(EngineError::invalid(format!(
                "'{}' ({}) takes no input",
                dst.name(),
                dst.descriptor.type_name
            )));
        }
        if def.relationships.is_empty() {
            return Err(EngineError::invalid("relationships: name at least one"));
        }
        let rels = relationship_names(&src.descriptor, &src.config.read().properties);
        for r in &def.relationships {
            if !rels.contains(r) {
                return Err(EngineError::invalid(format!(
                    "'{}' has no relationship '{r}' (it has: {})",
                    src.name(),
                    rels.join(", ")
                )));
            }
        }
        connection_config(def).map(|_| ())
    }

    fn build_connection(
        &self,
        def: &ConnectionDef,
        existing: Option<Arc<Connection>>,
    ) -> Result<Arc<Connection>, EngineError> {
        let cfg = connection_config(def)?;
        let src = self
            .find_node(&def.source)
            .ok_or_else(|| EngineError::invalid(format!("no processor '{}'", def.source)))?;
        let dst = self
            .find_node(&def.destination)
            .ok_or_else(|| EngineError::invalid(format!("no processor '{}'", def.destination)))?;
        let conn = Arc::new(Connection::new(
            Arc::from(def.id.as_str()),
            src.id.clone(),
            dst.id.clone(),
            cfg,
            self.scheduler.waker(&src),
            self.scheduler.waker(&dst),
            self.swap.clone(),
        ));
        if let Some(old) = existing {
            let items = old.drain();
            conn.enqueue(items, self.runtime.now());
        }
        Ok(conn)
    }

    fn rewire_all(&self) {
        let nodes = self.nodes();
        for n in &nodes {
            self.rewire(n);
        }
    }

    fn rewire_ids(&self, ids: &[&str]) {
        for id in ids {
            if let Some(n) = self.find_node(id) {
                self.rewire(&n);
            }
        }
    }

    fn rewire(&self, node: &Arc<ProcessorNode>) {
        let g = self.graph.read();
        let mut w = Wiring::default();
        for (c, meta) in &g.connections {
            if *c.destination_id == *node.id {
                w.incoming.push(c.clone());
            }
            if *c.source_id == *node.id {
                for r in &meta.relationships {
                    match w.outgoing.iter_mut().find(|(n, _)| **n == **r) {
                        Some((_, v)) => v.push(c.clone()),
                        None => w.outgoing.push((Arc::from(r.as_str()), vec![c.clone()])),
                    }
                }
            }
        }
        drop(g);
        *node.wiring.write() = Arc::new(w);
        self.scheduler.wake(node);
    }

    /// Why a processor cannot start (empty = valid).
    pub fn validate_node(&self, n: &ProcessorNode) -> Vec<String> {
        let cfg = n.config.read().clone();
        let wiring = n.wiring.read().clone();
        let connected: Vec<String> =
            wiring.outgoing.iter().filter(|(_, c)| !c.is_empty()).map(|(r, _)| r.to_string()).collect();
        let properties = match self.reveal(&n.descriptor, &cfg.properties) {
            Ok(p) => p,
            Err(e) => return vec![e],
        };
        let mut errs = crate::flow::load::processor_issues(
            &n.descriptor,
            &properties,
            &cfg.scheduling,
            &cfg.auto_terminated,
            &connected,
            !wiring.incoming.is_empty(),
        );
        if errs.is_empty() {
            match self.make_context(n) {
                Ok(ctx) => errs.extend(n.instance.read().validate(&ctx)),
                Err(e) => errs.push(e),
            }
        }
        errs
    }

    fn make_context(&self, n: &ProcessorNode) -> Result<ProcessContext, String> {
        let cfg = n.config.read().clone();
        // Recursive: validate_node runs under snapshot()'s read guard; a plain read would
        // deadlock behind a queued writer.
        let props = self.resolve_properties(&n.descriptor, &cfg.properties)?;
        let services = self.services_for(&n.descriptor, &cfg.properties)?;
        let mut ctx = ProcessContext::new(n.id.clone(), Arc::from(cfg.name.as_str()), n.descriptor.clone(), &props)
            .map_err(|e| e.to_string())?;
        ctx.set_services(services);
        Ok(ctx)
    }

    /// The flow's parameters with sensitive values sealed by the secret store (when one is set).
    fn sealed_parameters(&self, def: &FlowDefinition) -> Result<BTreeMap<String, String>, EngineError> {
        let mut params = def.parameters.clone();
        if let Some(store) = &*self.secrets.read() {
            for (name, value) in params.iter_mut() {
                if def.sensitive_parameters.contains(name) && !value.is_empty() && !store.is_sealed(value) {
                    *value = store
                        .seal(value)
                        .map_err(|e| EngineError::invalid(format!("sealing sensitive parameter '{name}': {e}")))?;
                }
            }
        }
        Ok(params)
    }

    /// The values a processor of type `d` runs with: sensitive values revealed and `#{name}`
    /// parameters substituted. A property that is not sensitive may not reference a sensitive
    /// parameter (as in NiFi), so a secret never shows where values are displayed or logged.
    pub fn resolve_properties(
        &self,
        d: &crate::processor::ProcessorDescriptor,
        properties: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        if !properties.values().any(|v| v.contains("#{")) {
            // Nothing to substitute (validation runs every status tick): no copies, no reveals.
            return self.reveal(d, properties);
        }
        let (mut params, sensitive) = {
            // Recursive: validation runs under snapshot()'s read guard; a plain read would
            // deadlock behind a queued writer.
            let g = self.graph.read_recursive();
            (g.parameters.clone(), g.sensitive_parameters.clone())
        };
        if let Some(store) = &*self.secrets.read() {
            for (name, value) in params.iter_mut() {
                if sensitive.contains(name) && store.is_sealed(value) {
                    let plain = store.reveal(value).map_err(|e| format!("sensitive parameter '{name}': {e}"))?;
                    *value = plain;
                }
            }
        }
        let mut out = BTreeMap::new();
        for (k, v) in &self.reveal(d, properties)? {
            let prop_sensitive = d.find_property(k).is_some_and(|p| p.sensitive);
            if !prop_sensitive && let Some(p) = parameter_names(v).find(|p| sensitive.contains(*p)) {
                return Err(format!(
                    "property '{k}' is not sensitive and cannot reference the sensitive parameter '{p}'"
                ));
            }
            out.insert(k.clone(), substitute_parameters(v, &params)?);
        }
        Ok(out)
    }

    fn start_node(&self, n: &Arc<ProcessorNode>) -> Result<(), EngineError> {
        let _life = n.lifecycle.lock();
        match n.state.load(Ordering::Acquire) {
            STATE_RUNNING => return Ok(()),
            STATE_DISABLED => {
                return Err(EngineError::Conflict(format!("'{}' is disabled; enable it first", n.name())));
            }
            _ => {}
        }
        self.wait_idle(n);
        self.prepare_node(n)?;
        n.state.store(STATE_RUNNING, Ordering::Release);
        n.bump_revision();
        self.after_change("processor", &n.id, "changed");
        self.scheduler.wake(n);
        Ok(())
    }

    /// Validates, builds the context, calls `on_scheduled` and the run configuration: all
    /// of starting a processor except scheduling it.
    fn prepare_node(&self, n: &Arc<ProcessorNode>) -> Result<(), EngineError> {
        let errs = self.validate_node(n);
        if !errs.is_empty() {
            return Err(EngineError::Invalid {
                message: format!("'{}' cannot start: {}", n.name(), errs.join("; ")),
                issues: errs
                    .into_iter()
                    .map(|m| FlowIssue { path: format!("processors.{}", n.id), message: m })
                    .collect(),
            });
        }
        let mut ctx = self.make_context(n).map_err(EngineError::invalid)?;
        let has_incoming = !n.wiring.read().incoming.is_empty();
        ctx.attach(
            self.scheduler.waker(n),
            self.runtime.state_dir.clone(),
            self.runtime.bulletins.clone(),
            has_incoming,
        );
        ctx.set_durability(self.runtime.durability);
        let ctx = Arc::new(ctx);
        if let Err(e) = n.instance.write().on_scheduled(&ctx) {
            let msg = format!("'{}' failed to start: {e}", n.name());
            self.runtime.bulletins.post(Level::Error, &n.id, &n.name(), msg.clone());
            return Err(EngineError::invalid(msg));
        }
        let cfg = n.config.read().clone();
        let s = &cfg.scheduling;
        let dur = |v: &str| parse_duration(v).map(|d| d.as_millis() as i64).unwrap_or(0);
        let cron = if s.strategy == Strategy::CronDriven { CronSchedule::parse(&s.period).ok() } else { None };
        let now = self.runtime.now();
        let run = RunConfig {
            strategy: s.strategy,
            period_ms: if s.strategy == Strategy::TimerDriven { dur(&s.period) } else { 0 },
            cron: cron.clone(),
            max_tasks: s.concurrent_tasks.max(1) as usize,
            penalty_ms: dur(&s.penalty),
            yield_ms: dur(&s.r#yield),
            run_duration: Duration::from_millis(dur(&s.run_duration) as u64),
            auto_terminated: cfg.auto_terminated.iter().map(|r| Arc::from(r.as_str())).collect(),
            retry: cfg.retry.as_ref().map(|r| {
                (
                    r.relationships.iter().map(|x| Arc::from(x.as_str())).collect(),
                    r.attempts,
                    dur(&r.max_backoff).max(1),
                )
            }),
            is_source: !has_incoming,
        };
        *n.run.write() = Arc::new(run);
        *n.context.write() = Some(ctx);
        n.yield_until.store(0, Ordering::Release);
        n.next_run.store(cron.map(|c| c.next_after(now).unwrap_or(i64::MAX)).unwrap_or(now), Ordering::Release);
        n.timer_at.store(i64::MAX, Ordering::Release);
        Ok(())
    }

    /// Runs one task of a stopped processor on the calling thread (the test harness's
    /// "run once"); prepares it first if needed. Returns whether it did any work, or the
    /// processor's error (after the session was rolled back).
    pub fn trigger_once(&self, id: &str) -> Result<bool, EngineError> {
        let n = self.node(id)?;
        if n.is_running() {
            return Err(EngineError::Conflict(format!("'{}' is running; stop it to trigger it by hand", n.name())));
        }
        if n.context.read().is_none() {
            self.prepare_node(&n)?;
        }
        let ctx = n.context.read().clone().expect("prepared");
        let run = n.run.read().clone();
        let instance = n.instance.read();
        let mut session = crate::session::ProcessSession::new(&n, &self.runtime, &run);
        let result = instance.on_trigger(&ctx, &mut session);
        let did = session.did_work();
        match result {
            Ok(()) => session.commit().map_err(|e| EngineError::invalid(e.to_string()))?,
            Err(e) => {
                session.rollback(true);
                self.runtime.bulletins.post(Level::Error, &n.id, &ctx.name, format!("{} failed: {e}", ctx.name));
                return Err(EngineError::invalid(e.to_string()));
            }
        }
        n.counters.tasks.fetch_add(1, Ordering::Relaxed);
        Ok(did)
    }

    /// Forgets a prepared (stopped) processor's context so the next run re-reads its
    /// configuration (used by the test harness after a property change).
    pub fn unprepare(&self, id: &str) -> Result<(), EngineError> {
        let n = self.node(id)?;
        if !n.is_running()
            && let Some(ctx) = n.context.write().take()
        {
            n.instance.write().on_stopped(&ctx);
        }
        Ok(())
    }

    fn wait_idle(&self, n: &ProcessorNode) {
        while n.active_tasks() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops scheduling and waits for running tasks; no flow change notification.
    fn stop_node(&self, n: &Arc<ProcessorNode>) {
        let _life = n.lifecycle.lock();
        if n.state.load(Ordering::Acquire) != STATE_RUNNING {
            return;
        }
        n.state.store(STATE_STOPPING, Ordering::Release);
        self.wait_idle(n);
        if let Some(ctx) = n.context.write().take() {
            n.instance.write().on_stopped(&ctx);
        }
        n.state.store(STATE_STOPPED, Ordering::Release);
    }

    fn set_stopped(&self, n: &Arc<ProcessorNode>) {
        let was = n.state.load(Ordering::Acquire);
        self.stop_node(n);
        if was == STATE_DISABLED {
            n.state.store(STATE_STOPPED, Ordering::Release);
        }
        if was != STATE_STOPPED {
            n.bump_revision();
            self.after_change("processor", &n.id, "changed");
        }
    }

    fn set_disabled(&self, n: &Arc<ProcessorNode>) -> Result<(), EngineError> {
        self.stop_node(n);
        n.state.store(STATE_DISABLED, Ordering::Release);
        n.bump_revision();
        self.after_change("processor", &n.id, "changed");
        Ok(())
    }

    fn processor_view(&self, n: &Arc<ProcessorNode>) -> ProcessorView {
        let g = self.graph.read();
        self.processor_view_locked(&g, n)
    }

    fn processor_view_locked(&self, _g: &Graph, n: &Arc<ProcessorNode>) -> ProcessorView {
        let cfg = n.config();
        let validation_errors = if n.is_running() { Vec::new() } else { self.validate_node(n) };
        let current = n.counters.snapshot();
        ProcessorView {
            id: n.id.to_string(),
            type_name: n.descriptor.type_name.clone(),
            name: cfg.name,
            position: Position { x: cfg.position.0, y: cfg.position.1 },
            relationships: relationship_names(&n.descriptor, &cfg.properties),
            properties: cfg.properties,
            state: n.run_state(),
            auto_terminated_relationships: cfg.auto_terminated,
            validation_errors,
            revision: n.revision(),
            scheduling: cfg.scheduling,
            retry: cfg.retry,
            comments: cfg.comments,
            status: n.history.window_totals(&current),
            active_tasks: n.active_tasks(),
            bulletin_count: self.runtime.bulletins.count_for(&n.id),
        }
    }

    fn after_change(&self, kind: &'static str, id: &str, action: &'static str) {
        let revision = self.revision.fetch_add(1, Ordering::AcqRel) + 1;
        let def = self.export();
        *self.runtime.flow_revision.write() = Arc::from(def.revision_hash());
        if let Some(path) = &self.flow_path
            && let Err(e) = save_atomically(path, &def.to_pretty_json())
        {
            self.runtime.bulletins.post(
                Level::Error,
                "",
                "Flow",
                format!("could not save the flow to {}: {e}", path.display()),
            );
        }
        let change = FlowChange { revision, kind, id: id.to_string(), action };
        for l in self.listeners.read().iter() {
            l(&change);
        }
    }

    fn housekeeping(&self, tick: u64) {
        let now = self.runtime.now();
        for n in self.nodes() {
            let s = n.counters.snapshot();
            n.history.record(now, s);
            let labels = [("component_id", n.id.to_string()), ("component_type", n.descriptor.type_name.clone())];
            metrics::counter!("sluice_processor_flowfiles_out_total", &labels).absolute(s.flowfiles_out);
            metrics::counter!("sluice_processor_flowfiles_in_total", &labels).absolute(s.flowfiles_in);
            metrics::counter!("sluice_processor_bytes_out_total", &labels).absolute(s.bytes_out);
            metrics::counter!("sluice_processor_bytes_in_total", &labels).absolute(s.bytes_in);
            metrics::counter!("sluice_processor_tasks_total", &labels).absolute(s.tasks);
        }
        for c in self.connections() {
            let labels = [("component_id", c.id.to_string())];
            metrics::gauge!("sluice_connection_queued_count", &labels).set(c.queued_count() as f64);
            metrics::gauge!("sluice_connection_queued_bytes", &labels).set(c.queued_bytes() as f64);
        }
        if let (Some(w), Some(p)) = (&self.wal, &self.runtime.provenance) {
            w.provenance_persisted(p.durable_wal_seq());
        }
        if tick.is_multiple_of(60) {
            let removed = self.runtime.content.cleanup();
            if removed > 0 {
                tracing::debug!(removed, "content segments removed from the archive");
            }
        }
    }
}

impl Drop for FlowController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn check_revision(kind: &str, id: &str, given: Option<u64>, current: u64) -> Result<(), EngineError> {
    match given {
        Some(r) if r != current => Err(EngineError::Conflict(format!(
            "{kind} '{id}' was changed by someone else: your revision is {r}, the current one is {current}; reload and try again"
        ))),
        _ => Ok(()),
    }
}

/// Parses a prioritizer name as NiFi writes it (short aliases accepted).
pub fn parse_prioritizer(name: &str) -> Option<Prioritizer> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

fn prioritizer_name(p: &Prioritizer) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn connection_config(def: &ConnectionDef) -> Result<ConnectionConfig, EngineError> {
    let size = parse_data_size(&def.back_pressure_data_size_threshold)
        .map_err(|e| EngineError::invalid(format!("back_pressure_data_size_threshold: {e}")))?;
    if def.back_pressure_object_threshold == 0 {
        return Err(EngineError::invalid("back_pressure_object_threshold must be at least 1"));
    }
    let expiration = parse_duration(&def.flowfile_expiration)
        .map_err(|e| EngineError::invalid(format!("flowfile_expiration: {e}")))?;
    let mut prioritizers = Vec::new();
    for p in &def.prioritizers {
        prioritizers
            .push(parse_prioritizer(p).ok_or_else(|| EngineError::invalid(format!("unknown prioritizer '{p}'")))?);
    }
    Ok(ConnectionConfig {
        object_threshold: def.back_pressure_object_threshold,
        size_threshold: size,
        prioritizers,
        expiration,
    })
}

fn connection_def(c: &Connection, m: &ConnMeta) -> ConnectionDef {
    let cfg = c.config();
    ConnectionDef {
        id: c.id.to_string(),
        name: m.name.clone(),
        source: c.source_id.to_string(),
        relationships: m.relationships.clone(),
        destination: c.destination_id.to_string(),
        back_pressure_object_threshold: cfg.object_threshold,
        back_pressure_data_size_threshold: format_data_size(cfg.size_threshold),
        prioritizers: cfg.prioritizers.iter().map(prioritizer_name).collect(),
        flowfile_expiration: crate::units::format_duration(cfg.expiration),
        bends: m.bends.clone(),
    }
}

fn connection_view(c: &Connection, m: &ConnMeta) -> ConnectionView {
    let d = connection_def(c, m);
    ConnectionView {
        id: d.id,
        name: d.name,
        source: d.source,
        destination: d.destination,
        relationships: d.relationships,
        back_pressure_object_threshold: d.back_pressure_object_threshold,
        back_pressure_data_size_threshold: d.back_pressure_data_size_threshold,
        prioritizers: d.prioritizers,
        flowfile_expiration: d.flowfile_expiration,
        bends: d.bends,
        revision: m.revision,
        status: ConnectionStatus {
            queued_count: c.queued_count(),
            queued_bytes: c.queued_bytes(),
            in_flight: c.in_flight(),
            back_pressure: c.is_full(),
            fill_ratio: c.fill_ratio(),
        },
    }
}

/// Replaces `#{name}` with the parameter's value; an environment variable
/// `SLUICE_PARAM_<NAME>` (upper case, non-alphanumerics as `_`) overrides the flow's value,
/// which is how sensitive parameters are supplied without being written in the flow file.
pub fn substitute_parameters(value: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    if !value.contains("#{") {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed parameter reference in '{value}'"))?;
        let name = &after[..end];
        let env_name: String = format!(
            "SLUICE_PARAM_{}",
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
                .collect::<String>()
        );
        match std::env::var(&env_name).ok().or_else(|| params.get(name).cloned()) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "parameter '{name}' is not defined (add it to the flow's parameters or set {env_name})"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of the `#{name}` parameter references in a property value.
fn parameter_names(value: &str) -> impl Iterator<Item = &str> {
    value.split("#{").skip(1).filter_map(|rest| rest.find('}').map(|end| &rest[..end]))
}

/// Writes `text` to `path` so that a crash leaves either the old or the new file: a
/// temporary file in the same directory, synced, renamed over, and the directory synced.
pub fn save_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("flow.json")));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What a DOWNLOAD event is about (see [`FlowController::record_download`]).
pub struct Download {
    /// The flowfile whose content was downloaded.
    pub flowfile: Uuid,
    /// Its attributes at the time.
    pub attributes: sluice_provenance::AttrMap,
    /// Where the content is.
    pub content: Option<sluice_provenance::ContentRef>,
    /// Its size in bytes.
    pub size: u64,
    /// When its lineage began.
    pub lineage_start_millis: i64,
}
