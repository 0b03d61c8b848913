//! DetectDuplicate: routes flowfiles whose cache entry identifier was seen before to
//! `duplicate`, remembering identifiers across restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::state_log::StateLog;

const IDENTIFIER: &str = "Cache Entry Identifier";
const DESCRIPTION: &str = "FlowFile Description";
const AGE_OFF: &str = "Age Off Duration";
const CACHE_IDENTIFIER: &str = "Cache The Entry Identifier";

const DUPLICATE: &str = "duplicate";
const NON_DUPLICATE: &str = "non-duplicate";
/// Set on duplicates: the description stored with the first flowfile (NiFi's name).
pub const ORIGINAL_DESCRIPTION: &str = "original.flowfile.description";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "DetectDuplicate.error";
const LOG_FILE: &str = "detect-duplicate.jsonl";
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(DetectDuplicate::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "DetectDuplicate",
        "Routes each flowfile by whether its Cache Entry Identifier was seen before: the first goes to 'non-duplicate' and \
         its identifier is remembered (with its FlowFile Description), later ones go to 'duplicate' with \
         original.flowfile.description. NiFi keeps the identifiers in a distributed map cache service; Sluice keeps them \
         in the processor's state directory (an append-only log, compacted on start), so they survive restarts, or in \
         memory when the engine has no data directory. Identifiers are remembered from the commit of their session.",
    )
    .tags(&["hash", "dupe", "duplicate", "dedupe", "deduplicate"])
    .property(
        PropertyDescriptor::new(IDENTIFIER)
            .description("The identifier compared between flowfiles, usually a hash of the content (e.g. from CryptographicHashContent)")
            .required()
            .default_value("${hash.value}")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(DESCRIPTION)
            .description("A description stored with the identifier and given to later duplicates as original.flowfile.description")
            .default_value("")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(AGE_OFF)
            .description("How long an identifier is remembered; unset = forever")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(CACHE_IDENTIFIER)
            .description("Whether the identifier of a non-duplicate is remembered (false only checks, for a flow that adds identifiers elsewhere)")
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .relationship(Relationship::new(DUPLICATE, "Flowfiles whose identifier was seen before"))
    .relationship(Relationship::new(NON_DUPLICATE, "Flowfiles whose identifier was not seen before (or aged off)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose Cache Entry Identifier evaluates to an empty value (DetectDuplicate.error says why)",
    ))
}

/// One remembered identifier.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Entry {
    /// The description of the first flowfile.
    #[serde(rename = "d")]
    description: String,
    /// When it was remembered (ms since epoch).
    #[serde(rename = "t")]
    time: i64,
}

/// A line of the log: an identifier remembered, or forgotten (`entry` None: rolled back).
#[derive(Serialize, Deserialize)]
struct LogLine {
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    entry: Option<Entry>,
}

/// The identifiers remembered, with their log.
struct Cache {
    entries: HashMap<String, Entry>,
    log: Option<StateLog>,
    age_off_ms: Option<i64>,
    last_sweep: i64,
}

impl Cache {
    fn open(dir: Option<PathBuf>, age_off_ms: Option<i64>, now: i64) -> Result<Cache, ProcessError> {
        let mut entries = HashMap::new();
        let log = match dir {
            Some(dir) => {
                let path = dir.join(LOG_FILE);
                for line in StateLog::replay::<LogLine>(&path)? {
                    match line.entry {
                        Some(e) => entries.insert(line.key, e),
                        None => entries.remove(&line.key),
                    };
                }
                if let Some(age) = age_off_ms {
                    entries.retain(|_, e| now - e.time <= age);
                }
                let live = entries.iter().map(|(k, e)| LogLine { key: k.clone(), entry: Some(e.clone()) });
                Some(StateLog::create(&path, live)?)
            }
            None => None,
        };
        Ok(Cache { entries, log, age_off_ms, last_sweep: now })
    }

    /// The live entry for `key`, if not aged off.
    fn get(&self, key: &str, now: i64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| self.age_off_ms.is_none_or(|age| now - e.time <= age))
    }

    /// Drops aged-off entries now and then, so memory follows the age-off window.
    fn sweep(&mut self, now: i64) {
        if let Some(age) = self.age_off_ms
            && now - self.last_sweep > age.clamp(1_000, 60_000)
        {
            self.entries.retain(|_, e| now - e.time <= age);
            self.last_sweep = now;
        }
    }

    /// Records committed entries in the log.
    fn persist(&mut self, added: &[(String, Entry)]) {
        let Some(log) = &mut self.log else { return };
        let result = added
            .iter()
            .try_for_each(|(k, e)| log.append(&LogLine { key: k.clone(), entry: Some(e.clone()) }))
            .and_then(|_| log.flush());
        if let Err(e) = result {
            tracing::error!("DetectDuplicate could not record identifiers: {e}");
        }
        if log.wants_compaction(self.entries.len()) {
            let live: Vec<LogLine> =
                self.entries.iter().map(|(k, e)| LogLine { key: k.clone(), entry: Some(e.clone()) }).collect();
            if let Err(e) = log.compact(live) {
                tracing::error!("DetectDuplicate could not compact its log: {e}");
            }
        }
    }

    /// Forgets entries of a session that was rolled back (unless replaced since).
    fn forget(&mut self, added: &[(String, Entry)]) {
        for (k, e) in added {
            if self.entries.get(k) == Some(e) {
                self.entries.remove(k);
            }
        }
    }
}

/// The processor.
#[derive(Default)]
pub struct DetectDuplicate {
    cache: Option<Arc<Mutex<Cache>>>,
    remember: bool,
}

