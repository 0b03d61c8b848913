//! The process session: a processor's unit of work. It hands out flowfiles, tracks what
//! the processor does with each, and commits atomically: the flowfile repository records
//! the queue changes, provenance events are derived from what happened (never written by
//! hand in processors), and only then are outputs enqueued. An error rolls everything back.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use sluice_provenance::{EventType, ProvenanceEvent};
use uuid::Uuid;

use crate::connection::Connection;
use crate::flowfile::FlowFile;
use crate::node::{ProcessorNode, RunConfig, Wiring};
use crate::processor::ProcessError;
use crate::repository::RepoChange;
use crate::runtime::Runtime;

#[derive(Clone, Debug)]
enum Origin {
    Input(usize),
    Created,
    Child(Vec<Uuid>),
    Clone(Uuid),
}

#[derive(Debug)]
enum State {
    Outstanding,
    Transferred(Arc<str>),
    Removed,
    Returned,
}

#[derive(Debug)]
struct Mark {
    event: EventType,
    transit_uri: Option<String>,
    details: Option<String>,
}

struct Record {
    origin: Origin,
    original: Option<FlowFile>,
    state: State,
    current: Option<FlowFile>,
    mark: Option<Mark>,
}

/// One unit of work of one processor task.
pub struct ProcessSession<'a> {
    node: &'a ProcessorNode,
    rt: &'a Runtime,
    run: &'a RunConfig,
    wiring: Arc<Wiring>,
    records: Vec<Record>,
    expired: Vec<(usize, FlowFile)>,
    error: Option<String>,
    rr: usize,
    settled: bool,
    rel_names: Vec<Arc<str>>,
    on_commit: Vec<CommitCallback>,
    now: i64,
}

/// A callback run once the session is settled: `true` after a successful commit (the
/// outputs are recorded in the flowfile repository and enqueued), `false` when it was rolled
/// back (or its commit failed). See [`ProcessSession::on_commit`].
pub type CommitCallback = Box<dyn FnOnce(bool) + Send>;

impl<'a> ProcessSession<'a> {
    pub(crate) fn new(node: &'a ProcessorNode, rt: &'a Runtime, run: &'a RunConfig) -> Self {
        let wiring = node.wiring.read().clone();
        ProcessSession {
            node,
            rt,
            run,
            wiring,
            records: Vec::new(),
            expired: Vec::new(),
            error: None,
            rr: 0,
            settled: false,
            rel_names: Vec::new(),
            on_commit: Vec::new(),
            now: rt.now(),
        }
    }

    /// Whether the session touched any flowfile (a source that found nothing did no work).
    pub fn did_work(&self) -> bool {
        !self.records.is_empty() || !self.expired.is_empty()
    }

    /// Registers `f` to run once this session is settled: with `true` right after a
    /// successful commit (its outputs are recorded as durably as the repository promises and
    /// enqueued), with `false` when the session is rolled back, its commit fails, or it is
    /// dropped unsettled. Sources that acknowledge a remote peer (ListenHTTP answering 200)
    /// use it so that the peer is told "accepted" only once its data is committed.
    /// Callbacks run on the thread that settles the session, in registration order; keep them
    /// short (send on a channel).
    pub fn on_commit(&mut self, f: CommitCallback) {
        self.on_commit.push(f);
    }

    fn run_callbacks(&mut self, committed: bool) {
        for f in std::mem::take(&mut self.on_commit) {
            f(committed);
        }
    }

    /// Current time (the engine clock).
    pub fn now_millis(&self) -> i64 {
        self.rt.now()
    }

    /// Takes the next ready flowfile from the incoming connections (round robin).
    pub fn get(&mut self) -> Option<FlowFile> {
        self.get_batch(1).pop()
    }

