//! Notify: adds to a signal's counters in the Wait/Notify signal cache, so that Wait
//! processors release the flowfiles waiting for that signal.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship, Validator,
};

use super::signals::{CounterOp, DEFAULT_COUNTER, SignalCache, SignalChange, cache_for};

const SIGNAL_ID: &str = "Release Signal Identifier";
const COUNTER: &str = "Signal Counter Name";
const DELTA: &str = "Signal Counter Delta";
const BUFFER: &str = "Signal Buffer Count";
const ATTRIBUTE_REGEX: &str = "Attribute Cache Regex";

/// Set on every flowfile: whether the signal was sent (NiFi's name).
pub const NOTIFIED: &str = "notified";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "Notify.error";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(Notify::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "Notify",
        "Signals Wait processors: adds Signal Counter Delta to the counter Signal Counter Name of the signal named by \
         Release Signal Identifier (a delta of 0 resets the counter), and stores the attributes matching Attribute Cache \
         Regex with the signal for Wait to copy onto the flowfiles it releases. NiFi keeps signals in a distributed map \
         cache service; Sluice keeps them in a cache shared by every Wait and Notify of the engine, persisted in the data \
         directory. Signals are applied when the session commits.",
    )
    .tags(&["map", "cache", "notify", "distributed", "signal", "release"])
    .property(
        PropertyDescriptor::new(SIGNAL_ID)
            .description("The signal to add to, e.g. ${batch.id}; Wait processors waiting for the same identifier are released")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(COUNTER)
            .description("The counter of the signal to change; Wait can compare one counter or the total of all")
            .default_value(DEFAULT_COUNTER)
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(DELTA)
            .description("How much to add to the counter (may be negative); 0 resets it to zero, closing a gate opened by 1")
            .required()
            .default_value("1")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(BUFFER)
            .description("How many flowfiles are handled together: their deltas are added to the cache in one update")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(ATTRIBUTE_REGEX)
            .description("Attributes whose names match are stored with the signal; Wait copies them onto released flowfiles")
            .validator(Validator::Regex),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose signal was recorded (notified = true)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose Release Signal Identifier is empty or whose delta is not a whole number (Notify.error says why)",
    ))
}

/// The processor.
#[derive(Default)]
pub struct Notify {
    cache: Option<Arc<SignalCache>>,
    buffer: usize,
    attribute_regex: Option<Regex>,
}

impl Processor for Notify {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.cache = Some(cache_for(ctx)?);
        self.buffer = ctx.int(BUFFER)?.unwrap_or(1).max(1) as usize;
        self.attribute_regex = match ctx.property(ATTRIBUTE_REGEX).filter(|s| !s.is_empty()) {
            Some(re) => Some(Regex::new(re).map_err(|e| ProcessError::Config(format!("'{ATTRIBUTE_REGEX}': {e}")))?),
            None => None,
        };
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(cache) = &self.cache else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        let mut changes: Vec<SignalChange> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for mut ff in session.get_batch(self.buffer) {
            let id = ctx.evaluate(SIGNAL_ID, &ff)?.unwrap_or_default();
            let counter =
                ctx.evaluate(COUNTER, &ff)?.filter(|c| !c.is_empty()).unwrap_or_else(|| DEFAULT_COUNTER.to_string());
            let delta_text = ctx.evaluate(DELTA, &ff)?.unwrap_or_default();
            let problem = if id.is_empty() {
                Some("the Release Signal Identifier evaluated to an empty value".to_string())
            } else {
                match delta_text.trim().parse::<i64>() {
                    Ok(_) => None,
                    Err(_) => Some(format!("the Signal Counter Delta '{delta_text}' is not a whole number")),
                }
            };
            if let Some(why) = problem {
                ff.set_attr(NOTIFIED, "false");
                ff.set_attr(ERROR_ATTR, &why);
                session.penalize(&mut ff);
                session.transfer(ff, crate::FAILURE);
                continue;
            }
            let delta = delta_text.trim().parse::<i64>().unwrap_or(0);
            let op = if delta == 0 { CounterOp::Reset } else { CounterOp::Add(delta) };
            let i = *index.entry(id.clone()).or_insert_with(|| {
                changes.push(SignalChange { id: id.clone(), ..SignalChange::default() });
                changes.len() - 1
            });
            changes[i].ops.push((counter, op));
            if let Some(re) = &self.attribute_regex {
                for (k, v) in ff.attributes.iter() {
                    if re.is_match(k) {
                        changes[i].attributes.insert(k.to_string(), v.to_string());
                    }
                }
            }
            ff.set_attr(NOTIFIED, "true");
            session.transfer(ff, crate::SUCCESS);
        }
        if !changes.is_empty() {
            let cache = cache.clone();
            session.on_commit(Box::new(move |committed| {
                if committed {
                    cache.notify(&changes);
                }
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_engine::testing::TestRunner;

    #[test]
    fn bad_identifiers_and_deltas_go_to_failure() {
        let mut r = TestRunner::new(crate::registry(), "Notify");
        r.set_property("Release Signal Identifier", "${id}").set_property("Signal Counter Delta", "${delta}");
        r.set_property("Signal Buffer Count", "10");
        r.enqueue("", &[("delta", "1")]);
        r.enqueue("", &[("id", "notify-test-bad"), ("delta", "one")]);
        r.enqueue("", &[("id", "notify-test-bad"), ("delta", "2")]);
        r.run(1).expect("runs");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 2);
        assert!(failed[0].attr("Notify.error").expect("why").contains("empty"));
        assert!(failed[1].attr("Notify.error").expect("why").contains("not a whole number"));
        assert_eq!(failed[0].attr("notified"), Some("false"));
        let ok = r.output("success");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].attr("notified"), Some("true"));
    }
}
