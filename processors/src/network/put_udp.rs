//! PutUDP: sends each flowfile's content as one UDP datagram. A datagram is sent whole or
//! not at all, so content larger than a datagram can hold (65,507 bytes) goes to failure.
//! Sockets are connected to their destination, so an ICMP "port unreachable" answer shows
//! up as a failure of the next datagram to that destination (UDP cannot tell sooner).

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use parking_lot::Mutex;
use sluice_engine::{
    FlowFile, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

const HOSTNAME: &str = "Hostname";
const PORT: &str = "Port";
const SEND_BUFFER: &str = "Max Size of Socket Send Buffer";

/// The attribute that says why a flowfile could not be sent.
pub const ERROR_ATTR: &str = "putudp.error";
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: u64 = 65_507;
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutUdp::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "PutUDP",
        "Sends the content of each flowfile as one UDP datagram. Content larger than 65,507 bytes, and datagrams the system \
         refuses, go to failure with putudp.error.",
    )
    .tags(&["remote", "egress", "put", "udp", "datagram"])
    .property(
        PropertyDescriptor::new(HOSTNAME)
            .description("The host to send to; expressions are evaluated per flowfile")
            .required()
            .default_value("localhost")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(PORT)
            .description("The port to send to; expressions are evaluated per flowfile")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(SEND_BUFFER)
            .description("The socket's send buffer in the kernel (SO_SNDBUF)")
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles sent"))
    .relationship(Relationship::new(crate::FAILURE, "Flowfiles that could not be sent; see putudp.error"))
}

/// The processor.
#[derive(Default)]
pub struct PutUdp {
    sockets: Mutex<HashMap<SocketAddr, UdpSocket>>,
    send_buffer: Option<usize>,
}

impl PutUdp {
    fn send(&self, to: SocketAddr, data: &[u8]) -> io::Result<()> {
        let mut sockets = self.sockets.lock();
        if let std::collections::hash_map::Entry::Vacant(e) = sockets.entry(to) {
            let local: SocketAddr =
                if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
            let s = UdpSocket::bind(local)?;
            if let Some(b) = self.send_buffer {
                socket2::SockRef::from(&s).set_send_buffer_size(b)?;
            }
            s.connect(to)?;
            e.insert(s);
        }
        let s = sockets.get(&to).ok_or_else(|| io::Error::other("socket vanished"))?;
        let result = s.send(data).and_then(|n| {
            if n == data.len() {
                Ok(())
            } else {
                Err(io::Error::other(format!("only {n} of {} bytes were sent", data.len())))
            }
        });
        if result.is_err() {
            sockets.remove(&to);
        }
        result
    }
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

impl Processor for PutUdp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.send_buffer = ctx.data_size(SEND_BUFFER)?.map(|b| b as usize);
        self.sockets.lock().clear();
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let mut ffs = session.get_batch(BATCH).into_iter();
        while let Some(ff) = ffs.next() {
            let host = match ctx.evaluate(HOSTNAME, &ff) {
                Ok(Some(h)) if !h.trim().is_empty() => h.trim().to_string(),
                Ok(_) => {
                    fail(session, ff, "the hostname is empty");
                    continue;
                }
                Err(e) => {
                    fail(session, ff, &e.to_string());
                    continue;
                }
            };
            let port = match ctx.evaluate(PORT, &ff).map(|p| p.unwrap_or_default().trim().parse::<u16>()) {
                Ok(Ok(p)) if p > 0 => p,
                Ok(_) => {
                    fail(session, ff, "the port is not a number between 1 and 65535");
                    continue;
                }
                Err(e) => {
                    fail(session, ff, &e.to_string());
                    continue;
                }
            };
            if ff.size() > MAX_DATAGRAM {
                let why = format!("{} bytes do not fit in one UDP datagram (at most {MAX_DATAGRAM})", ff.size());
                fail(session, ff, &why);
                continue;
            }
            let to = match (host.as_str(), port).to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(a)) => a,
                Ok(None) | Err(_) => {
                    let why = format!("cannot resolve {host}");
                    ctx.bulletin(Level::Warning, format!("{why}; yielding"));
                    fail(session, ff, &why);
                    ctx.yield_now();
                    continue;
                }
            };
            // A datagram is sent whole: the content must be in memory (at most 64 KiB).
            let data = session.read_bytes(&ff)?;
            match self.send(to, &data) {
                Ok(()) => {
                    session.mark_sent(&ff, &format!("udp://{host}:{port}"));
                    session.transfer(ff, crate::SUCCESS);
                }
                Err(e) => {
                    let why = format!("sending to {host}:{port} failed: {e}");
                    ctx.bulletin(Level::Warning, format!("{why}; yielding"));
                    fail(session, ff, &why);
                    for rest in ffs.by_ref() {
                        session.return_to_queue(rest);
                    }
                    ctx.yield_now();
                }
            }
        }
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        self.sockets.lock().clear();
    }
}
