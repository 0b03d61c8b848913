//! Shared helpers of the integration tests: test processors and flow builders.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_engine::flow::definition::{ConnectionDef, FlowDefinition, ProcessorDef};
use sluice_engine::node::{RetryConfig, RunState, Scheduling};
use sluice_engine::{
    InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship,
};

/// What test sinks saw, by their "Key" property.
pub static SEEN: LazyLock<Mutex<HashMap<String, Vec<uuid::Uuid>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
/// How often each keyed processor was triggered.
pub static TRIGGERS: LazyLock<Mutex<HashMap<String, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A fresh key for test processors of one test.
pub fn key(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_KEY.fetch_add(1, Ordering::Relaxed))
}

/// Emits `Total` flowfiles in batches of `Batch`, each with a `seq` attribute, then stops
/// producing.
#[derive(Default)]
struct CountingSource {
    emitted: AtomicU64,
}

impl Processor for CountingSource {
    fn on_trigger(&self, ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        let total = ctx.int("Total")?.unwrap_or(0) as u64;
        let batch = ctx.int("Batch")?.unwrap_or(100) as u64;
        if let Some(k) = ctx.property("Key") {
            *TRIGGERS.lock().entry(k.to_string()).or_default() += 1;
        }
        let start = self.emitted.load(Ordering::Relaxed);
        let n = batch.min(total.saturating_sub(start));
        for i in 0..n {
            let mut ff = s.create();
            ff.set_attr("seq", &(start + i).to_string());
            s.write(&mut ff, format!("payload-{}", start + i).into_bytes())?;
            s.transfer(ff, "success");
        }
        self.emitted.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

/// Records the uuid of everything it receives under its `Key`.
struct Collector;
impl Processor for Collector {
    fn on_trigger(&self, ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        let key = ctx.property("Key").unwrap_or("default").to_string();
        let batch = s.get_batch(1000);
        let ids: Vec<uuid::Uuid> = batch.iter().map(|f| f.id).collect();
        for ff in batch {
            s.remove(ff);
        }
        SEEN.lock().entry(key).or_default().extend(ids);
        Ok(())
    }
}

/// Takes a flowfile and fails.
struct Failing;
impl Processor for Failing {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        if s.get().is_some() {
            return Err(ProcessError::other("deliberate failure"));
        }
        Ok(())
    }
}

/// Takes a flowfile and panics.
struct Panicking;
impl Processor for Panicking {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        if s.get().is_some() {
            panic!("deliberate panic");
        }
        Ok(())
    }
}

/// Routes everything to `failure`.
struct AlwaysFailure;
impl Processor for AlwaysFailure {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in s.get_batch(100) {
            s.transfer(ff, "failure");
        }
        Ok(())
    }
}

/// Passes flowfiles through, splitting by `seq` parity to `even` / `odd`.
struct Split;
impl Processor for Split {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in s.get_batch(1000) {
            let even = ff.attr("seq").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) % 2 == 0;
            s.transfer(ff, if even { "even" } else { "odd" });
        }
        Ok(())
    }
}

/// Passes flowfiles through to `success`.
struct Pass;
impl Processor for Pass {
    fn on_trigger(&self, _ctx: &ProcessContext, s: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in s.get_batch(1000) {
            ff.set_attr("passed", "yes");
            s.transfer(ff, "success");
        }
        Ok(())
    }
}

/// The standard processors plus the test ones.
pub fn registry() -> Registry {
    let mut r = sluice_processors::registry();
    let key = || PropertyDescriptor::new("Key");
    r.register(
        ProcessorDescriptor::new("CountingSource", "test source")
            .input(InputRequirement::Forbidden)
            .property(PropertyDescriptor::new("Total"))
            .property(PropertyDescriptor::new("Batch"))
            .property(key())
            .relationship(Relationship::new("success", "")),
        || Box::new(CountingSource::default()),
    );
    r.register(ProcessorDescriptor::new("Collector", "test sink").property(key()), || Box::new(Collector));
    r.register(ProcessorDescriptor::new("Failing", "fails").relationship(Relationship::new("success", "")), || {
        Box::new(Failing)
    });
    r.register(ProcessorDescriptor::new("Panicking", "panics").relationship(Relationship::new("success", "")), || {
        Box::new(Panicking)
    });
    r.register(
        ProcessorDescriptor::new("AlwaysFailure", "routes to failure")
            .relationship(Relationship::new("success", ""))
            .relationship(Relationship::new("failure", "")),
        || Box::new(AlwaysFailure),
    );
    r.register(
        ProcessorDescriptor::new("Split", "by parity")
            .relationship(Relationship::new("even", ""))
            .relationship(Relationship::new("odd", "")),
        || Box::new(Split),
    );
    r.register(ProcessorDescriptor::new("Pass", "passes").relationship(Relationship::new("success", "")), || {
        Box::new(Pass)
    });
    r
}

/// A processor definition.
pub fn proc(id: &str, ty: &str, props: &[(&str, &str)], state: RunState) -> ProcessorDef {
    ProcessorDef {
        id: id.into(),
        type_name: ty.into(),
        name: id.into(),
        position: Default::default(),
        properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        state,
        auto_terminated_relationships: Vec::new(),
        scheduling: Scheduling { period: "0 sec".into(), penalty: "100 ms".into(), ..Default::default() },
        retry: None,
        comments: String::new(),
    }
}

/// A connection definition.
pub fn conn(id: &str, src: &str, rels: &[&str], dst: &str, threshold: u64) -> ConnectionDef {
    ConnectionDef {
        id: id.into(),
        name: String::new(),
        source: src.into(),
        relationships: rels.iter().map(|s| s.to_string()).collect(),
        destination: dst.into(),
        back_pressure_object_threshold: threshold,
        back_pressure_data_size_threshold: "1 GB".into(),
        prioritizers: Vec::new(),
        flowfile_expiration: "0 sec".into(),
        bends: Vec::new(),
    }
}

/// A flow of these parts.
pub fn flow(processors: Vec<ProcessorDef>, connections: Vec<ConnectionDef>) -> FlowDefinition {
    FlowDefinition { processors, connections, ..Default::default() }
}

/// Retry settings.
pub fn retry(rels: &[&str], attempts: u32, max_backoff: &str) -> RetryConfig {
    RetryConfig {
        relationships: rels.iter().map(|s| s.to_string()).collect(),
        attempts,
        max_backoff: max_backoff.into(),
    }
}

/// Polls `f` until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Uuids seen by collectors with this key.
pub fn seen(key: &str) -> Vec<uuid::Uuid> {
    SEEN.lock().get(key).cloned().unwrap_or_default()
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Keeps an Arc alive (silences unused warnings in some tests).
pub fn keep<T>(_t: &Arc<T>) {}
