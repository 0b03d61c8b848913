//! Wait: holds flowfiles until Notify has signalled their Release Signal Identifier enough
//! times, then releases them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::display_names;
use super::signals::{DEFAULT_COUNTER, Signal, SignalCache, cache_for};

const SIGNAL_ID: &str = "Release Signal Identifier";
const TARGET: &str = "Target Signal Count";
const COUNTER: &str = "Signal Counter Name";
const BUFFER: &str = "Wait Buffer Count";
const RELEASABLE: &str = "Releasable FlowFile Count";
const EXPIRATION: &str = "Expiration Duration";
const COPY_MODE: &str = "Attribute Copy Mode";
const WAIT_MODE: &str = "Wait Mode";
const PENALTY: &str = "Wait Penalty Duration";

const REPLACE: &str = "replace";
const KEEP_ORIGINAL: &str = "keeporiginal";
const MODE_WAIT: &str = "wait";
const MODE_KEEP: &str = "keep";

const WAIT: &str = "wait";
const EXPIRED: &str = "expired";
/// When the flowfile started waiting (ms since epoch; NiFi's name).
pub const START: &str = "wait.start.timestamp";
/// Prefix of the counter attributes written on released flowfiles.
pub const COUNTER_PREFIX: &str = "wait.counter.";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "Wait.error";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(Wait::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let copy = PropertyDescriptor::new(COPY_MODE)
        .description(
            "How attributes stored with the signal (Notify's Attribute Cache Regex) are copied onto released flowfiles",
        )
        .required()
        .default_value(KEEP_ORIGINAL)
        .allowable(&[
            (REPLACE, "signal attributes overwrite the flowfile's"),
            (KEEP_ORIGINAL, "the flowfile's own attributes win"),
        ]);
    let copy = display_names(copy, &[(REPLACE, "Replace if present"), (KEEP_ORIGINAL, "Keep original")]);
    let mode = PropertyDescriptor::new(WAIT_MODE)
        .description(
            "Where waiting flowfiles go: to the 'wait' relationship (route it back to this processor), or back to the front \
             of the incoming connection, after which the processor yields",
        )
        .required()
        .default_value(MODE_WAIT)
        .allowable(&[
            (MODE_WAIT, "waiting flowfiles are transferred to the 'wait' relationship"),
            (MODE_KEEP, "waiting flowfiles stay in the incoming connection and the processor yields"),
        ]);
    let mode = display_names(
        mode,
        &[(MODE_WAIT, "Transfer to wait relationship"), (MODE_KEEP, "Keep in the upstream connection")],
    );
    ProcessorDescriptor::new(
        "Wait",
        "Routes flowfiles to 'wait' until the signal named by their Release Signal Identifier reaches Target Signal Count \
         (Notify adds to it), then releases them to 'success', consuming the count: each time the target is reached, \
         Releasable FlowFile Count flowfiles may pass (0 = all, for as long as the count stays reached: a gate). Flowfiles \
         waiting longer than Expiration Duration go to 'expired'. Released flowfiles get wait.counter.<name> and \
         wait.counter.total. NiFi keeps signals in a distributed map cache service; Sluice in a cache shared by every Wait \
         and Notify of the engine, persisted in the data directory.",
    )
    .tags(&["map", "cache", "wait", "hold", "distributed", "signal", "release"])
    .property(
        PropertyDescriptor::new(SIGNAL_ID)
            .description("The signal to wait for, e.g. ${batch.id}")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(TARGET)
            .description("The count the signal must reach for flowfiles to be released")
            .required()
            .default_value("1")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(COUNTER)
            .description("The counter compared with the target; unset = the total of all the signal's counters")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(BUFFER)
            .description("How many flowfiles are handled per run (grouped by signal)")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(RELEASABLE)
            .description("How many flowfiles are released each time the target count is reached; 0 releases every flowfile while the count is at or above the target")
            .required()
            .default_value("1")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(EXPIRATION)
            .description("How long a flowfile may wait before it goes to 'expired' (measured from wait.start.timestamp, or from when it entered the incoming connection)")
            .required()
            .default_value("10 min")
            .validator(Validator::TimePeriod),
    )
    .property(copy)
    .property(mode)
    .property(
        PropertyDescriptor::new(PENALTY)
            .description(
                "If set, flowfiles routed to 'wait' are penalized this long, so a loop back to this processor does not spin \
                 (with Keep in the upstream connection the processor yields instead)",
            )
            .validator(Validator::TimePeriod)
            .depends_on(WAIT_MODE, &[MODE_WAIT]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles released by their signal"))
    .relationship(Relationship::new(WAIT, "Flowfiles whose signal has not reached the target yet (Wait Mode: Transfer to wait relationship)"))
    .relationship(Relationship::new(EXPIRED, "Flowfiles that waited longer than Expiration Duration"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose Release Signal Identifier is empty, or whose target or releasable count is not a valid number (Wait.error says why)",
    ))
}

/// The processor.
#[derive(Default)]
pub struct Wait {
    cache: Option<Arc<SignalCache>>,
    buffer: usize,
    expiration_ms: i64,
    replace: bool,
    keep_upstream: bool,
    penalty_ms: Option<i64>,
}

/// What a group of flowfiles with one signal got from the cache.
struct Decision {
    release: usize,
    /// The signal before consumption (for the wait.counter.* attributes).
    signal: Option<Signal>,
    /// What was consumed, to give back if the session rolls back.
    consumed: Option<(BTreeMap<String, i64>, i64)>,
}

impl Processor for Wait {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.cache = Some(cache_for(ctx)?);
        self.buffer = ctx.int(BUFFER)?.unwrap_or(1).max(1) as usize;
        self.expiration_ms = ctx.duration(EXPIRATION)?.map(|d| d.as_millis() as i64).unwrap_or(600_000);
        self.replace = ctx.property(COPY_MODE) == Some(REPLACE);
        self.keep_upstream = ctx.property(WAIT_MODE) == Some(MODE_KEEP);
        self.penalty_ms = ctx.duration(PENALTY)?.map(|d| d.as_millis() as i64).filter(|p| *p > 0);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(cache) = &self.cache else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        let now = session.now_millis();
        let mut groups: Vec<(String, Vec<FlowFile>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut waited = false;
        for mut ff in session.get_batch(self.buffer) {
            let id = ctx.evaluate(SIGNAL_ID, &ff)?.unwrap_or_default();
            if id.is_empty() {
                fail(session, ff, "the Release Signal Identifier evaluated to an empty value");
                continue;
            }
            let start = ff.attr(START).and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(ff.queued_millis);
            if now - start > self.expiration_ms {
                ff.remove_attr(START);
                session.transfer(ff, EXPIRED);
                continue;
            }
            let i = *index.entry(id.clone()).or_insert_with(|| {
                groups.push((id, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(ff);
        }
        for (id, candidates) in groups {
            let first = &candidates[0];
            let target = ctx.evaluate(TARGET, first)?.unwrap_or_default();
            let releasable = ctx.evaluate(RELEASABLE, first)?.unwrap_or_default();
            let counter = ctx.evaluate(COUNTER, first)?.filter(|c| !c.is_empty());
            let target = match target.trim().parse::<i64>() {
                Ok(t) if t > 0 => t,
                _ => {
                    for ff in candidates {
                        fail(
                            session,
                            ff,
                            &format!("the Target Signal Count '{target}' is not a positive whole number"),
                        );
                    }
                    continue;
                }
            };
            let per_pass = match releasable.trim().parse::<i64>() {
                Ok(r) if r >= 0 => r,
                _ => {
                    for ff in candidates {
                        fail(
                            session,
                            ff,
                            &format!("the Releasable FlowFile Count '{releasable}' is not a non-negative whole number"),
                        );
                    }
                    continue;
                }
            };
            let n = candidates.len() as i64;
            let decision = cache.update(&id, |slot| decide(slot, counter.as_deref(), target, per_pass, n));
            if let Some((counts, releasable)) = decision.consumed {
                let cache = cache.clone();
                let id = id.clone();
                session.on_commit(Box::new(move |committed| {
                    if !committed {
                        cache.restore(&id, &counts, releasable);
                    }
                }));
            }
            for (i, mut ff) in candidates.into_iter().enumerate() {
                if i < decision.release {
                    if let Some(s) = &decision.signal {
                        self.copy_signal(&mut ff, s);
                    }
                    ff.remove_attr(START);
                    session.transfer(ff, crate::SUCCESS);
                } else if self.keep_upstream {
                    session.return_to_queue(ff);
                    waited = true;
                } else {
                    if ff.attr(START).is_none() {
                        let start = ff.queued_millis.to_string();
                        ff.set_attr(START, &start);
                    }
                    if let Some(p) = self.penalty_ms {
                        ff.penalty_until_millis = now + p;
                    }
                    session.transfer(ff, WAIT);
                }
            }
        }
        if waited {
            ctx.yield_now();
        }
        Ok(())
    }
}

/// NiFi's release rule (WaitNotifyProtocol): with a releasable count per pass, every full
/// `target` of the counter converts into `per_pass` releasable flowfiles (the remainder
/// stays); with 0, everything passes while the count is at or above the target.
fn decide(slot: &mut Option<Signal>, counter: Option<&str>, target: i64, per_pass: i64, candidates: i64) -> Decision {
    let Some(s) = slot.as_mut() else {
        return Decision { release: 0, signal: None, consumed: None };
    };
    let snapshot = s.clone();
    if per_pass == 0 {
        let release = if s.count(counter) >= target { candidates as usize } else { 0 };
        return Decision { release, signal: Some(snapshot), consumed: None };
    }
    if s.releasable < candidates {
        let count = s.count(counter);
        let passes = if count > 0 { count / target } else { 0 };
        if passes > 0 {
            s.releasable = s.releasable.saturating_add(passes.saturating_mul(per_pass));
            let remainder = count % target;
            match counter {
                Some(c) => {
                    s.counts.insert(c.to_string(), remainder);
                }
                None => {
                    s.counts.clear();
                    if remainder != 0 {
                        s.counts.insert(DEFAULT_COUNTER.to_string(), remainder);
                    }
                }
            }
        }
    }
    let release = s.releasable.min(candidates).max(0);
    s.releasable -= release;
    let mut consumed_counts = BTreeMap::new();
    for (k, before) in &snapshot.counts {
        let after = s.counts.get(k).copied().unwrap_or(0);
        if *before != after {
            consumed_counts.insert(k.clone(), before - after);
        }
    }
    for (k, after) in &s.counts {
        if !snapshot.counts.contains_key(k) && *after != 0 {
            consumed_counts.insert(k.clone(), -after);
        }
    }
    let consumed_releasable = snapshot.releasable - s.releasable;
    let consumed =
        (!consumed_counts.is_empty() || consumed_releasable != 0).then_some((consumed_counts, consumed_releasable));
    Decision { release: release as usize, signal: Some(snapshot), consumed }
}

impl Wait {
    fn copy_signal(&self, ff: &mut FlowFile, s: &Signal) {
        for (k, v) in &s.attributes {
            if self.replace || ff.attr(k).is_none() {
                ff.set_attr(k, v);
            }
        }
        for (k, v) in &s.counts {
            ff.set_attr(&format!("{COUNTER_PREFIX}{k}"), &v.to_string());
        }
        ff.set_attr(&format!("{COUNTER_PREFIX}total"), &s.count(None).to_string());
    }
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

#[cfg(test)]
mod tests {
    use sluice_engine::testing::TestRunner;

    fn unique(name: &str) -> String {
        format!("{name}-{}", uuid::Uuid::new_v4())
    }

    fn wait_runner(mode: &str) -> TestRunner {
        let mut w = TestRunner::new(crate::registry(), "Wait");
        w.set_property("Release Signal Identifier", "${signal}").set_property("Wait Mode", mode);
        w
    }

    fn notify(signal: &str, times: usize, attrs: &[(&str, &str)]) {
        let mut n = TestRunner::new(crate::registry(), "Notify");
        n.set_property("Release Signal Identifier", "${signal}").set_property("Attribute Cache Regex", "^batch\\.");
        for _ in 0..times {
            let mut a = vec![("signal", signal)];
            a.extend_from_slice(attrs);
            n.enqueue("", &a);
        }
        n.run(times).expect("notify runs");
        assert_eq!(n.count("success"), times);
    }

    #[test]
    fn released_after_the_target_count() {
        let signal = unique("target");
        let mut w = wait_runner("keep");
        w.set_property("Target Signal Count", "3");
        w.enqueue("payload", &[("signal", &signal), ("batch.name", "mine")]);
        w.run(1).expect("runs");
        assert_eq!(w.count("success"), 0);
        assert_eq!(w.input_queue().len(), 1, "kept upstream while the signal is missing");

        notify(&signal, 2, &[]);
        w.run(1).expect("runs");
        assert_eq!(w.count("success"), 0, "2 of 3 signals is not enough");
        assert_eq!(w.input_queue().len(), 1);

        notify(&signal, 1, &[("batch.name", "from notify"), ("batch.size", "3")]);
        w.run(1).expect("runs");
        let out = w.output("success");
        assert_eq!(out.len(), 1);
        let ff = &out[0];
        assert_eq!(TestRunner::content(ff), "payload");
        assert_eq!(ff.attr("wait.counter.default"), Some("3"));
        assert_eq!(ff.attr("wait.counter.total"), Some("3"));
        assert_eq!(ff.attr("batch.size"), Some("3"), "signal attributes copied");
        assert_eq!(ff.attr("batch.name"), Some("mine"), "keeporiginal keeps the flowfile's own value");
        assert!(w.input_queue().is_empty());
        assert!(super::super::signals::cache_for_tests(&signal).is_none(), "the consumed signal is removed");
    }

    #[test]
    fn releasable_count_per_pass_and_the_wait_relationship() {
        let signal = unique("passes");
        let mut w = wait_runner("wait");
        w.set_property("Target Signal Count", "2").set_property("Wait Buffer Count", "10");
        for i in 0..3 {
            w.enqueue(format!("ff{i}"), &[("signal", &signal)]);
        }
        notify(&signal, 5, &[]);
        w.run(1).expect("runs");
        // 5 signals = 2 passes of 2 (remainder 1), 1 flowfile per pass.
        let released: Vec<String> = w.output("success").iter().map(TestRunner::content).collect();
        assert_eq!(released, vec!["ff0", "ff1"]);
        let waiting = w.output("wait");
        assert_eq!(waiting.len(), 1);
        assert!(waiting[0].attr("wait.start.timestamp").is_some());
        assert_eq!(super::super::signals::cache_for_tests(&signal).map(|s| s.count(None)), Some(1));
    }

    #[test]
    fn zero_releasable_opens_a_gate_and_a_zero_delta_closes_it() {
        let signal = unique("gate");
        let mut w = wait_runner("keep");
        w.set_property("Releasable FlowFile Count", "0").set_property("Wait Buffer Count", "10");
        notify(&signal, 1, &[]);
        for i in 0..3 {
            w.enqueue(format!("ff{i}"), &[("signal", &signal)]);
        }
        w.run(1).expect("runs");
        assert_eq!(w.count("success"), 3, "an open gate lets everything through");
        let mut n = TestRunner::new(crate::registry(), "Notify");
        n.set_property("Release Signal Identifier", "${signal}").set_property("Signal Counter Delta", "0");
        n.enqueue("", &[("signal", &signal)]);
        n.run(1).expect("runs");
        w.enqueue("late", &[("signal", &signal)]);
        w.run(1).expect("runs");
        assert_eq!(w.count("success"), 3, "closed");
        assert_eq!(w.input_queue().len(), 1);
    }

    #[test]
    fn expired_and_failure() {
        let signal = unique("expire");
        let mut w = wait_runner("wait");
        w.set_property("Wait Buffer Count", "10").set_property("Expiration Duration", "1 min");
        w.enqueue("old", &[("signal", &signal), ("wait.start.timestamp", "1000")]);
        w.enqueue("no signal", &[]);
        w.run(1).expect("runs");
        let expired = w.output("expired");
        assert_eq!(expired.len(), 1);
        assert_eq!(TestRunner::content(&expired[0]), "old");
        let failed = w.output("failure");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].attr("Wait.error").expect("why").contains("empty"));

        let mut w = wait_runner("wait");
        w.set_property("Target Signal Count", "${target}");
        w.enqueue("x", &[("signal", &signal), ("target", "many")]);
        w.run(1).expect("runs");
        assert!(w.output("failure")[0].attr("Wait.error").expect("why").contains("Target Signal Count"));
    }

    #[test]
    fn signals_persist_in_the_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signal = unique("durable");
        {
            let mut n = TestRunner::with_data_dir(crate::registry(), "Notify", dir.path());
            n.set_property("Release Signal Identifier", "${signal}");
            n.enqueue("", &[("signal", &signal)]);
            n.run(1).expect("runs");
            n.controller.shutdown();
        }
        // A fresh cache (as after a restart of the process) reads the log back.
        let log = dir.path().join("state").join("wait-notify-signals.jsonl");
        let replayed = super::super::signals::read_log_for_tests(&log);
        assert_eq!(replayed.get(&signal).map(|s| s.count(None)), Some(1));
        let mut w = TestRunner::with_data_dir(crate::registry(), "Wait", dir.path());
        w.set_property("Release Signal Identifier", "${signal}");
        w.enqueue("go", &[("signal", &signal)]);
        w.run(1).expect("runs");
        // (The Notify's own output is recovered into the same-named test connection.)
        assert!(w.output("success").iter().any(|f| TestRunner::content(f) == "go"), "released by the persisted signal");
        let replayed = super::super::signals::read_log_for_tests(&log);
        assert!(!replayed.contains_key(&signal), "consumed and removed, durably");
    }
}
