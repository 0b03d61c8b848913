//! PublishNATS: publishes each flowfile's content as a NATS message, to core NATS or to a
//! JetStream stream.
//!
//! A flowfile goes to success only once NATS has it: in core mode after the client's
//! buffer was flushed to the server, in JetStream mode after the stream acknowledged the
//! message. JetStream messages carry `Nats-Msg-Id` = the flowfile's uuid, so a retry after a
//! lost acknowledgement is dropped by the stream's duplicate window instead of stored twice.
//! While the server is unreachable no flowfile is taken (bulletin, yield, back-off).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use parking_lot::Mutex;
use regex::Regex;
use sluice_engine::{
    FlowFile, InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};
use tokio::sync::mpsc;

use super::common::{
    JETSTREAM, MODE, Notice, config, connect, connection_properties, display_server, mode_property, post_notices,
    servers, validate_servers,
};
use crate::sql::{Backoff, recovered, unavailable};

const SUBJECT: &str = "Subject";
const STREAM: &str = "Stream Name";
const STREAM_SUBJECTS: &str = "Stream Subjects";
const HEADERS: &str = "Attributes to Send as Headers (Regex)";
const BATCH: &str = "Batch Size";
const ACK_TIMEOUT: &str = "Ack Timeout";
/// Why a flowfile was not published.
const ERROR_ATTR: &str = "nats.error";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PublishNats::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "PublishNATS",
        "Publishes the content of each flowfile as a NATS message on a subject, with selected attributes as headers. Core \
         mode: success once the message is flushed to the server. JetStream mode: success once the stream acknowledged it \
         (the stream can be created when missing); Nats-Msg-Id is the flowfile uuid, so retries are deduplicated.",
    )
    .tags(&["nats", "jetstream", "publish", "put", "send", "messaging", "pubsub"])
    .input(InputRequirement::Required);
    connection_properties(d)
        .property(
            PropertyDescriptor::new(SUBJECT)
                .description("The subject to publish to (expressions evaluated per flowfile)")
                .required()
                .expression_language()
                .validator(Validator::NonEmpty),
        )
        .property(mode_property("publish without acknowledgement", "publish to a stream and wait for its acknowledgement"))
        .property(
            PropertyDescriptor::new(STREAM)
                .description(
                    "JetStream: a stream created when it does not exist yet (storing Stream Subjects). When empty, a stream must \
                     already store the subject, or the flowfile fails.",
                )
                .depends_on(MODE, &[JETSTREAM]),
        )
        .property(
            PropertyDescriptor::new(STREAM_SUBJECTS)
                .description(
                    "JetStream: comma-separated subjects (wildcards allowed) of a stream created by this processor; the Subject \
                     when empty (which then may not hold expressions)",
                )
                .depends_on(MODE, &[JETSTREAM]),
        )
        .property(
            PropertyDescriptor::new(HEADERS)
                .description("Attributes whose names match this regular expression are sent as message headers")
                .validator(Validator::Regex),
        )
        .property(
            PropertyDescriptor::new(BATCH)
                .description("The most flowfiles published per run (JetStream acknowledgements are awaited together)")
                .required()
                .default_value("100")
                .validator(Validator::POSITIVE_INTEGER),
        )
        .property(
            PropertyDescriptor::new(ACK_TIMEOUT)
                .description("How long to wait for the flush (core) or the stream's acknowledgement (JetStream)")
                .required()
                .default_value("5 sec")
                .validator(Validator::TimePeriod),
        )
        .relationship(Relationship::new(crate::SUCCESS, "Flowfiles that NATS has (flushed, or acknowledged by the stream)"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Flowfiles that cannot be published (bad subject, larger than the server's max payload, no stream for the subject), \
             with nats.error",
        ))
}

struct Connected {
    client: async_nats::Client,
    js: Option<async_nats::jetstream::Context>,
}

