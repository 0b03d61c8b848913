//! MergeContent: concatenates groups of flowfiles into one, by bin packing (up to N entries
//! or bytes, grouped by a correlation attribute) or by defragmenting what a split produced.
//!
//! How bins are kept: a session must settle every flowfile it takes before it commits, so
//! bins cannot hold flowfiles across triggers as NiFi's BinFiles does. Instead the input
//! queue *is* the bin store: each trigger takes the queued flowfiles (up to a cap), groups
//! them into bins, merges the bins that are ready and gives the others back to the queue
//! with `ProcessSession::return_to_queue` (unchanged, not penalized, in order). A bin's age
//! is the time its oldest flowfile has spent in the queue. When nothing was ready the
//! processor yields, so an incomplete bin is looked at again after the yield duration (or
//! sooner when Max Bin Age needs it, since the yield is at most that long in practice).

use std::collections::HashMap;
use std::io::{self, Read, Write};

use parking_lot::Mutex;
use sluice_engine::{
    Content, FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{BadInput, eval_prop};

const STRATEGY: &str = "Merge Strategy";
const BIN_PACKING: &str = "Bin-Packing Algorithm";
const DEFRAGMENT: &str = "Defragment";
const FORMAT: &str = "Merge Format";
const BINARY: &str = "Binary Concatenation";
const ATTR_STRATEGY: &str = "Attribute Strategy";
const KEEP_COMMON: &str = "Keep Only Common Attributes";
const KEEP_UNIQUE: &str = "Keep All Unique Attributes";
const CORRELATION: &str = "Correlation Attribute Name";
const MIN_ENTRIES: &str = "Minimum Number of Entries";
const MAX_ENTRIES: &str = "Maximum Number of Entries";
const MIN_SIZE: &str = "Minimum Group Size";
const MAX_SIZE: &str = "Maximum Group Size";
const MAX_AGE: &str = "Max Bin Age";
const MAX_BINS: &str = "Maximum number of Bins";
const DELIMITER: &str = "Delimiter Strategy";
const NO_DELIMITER: &str = "Do Not Use Delimiters";
const DELIM_FILENAME: &str = "Filename";
const DELIM_TEXT: &str = "Text";
const HEADER: &str = "Header File";
const FOOTER: &str = "Footer File";
const DEMARCATOR: &str = "Demarcator File";
const MERGED: &str = "merged";

/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "MergeContent.error";
/// The most flowfiles one trigger looks at.
const HARD_CAP: usize = 100_000;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(MergeContent::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "MergeContent",
        "Merges groups of flowfiles into one by concatenating their content, optionally with a header, footer and demarcator. \
         Bin-Packing fills bins up to a number of entries or bytes (flowfiles with the same Correlation Attribute value share \
         bins); Defragment puts back together the fragments of a split (fragment.identifier, fragment.index, fragment.count).",
    )
    .tags(&["merge", "content", "correlation", "concatenation", "defragment", "bin"])
    .property(
        PropertyDescriptor::new(STRATEGY)
            .description("How flowfiles are grouped into bins")
            .required()
            .default_value(BIN_PACKING)
            .allowable(&[
                (BIN_PACKING, "fill bins up to the entry and size limits, grouped by the Correlation Attribute"),
                (DEFRAGMENT, "merge the fragments of one split (same fragment.identifier) in fragment.index order once all fragment.count have arrived"),
            ]),
    )
    .property(
        PropertyDescriptor::new(FORMAT)
            .description("The format of the merged content")
            .required()
            .default_value(BINARY)
            .allowable(&[(BINARY, "the contents one after the other, with the optional header, demarcators and footer")]),
    )
    .property(
        PropertyDescriptor::new(ATTR_STRATEGY)
            .description("Which attributes the merged flowfile gets")
            .required()
            .default_value(KEEP_COMMON)
            .allowable(&[
                (KEEP_COMMON, "only attributes that every input has, with the same value"),
                (KEEP_UNIQUE, "every attribute that has one value among the inputs that have it"),
            ]),
    )
    .property(
        PropertyDescriptor::new(CORRELATION)
            .description("Bin-Packing: the name of an attribute; flowfiles with the same value are merged together (those without it form their own group)")
            .expression_language()
            .depends_on(STRATEGY, &[BIN_PACKING]),
    )
    .property(
        PropertyDescriptor::new(MIN_ENTRIES)
            .description("Bin-Packing: a bin is merged once it has at least this many flowfiles and no more are queued (or when it is full or old)")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER)
            .depends_on(STRATEGY, &[BIN_PACKING]),
    )
    .property(
        PropertyDescriptor::new(MAX_ENTRIES)
            .description("Bin-Packing: the most flowfiles in one bin; a bin this full is merged at once")
            .required()
            .default_value("1000")
            .validator(Validator::POSITIVE_INTEGER)
            .depends_on(STRATEGY, &[BIN_PACKING]),
    )
    .property(
        PropertyDescriptor::new(MIN_SIZE)
            .description("Bin-Packing: the least content a bin must hold before it is merged (unless it is old)")
            .required()
            .default_value("0 B")
            .validator(Validator::DataSize)
            .depends_on(STRATEGY, &[BIN_PACKING]),
    )
    .property(
        PropertyDescriptor::new(MAX_SIZE)
            .description("Bin-Packing: the most content in one bin (a single larger flowfile is merged alone)")
            .validator(Validator::DataSize)
            .depends_on(STRATEGY, &[BIN_PACKING]),
    )
    .property(
        PropertyDescriptor::new(MAX_AGE)
            .description(
                "The longest a bin waits, counted from when its oldest flowfile was queued: then it is merged as it is \
                 (Defragment: its fragments go to failure). Checked on each trigger, so at the yield duration's granularity.",
            )
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(MAX_BINS)
            .description("The most bins waiting at once; with more, the oldest is merged as it is (Defragment: sent to failure)")
            .required()
            .default_value("5")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("Where the header, footer and demarcator come from")
            .required()
            .default_value(NO_DELIMITER)
            .allowable(&[
                (NO_DELIMITER, "no header, footer or demarcator"),
                (DELIM_FILENAME, "the header, footer and demarcator properties name files whose content is used"),
                (DELIM_TEXT, "the header, footer and demarcator properties hold the text itself"),
            ]),
    )
    .property(
        PropertyDescriptor::new(HEADER)
            .description("Written before the merged content (text or file name per the Delimiter Strategy); expressions see the first flowfile")
            .expression_language()
            .depends_on(DELIMITER, &[DELIM_FILENAME, DELIM_TEXT]),
    )
    .property(
        PropertyDescriptor::new(FOOTER)
            .description("Written after the merged content (text or file name per the Delimiter Strategy); expressions see the first flowfile")
            .expression_language()
            .depends_on(DELIMITER, &[DELIM_FILENAME, DELIM_TEXT]),
    )
    .property(
        PropertyDescriptor::new(DEMARCATOR)
            .description("Written between the contents (text or file name per the Delimiter Strategy); expressions see the first flowfile")
            .expression_language()
            .depends_on(DELIMITER, &[DELIM_FILENAME, DELIM_TEXT]),
    )
    .relationship(Relationship::new(MERGED, "The merged flowfiles (merge.count, merge.bin.age, merge.reason)"))
    .relationship(Relationship::new(crate::ORIGINAL, "The inputs of each merge (with merge.uuid naming the merged flowfile)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles that cannot be merged: missing or bad fragment attributes, incomplete fragment sets past Max Bin Age or \
         evicted; MergeContent.error says why",
    ))
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Delimiters {
    #[default]
    None,
    Files,
    Text,
}

