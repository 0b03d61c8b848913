//! ControlRate: lets at most a given amount (flowfiles, bytes or an attribute's value) pass
//! per time window, per group; the rest waits in the queue.

use std::collections::HashMap;

use parking_lot::Mutex;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship, Validator,
};

const CRITERIA: &str = "Rate Control Criteria";
const DATA_RATE: &str = "data rate";
const COUNT: &str = "flowfile count";
const ATTRIBUTE: &str = "attribute value";
const MAX_RATE: &str = "Maximum Rate";
const RATE_ATTRIBUTE: &str = "Rate Controlled Attribute";
const DURATION: &str = "Time Duration";
const GROUPING: &str = "Grouping Attribute";

/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "ControlRate.error";
/// Flowfiles looked at per trigger.
const BATCH: usize = 1000;
/// Groups remembered before idle ones are forgotten.
const MAX_GROUPS: usize = 10_000;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ControlRate::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ControlRate",
        "Controls the rate at which flowfiles pass: at most 'Maximum Rate' (flowfiles, bytes, or the sum of a numeric attribute) \
         per 'Time Duration', separately for each value of the Grouping Attribute. Flowfiles over the rate stay in the queue \
         (unpenalized) until the next window.",
    )
    .tags(&["rate control", "throttle", "rate", "throughput"])
    .property(
        PropertyDescriptor::new(CRITERIA)
            .description("What is counted against the Maximum Rate")
            .required()
            .default_value(DATA_RATE)
            .allowable(&[
                (DATA_RATE, "bytes of content"),
                (COUNT, "flowfiles"),
                (ATTRIBUTE, "the numeric value of the Rate Controlled Attribute"),
            ]),
    )
    .property(
        PropertyDescriptor::new(MAX_RATE)
            .description("The most that may pass per Time Duration: a data size (e.g. 1 MB) for data rate, a whole number otherwise")
            .required(),
    )
    .property(
        PropertyDescriptor::new(RATE_ATTRIBUTE)
            .description("With 'attribute value': the attribute whose numeric value is counted")
            .depends_on(CRITERIA, &[ATTRIBUTE]),
    )
    .property(
        PropertyDescriptor::new(DURATION)
            .description("The time window the Maximum Rate applies to")
            .required()
            .default_value("1 min")
            .validator(Validator::TimePeriod),
    )
    .property(PropertyDescriptor::new(GROUPING).description("Flowfiles with different values of this attribute are throttled separately"))
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles that passed within the rate"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "With 'attribute value': flowfiles whose attribute is missing or not a non-negative number; ControlRate.error says why",
    ))
}

#[derive(Clone, Copy, PartialEq, Default, Debug)]
enum Criteria {
    #[default]
    Data,
    Count,
    Attribute,
}

/// Usage of one group in its current window.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    used: f64,
}

/// The processor.
#[derive(Default)]
pub struct ControlRate {
    criteria: Criteria,
    max: f64,
    window_ms: i64,
    attribute: String,
    grouping: Option<String>,
    windows: Mutex<HashMap<String, Window>>,
}

fn parse_max(criteria: &str, value: &str) -> Result<f64, String> {
    match criteria {
        DATA_RATE => sluice_engine::units::parse_data_size(value).map(|v| v as f64),
        COUNT => value.trim().parse::<u64>().map(|v| v as f64).map_err(|_| format!("'{value}' is not a whole number")),
        _ => match value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!("'{value}' is not a non-negative number")),
        },
    }
}

