//! A processor in the live graph: its configuration, instance, wiring, run state and counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, Readiness};
use crate::context::ProcessContext;
use crate::processor::{Processor, ProcessorDescriptor};
use crate::schedule::{CronSchedule, Strategy};
use crate::status::{ProcessorCounters, StatusHistory};

/// Run state as the flow file and the API write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Scheduled.
    Running,
    /// Not scheduled.
    #[default]
    Stopped,
    /// Not scheduled and not startable until enabled.
    Disabled,
}

/// Retry of flowfiles routed to some relationships (NiFi 1.16+): the flowfile goes back to
/// its input queue penalized, with the penalty doubling up to a maximum, then routes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryConfig {
    /// Relationships that are retried.
    pub relationships: Vec<String>,
    /// Attempts before the flowfile routes on.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The longest back-off.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: String,
}

fn default_attempts() -> u32 {
    3
}
fn default_max_backoff() -> String {
    "10 mins".into()
}

/// How a processor is scheduled (the flow file's `scheduling` object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scheduling {
    /// Strategy.
    pub strategy: Strategy,
    /// Run schedule: a time period for timer-driven, a cron expression for cron-driven.
    pub period: String,
    /// Tasks that may run at once.
    pub concurrent_tasks: u32,
    /// How long a penalized flowfile waits.
    pub penalty: String,
    /// How long the processor rests after yielding.
    pub r#yield: String,
    /// How long one task keeps triggering while there is work (batching).
    pub run_duration: String,
}

impl Default for Scheduling {
    fn default() -> Self {
        Scheduling {
            strategy: Strategy::TimerDriven,
            period: "0 sec".into(),
            concurrent_tasks: 1,
            penalty: "30 sec".into(),
            r#yield: "1 sec".into(),
            run_duration: "0 ms".into(),
        }
    }
}

impl Scheduling {
    /// Checks every field; reasons name the field.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        match self.strategy {
            Strategy::CronDriven => {
                if let Err(e) = CronSchedule::parse(&self.period) {
                    errs.push(format!("scheduling.period: {e}"));
                }
            }
            _ => {
                if let Err(e) = crate::units::parse_duration(&self.period) {
                    errs.push(format!("scheduling.period: {e}"));
                }
            }
        }
        if self.concurrent_tasks == 0 || self.concurrent_tasks > 64 {
            errs.push(format!("scheduling.concurrent_tasks must be 1 to 64, not {}", self.concurrent_tasks));
        }
        for (name, v) in [("penalty", &self.penalty), ("yield", &self.r#yield), ("run_duration", &self.run_duration)] {
            if let Err(e) = crate::units::parse_duration(v) {
                errs.push(format!("scheduling.{name}: {e}"));
            }
        }
        errs
    }
}

/// The user-editable configuration of a processor.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessorConfig {
    /// Display name.
    pub name: String,
    /// Canvas position.
    pub position: (f64, f64),
    /// Configured properties (no defaults filled in).
    pub properties: BTreeMap<String, String>,
    /// Scheduling.
    pub scheduling: Scheduling,
    /// Relationships whose flowfiles are dropped.
    pub auto_terminated: Vec<String>,
    /// Retry, if any.
    pub retry: Option<RetryConfig>,
    /// Free-text comments.
    pub comments: String,
}

/// What the scheduler needs, parsed once when the processor starts.
#[derive(Debug)]
pub(crate) struct RunConfig {
    pub strategy: Strategy,
    pub period_ms: i64,
    pub cron: Option<CronSchedule>,
    pub max_tasks: usize,
    pub penalty_ms: i64,
    pub yield_ms: i64,
    pub run_duration: Duration,
    pub auto_terminated: Vec<Arc<str>>,
    pub retry: Option<(Vec<Arc<str>>, u32, i64)>,
    pub is_source: bool,
}

/// Where a processor's flowfiles come from and go to.
#[derive(Default)]
pub(crate) struct Wiring {
    pub incoming: Vec<Arc<Connection>>,
    /// relationship name → connections subscribed to it
    pub outgoing: Vec<(Arc<str>, Vec<Arc<Connection>>)>,
}

impl Wiring {
    pub fn targets(&self, rel: &str) -> Option<&[Arc<Connection>]> {
        self.outgoing.iter().find(|(r, _)| &**r == rel).map(|(_, c)| c.as_slice())
    }
}

pub(crate) const STATE_STOPPED: u8 = 0;
pub(crate) const STATE_RUNNING: u8 = 1;
pub(crate) const STATE_STOPPING: u8 = 2;
pub(crate) const STATE_DISABLED: u8 = 3;