/// The processor.
#[derive(Default)]
pub struct PublishNats {
    conn: Mutex<Option<Connected>>,
    notices: Option<(mpsc::Sender<Notice>, Mutex<mpsc::Receiver<Notice>>)>,
    headers: Option<Regex>,
    backoff: Backoff,
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, msg: &str) {
    ff.set_attr(ERROR_ATTR, msg);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

impl PublishNats {
    /// Connects (and creates the stream) if needed; None after reporting a failure.
    fn ensure_connected(
        &self,
        ctx: &ProcessContext,
        timeout: Duration,
    ) -> Result<Option<(async_nats::Client, Option<async_nats::jetstream::Context>)>, ProcessError> {
        let mut guard = self.conn.lock();
        if let Some(c) = &*guard {
            return Ok(Some((c.client.clone(), c.js.clone())));
        }
        let Some((tx, _)) = &self.notices else {
            return Err(ProcessError::other("not started"));
        };
        let client = match connect(ctx, tx.clone(), |o| o) {
            Ok(c) => c,
            Err(e) => {
                unavailable(ctx, &self.backoff, &e);
                return Ok(None);
            }
        };
        let js = if ctx.property(MODE) == Some(JETSTREAM) {
            // The JetStream context spawns a task: create it inside the I/O runtime.
            let mut js = {
                let _rt = crate::io::runtime().enter();
                async_nats::jetstream::new(client.clone())
            };
            js.set_timeout(timeout);
            if let Some(stream) = ctx.property(STREAM).map(str::trim).filter(|s| !s.is_empty()) {
                let subjects: Vec<String> = match ctx.property(STREAM_SUBJECTS).map(str::trim).filter(|s| !s.is_empty())
                {
                    Some(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
                    None => vec![ctx.property(SUBJECT).unwrap_or("").to_string()],
                };
                let cfg =
                    async_nats::jetstream::stream::Config { name: stream.to_string(), subjects, ..Default::default() };
                let r =
                    crate::io::block_on(async { tokio::time::timeout(timeout, js.get_or_create_stream(cfg)).await });
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        unavailable(ctx, &self.backoff, &format!("cannot find or create stream '{stream}': {e}"));
                        return Ok(None);
                    }
                    Err(_) => {
                        unavailable(ctx, &self.backoff, &format!("cannot find or create stream '{stream}': timed out"));
                        return Ok(None);
                    }
                }
            }
            Some(js)
        } else {
            None
        };
        *guard = Some(Connected { client: client.clone(), js: js.clone() });
        Ok(Some((client, js)))
    }

    fn headers_of(&self, ff: &FlowFile) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(re) = &self.headers {
            for (k, v) in ff.attributes.iter() {
                if re.is_match(k) {
                    h.insert(k, v);
                }
            }
        }
        h
    }
}

impl Processor for PublishNats {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.conn.lock().take();
        self.headers = match ctx.property(HEADERS).filter(|s| !s.is_empty()) {
            Some(r) => Some(Regex::new(r).map_err(|e| config(format!("'{HEADERS}': {e}")))?),
            None => None,
        };
        let (tx, rx) = mpsc::channel(64);
        self.notices = Some((tx, Mutex::new(rx)));
        self.backoff.reset();
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        if let Some(c) = self.conn.lock().take() {
            let _ = crate::io::block_on(async { tokio::time::timeout(Duration::from_secs(2), c.client.flush()).await });
        }
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errs = validate_servers(ctx);
        let creates =
            ctx.property(MODE) == Some(JETSTREAM) && ctx.property(STREAM).is_some_and(|s| !s.trim().is_empty());
        let own_subjects = ctx.property(STREAM_SUBJECTS).is_some_and(|s| !s.trim().is_empty());
        if creates && !own_subjects && ctx.property(SUBJECT).is_some_and(|s| s.contains("${")) {
            errs.push(format!("'{STREAM_SUBJECTS}' is needed to create the stream when '{SUBJECT}' holds expressions"));
        }
        errs
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        if let Some((_, rx)) = &self.notices {
            post_notices(ctx, rx);
        }
        if !self.backoff.ready() {
            ctx.yield_now();
            return Ok(());
        }
        let timeout = ctx.duration(ACK_TIMEOUT)?.unwrap_or(Duration::from_secs(5));
        let Some((client, js)) = self.ensure_connected(ctx, timeout)? else {
            return Ok(());
        };
        let server = servers(ctx).first().map(|s| display_server(s)).unwrap_or_default();
        if client.connection_state() != async_nats::connection::State::Connected {
            unavailable(ctx, &self.backoff, &format!("not connected to {server}"));
            return Ok(());
        }
        let batch = ctx.int(BATCH)?.unwrap_or(100).max(1) as usize;
        let flowfiles = session.get_batch(batch);
        if flowfiles.is_empty() {
            return Ok(());
        }
        let max_payload = client.server_info().max_payload;
        // Build every message first: bad input fails alone, without touching NATS.
        let mut ready: Vec<(FlowFile, String, HeaderMap, Bytes)> = Vec::with_capacity(flowfiles.len());
        for ff in flowfiles {
            let subject = match ctx.evaluate(SUBJECT, &ff) {
                Ok(Some(s)) if !s.trim().is_empty() => s.trim().to_string(),
                Ok(_) => {
                    fail(session, ff, "the Subject evaluated to nothing");
                    continue;
                }
                Err(e) => {
                    fail(session, ff, &e.to_string());
                    continue;
                }
            };
            if subject.contains([' ', '\t', '\r', '\n'])
                || subject.starts_with('.')
                || subject.ends_with('.')
                || subject.contains("..")
            {
                fail(session, ff, &format!("'{subject}' is not a valid NATS subject"));
                continue;
            }
            if max_payload > 0 && ff.size() > max_payload as u64 {
                let msg = format!(
                    "the content ({} bytes) is larger than the server's max payload ({max_payload} bytes)",
                    ff.size()
                );
                fail(session, ff, &msg);
                continue;
            }
            // NATS messages are whole: the content is read whole (bounded by max payload).
            let payload = session.read_bytes(&ff)?;
            let headers = self.headers_of(&ff);
            ready.push((ff, subject, headers, payload));
        }
        if ready.is_empty() {
            return Ok(());
        }
        match js {
            None => self.publish_core(ctx, session, &client, ready, timeout, &server),
            Some(js) => self.publish_js(ctx, session, &js, ready, &server),
        }
    }
}