/// The processor.
#[derive(Default)]
pub struct MergeContent {
    defragment: bool,
    keep_unique: bool,
    min_entries: usize,
    max_entries: usize,
    min_size: u64,
    max_size: u64,
    max_age_ms: Option<i64>,
    max_bins: usize,
    delimiters: Delimiters,
    /// One trigger at a time: two sessions holding halves of a bin would each see it incomplete.
    busy: Mutex<()>,
}

/// A bin decided by the planning pass: indices into the batch, in merge order.
struct Bin {
    members: Vec<usize>,
    size: u64,
    oldest: i64,
}

/// Flowfiles that cannot be binned (index, why), and the bins with their verdicts.
type Plan = (Vec<(usize, String)>, Vec<(Bin, Verdict)>);

/// What to do with a bin.
enum Verdict {
    Merge(&'static str),
    Fail(String),
    Wait,
}

impl Processor for MergeContent {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.defragment = ctx.property(STRATEGY) == Some(DEFRAGMENT);
        self.keep_unique = ctx.property(ATTR_STRATEGY) == Some(KEEP_UNIQUE);
        self.min_entries = ctx.int(MIN_ENTRIES)?.unwrap_or(1).max(1) as usize;
        self.max_entries = ctx.int(MAX_ENTRIES)?.unwrap_or(1000).max(1) as usize;
        self.min_size = ctx.data_size(MIN_SIZE)?.unwrap_or(0);
        self.max_size = ctx.data_size(MAX_SIZE)?.unwrap_or(u64::MAX);
        self.max_age_ms = ctx.duration(MAX_AGE)?.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self.max_bins = ctx.int(MAX_BINS)?.unwrap_or(5).max(1) as usize;
        self.delimiters = match ctx.property(DELIMITER) {
            Some(DELIM_FILENAME) => Delimiters::Files,
            Some(DELIM_TEXT) => Delimiters::Text,
            _ => Delimiters::None,
        };
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errors = Vec::new();
        if ctx.property(STRATEGY) != Some(DEFRAGMENT) {
            let min = ctx.int(MIN_ENTRIES).ok().flatten().unwrap_or(1);
            let max = ctx.int(MAX_ENTRIES).ok().flatten().unwrap_or(1000);
            if min > max {
                errors.push(format!("'{MIN_ENTRIES}' ({min}) is more than '{MAX_ENTRIES}' ({max})"));
            }
            if let (Ok(Some(min)), Ok(Some(max))) = (ctx.data_size(MIN_SIZE), ctx.data_size(MAX_SIZE))
                && min > max
            {
                errors.push(format!("'{MIN_SIZE}' is more than '{MAX_SIZE}'"));
            }
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(_guard) = self.busy.try_lock() else {
            return Ok(());
        };
        let take =
            if self.defragment { 10_000 } else { self.max_entries.saturating_mul(self.max_bins).clamp(1000, HARD_CAP) };
        let mut batch = session.get_batch(take);
        if batch.is_empty() {
            return Ok(());
        }
        let mut exhausted = batch.len() < take;
        let now = session.now_millis();
        let (mut failed, mut bins) = self.plan(ctx, &batch, now, exhausted);
        // Nothing ready while more is queued: look further before giving up.
        while failed.is_empty()
            && !bins.iter().any(|(_, v)| !matches!(v, Verdict::Wait))
            && !exhausted
            && batch.len() < HARD_CAP
        {
            let want = take.min(HARD_CAP - batch.len());
            let more = session.get_batch(want);
            exhausted = more.len() < want;
            batch.extend(more);
            (failed, bins) = self.plan(ctx, &batch, now, exhausted);
        }
        let waiting: Vec<usize> = (0..bins.len()).filter(|&i| matches!(bins[i].1, Verdict::Wait)).collect();
        // Too many bins waiting, or a full batch with nothing ready: evict the oldest.
        let mut evict = waiting.len().saturating_sub(self.max_bins);
        let nothing_ready = failed.is_empty() && waiting.len() == bins.len();
        if nothing_ready && !exhausted {
            evict = evict.max(1);
        }
        if evict > 0 {
            let mut by_age = waiting.clone();
            by_age.sort_by_key(|&i| bins[i].0.oldest);
            for &i in by_age.iter().take(evict) {
                bins[i].1 = if self.defragment {
                    Verdict::Fail(
                        "evicted: more bins waiting than 'Maximum number of Bins' before all fragments arrived".into(),
                    )
                } else {
                    Verdict::Merge("BIN_MANAGER_FULL")
                };
            }
        }

        let mut slots: Vec<Option<FlowFile>> = batch.into_iter().map(Some).collect();
        let mut did_something = false;
        for (i, why) in failed {
            if let Some(mut ff) = slots[i].take() {
                ff.set_attr(ERROR_ATTR, &why);
                session.transfer(ff, crate::FAILURE);
                did_something = true;
            }
        }
        for (bin, verdict) in bins {
            match verdict {
                Verdict::Wait => {}
                Verdict::Fail(why) => {
                    did_something = true;
                    for i in bin.members {
                        if let Some(mut ff) = slots[i].take() {
                            ff.set_attr(ERROR_ATTR, &why);
                            session.transfer(ff, crate::FAILURE);
                        }
                    }
                }
                Verdict::Merge(reason) => {
                    did_something = true;
                    let parents: Vec<FlowFile> = bin.members.iter().filter_map(|&i| slots[i].take()).collect();
                    match self.merge(ctx, session, &parents, reason, now - bin.oldest) {
                        Ok(merged) => {
                            let uuid = merged.id.to_string();
                            session.transfer(merged, MERGED);
                            for mut p in parents {
                                p.set_attr("merge.uuid", &uuid);
                                session.transfer(p, crate::ORIGINAL);
                            }
                        }
                        Err(e) => {
                            let bad = super::common::classify(e)?;
                            for mut p in parents {
                                p.set_attr(ERROR_ATTR, &bad.0);
                                session.transfer(p, crate::FAILURE);
                            }
                        }
                    }
                }
            }
        }
        for ff in slots.into_iter().flatten() {
            session.return_to_queue(ff);
        }
        if !did_something {
            ctx.yield_now();
        }
        Ok(())
    }
}

impl MergeContent {
    /// Groups the batch into bins and decides what to do with each. Returns flowfiles that
    /// cannot be binned (with why) and the bins with their verdicts.
    fn plan(&self, ctx: &ProcessContext, batch: &[FlowFile], now: i64, exhausted: bool) -> Plan {
        let mut failed = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, ff) in batch.iter().enumerate() {
            let key = if self.defragment {
                match fragment_key(ff) {
                    Ok(k) => k,
                    Err(why) => {
                        failed.push((i, why));
                        continue;
                    }
                }
            } else {
                match correlation_key(ctx, ff) {
                    Ok(k) => k,
                    Err(why) => {
                        failed.push((i, why.0));
                        continue;
                    }
                }
            };
            let g = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        let mut bins = Vec::new();
        for members in groups {
            if self.defragment {
                bins.push(self.defragment_verdict(batch, members, now));
            } else {
                self.pack(batch, members, now, exhausted, &mut bins);
            }
        }
        (failed, bins)
    }

