//! ListenSyslog: receives syslog messages over UDP or TCP (newline-delimited or RFC 6587
//! octet-counted framing) and, with Parse Messages, parses them (RFC 5424 and RFC 3164)
//! into `syslog.*` attributes. Messages that do not parse go to `invalid`, one per
//! flowfile, with `syslog.valid=false`.

use sluice_engine::{
    InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::{
    Framing, Listener, Message, TcpSettings, Transport, UdpSettings, batches, join, listen_address, unescape,
};
use super::listen_tcp::interface_property;
use super::syslog;

const PROTOCOL: &str = "Protocol";
const PORT: &str = "Port";
const INTERFACE: &str = "Local Network Interface";
const RECV_BUFFER: &str = "Receive Buffer Size";
const QUEUE_SIZE: &str = "Max Size of Message Queue";
const SOCKET_BUFFER: &str = "Max Size of Socket Buffer";
const MAX_CONNECTIONS: &str = "Max Number of TCP Connections";
const MAX_BATCH: &str = "Max Batch Size";
const DELIMITER: &str = "Message Delimiter";
const PARSE: &str = "Parse Messages";

/// Messages that are not valid syslog.
pub const INVALID: &str = "invalid";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListenSyslog::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ListenSyslog",
        "Listens for syslog messages over UDP or TCP. With Parse Messages, RFC 5424 and RFC 3164 messages are parsed into \
         syslog.* attributes (priority, severity, facility, version, timestamp, hostname, appname, procid, messageid, \
         structuredData.*, body) and messages that do not parse go to invalid.",
    )
    .tags(&["syslog", "listen", "udp", "tcp", "logs", "ingest"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(PROTOCOL)
            .description("The transport to listen on")
            .required()
            .default_value("UDP")
            .allowable(&[("UDP", "one message per datagram"), ("TCP", "newline-delimited or octet-counted (RFC 6587) messages")]),
    )
    .property(
        PropertyDescriptor::new(PORT)
            .description("The port to listen on; 0 picks a free port, reported in a bulletin")
            .required()
            .validator(Validator::Port),
    )
    .property(interface_property())
    .property(
        PropertyDescriptor::new(RECV_BUFFER)
            .description("UDP: the largest datagram read. TCP: the read buffer of each connection")
            .required()
            .default_value("65507 B")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(QUEUE_SIZE)
            .description("How many received messages may wait in memory for the processor")
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
            .description("TCP: the most connections at once")
            .required()
            .default_value("2")
            .validator(Validator::POSITIVE_INTEGER)
            .depends_on(PROTOCOL, &["TCP"]),
    )
    .property(
        PropertyDescriptor::new(MAX_BATCH)
            .description(
                "The most messages from one sender put into one flowfile. With more than 1, batched flowfiles carry only \
                 syslog.sender, syslog.protocol and syslog.port (invalid messages still go to invalid one by one)",
            )
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
        PropertyDescriptor::new(PARSE)
            .description("Whether messages are parsed into attributes (and invalid ones routed to invalid)")
            .required()
            .default_value("true")
            .allowable(&[("true", "parse"), ("false", "pass messages through unparsed")]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Syslog messages (parsed when Parse Messages is true)"))
    .relationship(Relationship::new(INVALID, "Messages that are not valid RFC 5424 or RFC 3164 syslog (syslog.valid=false)"))
}

/// The processor.
#[derive(Default)]
pub struct ListenSyslog {
    listener: Listener,
    max_batch: usize,
    delimiter: Vec<u8>,
    parse: bool,
    protocol: &'static str,
}

impl ListenSyslog {
    fn base_attrs(&self, ff: &mut sluice_engine::FlowFile, sender: &str, port: &str) {
        ff.set_attr("syslog.sender", sender);
        ff.set_attr("syslog.protocol", self.protocol);
        ff.set_attr("syslog.port", port);
        ff.set_attr("mime.type", "text/plain");
    }
}

impl Processor for ListenSyslog {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let addr = listen_address(ctx, INTERFACE, PORT)?;
        let tcp = ctx.property(PROTOCOL) == Some("TCP");
        let recv = ctx.data_size(RECV_BUFFER)?.unwrap_or(65507);
        let socket_buffer = ctx.data_size(SOCKET_BUFFER)?.map(|b| b as usize);
        let transport = if tcp {
            Transport::Tcp(TcpSettings {
                framing: Framing::Syslog,
                max_message: 1 << 20,
                max_connections: ctx.int(MAX_CONNECTIONS)?.unwrap_or(2).max(1) as usize,
                socket_buffer,
                read_buffer: recv.clamp(4096, 16 << 20) as usize,
            })
        } else {
            Transport::Udp(UdpSettings { max_datagram: recv.clamp(1, 65535) as usize, socket_buffer, only_from: None })
        };
        self.protocol = if tcp { "TCP" } else { "UDP" };
        self.max_batch = ctx.int(MAX_BATCH)?.unwrap_or(1).max(1) as usize;
        self.delimiter = unescape(ctx.property(DELIMITER).unwrap_or("\\n")).into_bytes();
        self.parse = ctx.bool(PARSE)?.unwrap_or(true);
        let queue = ctx.int(QUEUE_SIZE)?.unwrap_or(10_000).max(1) as usize;
        self.listener.start(ctx, addr, transport, queue);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        self.listener.ensure_running(ctx);
        let msgs = self.listener.drain(self.max_batch.saturating_mul(100).min(100_000));
        if msgs.is_empty() {
            return Ok(());
        }
        let port = self.listener.port().to_string();
        let scheme = self.protocol.to_ascii_lowercase();
        let mut valid: Vec<Message> = Vec::with_capacity(msgs.len());
        for m in msgs {
            let sender = m.sender.ip().to_string();
            let parsed = if self.parse { std::str::from_utf8(&m.data).ok().and_then(syslog::parse) } else { None };
            if self.parse && parsed.is_none() {
                let mut ff = session.create();
                session.write(&mut ff, m.data)?;
                self.base_attrs(&mut ff, &sender, &port);
                ff.set_attr("syslog.valid", "false");
                session.mark_received(&ff, &format!("{scheme}://{sender}:{port}"));
                session.transfer(ff, INVALID);
                continue;
            }
            if self.max_batch == 1 {
                let mut ff = session.create();
                if let Some(p) = &parsed {
                    for (k, v) in p.attributes() {
                        ff.set_attr(&k, &v);
                    }
                    ff.set_attr("syslog.valid", "true");
                }
                session.write(&mut ff, m.data)?;
                self.base_attrs(&mut ff, &sender, &port);
                session.mark_received(&ff, &format!("{scheme}://{sender}:{port}"));
                session.transfer(ff, crate::SUCCESS);
            } else {
                valid.push(m);
            }
        }
        for (sender, group) in batches(valid, self.max_batch) {
            let sender = sender.ip().to_string();
            let mut ff = session.create();
            session.write(&mut ff, join(group, &self.delimiter))?;
            self.base_attrs(&mut ff, &sender, &port);
            session.mark_received(&ff, &format!("{scheme}://{sender}:{port}"));
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        self.listener.stop();
    }
}