impl PublishNats {
    fn publish_core(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        client: &async_nats::Client,
        ready: Vec<(FlowFile, String, HeaderMap, Bytes)>,
        timeout: Duration,
        server: &str,
    ) -> Result<(), ProcessError> {
        let results: Vec<Result<(), String>> = crate::io::block_on(async {
            let mut out = Vec::with_capacity(ready.len());
            for (_, subject, headers, payload) in &ready {
                let r = if headers.is_empty() {
                    client.publish(subject.clone(), payload.clone()).await
                } else {
                    client.publish_with_headers(subject.clone(), headers.clone(), payload.clone()).await
                };
                out.push(r.map_err(|e| e.to_string()));
            }
            out
        });
        let flushed = crate::io::block_on(async { tokio::time::timeout(timeout, client.flush()).await });
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                unavailable(ctx, &self.backoff, &format!("flushing to {server} failed: {e}"));
                return Err(ProcessError::other(format!("flushing to {server} failed: {e}")));
            }
            Err(_) => {
                unavailable(ctx, &self.backoff, &format!("flushing to {server} timed out"));
                return Err(ProcessError::other(format!("flushing to {server} timed out")));
            }
        }
        recovered(ctx, &self.backoff, &format!("publishing to {server} again"));
        for ((mut ff, subject, _, _), r) in ready.into_iter().zip(results) {
            match r {
                Ok(()) => {
                    ff.remove_attr(ERROR_ATTR);
                    session.mark_sent(&ff, &format!("{server}/{subject}"));
                    session.transfer(ff, crate::SUCCESS);
                }
                Err(e) => fail(session, ff, &e),
            }
        }
        Ok(())
    }

    fn publish_js(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        js: &async_nats::jetstream::Context,
        ready: Vec<(FlowFile, String, HeaderMap, Bytes)>,
        server: &str,
    ) -> Result<(), ProcessError> {
        // Send them all, then await the acknowledgements (pipelined).
        let results: Vec<Result<u64, (PublishErrorKind, String)>> = crate::io::block_on(async {
            let mut pending = Vec::with_capacity(ready.len());
            for (ff, subject, headers, payload) in &ready {
                let msg = PublishMessage::build()
                    .payload(payload.clone())
                    .headers(headers.clone())
                    .message_id(ff.id.to_string());
                pending.push(js.send_publish(subject.clone(), msg).await);
            }
            let mut out = Vec::with_capacity(pending.len());
            for p in pending {
                out.push(match p {
                    Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| (e.kind(), e.to_string())),
                    Err(e) => Err((e.kind(), e.to_string())),
                });
            }
            out
        });
        let mut transient: Option<String> = None;
        for ((mut ff, subject, _, _), r) in ready.into_iter().zip(results) {
            match r {
                Ok(seq) => {
                    ff.remove_attr(ERROR_ATTR);
                    ff.set_attr("nats.sequence", &seq.to_string());
                    session.mark_sent(&ff, &format!("{server}/{subject}"));
                    session.transfer(ff, crate::SUCCESS);
                }
                Err((
                    PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::MaxAckPending,
                    e,
                )) => {
                    // Not acknowledged: back to the queue to be published again.
                    transient.get_or_insert(e);
                    session.return_to_queue(ff);
                }
                Err((PublishErrorKind::StreamNotFound, _)) => {
                    fail(session, ff, &format!("no JetStream stream stores subject '{subject}'"))
                }
                Err((_, e)) => fail(session, ff, &e),
            }
        }
        match transient {
            Some(e) => {
                unavailable(ctx, &self.backoff, &format!("JetStream on {server} did not acknowledge: {e}"));
                ctx.bulletin(Level::Warning, "unacknowledged flowfiles were returned to the queue".to_string());
            }
            None => recovered(ctx, &self.backoff, &format!("publishing to {server} again")),
        }
        Ok(())
    }
}