    /// Takes up to `max` ready flowfiles from the incoming connections.
    pub fn get_batch(&mut self, max: usize) -> Vec<FlowFile> {
        let mut out = Vec::with_capacity(max.min(1024));
        let n = self.wiring.incoming.len();
        if n == 0 || max == 0 {
            return out;
        }
        let now = self.rt.now();
        let mut expired = Vec::new();
        for i in 0..n {
            if out.len() >= max {
                break;
            }
            let idx = (self.rr + i) % n;
            let start = out.len();
            self.wiring.incoming[idx].poll(max - out.len(), now, &mut out, &mut expired);
            for ff in &mut out[start..] {
                ff.session_slot = self.records.len() as u32;
                self.records.push(Record {
                    origin: Origin::Input(idx),
                    original: Some(ff.clone()),
                    state: State::Outstanding,
                    current: None,
                    mark: None,
                });
            }
            self.expired.extend(expired.drain(..).map(|f| (idx, f)));
        }
        self.rr = self.rr.wrapping_add(1);
        out
    }

    /// Number of flowfiles waiting in the incoming connections (including penalized).
    pub fn queued(&self) -> u64 {
        self.wiring.incoming.iter().map(|c| c.queued_count().saturating_sub(c.in_flight())).sum()
    }

    /// Creates a new flowfile with no content.
    pub fn create(&mut self) -> FlowFile {
        let mut ff = FlowFile::new_at(crate::content::Content::Empty, self.now);
        self.track(&mut ff, Origin::Created);
        ff
    }

    /// Creates a child of `parent`: it inherits the parent's attributes (but gets its own
    /// uuid) and lineage start. Recorded as a FORK of the parent.
    pub fn create_child(&mut self, parent: &FlowFile) -> FlowFile {
        let mut ff = FlowFile::new_at(crate::content::Content::Empty, self.now);
        inherit(&mut ff, parent);
        self.track(&mut ff, Origin::Child(vec![parent.id]));
        ff
    }

    /// Creates one flowfile from several parents (a merge), recorded as a JOIN. It takes the
    /// attributes that all parents share and the oldest lineage start.
    pub fn create_merged(&mut self, parents: &[FlowFile]) -> FlowFile {
        let mut ff = FlowFile::new_at(crate::content::Content::Empty, self.now);
        if let Some(first) = parents.first() {
            for (k, v) in first.attributes.iter() {
                if k == crate::attributes::UUID {
                    continue;
                }
                if parents[1..].iter().all(|p| p.attr(k) == Some(v)) {
                    ff.attributes.insert(k, v);
                }
            }
            ff.lineage_start_millis =
                parents.iter().map(|p| p.lineage_start_millis).min().unwrap_or(ff.lineage_start_millis);
        }
        self.track(&mut ff, Origin::Child(parents.iter().map(|p| p.id).collect()));
        ff
    }

    /// A copy of `ff` with its own uuid, same attributes and content; recorded as CLONE.
    pub fn clone_flowfile(&mut self, ff: &FlowFile) -> FlowFile {
        let mut c = FlowFile::new_at(ff.content.clone(), self.now);
        inherit(&mut c, ff);
        self.track(&mut c, Origin::Clone(ff.id));
        c
    }

    fn track(&mut self, ff: &mut FlowFile, origin: Origin) {
        ff.session_slot = self.records.len() as u32;
        self.records.push(Record { origin, original: None, state: State::Outstanding, current: None, mark: None });
    }

    /// Replaces the content of `ff` with `data`.
    pub fn write(&mut self, ff: &mut FlowFile, data: impl Into<Bytes>) -> Result<(), ProcessError> {
        ff.content = self.rt.content.write_bytes(data.into())?;
        Ok(())
    }

    /// Replaces the content of `ff` with what `f` writes, streamed to the repository with
    /// bounded memory whatever its size.
    pub fn write_with(
        &mut self,
        ff: &mut FlowFile,
        f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), ProcessError> {
        let mut w = self.rt.content.writer()?;
        f(&mut w)?;
        ff.content = w.finish()?;
        Ok(())
    }

    /// Streams the content of `ff`.
    pub fn read(&self, ff: &FlowFile) -> Result<Box<dyn Read + Send>, ProcessError> {
        Ok(ff.content.reader()?)
    }

    /// The whole content of `ff` in memory; for formats that need it whole. Prefer `read`.
    pub fn read_bytes(&self, ff: &FlowFile) -> Result<Bytes, ProcessError> {
        Ok(ff.content.to_bytes()?)
    }

