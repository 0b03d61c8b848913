//! ListS3: lists the objects of an S3 bucket as flowfiles without content (one per object,
//! `filename` = the key), for FetchS3Object to pick up. Only new or changed objects (by key
//! and last-modified time) are listed on each run; what was listed is remembered in the
//! processor's state directory, so a restart does not list the bucket again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::{ObjectMeta, ObjectStore};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{self, Clients, Failure, S3Error};
use crate::files::state::StateFile;
use crate::io::block_on;

const PREFIX: &str = "Prefix";
const DELIMITER: &str = "Delimiter";
const MIN_AGE: &str = "Minimum Object Age";
const MAX_AGE: &str = "Maximum Object Age";
const STATE_NAME: &str = "lists3.json";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListS3::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "ListS3",
        "Lists the objects of an Amazon S3 (or S3-compatible) bucket: one flowfile without content per new or changed \
         object (by key and last-modified time), with filename (the key), s3.bucket, s3.region, s3.etag, \
         s3.lastModified, s3.length and s3.version. Pair it with FetchS3Object. What was listed is kept in the \
         processor's state, so a restart lists only what is new since.",
    )
    .tags(&["aws", "s3", "list", "source", "object", "storage"])
    .input(InputRequirement::Forbidden)
    .default_period("1 min")
    .property(common::bucket_property())
    .property(
        PropertyDescriptor::new(PREFIX)
            .description("Only keys starting with this text are listed (expressions evaluated once per run)")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("When set (only '/' is supported), keys below the prefix's level (containing it after the prefix) are not listed")
            .allowable(&[("/", "list one level only")]),
    )
    .property(
        PropertyDescriptor::new(MIN_AGE)
            .description("Objects modified more recently than this are not listed yet")
            .required()
            .default_value("0 sec")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(MAX_AGE).description("Objects modified longer ago than this are not listed").validator(Validator::TimePeriod),
    );
    for p in common::connection_properties() {
        d = d.property(p);
    }
    d.relationship(Relationship::new(crate::SUCCESS, "One flowfile per listed object"))
}

/// What was listed: key → last modified (ms since the epoch).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Listing {
    /// bucket + prefix these entries belong to (a change starts over).
    scope: String,
    objects: BTreeMap<String, i64>,
}

/// The processor.
#[derive(Default)]
pub struct ListS3 {
    clients: Clients,
    region: String,
    min_age: Duration,
    max_age: Option<Duration>,
    delimited: bool,
    state_file: StateFile,
    state: Arc<Mutex<Option<Listing>>>,
    running: Mutex<()>,
}

impl ListS3 {
    fn list(&self, store: &dyn ObjectStore, prefix: &str) -> Result<Vec<ObjectMeta>, S3Error> {
        // object_store lists by directory: list the prefix's directory, keep keys with the prefix.
        let dir = match prefix.rfind('/') {
            Some(i) => Some(common::object_path(&prefix[..i])?),
            None => None,
        };
        let metas = if self.delimited {
            block_on(store.list_with_delimiter(dir.as_ref())).map_err(|e| S3Error::from_store(&e))?.objects
        } else {
            block_on(async {
                let mut out = Vec::new();
                let mut stream = store.list(dir.as_ref());
                while let Some(m) = stream.next().await {
                    out.push(m.map_err(|e| S3Error::from_store(&e))?);
                }
                Ok::<_, S3Error>(out)
            })?
        };
        Ok(metas.into_iter().filter(|m| m.location.as_ref().starts_with(prefix)).collect())
    }
}

impl Processor for ListS3 {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.clients.configure(ctx)?;
        self.region = ctx.value(common::REGION)?.unwrap_or_default();
        self.min_age = ctx.duration(MIN_AGE)?.unwrap_or_default();
        self.max_age = ctx.duration(MAX_AGE)?;
        self.delimited = ctx.property(DELIMITER).is_some_and(|d| !d.is_empty());
        self.state_file = StateFile::new(ctx.state_dir(), STATE_NAME);
        *self.state.lock() = None;
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(_running) = self.running.try_lock() else {
            return Ok(());
        };
        let bucket = match common::bucket_for(ctx, None) {
            Ok(b) => b,
            Err(e) => return Err(ProcessError::Config(e.message)),
        };
        let prefix = ctx.value(PREFIX)?.unwrap_or_default();
        let scope = format!("{bucket}/{prefix}");
        let store = self.clients.get(&bucket)?;
        let objects = match self.list(store.as_ref(), &prefix) {
            Ok(o) => o,
            Err(e) => {
                let (level, what) = match e.kind {
                    Failure::Denied => (Level::Error, "credentials rejected or not allowed"),
                    Failure::Unavailable => (Level::Warning, "S3 is unavailable"),
                    _ => (Level::Warning, "listing failed"),
                };
                ctx.bulletin(level, format!("listing s3://{bucket}/{prefix}: {what}: {}; yielding", e.message));
                ctx.yield_now();
                return Ok(());
            }
        };
        let previous = {
            let mut guard = self.state.lock();
            if guard.is_none() {
                *guard = Some(self.state_file.load::<Listing>().map_err(ProcessError::Io)?.unwrap_or_default());
            }
            guard.clone().unwrap_or_default()
        };
        let previous_objects = if previous.scope == scope { previous.objects } else { BTreeMap::new() };
        let now = chrono::Utc::now();
        let mut current = BTreeMap::new();
        let mut listed = 0usize;
        for m in objects {
            let age = (now - m.last_modified).to_std().unwrap_or_default();
            if age < self.min_age || self.max_age.is_some_and(|max| age > max) {
                continue;
            }
            let key = m.location.as_ref().to_string();
            let modified = m.last_modified.timestamp_millis();
            if previous_objects.get(&key) != Some(&modified) {
                let mut ff = session.create();
                ff.set_attr("filename", &key);
                ff.set_attr("s3.bucket", &bucket);
                ff.set_attr("s3.region", &self.region);
                ff.set_attr("s3.lastModified", &modified.to_string());
                ff.set_attr("s3.length", &m.size.to_string());
                if let Some(e) = &m.e_tag {
                    ff.set_attr("s3.etag", &common::clean_etag(e));
                }
                if let Some(v) = &m.version {
                    ff.set_attr("s3.version", v);
                }
                session.transfer(ff, crate::SUCCESS);
                listed += 1;
            }
            current.insert(key, modified);
        }
        if listed == 0 {
            ctx.yield_now();
        }
        if current != previous_objects || previous.scope != scope {
            let next = Listing { scope, objects: current };
            let (state, file) = (self.state.clone(), self.state_file.clone());
            // Remembered only once the flowfiles are committed.
            session.on_commit(Box::new(move |committed| {
                if committed {
                    if let Err(e) = file.save(&next) {
                        tracing::warn!("ListS3 could not save its state: {e}");
                    }
                    *state.lock() = Some(next);
                }
            }));
        }
        Ok(())
    }
}