    fn pack(&self, batch: &[FlowFile], members: Vec<usize>, now: i64, exhausted: bool, out: &mut Vec<(Bin, Verdict)>) {
        let new_bin = || Bin { members: Vec::new(), size: 0, oldest: i64::MAX };
        let mut cur = new_bin();
        for i in members {
            let size = batch[i].size();
            if !cur.members.is_empty()
                && (cur.members.len() >= self.max_entries || cur.size.saturating_add(size) > self.max_size)
            {
                let reason = if cur.members.len() >= self.max_entries {
                    "MAX_ENTRIES_THRESHOLD_REACHED"
                } else {
                    "MAX_BYTES_THRESHOLD_REACHED"
                };
                out.push((std::mem::replace(&mut cur, new_bin()), Verdict::Merge(reason)));
            }
            cur.members.push(i);
            cur.size = cur.size.saturating_add(size);
            cur.oldest = cur.oldest.min(batch[i].queued_millis);
        }
        if cur.members.is_empty() {
            return;
        }
        let verdict = if cur.members.len() >= self.max_entries {
            Verdict::Merge("MAX_ENTRIES_THRESHOLD_REACHED")
        } else if cur.size >= self.max_size {
            Verdict::Merge("MAX_BYTES_THRESHOLD_REACHED")
        } else if exhausted && cur.members.len() >= self.min_entries && cur.size >= self.min_size {
            Verdict::Merge("MIN_THRESHOLD_REACHED")
        } else if self.max_age_ms.is_some_and(|age| now - cur.oldest >= age) {
            Verdict::Merge("TIMEOUT")
        } else {
            Verdict::Wait
        };
        out.push((cur, verdict));
    }

