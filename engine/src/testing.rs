//! A harness for testing processors against the real engine, like NiFi's TestRunner:
//! enqueue flowfiles, trigger the processor N times on the calling thread, then look at
//! what went to each relationship, with attributes, content and provenance events.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use sluice_provenance::{ProvenanceEvent, Query};

use crate::flow::definition::{ConnectionDef, FlowDefinition, ProcessorDef};
use crate::flow::load::relationship_names;
use crate::flowfile::FlowFile;
use crate::node::{RunState, Scheduling};
use crate::processor::{InputRequirement, ProcessError, Processor, ProcessorDescriptor, Relationship};
use crate::registry::Registry;
use crate::repository::RepoChange;
use crate::{EngineConfig, FlowController, ProcessContext, ProcessSession};

const SOURCE_TYPE: &str = "TestRunnerSource";
const SINK_TYPE: &str = "TestRunnerSink";
const UNDER_TEST: &str = "under-test";
const INPUT: &str = "input";

struct Inert;
impl Processor for Inert {
    fn on_trigger(&self, _: &ProcessContext, _: &mut ProcessSession) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// Drives one processor in a real, in-memory engine.
pub struct TestRunner {
    /// The engine.
    pub controller: Arc<FlowController>,
    type_name: String,
    properties: BTreeMap<String, String>,
    scheduling: Scheduling,
    built_for: Option<BTreeMap<String, String>>,
    services: Vec<crate::flow::definition::ServiceDef>,
}

impl TestRunner {
    /// A runner for `type_name` from `registry`, with provenance on, in memory.
    pub fn new(mut registry: Registry, type_name: &str) -> Self {
        registry.register(
            ProcessorDescriptor::new(SOURCE_TYPE, "test input")
                .input(InputRequirement::Forbidden)
                .relationship(Relationship::new("success", "")),
            || Box::new(Inert),
        );
        registry.register(ProcessorDescriptor::new(SINK_TYPE, "test output").input(InputRequirement::Required), || {
            Box::new(Inert)
        });
        assert!(registry.get(type_name).is_some(), "unknown processor type {type_name}");
        let config = EngineConfig { workers: 1, ..Default::default() };
        let controller = FlowController::new(config, registry).expect("in-memory engine starts");
        TestRunner {
            controller,
            type_name: type_name.into(),
            properties: BTreeMap::new(),
            scheduling: Scheduling::default(),
            built_for: None,
            services: Vec::new(),
        }
    }

    /// A runner using a data dir (durable repositories), for processors that keep state.
    pub fn with_data_dir(mut registry: Registry, type_name: &str, dir: &std::path::Path) -> Self {
        registry.register(
            ProcessorDescriptor::new(SOURCE_TYPE, "test input")
                .input(InputRequirement::Forbidden)
                .relationship(Relationship::new("success", "")),
            || Box::new(Inert),
        );
        registry.register(ProcessorDescriptor::new(SINK_TYPE, "test output").input(InputRequirement::Required), || {
            Box::new(Inert)
        });
        let config = EngineConfig {
            workers: 1,
            data_dir: Some(dir.to_path_buf()),
            durability: crate::repository::Durability::Os,
            ..Default::default()
        };
        let controller = FlowController::new(config, registry).expect("engine starts");
        TestRunner {
            controller,
            type_name: type_name.into(),
            properties: BTreeMap::new(),
            scheduling: Scheduling::default(),
            built_for: None,
            services: Vec::new(),
        }
    }

    /// Adds an enabled controller service of `type_name` with id `id`, for properties of the
    /// processor under test to reference (takes effect at the next `run`).
    pub fn add_service(&mut self, id: &str, type_name: &str, properties: &[(&str, &str)]) -> &mut Self {
        self.services.push(crate::flow::definition::ServiceDef {
            id: id.into(),
            type_name: type_name.into(),
            name: id.into(),
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            enabled: true,
            comments: String::new(),
        });
        self.built_for = None;
        self
    }

    /// Sets a property (takes effect at the next `run`).
    pub fn set_property(&mut self, name: &str, value: &str) -> &mut Self {
        self.properties.insert(name.into(), value.into());
        self.built_for = None;
        self
    }

    /// Removes a property.
    pub fn remove_property(&mut self, name: &str) -> &mut Self {
        self.properties.remove(name);
        self.built_for = None;
        self
    }

    /// Sets the scheduling (penalty, retry behaviour) used by the run.
    pub fn set_scheduling(&mut self, s: Scheduling) -> &mut Self {
        self.scheduling = s;
        self.built_for = None;
        self
    }

    /// Why the processor is invalid with the current properties (empty = valid).
    pub fn validation_errors(&mut self) -> Vec<String> {
        self.build();
        self.controller.processor(UNDER_TEST).map(|v| v.validation_errors).unwrap_or_default()
    }