/// A processor of the live graph.
pub struct ProcessorNode {
    /// Id.
    pub id: Arc<str>,
    /// Type's descriptor.
    pub descriptor: Arc<ProcessorDescriptor>,
    pub(crate) type_arc: Arc<str>,
    pub(crate) config: RwLock<ProcessorConfig>,
    pub(crate) instance: RwLock<Box<dyn Processor>>,
    pub(crate) context: RwLock<Option<Arc<ProcessContext>>>,
    pub(crate) run: RwLock<Arc<RunConfig>>,
    pub(crate) wiring: RwLock<Arc<Wiring>>,
    pub(crate) state: AtomicU8,
    pub(crate) active: AtomicUsize,
    pub(crate) yield_until: AtomicI64,
    pub(crate) next_run: AtomicI64,
    pub(crate) timer_at: AtomicI64,
    pub(crate) woken: AtomicBool,
    pub(crate) lifecycle: Mutex<()>,
    /// Cumulative counters.
    pub counters: ProcessorCounters,
    /// One-second samples of the counters.
    pub history: StatusHistory,
    /// Revision, bumped on every change.
    pub revision: AtomicU64,
}

impl ProcessorNode {
    pub(crate) fn new(
        id: Arc<str>,
        descriptor: Arc<ProcessorDescriptor>,
        config: ProcessorConfig,
        instance: Box<dyn Processor>,
    ) -> Self {
        ProcessorNode {
            id,
            type_arc: Arc::from(descriptor.type_name.as_str()),
            descriptor,
            config: RwLock::new(config),
            instance: RwLock::new(instance),
            context: RwLock::new(None),
            run: RwLock::new(Arc::new(RunConfig {
                strategy: Strategy::TimerDriven,
                period_ms: 0,
                cron: None,
                max_tasks: 1,
                penalty_ms: 30_000,
                yield_ms: 1000,
                run_duration: Duration::ZERO,
                auto_terminated: Vec::new(),
                retry: None,
                is_source: false,
            })),
            wiring: RwLock::new(Arc::new(Wiring::default())),
            state: AtomicU8::new(STATE_STOPPED),
            active: AtomicUsize::new(0),
            yield_until: AtomicI64::new(0),
            next_run: AtomicI64::new(0),
            timer_at: AtomicI64::new(i64::MAX),
            woken: AtomicBool::new(false),
            lifecycle: Mutex::new(()),
            counters: ProcessorCounters::default(),
            history: StatusHistory::default(),
            revision: AtomicU64::new(1),
        }
    }

    /// Current configuration.
    pub fn config(&self) -> ProcessorConfig {
        self.config.read().clone()
    }

    /// Current name.
    pub fn name(&self) -> String {
        self.config.read().name.clone()
    }

    /// Run state.
    pub fn run_state(&self) -> RunState {
        match self.state.load(Ordering::Acquire) {
            STATE_RUNNING | STATE_STOPPING => RunState::Running,
            STATE_DISABLED => RunState::Disabled,
            _ => RunState::Stopped,
        }
    }

    /// Whether it is scheduled now.
    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == STATE_RUNNING
    }

    /// Tasks running now.
    pub fn active_tasks(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Current revision.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    pub(crate) fn bump_revision(&self) -> u64 {
        self.revision.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Ids of incoming connections.
    pub fn incoming_ids(&self) -> Vec<Arc<str>> {
        self.wiring.read().incoming.iter().map(|c| c.id.clone()).collect()
    }

    /// Whether the processor may be triggered at `now`.
    pub(crate) fn eligibility(&self, now: i64) -> Eligibility {
        let run = self.run.read().clone();
        let yu = self.yield_until.load(Ordering::Acquire);
        if yu > now {
            return Eligibility::NotUntil(yu);
        }
        let wiring = self.wiring.read_recursive().clone();
        for (_, conns) in &wiring.outgoing {
            if conns.iter().any(|c| c.is_full()) {
                return Eligibility::No;
            }
        }
        let next_run = self.next_run.load(Ordering::Acquire);
        if run.is_source {
            return match run.strategy {
                Strategy::EventDriven => {
                    if self.woken.load(Ordering::Acquire) {
                        Eligibility::Now
                    } else {
                        Eligibility::No
                    }
                }
                _ if next_run > now && !self.woken.load(Ordering::Acquire) => Eligibility::NotUntil(next_run),
                _ => Eligibility::Now,
            };
        }
        let mut earliest: Option<i64> = None;
        let mut ready = false;
        for c in &wiring.incoming {
            match c.has_ready(now) {
                Readiness::Ready => {
                    ready = true;
                    break;
                }
                Readiness::At(t) => earliest = Some(earliest.map_or(t, |e: i64| e.min(t))),
                Readiness::Empty => {}
            }
        }
        if !ready {
            return earliest.map_or(Eligibility::No, Eligibility::NotUntil);
        }
        if run.strategy != Strategy::EventDriven && next_run > now {
            return Eligibility::NotUntil(next_run);
        }
        Eligibility::Now
    }
}

/// Whether a processor can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eligibility {
    Now,
    NotUntil(i64),
    No,
}
