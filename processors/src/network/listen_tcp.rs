//! ListenTCP: a TCP server whose messages become flowfiles. Messages are framed by
//! newlines (the default) or by a 4-byte big-endian length prefix; messages from one sender
//! are batched into one flowfile (up to Max Batch Size, joined by the batching delimiter).
//! The socket readers feed a bounded queue: when it is full they stop reading, so senders
//! are slowed by TCP flow control rather than data being dropped.

use sluice_engine::{
    InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::{Framing, Listener, TcpSettings, Transport, batches, join, listen_address, unescape};

const INTERFACE: &str = "Local Network Interface";
const PORT: &str = "Port";
const RECV_BUFFER: &str = "Receive Buffer Size";
const QUEUE_SIZE: &str = "Max Size of Message Queue";
const SOCKET_BUFFER: &str = "Max Size of Socket Buffer";
const MAX_CONNECTIONS: &str = "Max Number of TCP Connections";
const MAX_BATCH: &str = "Max Batch Size";
const DELIMITER: &str = "Batching Message Delimiter";
const FRAMING: &str = "Message Framing";
const MAX_MESSAGE: &str = "Max Message Size";

const NEWLINE: &str = "Newline Delimited";
const LENGTH_PREFIXED: &str = "Length Prefixed";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListenTcp::default()));
}

/// The "Local Network Interface" property shared by the listeners.
pub(crate) fn interface_property() -> PropertyDescriptor {
    PropertyDescriptor::new(INTERFACE).description(
        "The IP address to listen on (e.g. 127.0.0.1); all interfaces when empty. NiFi takes an interface name here; Sluice takes \
         the interface's address.",
    )
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ListenTCP",
        "Listens for TCP connections and turns the messages they carry (newline-delimited, or length-prefixed) into flowfiles, \
         batching messages from one sender up to Max Batch Size. When the flow falls behind, the connections stop being read, \
         so senders slow down instead of losing data.",
    )
    .tags(&["listen", "tcp", "tls", "ingest", "socket"])
    .input(InputRequirement::Forbidden)
    .property(interface_property())
    .property(
        PropertyDescriptor::new(PORT)
            .description("The port to listen on; 0 picks a free port, reported in a bulletin")
            .required()
            .validator(Validator::Port),
    )
    .property(
        PropertyDescriptor::new(RECV_BUFFER)
            .description("The size of the read buffer of each connection")
            .required()
            .default_value("65507 B")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(QUEUE_SIZE)
            .description("How many received messages may wait in memory for the processor; when full, connections are not read")
            .required()
            .default_value("10000")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(SOCKET_BUFFER)
            .description("The socket's receive buffer in the kernel (SO_RCVBUF)")
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(MAX_CONNECTIONS)
            .description("The most connections at once; more are closed as they arrive")
            .required()
            .default_value("2")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(MAX_BATCH)
            .description("The most messages from one sender put into one flowfile")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("What separates the messages of a batch in the flowfile (\\n, \\r, \\t are understood)")
            .required()
            .default_value("\\n"),
    )
    .property(
        PropertyDescriptor::new(FRAMING)
            .description("How messages are delimited on the wire. Not in NiFi, whose ListenTCP only splits on newlines.")
            .required()
            .default_value(NEWLINE)
            .allowable(&[
                (NEWLINE, "each message ends with \\n (empty lines are skipped)"),
                (LENGTH_PREFIXED, "each message is preceded by its length as a 4-byte big-endian integer"),
            ]),
    )
    .property(
        PropertyDescriptor::new(MAX_MESSAGE)
            .description("The longest message accepted; a connection sending a longer one is closed. Not in NiFi.")
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Received messages, batched per sender"))
}

/// The processor.
#[derive(Default)]
pub struct ListenTcp {
    listener: Listener,
    max_batch: usize,
    delimiter: Vec<u8>,
}

impl Processor for ListenTcp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let addr = listen_address(ctx, INTERFACE, PORT)?;
        let framing =
            if ctx.property(FRAMING) == Some(LENGTH_PREFIXED) { Framing::LengthPrefixed } else { Framing::Newline };
        let settings = TcpSettings {
            framing,
            max_message: ctx.data_size(MAX_MESSAGE)?.unwrap_or(1 << 20).min(u32::MAX as u64) as usize,
            max_connections: ctx.int(MAX_CONNECTIONS)?.unwrap_or(2).max(1) as usize,
            socket_buffer: ctx.data_size(SOCKET_BUFFER)?.map(|b| b as usize),
            read_buffer: ctx.data_size(RECV_BUFFER)?.unwrap_or(65507).clamp(4096, 16 << 20) as usize,
        };
        self.max_batch = ctx.int(MAX_BATCH)?.unwrap_or(1).max(1) as usize;
        self.delimiter = unescape(ctx.property(DELIMITER).unwrap_or("\\n")).into_bytes();
        let queue = ctx.int(QUEUE_SIZE)?.unwrap_or(10_000).max(1) as usize;
        self.listener.start(ctx, addr, Transport::Tcp(settings), queue);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        // A failed bind is retried here (with a bulletin and a yield); messages queued
        // before are delivered either way.
        self.listener.ensure_running(ctx);
        let msgs = self.listener.drain(self.max_batch.saturating_mul(100).min(100_000));
        if msgs.is_empty() {
            return Ok(());
        }
        let port = self.listener.port().to_string();
        for (sender, group) in batches(msgs, self.max_batch) {
            let mut ff = session.create();
            session.write(&mut ff, join(group, &self.delimiter))?;
            let host = sender.ip().to_string();
            ff.set_attr("tcp.sender", &host);
            ff.set_attr("tcp.port", &port);
            session.mark_received(&ff, &format!("tcp://{host}:{port}"));
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        self.listener.stop();
    }
}