    fn defragment_verdict(&self, batch: &[FlowFile], mut members: Vec<usize>, now: i64) -> (Bin, Verdict) {
        // fragment_key checked that these parse.
        let index_of =
            |i: usize| batch[i].attr("fragment.index").and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
        let count_of =
            |i: usize| batch[i].attr("fragment.count").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
        members.sort_by_key(|&i| index_of(i));
        let bin = Bin {
            size: members.iter().map(|&i| batch[i].size()).sum(),
            oldest: members.iter().map(|&i| batch[i].queued_millis).min().unwrap_or(now),
            members,
        };
        let expected = count_of(bin.members[0]);
        let verdict = if bin.members.iter().any(|&i| count_of(i) != expected) {
            Verdict::Fail("fragments of one fragment.identifier disagree on fragment.count".into())
        } else if bin.members.windows(2).any(|w| index_of(w[0]) == index_of(w[1])) {
            Verdict::Fail(format!(
                "duplicate fragment.index {}",
                bin.members.windows(2).find(|w| index_of(w[0]) == index_of(w[1])).map(|w| index_of(w[0])).unwrap_or(0)
            ))
        } else if bin.members.len() > expected {
            Verdict::Fail(format!("{} fragments but fragment.count is {expected}", bin.members.len()))
        } else if bin.members.len() == expected {
            Verdict::Merge("DEFRAGMENTED")
        } else if self.max_age_ms.is_some_and(|age| now - bin.oldest >= age) {
            Verdict::Fail(format!("only {} of {expected} fragments arrived within the Max Bin Age", bin.members.len()))
        } else {
            Verdict::Wait
        };
        (bin, verdict)
    }