    fn build(&mut self) {
        if self.built_for.as_ref() == Some(&self.properties) {
            return;
        }
        // Keep queued input across rebuilds.
        let pending: Vec<FlowFile> = self.controller.find_connection(INPUT).map(|c| c.drain()).unwrap_or_default();
        for n in self.controller.nodes() {
            let _ = self.controller.unprepare(&n.id);
        }
        let ty = self.controller.registry().get(&self.type_name).expect("registered").descriptor.clone();
        let rels = relationship_names(&ty, &self.properties);
        let mut def = FlowDefinition { controller_services: self.services.clone(), ..Default::default() };
        let proc_def = |id: &str, t: &str, props: BTreeMap<String, String>, sched: Scheduling| ProcessorDef {
            id: id.into(),
            type_name: t.into(),
            name: id.into(),
            position: Default::default(),
            properties: props,
            state: RunState::Stopped,
            auto_terminated_relationships: Vec::new(),
            scheduling: sched,
            retry: None,
            comments: String::new(),
        };
        def.processors.push(proc_def(UNDER_TEST, &self.type_name, self.properties.clone(), self.scheduling.clone()));
        if ty.input_requirement != InputRequirement::Forbidden {
            def.processors.push(proc_def("source", SOURCE_TYPE, BTreeMap::new(), Scheduling::default()));
            def.connections.push(connection(INPUT, "source", "success", UNDER_TEST));
        }
        for r in &rels {
            let sink = format!("sink-{r}");
            def.processors.push(proc_def(&sink, SINK_TYPE, BTreeMap::new(), Scheduling::default()));
            def.connections.push(connection(&format!("out-{r}"), UNDER_TEST, r, &sink));
        }
        self.controller.load(def).expect("test flow loads");
        if let Some(c) = self.controller.find_connection(INPUT) {
            c.enqueue(pending, self.controller.runtime().now());
        }
        self.built_for = Some(self.properties.clone());
    }

    /// Queues a flowfile with this content and attributes for the processor; returns it.
    pub fn enqueue(&mut self, content: impl Into<Bytes>, attributes: &[(&str, &str)]) -> FlowFile {
        self.build();
        let conn = self.controller.find_connection(INPUT).expect("processor takes input");
        let rt = self.controller.runtime();
        let mut ff = FlowFile::new(rt.content.write_bytes(content.into()).expect("content stored"));
        for (k, v) in attributes {
            ff.set_attr(k, v);
        }
        rt.flowfiles.commit(&[RepoChange::Enqueue { queue: &conn.id, flowfile: &ff }], &[]).expect("recorded");
        conn.enqueue([ff.clone()], rt.now());
        ff
    }

    /// Triggers the processor `n` times; returns the first error, if any.
    pub fn run(&mut self, n: usize) -> Result<(), String> {
        self.build();
        for _ in 0..n {
            self.controller.trigger_once(UNDER_TEST).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Triggers until a trigger does no work (at most `max` times); returns the count.
    pub fn run_until_idle(&mut self, max: usize) -> Result<usize, String> {
        self.build();
        for i in 0..max {
            if !self.controller.trigger_once(UNDER_TEST).map_err(|e| e.to_string())? {
                return Ok(i);
            }
        }
        Ok(max)
    }

    /// Flowfiles routed to `rel`, in order.
    pub fn output(&mut self, rel: &str) -> Vec<FlowFile> {
        self.build();
        match self.controller.find_connection(&format!("out-{rel}")) {
            Some(c) => c.list(0, usize::MAX),
            None => panic!("no relationship '{rel}'"),
        }
    }

    /// How many went to `rel`.
    pub fn count(&mut self, rel: &str) -> usize {
        self.output(rel).len()
    }

    /// Flowfiles still waiting in the input queue.
    pub fn input_queue(&mut self) -> Vec<FlowFile> {
        self.build();
        self.controller.find_connection(INPUT).map(|c| c.list(0, usize::MAX)).unwrap_or_default()
    }

    /// The content of a flowfile as text (lossy).
    pub fn content(ff: &FlowFile) -> String {
        String::from_utf8_lossy(&ff.content.to_bytes().expect("content readable")).into_owned()
    }

    /// Provenance events recorded so far by the processor under test, oldest first.
    pub fn events(&self) -> Vec<ProvenanceEvent> {
        let prov = self.controller.runtime().provenance.clone().expect("provenance on");
        prov.flush().expect("provenance flush");
        let q = Query { component: Some(UNDER_TEST.into()), limit: 100_000, ..Default::default() };
        let mut ev = prov.query(&q).expect("query").events;
        ev.reverse();
        ev
    }

    /// Bulletin messages posted so far, newest first.
    pub fn bulletins(&self) -> Vec<String> {
        self.controller.bulletins().recent(None, 1000).into_iter().map(|b| b.message).collect()
    }
}

fn connection(id: &str, source: &str, rel: &str, dest: &str) -> ConnectionDef {
    ConnectionDef {
        id: id.into(),
        name: String::new(),
        source: source.into(),
        relationships: vec![rel.into()],
        destination: dest.into(),
        back_pressure_object_threshold: 1_000_000_000,
        back_pressure_data_size_threshold: "1 TB".into(),
        prioritizers: Vec::new(),
        flowfile_expiration: "0 sec".into(),
        bends: Vec::new(),
    }
}

/// One tracing event seen by [`capture_logs`]: level (`WARN`), target (`sluice::LogAttribute`)
/// and message.
pub type LogLine = (String, String, String);

/// Runs `f` with a tracing subscriber that records every event on this thread, so processor
/// tests can assert what a processor logged (LogAttribute, LogMessage).
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Vec<LogLine>) {
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes as SpanAttributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    struct Capture(Arc<Mutex<Vec<LogLine>>>);
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &SpanAttributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Message(String::new());
            event.record(&mut m);
            let meta = event.metadata();
            if let Ok(mut v) = self.0.lock() {
                v.push((meta.level().to_string(), meta.target().to_string(), m.0));
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = tracing::subscriber::with_default(Capture(lines.clone()), f);
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    (out, lines)
}
