//! ListenUDP: turns received datagrams into flowfiles, one datagram per message, batched
//! per sender up to Max Batch Size. UDP has no flow control: when the flow falls behind,
//! the bounded queue stops the reader, datagrams wait in the kernel's receive buffer (Max
//! Size of Socket Buffer) and what overflows it is dropped by the kernel, as with NiFi.

use sluice_engine::{
    InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::{Listener, Transport, UdpSettings, batches, join, listen_address, unescape};
use super::listen_tcp::interface_property;

const INTERFACE: &str = "Local Network Interface";
const PORT: &str = "Port";
const RECV_BUFFER: &str = "Receive Buffer Size";
const QUEUE_SIZE: &str = "Max Size of Message Queue";
const SOCKET_BUFFER: &str = "Max Size of Socket Buffer";
const MAX_BATCH: &str = "Max Batch Size";
const DELIMITER: &str = "Batching Message Delimiter";
const SENDING_HOST: &str = "Sending Host";
const SENDING_PORT: &str = "Sending Host Port";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListenUdp::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ListenUDP",
        "Listens for UDP datagrams and turns them into flowfiles, batching datagrams from one sender up to Max Batch Size. \
         Optionally only datagrams from one Sending Host (and port) are kept.",
    )
    .tags(&["listen", "udp", "ingest", "socket", "datagram"])
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
            .description("The largest datagram read; longer datagrams are truncated by the system")
            .required()
            .default_value("65507 B")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(QUEUE_SIZE)
            .description("How many received datagrams may wait in memory for the processor")
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
        PropertyDescriptor::new(MAX_BATCH)
            .description("The most datagrams from one sender put into one flowfile")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("What separates the datagrams of a batch in the flowfile (\\n, \\r, \\t are understood)")
            .required()
            .default_value("\\n"),
    )
    .property(PropertyDescriptor::new(SENDING_HOST).description("If set, only datagrams from this IP address are kept"))
    .property(
        PropertyDescriptor::new(SENDING_PORT)
            .description("If set with Sending Host, only datagrams from this port are kept")
            .validator(Validator::Port),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Received datagrams, batched per sender"))
}

/// The processor.
#[derive(Default)]
pub struct ListenUdp {
    listener: Listener,
    max_batch: usize,
    delimiter: Vec<u8>,
}

impl Processor for ListenUdp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let addr = listen_address(ctx, INTERFACE, PORT)?;
        let only_from = match ctx.property(SENDING_HOST).map(str::trim).filter(|s| !s.is_empty()) {
            Some(h) => {
                let ip = h
                    .parse()
                    .map_err(|_| ProcessError::Config(format!("'{SENDING_HOST}': '{h}' is not an IP address")))?;
                let port = ctx.int(SENDING_PORT)?.map(|p| p as u16);
                Some((ip, port))
            }
            None => None,
        };
        let settings = UdpSettings {
            max_datagram: ctx.data_size(RECV_BUFFER)?.unwrap_or(65507).clamp(1, 65535) as usize,
            socket_buffer: ctx.data_size(SOCKET_BUFFER)?.map(|b| b as usize),
            only_from,
        };
        self.max_batch = ctx.int(MAX_BATCH)?.unwrap_or(1).max(1) as usize;
        self.delimiter = unescape(ctx.property(DELIMITER).unwrap_or("\\n")).into_bytes();
        let queue = ctx.int(QUEUE_SIZE)?.unwrap_or(10_000).max(1) as usize;
        self.listener.start(ctx, addr, Transport::Udp(settings), queue);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
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
            ff.set_attr("udp.sender", &host);
            ff.set_attr("udp.port", &port);
            session.mark_received(&ff, &format!("udp://{host}:{port}"));
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        self.listener.stop();
    }
}