impl Processor for ControlRate {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let criteria = ctx.property(CRITERIA).unwrap_or(DATA_RATE);
        self.criteria = match criteria {
            COUNT => Criteria::Count,
            ATTRIBUTE => Criteria::Attribute,
            _ => Criteria::Data,
        };
        self.max = parse_max(criteria, ctx.property(MAX_RATE).unwrap_or_default())
            .map_err(|e| ProcessError::Config(format!("'{MAX_RATE}': {e}")))?;
        self.window_ms = ctx.duration(DURATION)?.map(|d| d.as_millis() as i64).unwrap_or(60_000).max(1);
        self.attribute = ctx.property(RATE_ATTRIBUTE).unwrap_or_default().to_string();
        self.grouping = ctx.property(GROUPING).filter(|g| !g.is_empty()).map(str::to_string);
        self.windows.lock().clear();
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let criteria = ctx.property(CRITERIA).unwrap_or(DATA_RATE);
        let mut errors = Vec::new();
        if let Some(v) = ctx.property(MAX_RATE)
            && let Err(e) = parse_max(criteria, v)
        {
            errors.push(format!("'{MAX_RATE}': {e}"));
        }
        if criteria == ATTRIBUTE && ctx.property(RATE_ATTRIBUTE).is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("'{RATE_ATTRIBUTE}' is required with '{ATTRIBUTE}'"));
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let batch = session.get_batch(BATCH);
        if batch.is_empty() {
            return Ok(());
        }
        let now = session.now_millis();
        let mut windows = self.windows.lock();
        if windows.len() > MAX_GROUPS {
            let window = self.window_ms;
            windows.retain(|_, w| now - w.start < window);
        }
        let (mut passed, mut held) = (0usize, 0usize);
        for mut ff in batch {
            let amount = match self.criteria {
                Criteria::Count => 1.0,
                Criteria::Data => ff.size() as f64,
                Criteria::Attribute => match ff.attr(&self.attribute).map(|v| v.trim().parse::<f64>()) {
                    Some(Ok(v)) if v.is_finite() && v >= 0.0 => v,
                    Some(_) => {
                        let why = format!(
                            "attribute '{}' is not a non-negative number: '{}'",
                            self.attribute,
                            ff.attr(&self.attribute).unwrap_or_default()
                        );
                        ff.set_attr(ERROR_ATTR, &why);
                        session.transfer(ff, crate::FAILURE);
                        continue;
                    }
                    None => {
                        ff.set_attr(ERROR_ATTR, &format!("no attribute '{}'", self.attribute));
                        session.transfer(ff, crate::FAILURE);
                        continue;
                    }
                },
            };
            let group = self.grouping.as_deref().and_then(|g| ff.attr(g)).unwrap_or_default().to_string();
            let w = windows.entry(group).or_insert(Window { start: now, used: 0.0 });
            if now - w.start >= self.window_ms {
                *w = Window { start: now, used: 0.0 };
            }
            // An empty window always lets one flowfile through, however large, so that a
            // flowfile over the rate is delayed, never stuck.
            if w.used == 0.0 || w.used + amount <= self.max {
                w.used += amount;
                passed += 1;
                session.transfer(ff, crate::SUCCESS);
            } else {
                held += 1;
                session.return_to_queue(ff);
            }
        }
        if held > 0 && passed == 0 {
            tracing::trace!(target: "sluice::ControlRate", component = %ctx.id, "rate reached; {held} flowfiles wait");
            ctx.yield_now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn runner(props: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ControlRate");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r
    }

    #[test]
    fn flowfile_count_per_window() {
        let mut r = runner(&[(CRITERIA, COUNT), (MAX_RATE, "2"), (DURATION, "300 millis")]);
        for i in 0..5 {
            r.enqueue(format!("{i}"), &[]);
        }
        r.run(1).unwrap();
        assert_eq!(r.count(crate::SUCCESS), 2);
        let q = r.input_queue();
        assert_eq!(q.len(), 3);
        assert!(q.iter().all(|f| f.penalty_until_millis == 0));
        r.run(1).unwrap();
        assert_eq!(r.count(crate::SUCCESS), 2);
        std::thread::sleep(std::time::Duration::from_millis(320));
        r.run(1).unwrap();
        let out: Vec<String> = r.output(crate::SUCCESS).iter().map(TestRunner::content).collect();
        assert_eq!(out, vec!["0", "1", "2", "3"]);
    }

    #[test]
    fn data_rate_and_grouping() {
        let mut r = runner(&[(CRITERIA, DATA_RATE), (MAX_RATE, "10 B"), (GROUPING, "tenant")]);
        r.enqueue("123456", &[("tenant", "a")]);
        r.enqueue("123456", &[("tenant", "a")]);
        r.enqueue("123456", &[("tenant", "b")]);
        r.enqueue("a very large flowfile", &[("tenant", "c")]);
        r.run(1).unwrap();
        let mut tenants: Vec<String> =
            r.output(crate::SUCCESS).iter().map(|f| f.attr("tenant").unwrap().to_string()).collect();
        tenants.sort();
        assert_eq!(tenants, vec!["a", "b", "c"]);
        assert_eq!(r.input_queue().len(), 1);
    }

    #[test]
    fn attribute_value_and_failures() {
        let mut r = runner(&[(CRITERIA, ATTRIBUTE), (RATE_ATTRIBUTE, "cost"), (MAX_RATE, "10")]);
        r.enqueue("a", &[("cost", "4")]);
        r.enqueue("b", &[("cost", "5.5")]);
        r.enqueue("c", &[("cost", "1")]);
        r.enqueue("d", &[("cost", "lots")]);
        r.enqueue("e", &[]);
        r.run(1).unwrap();
        assert_eq!(r.count(crate::SUCCESS), 2);
        let f = r.output(crate::FAILURE);
        assert!(f[0].attr(ERROR_ATTR).unwrap().contains("'lots'"));
        assert!(f[1].attr(ERROR_ATTR).unwrap().contains("no attribute"));
        assert_eq!(r.input_queue().len(), 1);
        let mut r = runner(&[(CRITERIA, COUNT), (MAX_RATE, "1 MB")]);
        assert!(!r.validation_errors().is_empty());
    }
}