    /// Sets an attribute.
    pub fn put_attribute(&mut self, ff: &mut FlowFile, name: &str, value: &str) {
        ff.set_attr(name, value);
    }

    /// Removes an attribute.
    pub fn remove_attribute(&mut self, ff: &mut FlowFile, name: &str) {
        ff.remove_attr(name);
    }

    /// Penalizes `ff`: wherever it goes, it is not handed out again for the processor's
    /// penalty duration.
    pub fn penalize(&mut self, ff: &mut FlowFile) {
        ff.penalty_until_millis = self.rt.now() + self.run.penalty_ms;
    }

    /// Declares that `ff` was received from outside (RECEIVE instead of CREATE).
    pub fn mark_received(&mut self, ff: &FlowFile, transit_uri: &str) {
        self.mark(ff, EventType::Receive, Some(transit_uri.to_string()));
    }

    /// Declares that the content of `ff` was fetched from outside (FETCH).
    pub fn mark_fetched(&mut self, ff: &FlowFile, transit_uri: &str) {
        self.mark(ff, EventType::Fetch, Some(transit_uri.to_string()));
    }

    /// Declares that `ff` was sent outside (SEND).
    pub fn mark_sent(&mut self, ff: &FlowFile, transit_uri: &str) {
        self.mark(ff, EventType::Send, Some(transit_uri.to_string()));
    }

    /// Adds free-text details to the provenance event of `ff`.
    pub fn set_details(&mut self, ff: &FlowFile, details: impl Into<String>) {
        let details = details.into();
        if let Some(r) = self.records.get_mut(ff.session_slot as usize) {
            match &mut r.mark {
                Some(m) => m.details = Some(details),
                None => r.mark = Some(Mark { event: EventType::Unknown, transit_uri: None, details: Some(details) }),
            }
        }
    }

    fn mark(&mut self, ff: &FlowFile, event: EventType, uri: Option<String>) {
        if let Some(r) = self.records.get_mut(ff.session_slot as usize) {
            let details = r.mark.take().and_then(|m| m.details);
            r.mark = Some(Mark { event, transit_uri: uri, details });
        }
    }

    /// Sends `ff` to relationship `rel`.
    pub fn transfer(&mut self, ff: FlowFile, rel: &str) {
        let slot = ff.session_slot as usize;
        let rel = match self.rel_names.iter().find(|r| &***r == rel) {
            Some(r) => r.clone(),
            None => {
                let r: Arc<str> = Arc::from(rel);
                self.rel_names.push(r.clone());
                r
            }
        };
        match self.records.get_mut(slot) {
            Some(r) if matches!(r.state, State::Outstanding) => {
                r.state = State::Transferred(rel);
                r.current = Some(ff);
            }
            _ => {
                self.error =
                    Some(format!("flowfile {} does not belong to this session or was already transferred", ff.id))
            }
        }
    }

    /// Gives an input flowfile back to the queue it came from, unchanged and not
    /// penalized, as if it had not been taken (e.g. a merge whose bin is not complete yet).
    /// Changes made to it in this session are discarded.
    pub fn return_to_queue(&mut self, ff: FlowFile) {
        let slot = ff.session_slot as usize;
        match self.records.get_mut(slot) {
            Some(r) if matches!(r.state, State::Outstanding) && matches!(r.origin, Origin::Input(_)) => {
                r.state = State::Returned;
                r.current = Some(ff);
            }
            _ => {
                self.error = Some(format!("flowfile {} is not an input of this session, or was already settled", ff.id))
            }
        }
    }

    /// Removes `ff` from the flow (DROP).
    pub fn remove(&mut self, ff: FlowFile) {
        let slot = ff.session_slot as usize;
        match self.records.get_mut(slot) {
            Some(r) if matches!(r.state, State::Outstanding) => {
                r.state = State::Removed;
                r.current = Some(ff);
            }
            _ => {
                self.error = Some(format!("flowfile {} does not belong to this session or was already settled", ff.id))
            }
        }
    }

