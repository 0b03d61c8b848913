//! The signal cache shared by Wait and Notify.
//!
//! NiFi's Wait and Notify meet in a distributed map cache service. Sluice keeps one
//! process-wide cache per data directory (one for every in-memory engine): a map from
//! Release Signal Identifier to its [`Signal`], persisted as an append-only log in the
//! engine's state directory (`<data dir>/state/wait-notify-signals.jsonl`) so signals
//! survive restarts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sluice_engine::{ProcessContext, ProcessError};

use super::state_log::StateLog;

const LOG_FILE: &str = "wait-notify-signals.jsonl";
/// The counter Notify uses when none is named (and Wait keeps a total's remainder in).
pub const DEFAULT_COUNTER: &str = "default";

/// What Notify has signalled for one Release Signal Identifier.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Signal {
    /// Counter name → count.
    #[serde(default)]
    pub counts: BTreeMap<String, i64>,
    /// Attributes Notify copied from its flowfiles (Attribute Cache Regex), for Wait to
    /// copy onto the flowfiles it releases.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Flowfiles Wait may still release from counts it already consumed.
    #[serde(default)]
    pub releasable: i64,
}

impl Signal {
    /// The count of one counter, or the total of all counters when `counter` is None.
    pub fn count(&self, counter: Option<&str>) -> i64 {
        match counter {
            Some(c) => self.counts.get(c).copied().unwrap_or(0),
            None => self.counts.values().sum(),
        }
    }

    /// Whether nothing is left: no count and no releasable flowfile.
    pub fn is_empty(&self) -> bool {
        self.releasable <= 0 && self.counts.values().all(|c| *c == 0)
    }
}

/// A change to one counter made by Notify.
#[derive(Clone, Debug, PartialEq)]
pub enum CounterOp {
    /// Adds the delta.
    Add(i64),
    /// Resets the counter to zero (a delta of 0, as NiFi defines it).
    Reset,
}

/// Notify's changes to one signal, applied when its session commits.
#[derive(Clone, Debug, Default)]
pub struct SignalChange {
    /// The Release Signal Identifier.
    pub id: String,
    /// Counter operations, in order.
    pub ops: Vec<(String, CounterOp)>,
    /// Attributes to store with the signal.
    pub attributes: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct LogLine {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signal: Option<Signal>,
}

struct Inner {
    signals: HashMap<String, Signal>,
    log: Option<StateLog>,
}

/// The signals of one data directory.
pub struct SignalCache {
    inner: Mutex<Inner>,
}

static CACHES: LazyLock<Mutex<HashMap<Option<PathBuf>, Arc<SignalCache>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The cache the processor of `ctx` shares with every Wait and Notify of its engine.
pub fn cache_for(ctx: &ProcessContext) -> Result<Arc<SignalCache>, ProcessError> {
    // The state dir is `<data dir>/state/<processor id>`; the signals live beside it.
    let path = ctx.state_dir().and_then(|d| d.parent().map(|p| p.join(LOG_FILE)));
    let mut caches = CACHES.lock();
    if let Some(c) = caches.get(&path) {
        return Ok(c.clone());
    }
    let cache = Arc::new(SignalCache::open(path.as_deref())?);
    caches.insert(path, cache.clone());
    Ok(cache)
}

impl SignalCache {
    fn open(path: Option<&Path>) -> Result<SignalCache, ProcessError> {
        let mut signals = HashMap::new();
        let log = match path {
            Some(path) => {
                for line in StateLog::replay::<LogLine>(path)? {
                    match line.signal {
                        Some(s) => signals.insert(line.id, s),
                        None => signals.remove(&line.id),
                    };
                }
                let live = signals.iter().map(|(id, s)| LogLine { id: id.clone(), signal: Some(s.clone()) });
                Some(StateLog::create(path, live)?)
            }
            None => None,
        };
        Ok(SignalCache { inner: Mutex::new(Inner { signals, log }) })
    }

    /// A copy of the signal of `id`.
    pub fn get(&self, id: &str) -> Option<Signal> {
        self.inner.lock().signals.get(id).cloned()
    }

    /// Applies Notify's changes: counter operations in order, and attributes.
    pub fn notify(&self, changes: &[SignalChange]) {
        let mut inner = self.inner.lock();
        let mut touched = Vec::with_capacity(changes.len());
        for SignalChange { id, ops, attributes } in changes {
            let s = inner.signals.entry(id.clone()).or_default();
            for (counter, op) in ops {
                let c = s.counts.entry(counter.clone()).or_insert(0);
                match op {
                    CounterOp::Add(d) => *c = c.saturating_add(*d),
                    CounterOp::Reset => *c = 0,
                }
            }
            s.attributes.extend(attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
            touched.push(id.as_str());
        }
        inner.record(&touched);
    }

    /// Runs `f` on the signal of `id` under the cache's lock (None = no signal); a signal
    /// left empty is removed. Wait uses it to consume counts atomically.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Option<Signal>) -> T) -> T {
        let mut inner = self.inner.lock();
        let mut slot = inner.signals.remove(id);
        let before = slot.clone();
        let out = f(&mut slot);
        if let Some(s) = slot.filter(|s| !s.is_empty()) {
            inner.signals.insert(id.to_string(), s);
        }
        if inner.signals.get(id) != before.as_ref() {
            inner.record(&[id]);
        }
        out
    }

    /// Gives back what a rolled-back Wait consumed: `counts` added, `releasable` added.
    pub fn restore(&self, id: &str, counts: &BTreeMap<String, i64>, releasable: i64) {
        self.update(id, |slot| {
            let s = slot.get_or_insert_with(Signal::default);
            for (k, v) in counts {
                *s.counts.entry(k.clone()).or_insert(0) += v;
            }
            s.releasable += releasable;
        });
    }
}

impl Inner {
    fn record(&mut self, ids: &[&str]) {
        let Some(log) = &mut self.log else { return };
        let mut result = Ok(());
        for id in ids {
            let line = LogLine { id: id.to_string(), signal: self.signals.get(*id).cloned() };
            result = result.and_then(|_| log.append(&line));
        }
        if let Err(e) = result.and_then(|_| log.flush()) {
            tracing::error!("could not record Wait/Notify signals: {e}");
        }
        if log.wants_compaction(self.signals.len()) {
            let live: Vec<LogLine> =
                self.signals.iter().map(|(id, s)| LogLine { id: id.clone(), signal: Some(s.clone()) }).collect();
            if let Err(e) = log.compact(live) {
                tracing::error!("could not compact the Wait/Notify signal log: {e}");
            }
        }
    }
}

/// The signal `id` in the cache of in-memory engines (tests).
#[cfg(test)]
pub fn cache_for_tests(id: &str) -> Option<Signal> {
    CACHES.lock().get(&None).and_then(|c| c.get(id))
}

/// The signals a log holds, replayed as a restarted process would (tests).
#[cfg(test)]
pub fn read_log_for_tests(path: &Path) -> HashMap<String, Signal> {
    let mut signals = HashMap::new();
    for line in StateLog::replay::<LogLine>(path).expect("log readable") {
        match line.signal {
            Some(s) => signals.insert(line.id, s),
            None => signals.remove(&line.id),
        };
    }
    signals
}
