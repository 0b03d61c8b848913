//! ConsumeNATS: a source that turns NATS messages into flowfiles, from a core subscription
//! (optionally in a queue group) or from a JetStream durable pull consumer.
//!
//! A task on the I/O runtime receives messages and hands them to `on_trigger` over a
//! bounded channel (Max Buffered Messages), waking the processor; when the channel is full
//! the task stops pulling, so back pressure in the flow reaches the server (JetStream keeps
//! the messages; a core subscription's client buffer drops them when it overflows, as core
//! NATS does). JetStream messages are acknowledged only after the session that holds their
//! flowfiles has committed (`ProcessSession::on_commit`), and negatively acknowledged (so
//! redelivered at once) when it rolls back: a message the flow did not durably take is
//! never lost. Messages still buffered when the processor stops are negatively acknowledged.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::{AckKind, Acker};
use futures_util::StreamExt;
use parking_lot::Mutex;
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};
use tokio::sync::mpsc;

use super::common::{
    JETSTREAM, MODE, Notice, connect, connection_properties, display_server, mode_property, post_notices, servers,
    validate_servers,
};
use crate::sql::{Backoff, recovered, unavailable};

const SUBJECT: &str = "Subject";
const QUEUE_GROUP: &str = "Queue Group";
const STREAM: &str = "Stream Name";
const DURABLE: &str = "Durable Name";
const BATCH: &str = "Batch Size";
const MAX_BUFFERED: &str = "Max Buffered Messages";
const ACK_WAIT: &str = "Ack Wait";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ConsumeNats::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "ConsumeNATS",
        "Receives NATS messages and emits one flowfile per message (content = payload; attributes nats.subject, nats.reply, \
         nats.stream, nats.sequence, nats.delivered and the message headers). Core mode subscribes to the subject, optionally \
         in a queue group. JetStream mode reads through a durable pull consumer and acknowledges each message only after its \
         flowfile is committed to the flow (a rolled-back session's messages are redelivered).",
    )
    .tags(&["nats", "jetstream", "consume", "get", "subscribe", "ingest", "messaging", "pubsub"])
    .input(InputRequirement::Forbidden);
    connection_properties(d)
        .property(
            PropertyDescriptor::new(SUBJECT)
                .description("The subject to subscribe to (wildcards * and > allowed); in JetStream mode the consumer's filter subject")
                .required()
                .validator(Validator::NonEmpty),
        )
        .property(mode_property(
            "subscribe: messages published while not subscribed or dropped by a full buffer are lost",
            "durable pull consumer on a stream: at-least-once, acknowledged after commit",
        ))
        .property(
            PropertyDescriptor::new(QUEUE_GROUP)
                .description("Core mode: subscribers in the same queue group share the messages (each goes to one of them)")
                .depends_on(MODE, &["Core"]),
        )
        .property(
            PropertyDescriptor::new(STREAM)
                .description("JetStream: the stream to read (must exist)")
                .depends_on(MODE, &[JETSTREAM]),
        )
        .property(
            PropertyDescriptor::new(DURABLE)
                .description(
                    "JetStream: the durable consumer's name, created when missing (filter = Subject, explicit acks, from the \
                     first message); processors with the same name share the messages, and a restart continues where it stopped",
                )
                .default_value("sluice")
                .depends_on(MODE, &[JETSTREAM]),
        )
        .property(
            PropertyDescriptor::new(BATCH)
                .description("The most messages turned into flowfiles per run (and pulled per JetStream request)")
                .required()
                .default_value("100")
                .validator(Validator::POSITIVE_INTEGER),
        )
        .property(
            PropertyDescriptor::new(MAX_BUFFERED)
                .description("How many received messages may wait for the processor; when full, no more are pulled (back pressure)")
                .required()
                .default_value("1000")
                .validator(Validator::POSITIVE_INTEGER),
        )
        .property(
            PropertyDescriptor::new(ACK_WAIT)
                .description(
                    "JetStream: how long the server waits for the acknowledgement of a delivered message before delivering it \
                     again (set when the consumer is created)",
                )
                .required()
                .default_value("30 sec")
                .validator(Validator::TimePeriod)
                .depends_on(MODE, &[JETSTREAM]),
        )
        .relationship(Relationship::new(crate::SUCCESS, "One flowfile per received message"))
}

/// Where a JetStream message came from, and how to acknowledge it.
struct JsMeta {
    stream: String,
    sequence: u64,
    delivered: i64,
    acker: Acker,
}

/// A message waiting for `on_trigger`.
struct Incoming {
    msg: async_nats::Message,
    js: Option<JsMeta>,
}