impl Processor for DetectDuplicate {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let age_off_ms = ctx.duration(AGE_OFF)?.map(|d: Duration| d.as_millis() as i64);
        let now = sluice_engine::flowfile::now_millis();
        self.cache = Some(Arc::new(Mutex::new(Cache::open(ctx.state_dir(), age_off_ms, now)?)));
        self.remember = ctx.bool(CACHE_IDENTIFIER)?.unwrap_or(true);
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        self.cache = None;
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(cache) = &self.cache else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        let batch = session.get_batch(BATCH);
        if batch.is_empty() {
            return Ok(());
        }
        let now = session.now_millis();
        let mut keyed: Vec<(FlowFile, Option<(String, String)>)> = Vec::with_capacity(batch.len());
        for ff in batch {
            let key = ctx.evaluate(IDENTIFIER, &ff)?.unwrap_or_default();
            if key.is_empty() {
                keyed.push((ff, None));
                continue;
            }
            let description = ctx.evaluate(DESCRIPTION, &ff)?.unwrap_or_default();
            keyed.push((ff, Some((key, description))));
        }
        let mut added: Vec<(String, Entry)> = Vec::new();
        {
            let mut c = cache.lock();
            c.sweep(now);
            for (mut ff, key) in keyed {
                let Some((key, description)) = key else {
                    ff.set_attr(ERROR_ATTR, "the Cache Entry Identifier evaluated to an empty value");
                    session.penalize(&mut ff);
                    session.transfer(ff, crate::FAILURE);
                    continue;
                };
                match c.get(&key, now) {
                    Some(original) => {
                        ff.set_attr(ORIGINAL_DESCRIPTION, &original.description);
                        session.transfer(ff, DUPLICATE);
                    }
                    None => {
                        if self.remember {
                            let entry = Entry { description, time: now };
                            c.entries.insert(key.clone(), entry.clone());
                            added.push((key, entry));
                        }
                        session.transfer(ff, NON_DUPLICATE);
                    }
                }
            }
        }
        if !added.is_empty() {
            let cache = cache.clone();
            session.on_commit(Box::new(move |committed| {
                let mut c = cache.lock();
                if committed { c.persist(&added) } else { c.forget(&added) }
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_engine::testing::TestRunner;

    fn configure(r: &mut TestRunner) {
        r.set_property("Cache Entry Identifier", "${key}");
        r.set_property("FlowFile Description", "first ${filename}");
    }

    #[test]
    fn second_occurrence_is_a_duplicate_with_the_original_description() {
        let mut r = TestRunner::new(crate::registry(), "DetectDuplicate");
        configure(&mut r);
        r.enqueue("a", &[("key", "k1"), ("filename", "one")]);
        r.enqueue("b", &[("key", "k2"), ("filename", "two")]);
        r.enqueue("c", &[("key", "k1"), ("filename", "three")]);
        r.run(1).expect("runs");
        r.enqueue("d", &[("key", "k2"), ("filename", "four")]);
        r.run(1).expect("runs");
        assert_eq!(r.count("non-duplicate"), 2);
        let dups = r.output("duplicate");
        assert_eq!(dups.len(), 2);
        assert_eq!(dups[0].attr("original.flowfile.description"), Some("first one"));
        assert_eq!(dups[1].attr("original.flowfile.description"), Some("first two"));
    }

    #[test]
    fn an_empty_identifier_goes_to_failure() {
        let mut r = TestRunner::new(crate::registry(), "DetectDuplicate");
        r.enqueue("no hash.value attribute", &[]);
        r.run(1).expect("runs");
        let failed = r.output("failure");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].attr("DetectDuplicate.error").expect("why").contains("empty"));
    }

    #[test]
    fn identifiers_age_off_and_can_be_checked_without_caching() {
        let mut r = TestRunner::new(crate::registry(), "DetectDuplicate");
        configure(&mut r);
        r.set_property("Age Off Duration", "100 ms");
        r.enqueue("a", &[("key", "k")]);
        r.run(1).expect("runs");
        std::thread::sleep(std::time::Duration::from_millis(150));
        r.enqueue("b", &[("key", "k")]);
        r.run(1).expect("runs");
        assert_eq!(r.count("non-duplicate"), 2, "aged off, so not a duplicate");

        let mut r = TestRunner::new(crate::registry(), "DetectDuplicate");
        configure(&mut r);
        r.set_property("Cache The Entry Identifier", "false");
        r.enqueue("a", &[("key", "k")]);
        r.enqueue("b", &[("key", "k")]);
        r.run(1).expect("runs");
        assert_eq!(r.count("non-duplicate"), 2);
    }

    #[test]
    fn duplicates_are_detected_across_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut r = TestRunner::with_data_dir(crate::registry(), "DetectDuplicate", dir.path());
            configure(&mut r);
            r.enqueue("a", &[("key", "persisted"), ("filename", "before")]);
            r.run(1).expect("runs");
            assert_eq!(r.count("non-duplicate"), 1);
            r.controller.shutdown();
        }
        let mut r = TestRunner::with_data_dir(crate::registry(), "DetectDuplicate", dir.path());
        configure(&mut r);
        r.enqueue("b", &[("key", "persisted"), ("filename", "after")]);
        r.enqueue("c", &[("key", "new"), ("filename", "after")]);
        r.run(1).expect("runs");
        let dups = r.output("duplicate");
        assert_eq!(dups.len(), 1);
        assert_eq!(TestRunner::content(&dups[0]), "b");
        assert_eq!(dups[0].attr("original.flowfile.description"), Some("first before"));
        assert!(r.output("non-duplicate").iter().any(|f| TestRunner::content(f) == "c"));
    }
}
