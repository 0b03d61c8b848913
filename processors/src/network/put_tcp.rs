//! PutTCP: sends each flowfile's content over TCP, followed by an optional delimiter. One
//! pooled connection per destination (per concurrent task) is reused across flowfiles until
//! it sits idle longer than "Idle Connection Expiration"; before reuse it is checked, so a
//! server that went away is noticed and a new connection opened. Content is streamed from
//! the content repository to the socket.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_engine::{
    FlowFile, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::unescape;

const HOSTNAME: &str = "Hostname";
const PORT: &str = "Port";
const SEND_BUFFER: &str = "Max Size of Socket Send Buffer";
const IDLE_EXPIRATION: &str = "Idle Connection Expiration";
const TIMEOUT: &str = "Timeout";
const PER_FLOWFILE: &str = "Connection Per FlowFile";
const DELIMITER: &str = "Outgoing Message Delimiter";

/// The attribute that says why a flowfile could not be sent.
pub const ERROR_ATTR: &str = "puttcp.error";
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutTcp::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "PutTCP",
        "Sends the content of each flowfile to a TCP server, followed by an optional delimiter, over a pooled connection (or a \
         new connection per flowfile). Flowfiles that cannot be sent go to failure with puttcp.error, and the processor yields.",
    )
    .tags(&["remote", "egress", "put", "tcp", "socket"])
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
    .property(
        PropertyDescriptor::new(IDLE_EXPIRATION)
            .description("A pooled connection idle for longer than this is closed instead of reused")
            .required()
            .default_value("15 seconds")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(TIMEOUT)
            .description("How long connecting and each write may take")
            .required()
            .default_value("10 seconds")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(PER_FLOWFILE)
            .description("Whether each flowfile gets its own connection, closed after it was sent")
            .required()
            .default_value("false")
            .allowable(&[("true", "one connection per flowfile"), ("false", "reuse a pooled connection")]),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("Written after each flowfile's content (\\n, \\r, \\t are understood); expressions are evaluated per flowfile")
            .expression_language(),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles sent"))
    .relationship(Relationship::new(crate::FAILURE, "Flowfiles that could not be sent; see puttcp.error"))
}

/// The processor.
#[derive(Default)]
pub struct PutTcp {
    pool: Mutex<HashMap<String, Vec<(TcpStream, Instant)>>>,
    timeout: Duration,
    idle: Duration,
    send_buffer: Option<usize>,
    per_flowfile: bool,
}

/// Whether a pooled connection is still open: a closed peer reads as end of stream.
fn alive(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let ok = match s.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    ok && s.set_nonblocking(false).is_ok()
}

impl PutTcp {
    fn checkout(&self, key: &str) -> Option<TcpStream> {
        let mut pool = self.pool.lock();
        let conns = pool.get_mut(key)?;
        while let Some((s, last)) = conns.pop() {
            if last.elapsed() <= self.idle && alive(&s) {
                return Some(s);
            }
        }
        None
    }

    fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    s.set_write_timeout(Some(self.timeout))?;
                    if let Some(b) = self.send_buffer {
                        socket2::SockRef::from(&s).set_send_buffer_size(b)?;
                    }
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn send(&self, host: &str, port: u16, content: &mut dyn Read, delimiter: &[u8]) -> io::Result<()> {
        let key = format!("{host}:{port}");
        let stream = match (self.per_flowfile, self.checkout(&key)) {
            (false, Some(s)) => s,
            _ => self.connect(host, port)?,
        };
        let mut w = BufWriter::with_capacity(64 * 1024, stream);
        io::copy(content, &mut w)?;
        w.write_all(delimiter)?;
        let stream = w.into_inner().map_err(|e| e.into_error())?;
        if self.per_flowfile {
            let _ = stream.shutdown(Shutdown::Write);
        } else {
            self.pool.lock().entry(key).or_default().push((stream, Instant::now()));
        }
        Ok(())
    }
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

impl Processor for PutTcp {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.timeout = ctx.duration(TIMEOUT)?.unwrap_or(Duration::from_secs(10)).max(Duration::from_millis(1));
        self.idle = ctx.duration(IDLE_EXPIRATION)?.unwrap_or(Duration::from_secs(15));
        self.send_buffer = ctx.data_size(SEND_BUFFER)?.map(|b| b as usize);
        self.per_flowfile = ctx.bool(PER_FLOWFILE)?.unwrap_or(false);
        self.pool.lock().clear();
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
            let delimiter = match ctx.evaluate(DELIMITER, &ff) {
                Ok(d) => unescape(&d.unwrap_or_default()).into_bytes(),
                Err(e) => {
                    fail(session, ff, &e.to_string());
                    continue;
                }
            };
            let mut reader = session.read(&ff)?;
            match self.send(&host, port, &mut reader, &delimiter) {
                Ok(()) => {
                    session.mark_sent(&ff, &format!("tcp://{host}:{port}"));
                    session.transfer(ff, crate::SUCCESS);
                }
                Err(e) => {
                    let why = format!("sending to {host}:{port} failed: {e}");
                    ctx.bulletin(Level::Warning, format!("{why}; yielding"));
                    fail(session, ff, &why);
                    // The destination is unreachable: the rest waits in the queue, untouched.
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
        self.pool.lock().clear();
    }
}