struct Running {
    client: async_nats::Client,
    rx: Mutex<mpsc::Receiver<Incoming>>,
    task: tokio::task::JoinHandle<()>,
    uri: String,
}

/// The processor.
#[derive(Default)]
pub struct ConsumeNats {
    running: Mutex<Option<Arc<Running>>>,
    notices: Option<(mpsc::Sender<Notice>, Mutex<mpsc::Receiver<Notice>>)>,
    backoff: Backoff,
}

impl ConsumeNats {
    /// Connects and starts receiving if needed; None after reporting a failure.
    fn ensure_running(&self, ctx: &ProcessContext) -> Result<Option<Arc<Running>>, ProcessError> {
        let mut guard = self.running.lock();
        if let Some(r) = &*guard {
            return Ok(Some(r.clone()));
        }
        let Some((notices, _)) = &self.notices else {
            return Err(ProcessError::other("not started"));
        };
        let subject = ctx.property(SUBJECT).unwrap_or("").trim().to_string();
        let batch = ctx.int(BATCH)?.unwrap_or(100).max(1) as usize;
        let buffered = ctx.int(MAX_BUFFERED)?.unwrap_or(1000).max(1) as usize;
        let server = servers(ctx).first().map(|s| display_server(s)).unwrap_or_default();
        let client = match connect(ctx, notices.clone(), |o| o.subscription_capacity(buffered.max(1024))) {
            Ok(c) => c,
            Err(e) => {
                unavailable(ctx, &self.backoff, &e);
                return Ok(None);
            }
        };
        let (tx, rx) = mpsc::channel(buffered);
        let waker = ctx.waker();
        let wake = move || {
            if let Some(w) = &waker {
                w.wake_with_data();
            }
        };
        let task = if ctx.property(MODE) == Some(JETSTREAM) {
            let stream_name = ctx.property(STREAM).unwrap_or("").trim().to_string();
            let durable = ctx.property(DURABLE).unwrap_or("sluice").trim().to_string();
            let ack_wait = ctx.duration(ACK_WAIT)?.unwrap_or(Duration::from_secs(30));
            let js = {
                let _rt = crate::io::runtime().enter();
                async_nats::jetstream::new(client.clone())
            };
            let consumer = crate::io::block_on(async {
                let stream = js.get_stream(&stream_name).await.map_err(|e| format!("stream '{stream_name}': {e}"))?;
                let cfg = async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: subject.clone(),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_ack_pending: (buffered + 2 * batch) as i64,
                    ..Default::default()
                };
                stream
                    .get_or_create_consumer::<async_nats::jetstream::consumer::pull::Config>(&durable, cfg)
                    .await
                    .map_err(|e| format!("consumer '{durable}' of stream '{stream_name}': {e}"))
            });
            let consumer = match consumer {
                Ok(c) => c,
                Err(e) => {
                    unavailable(ctx, &self.backoff, &format!("JetStream on {server}: {e}"));
                    return Ok(None);
                }
            };
            let notices = notices.clone();
            crate::io::runtime().spawn(async move {
                loop {
                    let messages = consumer
                        .stream()
                        .max_messages_per_batch(batch)
                        .heartbeat(Duration::from_secs(5))
                        .expires(Duration::from_secs(30))
                        .messages()
                        .await;
                    let mut messages = match messages {
                        Ok(m) => m,
                        Err(e) => {
                            let _ = notices.try_send(Notice {
                                level: Level::Warning,
                                message: format!("JetStream pull failed: {e}; retrying"),
                            });
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    while let Some(m) = messages.next().await {
                        let m = match m {
                            Ok(m) => m,
                            Err(e) => {
                                let _ = notices
                                    .try_send(Notice { level: Level::Warning, message: format!("JetStream: {e}") });
                                continue;
                            }
                        };
                        let meta = match m.info() {
                            Ok(i) => (i.stream.to_string(), i.stream_sequence, i.delivered),
                            Err(_) => (String::new(), 0, 0),
                        };
                        let (msg, acker) = m.split();
                        let js = JsMeta { stream: meta.0, sequence: meta.1, delivered: meta.2, acker };
                        if tx.send(Incoming { msg, js: Some(js) }).await.is_err() {
                            return;
                        }
                        wake();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        } else {
            let group = ctx.property(QUEUE_GROUP).map(str::trim).filter(|g| !g.is_empty()).map(str::to_string);
            let sub = crate::io::block_on(async {
                match group {
                    Some(g) => client.queue_subscribe(subject.clone(), g).await,
                    None => client.subscribe(subject.clone()).await,
                }
            });
            let mut sub = match sub {
                Ok(s) => s,
                Err(e) => {
                    unavailable(ctx, &self.backoff, &format!("cannot subscribe to '{subject}' on {server}: {e}"));
                    return Ok(None);
                }
            };
            crate::io::runtime().spawn(async move {
                while let Some(msg) = sub.next().await {
                    if tx.send(Incoming { msg, js: None }).await.is_err() {
                        return;
                    }
                    wake();
                }
            })
        };
        recovered(ctx, &self.backoff, &format!("receiving from {server}"));
        let r = Arc::new(Running { client, rx: Mutex::new(rx), task, uri: server });
        *guard = Some(r.clone());
        Ok(Some(r))
    }
}

impl Processor for ConsumeNats {
    fn on_scheduled(&mut self, _ctx: &ProcessContext) -> Result<(), ProcessError> {
        let (tx, rx) = mpsc::channel(64);
        self.notices = Some((tx, Mutex::new(rx)));
        self.backoff.reset();
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        let Some(r) = self.running.lock().take() else {
            return;
        };
        r.task.abort();
        let mut naks = Vec::new();
        {
            let mut rx = r.rx.lock();
            rx.close();
            while let Ok(m) = rx.try_recv() {
                if let Some(js) = m.js {
                    naks.push(js.acker);
                }
            }
        }
        let client = r.client.clone();
        let _ = crate::io::block_on(async move {
            tokio::time::timeout(Duration::from_secs(2), async {
                for a in naks {
                    let _ = a.ack_with(AckKind::Nak(None)).await;
                }
                let _ = client.flush().await;
            })
            .await
        });
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errs = validate_servers(ctx);
        if ctx.property(MODE) == Some(JETSTREAM) {
            if ctx.property(STREAM).is_none_or(|s| s.trim().is_empty()) {
                errs.push(format!("'{STREAM}' is required in JetStream mode"));
            }
            if ctx.property(DURABLE).is_none_or(|s| s.trim().is_empty()) {
                errs.push(format!("'{DURABLE}' is required in JetStream mode"));
            }
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
        let Some(running) = self.ensure_running(ctx)? else {
            return Ok(());
        };
        let batch = ctx.int(BATCH)?.unwrap_or(100).max(1) as usize;
        let mut taken = Vec::with_capacity(batch.min(1024));
        {
            let mut rx = running.rx.lock();
            while taken.len() < batch {
                match rx.try_recv() {
                    Ok(m) => taken.push(m),
                    Err(_) => break,
                }
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        let mut ackers: Vec<Acker> = Vec::new();
        for m in taken {
            let mut ff = session.create();
            if let Err(e) = session.write(&mut ff, m.msg.payload.clone()) {
                session.remove(ff);
                // Roll back: the JetStream messages of this session are negatively acknowledged.
                if let Some(js) = m.js {
                    ackers.push(js.acker);
                }
                session.on_commit(settle(ackers));
                return Err(e);
            }
            ff.set_attr("nats.subject", m.msg.subject.as_str());
            if let Some(h) = &m.msg.headers {
                for (name, values) in h.iter() {
                    let joined: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
                    ff.set_attr(name.as_ref(), &joined.join(","));
                }
            }
            match m.js {
                Some(js) => {
                    ff.set_attr("nats.stream", &js.stream);
                    ff.set_attr("nats.sequence", &js.sequence.to_string());
                    ff.set_attr("nats.delivered", &js.delivered.to_string());
                    ackers.push(js.acker);
                }
                None => {
                    if let Some(reply) = &m.msg.reply {
                        ff.set_attr("nats.reply", reply.as_str());
                    }
                }
            }
            session.mark_received(&ff, &format!("{}/{}", running.uri, m.msg.subject));
            session.transfer(ff, crate::SUCCESS);
        }
        if !ackers.is_empty() {
            session.on_commit(settle(ackers));
        }
        Ok(())
    }
}

/// The commit callback: acknowledge after a commit, negatively acknowledge (redeliver now)
/// after a rollback. Runs on the I/O runtime so the engine thread does not wait.
fn settle(ackers: Vec<Acker>) -> sluice_engine::session::CommitCallback {
    Box::new(move |committed| {
        crate::io::runtime().spawn(async move {
            for a in ackers {
                let r = if committed { a.ack().await } else { a.ack_with(AckKind::Nak(None)).await };
                if let Err(e) = r {
                    tracing::warn!("JetStream acknowledgement failed (the message will be redelivered): {e}");
                }
            }
        });
    })
}