    /// Undoes everything: inputs go back to their queues (penalized if asked), new
    /// flowfiles are discarded.
    pub fn rollback(mut self, penalize: bool) {
        self.rollback_inner(penalize);
    }

    fn rollback_inner(&mut self, penalize: bool) {
        if self.settled {
            return;
        }
        self.settled = true;
        self.run_callbacks(false);
        let now = self.rt.now();
        let n = self.wiring.incoming.len();
        let mut back: Vec<Vec<FlowFile>> = vec![Vec::new(); n];
        for r in self.records.drain(..) {
            if let (Origin::Input(idx), Some(mut ff)) = (r.origin, r.original) {
                if penalize {
                    ff.penalty_until_millis = now + self.run.penalty_ms;
                }
                back[idx].push(ff);
            }
        }
        for (idx, ff) in self.expired.drain(..) {
            back[idx].push(ff);
        }
        for (idx, ffs) in back.into_iter().enumerate() {
            if !ffs.is_empty() {
                self.wiring.incoming[idx].requeue(ffs, now);
            }
        }
    }

    /// Commits the session atomically; on error everything is rolled back (inputs
    /// penalized) and the error returned.
    pub fn commit(mut self) -> Result<(), ProcessError> {
        match self.commit_inner() {
            Ok(()) => {
                self.run_callbacks(true);
                Ok(())
            }
            Err(e) => {
                self.rollback_inner(true);
                Err(e)
            }
        }
    }