    /// Creates the merged flowfile (JOIN) with the concatenated content, streamed.
    fn merge(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        parents: &[FlowFile],
        reason: &str,
        age_ms: i64,
    ) -> Result<FlowFile, ProcessError> {
        let first = &parents[0];
        let (header, footer, demarcator) = match self.delimiters {
            Delimiters::None => (Vec::new(), Vec::new(), Vec::new()),
            d => {
                let get = |name: &str| -> Result<Vec<u8>, ProcessError> {
                    let v = eval_prop(ctx, name, &first.attributes)?;
                    if d == Delimiters::Text || v.is_empty() {
                        return Ok(v.into_bytes());
                    }
                    std::fs::read(&v).map_err(|e| ProcessError::Config(format!("'{name}': cannot read '{v}': {e}")))
                };
                (get(HEADER)?, get(FOOTER)?, get(DEMARCATOR)?)
            }
        };
        let mut merged = session.create_merged(parents);
        if self.keep_unique {
            for (k, v) in unique_attributes(parents) {
                merged.set_attr(&k, &v);
            }
        }
        let contents: Vec<Content> = parents.iter().map(|p| p.content.clone()).collect();
        session.write_with(&mut merged, |w| {
            let mut w = io::BufWriter::with_capacity(64 * 1024, w);
            w.write_all(&header)?;
            for (i, c) in contents.iter().enumerate() {
                if i > 0 {
                    w.write_all(&demarcator)?;
                }
                let mut r: Box<dyn Read + Send> = c.reader()?;
                io::copy(&mut r, &mut w)?;
            }
            w.write_all(&footer)?;
            w.flush()
        })?;
        merged.set_attr("merge.count", &parents.len().to_string());
        merged.set_attr("merge.bin.age", &age_ms.max(0).to_string());
        merged.set_attr("merge.reason", reason);
        if self.defragment
            && let Some(name) = first.attr("segment.original.filename").filter(|n| !n.is_empty())
        {
            let name = name.to_string();
            merged.set_attr("filename", &name);
        }
        Ok(merged)
    }
}

/// Defragment: the bin key, or why the flowfile cannot be defragmented.
fn fragment_key(ff: &FlowFile) -> Result<String, String> {
    let id = ff.attr("fragment.identifier").filter(|v| !v.is_empty()).ok_or("no fragment.identifier attribute")?;
    match ff.attr("fragment.count").map(|v| v.trim().parse::<usize>()) {
        Some(Ok(n)) if n > 0 => {}
        Some(_) => {
            return Err(format!(
                "fragment.count is not a positive whole number: '{}'",
                ff.attr("fragment.count").unwrap_or_default()
            ));
        }
        None => return Err("no fragment.count attribute".into()),
    }
    match ff.attr("fragment.index").map(|v| v.trim().parse::<i64>()) {
        Some(Ok(_)) => Ok(id.to_string()),
        Some(Err(_)) => {
            Err(format!("fragment.index is not a whole number: '{}'", ff.attr("fragment.index").unwrap_or_default()))
        }
        None => Err("no fragment.index attribute".into()),
    }
}

/// Bin-Packing: the group key (the correlation attribute's value; `\0` for "none").
fn correlation_key(ctx: &ProcessContext, ff: &FlowFile) -> Result<String, BadInput> {
    if ctx.property(CORRELATION).is_none_or(|v| v.is_empty()) {
        return Ok(String::new());
    }
    let name = eval_prop(ctx, CORRELATION, &ff.attributes)?;
    Ok(match ff.attributes.get(&name) {
        Some(v) => format!("={v}"),
        None => "\0".to_string(),
    })
}

/// Attributes with one value among the parents that have them.
fn unique_attributes(parents: &[FlowFile]) -> Vec<(String, String)> {
    let mut seen: Vec<(String, Option<String>)> = Vec::new();
    for p in parents {
        for (k, v) in p.attributes.iter() {
            if k == "uuid" {
                continue;
            }
            match seen.iter_mut().find(|(name, _)| name == k) {
                Some((_, val)) => {
                    if val.as_deref() != Some(v) {
                        *val = None;
                    }
                }
                None => seen.push((k.to_string(), Some(v.to_string()))),
            }
        }
    }
    seen.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn runner(props: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "MergeContent");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r
    }