    fn commit_inner(&mut self) -> Result<(), ProcessError> {
        if let Some(e) = self.error.take() {
            return Err(ProcessError::Session(e));
        }
        if self.records.is_empty() && self.expired.is_empty() {
            self.settled = true;
            return Ok(());
        }
        if let Some(r) = self.records.iter().find(|r| matches!(r.state, State::Outstanding)) {
            let id = r.original.as_ref().map(|f| f.id.to_string()).unwrap_or_else(|| "a new flowfile".into());
            return Err(ProcessError::Session(format!("{id} was neither transferred nor removed")));
        }
        let now = self.rt.now();
        let prov_on = self.rt.provenance.is_some();
        let node = self.node;
        // The strings every event of this commit carries are copied once per commit: events
        // clone them thousands of times here and the provenance writer drops them on its
        // thread, and on the engine-wide originals those reference counts bounced between
        // the cores (measured: ~5% of the CPU of the throughput benchmark).
        let fresh = |s: &str| -> Arc<str> { Arc::from(s) };
        let ev = EventFactory {
            now,
            component_id: fresh(&node.id),
            flow_revision: fresh(&self.rt.flow_revision.read()),
            name: match node.context.read().as_ref() {
                Some(c) => fresh(&c.name),
                None => fresh(&node.name()),
            },
            type_name: fresh(&node.type_arc),
            queues: self.wiring.incoming.iter().map(|c| fresh(&c.id)).collect(),
        };
        let n_in = self.wiring.incoming.len();
        // Held until the outputs are enqueued: removing a connection rewires under the write
        // lock, so no commit can enqueue into a connection after it was removed.
        let wiring_guard = self.node.wiring.read_recursive();
        let out_wiring = wiring_guard.clone();

        let mut outputs: Vec<(Arc<Connection>, Vec<FlowFile>)> = Vec::new();
        let mut retries: Vec<(usize, FlowFile)> = Vec::new();
        let mut returned: Vec<(usize, FlowFile)> = Vec::new();
        let mut dequeued: Vec<(usize, Uuid)> = Vec::new();
        let mut settle: Vec<(u64, u64)> = vec![(0, 0); n_in];
        // Most flowfiles yield one or two events: sized once, as growing copies ~300 B each.
        let mut events: Vec<ProvenanceEvent> =
            Vec::with_capacity(if prov_on { self.records.len() * 2 + self.expired.len() } else { 0 });
        let mut forks: Vec<(Uuid, Vec<Uuid>, usize)> = Vec::new();
        let (mut in_count, mut in_bytes, mut out_count, mut out_bytes) = (0u64, 0u64, 0u64, 0u64);

        for (idx, ff) in self.expired.iter() {
            settle[*idx].0 += 1;
            settle[*idx].1 += ff.size();
            dequeued.push((*idx, ff.id));
            if prov_on {
                events.push(ev.event(
                    EventType::Expire,
                    ff,
                    Some(&ev.queues[*idx]),
                    None,
                    Some("expired in queue".into()),
                ));
            }
        }

        let n_records = self.records.len();
        for ri in 0..n_records {
            let r = &mut self.records[ri];
            let source_idx = match r.origin {
                Origin::Input(idx) => Some(idx),
                _ => None,
            };
            if let (Some(idx), Some(orig)) = (source_idx, &r.original) {
                in_count += 1;
                in_bytes += orig.size();
                // settled below unless retried
                let _ = idx;
            }
            if matches!(r.state, State::Returned) {
                if let (Some(idx), Some(orig)) = (source_idx, &r.original) {
                    in_count -= 1;
                    in_bytes -= orig.size();
                    returned.push((idx, orig.clone()));
                }
                continue;
            }
            let mut ff = r.current.take().expect("settled records hold their flowfile");
            let source_q = source_idx.map(|i| &ev.queues[i]);
            let rel = match &r.state {
                State::Removed => None,
                State::Transferred(rel) => Some(rel.clone()),
                State::Outstanding | State::Returned => unreachable!("handled above"),
            };
            // Retry: back to the input queue, penalized with doubling back-off.
            if let (Some(rel), Some(idx), Some((rels, attempts, max_backoff))) = (&rel, source_idx, &self.run.retry) {
                let orig = r.original.as_ref().expect("inputs keep their original");
                if rels.iter().any(|x| x == rel) && orig.retry_count < *attempts {
                    let mut back = orig.clone();
                    back.retry_count += 1;
                    let backoff =
                        self.run.penalty_ms.saturating_mul(1i64 << (orig.retry_count.min(30))).min(*max_backoff);
                    back.penalty_until_millis = now + backoff;
                    retries.push((idx, back));
                    in_count -= 1;
                    in_bytes -= orig.size();
                    continue;
                }
            }
            if let Some(idx) = source_idx {
                let orig = r.original.as_ref().expect("inputs keep their original");
                settle[idx].0 += 1;
                settle[idx].1 += orig.size();
                dequeued.push((idx, orig.id));
            }
            ff.retry_count = 0;
            // Provenance for what happened to the flowfile itself.
            if prov_on {
                let mark = r.mark.take();
                let (details, uri, marked) = match mark {
                    Some(m) => (m.details, m.transit_uri, (m.event != EventType::Unknown).then_some(m.event)),
                    None => (None, None, None),
                };
                let rel_ref = rel.as_ref();
                match &r.origin {
                    Origin::Created => {
                        if !matches!(r.state, State::Removed) {
                            let t = marked.unwrap_or(EventType::Create);
                            let mut e = ev.event(t, &ff, None, rel_ref, details);
                            e.transit_uri = uri;
                            events.push(e);
                        }
                    }
                    Origin::Child(parents) if parents.len() == 1 => {
                        match forks.iter_mut().find(|(p, _, _)| *p == parents[0]) {
                            Some(f) => f.1.push(ff.id),
                            None => forks.push((parents[0], vec![ff.id], ri)),
                        }
                        if let Some(t) = marked {
                            let mut e = ev.event(t, &ff, None, rel_ref, details);
                            e.transit_uri = uri;
                            events.push(e);
                        }
                    }
                    Origin::Child(parents) => {
                        let mut e = ev.event(EventType::Join, &ff, None, rel_ref, details);
                        e.parent_uuids = parents.clone();
                        events.push(e);
                    }
                    Origin::Clone(parent) => {
                        let mut e = ev.event(EventType::Clone, &ff, None, rel_ref, details);
                        e.flowfile_uuid = *parent;
                        e.child_uuids = vec![ff.id];
                        events.push(e);
                    }
                    Origin::Input(_) => {
                        let orig = r.original.as_ref().expect("inputs keep their original");
                        let content_changed = !ff.content.same_as(&orig.content);
                        let attrs_changed = !ff.attributes.ptr_eq(&orig.attributes) && ff.attributes != orig.attributes;
                        let t = match (marked, &r.state) {
                            (Some(t), _) => Some(t),
                            (None, _) if content_changed => Some(EventType::ContentModified),
                            (None, State::Transferred(_)) if self.node.descriptor.routes => Some(EventType::Route),
                            (None, _) if attrs_changed => Some(EventType::AttributesModified),
                            (None, State::Removed) => None,
                            (None, _) => Some(EventType::Route),
                        };
                        if let Some(t) = t {
                            let mut e = ev.event(t, &ff, source_q, rel_ref, details);
                            e.transit_uri = uri;
                            if attrs_changed {
                                e.previous_attributes = Some(orig.attributes.shared().clone());
                            }
                            if content_changed {
                                e.previous_content = orig.content.location();
                            }
                            events.push(e);
                        }
                    }
                }
            }
            let Some(rel) = rel else {
                if prov_on && !matches!(r.origin, Origin::Created) {
                    events.push(ev.event(EventType::Drop, &ff, source_q, None, Some("removed by processor".into())));
                }
                continue;
            };
            if self.run.auto_terminated.contains(&rel) {
                if prov_on {
                    events.push(ev.event(
                        EventType::Drop,
                        &ff,
                        source_q,
                        Some(&rel),
                        Some(format!("Auto-Terminated by {rel} Relationship")),
                    ));
                }
                continue;
            }
            let targets = match out_wiring.targets(&rel) {
                Some(t) if !t.is_empty() => t,
                _ => {
                    return Err(ProcessError::Session(format!(
                        "relationship '{rel}' of {} is neither connected nor auto-terminated",
                        node.name()
                    )));
                }
            };
            out_count += targets.len() as u64;
            out_bytes += ff.size() * targets.len() as u64;
            let (last, others) = targets.split_last().expect("targets is not empty");
            for conn in others {
                let mut c = FlowFile::new_at(ff.content.clone(), now);
                inherit(&mut c, &ff);
                if prov_on {
                    let mut e = ev.event(
                        EventType::Clone,
                        &ff,
                        None,
                        Some(&rel),
                        Some(format!("cloned to connection {}", conn.id)),
                    );
                    e.child_uuids = vec![c.id];
                    events.push(e);
                }
                push_output(&mut outputs, conn, c, n_records);
            }
            push_output(&mut outputs, last, ff, n_records);
        }
        if prov_on {
            for (parent, children, ri) in forks {
                let parent_ff = self.records[ri].original.clone();
                let mut e = match parent_ff.or_else(|| self.parent_snapshot(parent)) {
                    Some(p) => ev.event(EventType::Fork, &p, None, None, None),
                    None => continue,
                };
                e.flowfile_uuid = parent;
                e.child_uuids = children;
                events.push(e);
            }
        }

        // Record the commit durably, then make the outputs visible.
        let durable = self.rt.flowfiles.durability() != crate::repository::Durability::Memory;
        let mut changes: Vec<RepoChange<'_>> =
            Vec::with_capacity(if durable { dequeued.len() + out_count as usize + retries.len() } else { 0 });
        for (idx, id) in dequeued.iter().filter(|_| durable) {
            changes.push(RepoChange::Dequeue { queue: &self.wiring.incoming[*idx].id, id: *id });
        }
        for (conn, ffs) in outputs.iter().filter(|_| durable) {
            for f in ffs {
                changes.push(RepoChange::Enqueue { queue: &conn.id, flowfile: f });
            }
        }
        for (idx, f) in retries.iter().filter(|_| durable) {
            changes.push(RepoChange::Enqueue { queue: &self.wiring.incoming[*idx].id, flowfile: f });
        }
        if let Some(prov) = &self.rt.provenance {
            let first = prov.allocate_ids(events.len() as u64);
            for (i, e) in events.iter_mut().enumerate() {
                e.id = first + i as u64;
            }
        }
        let (seq, events) =
            self.rt.flowfiles.commit_owned(&changes, events).map_err(|e| ProcessError::Repository(e.to_string()))?;
        drop(changes);
        self.settled = true;
        self.records.clear();
        self.expired.clear();
        for (conn, ffs) in outputs {
            conn.enqueue(ffs, now);
        }
        drop(wiring_guard);
        let mut retry_back: Vec<Vec<FlowFile>> = vec![Vec::new(); n_in];
        for (idx, f) in retries.into_iter().chain(returned) {
            retry_back[idx].push(f);
        }
        for (idx, ffs) in retry_back.into_iter().enumerate() {
            if !ffs.is_empty() {
                self.wiring.incoming[idx].requeue(ffs, now);
            }
        }
        for (idx, (count, bytes)) in settle.into_iter().enumerate() {
            self.wiring.incoming[idx].settle(count, bytes);
        }
        let c = &node.counters;
        c.flowfiles_in.fetch_add(in_count, Ordering::Relaxed);
        c.bytes_in.fetch_add(in_bytes, Ordering::Relaxed);
        c.flowfiles_out.fetch_add(out_count, Ordering::Relaxed);
        c.bytes_out.fetch_add(out_bytes, Ordering::Relaxed);
        if let Some(prov) = &self.rt.provenance
            && !events.is_empty()
            && !self.rt.provenance_by_repository
        {
            prov.submit(events, seq);
        }
        Ok(())
    }