    #[test]
    fn bin_packing_merges_what_is_queued_with_delimiters() {
        let mut r = runner(&[(DELIMITER, DELIM_TEXT), (HEADER, "["), (FOOTER, "]"), (DEMARCATOR, ",")]);
        for s in ["a", "b", "c"] {
            r.enqueue(s, &[("kind", "x")]);
        }
        r.run(1).unwrap();
        let merged = r.output(MERGED);
        assert_eq!(merged.len(), 1);
        assert_eq!(TestRunner::content(&merged[0]), "[a,b,c]");
        assert_eq!(merged[0].attr("merge.count"), Some("3"));
        assert_eq!(merged[0].attr("kind"), Some("x"));
        let originals = r.output(crate::ORIGINAL);
        assert_eq!(originals.len(), 3);
        let uuid = merged[0].id.to_string();
        assert!(originals.iter().all(|o| o.attr("merge.uuid") == Some(uuid.as_str())));
        assert!(r.events().iter().any(|e| format!("{:?}", e.event_type) == "Join" && e.parent_uuids.len() == 3));
    }

    #[test]
    fn max_entries_and_correlation() {
        let mut r = runner(&[(MAX_ENTRIES, "2"), (CORRELATION, "group")]);
        for (c, g) in [("1", "a"), ("2", "b"), ("3", "a"), ("4", "a"), ("5", "b")] {
            r.enqueue(c, &[("group", g)]);
        }
        r.run(1).unwrap();
        let mut got: Vec<String> = r.output(MERGED).iter().map(TestRunner::content).collect();
        got.sort();
        assert_eq!(got, vec!["13", "25", "4"]);
    }

    #[test]
    fn incomplete_bins_wait_in_the_queue_then_time_out() {
        let mut r = runner(&[(MIN_ENTRIES, "3"), (MAX_AGE, "300 millis")]);
        r.enqueue("a", &[]);
        r.enqueue("b", &[]);
        r.run(1).unwrap();
        assert_eq!(r.count(MERGED), 0);
        // Back in the queue, in order, not penalized.
        let q = r.input_queue();
        assert_eq!(q.iter().map(TestRunner::content).collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(q.iter().all(|f| f.penalty_until_millis == 0));
        r.enqueue("c", &[]);
        r.run(1).unwrap();
        assert_eq!(TestRunner::content(&r.output(MERGED)[0]), "abc");
        // A lone flowfile waits until Max Bin Age.
        r.enqueue("d", &[]);
        r.run(1).unwrap();
        assert_eq!(r.count(MERGED), 1);
        std::thread::sleep(std::time::Duration::from_millis(350));
        r.run(1).unwrap();
        let merged = r.output(MERGED);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[1].attr("merge.reason"), Some("TIMEOUT"));
    }

    #[test]
    fn max_group_size() {
        let mut r = runner(&[(MAX_SIZE, "4 B")]);
        for s in ["aa", "bb", "cc", "ddddddd"] {
            r.enqueue(s, &[]);
        }
        r.run(1).unwrap();
        let got: Vec<String> = r.output(MERGED).iter().map(TestRunner::content).collect();
        assert_eq!(got, vec!["aabb", "cc", "ddddddd"]);
    }

    #[test]
    fn too_many_bins_evicts_the_oldest() {
        let mut r = runner(&[(MIN_ENTRIES, "10"), (MAX_BINS, "2"), (CORRELATION, "g")]);
        for g in ["a", "b", "c"] {
            r.enqueue(g, &[("g", g)]);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        r.run(1).unwrap();
        let merged = r.output(MERGED);
        assert_eq!(merged.len(), 1);
        assert_eq!(TestRunner::content(&merged[0]), "a");
        assert_eq!(merged[0].attr("merge.reason"), Some("BIN_MANAGER_FULL"));
        assert_eq!(r.input_queue().len(), 2);
    }

    #[test]
    fn defragment_orders_by_index_and_restores_filename() {
        let mut r = runner(&[(STRATEGY, DEFRAGMENT)]);
        for (c, i) in [("world", "2"), ("hello ", "1")] {
            r.enqueue(
                c,
                &[
                    ("fragment.identifier", "x"),
                    ("fragment.index", i),
                    ("fragment.count", "3"),
                    ("segment.original.filename", "f.txt"),
                ],
            );
        }
        r.run(1).unwrap();
        assert_eq!(r.count(MERGED), 0);
        r.enqueue(
            "!",
            &[
                ("fragment.identifier", "x"),
                ("fragment.index", "3"),
                ("fragment.count", "3"),
                ("segment.original.filename", "f.txt"),
            ],
        );
        r.run(1).unwrap();
        let merged = r.output(MERGED);
        assert_eq!(TestRunner::content(&merged[0]), "hello world!");
        assert_eq!(merged[0].attr("filename"), Some("f.txt"));
    }

    #[test]
    fn defragment_failures() {
        let mut r = runner(&[(STRATEGY, DEFRAGMENT), (MAX_AGE, "100 millis")]);
        r.enqueue("no attrs", &[]);
        r.enqueue("bad count", &[("fragment.identifier", "y"), ("fragment.index", "1"), ("fragment.count", "zero")]);
        r.enqueue("1", &[("fragment.identifier", "d"), ("fragment.index", "1"), ("fragment.count", "2")]);
        r.enqueue("1 again", &[("fragment.identifier", "d"), ("fragment.index", "1"), ("fragment.count", "2")]);
        r.enqueue("lonely", &[("fragment.identifier", "z"), ("fragment.index", "1"), ("fragment.count", "2")]);
        r.run(1).unwrap();
        let failed = r.output(crate::FAILURE);
        let why: Vec<&str> = failed.iter().map(|f| f.attr(ERROR_ATTR).unwrap()).collect();
        assert!(why.iter().any(|w| w.contains("no fragment.identifier")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("fragment.count is not")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("duplicate fragment.index")), "{why:?}");
        assert_eq!(r.input_queue().len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(150));
        r.run(1).unwrap();
        let failed = r.output(crate::FAILURE);
        assert!(failed.last().unwrap().attr(ERROR_ATTR).unwrap().contains("only 1 of 2"));
        assert!(r.input_queue().is_empty());
    }

    #[test]
    fn keep_all_unique_attributes() {
        let mut r = runner(&[(ATTR_STRATEGY, KEEP_UNIQUE)]);
        r.enqueue("a", &[("same", "1"), ("only_a", "x"), ("diff", "1")]);
        r.enqueue("b", &[("same", "1"), ("diff", "2")]);
        r.run(1).unwrap();
        let m = &r.output(MERGED)[0];
        assert_eq!(m.attr("same"), Some("1"));
        assert_eq!(m.attr("only_a"), Some("x"));
        assert_eq!(m.attr("diff"), None);
    }
}