    fn parent_snapshot(&self, id: Uuid) -> Option<FlowFile> {
        self.records.iter().filter_map(|r| r.original.as_ref()).find(|f| f.id == id).cloned()
    }
}

impl Drop for ProcessSession<'_> {
    fn drop(&mut self) {
        // A session dropped without commit or rollback (a panic in a processor) returns its
        // inputs so that nothing is lost.
        self.rollback_inner(true);
    }
}

/// Adds `ff` to the batch for `conn`; `hint` sizes a new batch (the session's record count).
fn push_output(outputs: &mut Vec<(Arc<Connection>, Vec<FlowFile>)>, conn: &Arc<Connection>, ff: FlowFile, hint: usize) {
    match outputs.iter_mut().find(|(c, _)| Arc::ptr_eq(c, conn)) {
        Some((_, v)) => v.push(ff),
        None => {
            let mut v = Vec::with_capacity(hint);
            v.push(ff);
            outputs.push((conn.clone(), v));
        }
    }
}

fn inherit(child: &mut FlowFile, parent: &FlowFile) {
    let id = child.attributes.get(crate::attributes::UUID).map(crate::attributes::AttrStr::new);
    child.attributes = parent.attributes.clone();
    if let Some(id) = id {
        child.attributes.insert_arc(crate::attributes::AttrStr::new_static(crate::attributes::UUID), id);
    }
    child.lineage_start_millis = parent.lineage_start_millis;
}

struct EventFactory {
    now: i64,
    component_id: Arc<str>,
    flow_revision: Arc<str>,
    name: Arc<str>,
    type_name: Arc<str>,
    /// This commit's copies of the incoming connections' ids, by input index.
    queues: Vec<Arc<str>>,
}

impl EventFactory {
    fn event(
        &self,
        t: EventType,
        ff: &FlowFile,
        source_queue: Option<&Arc<str>>,
        rel: Option<&Arc<str>>,
        details: Option<String>,
    ) -> ProvenanceEvent {
        ProvenanceEvent {
            id: 0,
            event_type: t,
            timestamp_millis: self.now,
            duration_millis: 0,
            flowfile_uuid: ff.id,
            parent_uuids: Vec::new(),
            child_uuids: Vec::new(),
            component_id: self.component_id.clone(),
            component_type: self.type_name.clone(),
            component_name: self.name.clone(),
            relationship: rel.cloned(),
            details,
            transit_uri: None,
            previous_attributes: None,
            updated_attributes: ff.attributes.shared().clone(),
            previous_content: None,
            updated_content: ff.content.location(),
            size: ff.size(),
            lineage_start_millis: ff.lineage_start_millis,
            flow_revision: self.flow_revision.clone(),
            source_queue_id: source_queue.cloned(),
        }
    }
}
