//! What the network listeners share: a bounded message queue between socket tasks and
//! `on_trigger` (a full queue stops the TCP readers, so the senders feel back pressure
//! through TCP flow control; UDP datagrams then wait in, and overflow from, the kernel's
//! receive buffer), message framing (newline, 4-byte length prefix, syslog octet
//! counting), TCP and UDP servers on the shared I/O runtime that release their port before
//! `shutdown` returns, and the batching of messages per sender into flowfiles.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use sluice_engine::scheduler::Waker;
use sluice_engine::{Level, ProcessContext, ProcessError};
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, watch};

use crate::io::runtime;

/// One received message and who sent it.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    /// The message bytes (framing removed).
    pub data: Bytes,
    /// The sender.
    pub sender: SocketAddr,
}

/// The bounded queue between socket tasks and `on_trigger` ("Max Size of Message Queue").
/// It lives as long as the processor, so messages received before a stop are turned into
/// flowfiles after the next start.
pub(crate) struct MessageQueue {
    inner: Mutex<VecDeque<Message>>,
    capacity: AtomicUsize,
    space: Notify,
    waker: Mutex<Option<Waker>>,
    pending_wake: AtomicBool,
}

impl MessageQueue {
    /// A queue of at most `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Self {
        MessageQueue {
            inner: Mutex::new(VecDeque::new()),
            capacity: AtomicUsize::new(capacity.max(1)),
            space: Notify::new(),
            waker: Mutex::new(None),
            pending_wake: AtomicBool::new(false),
        }
    }

    /// Changes the capacity and the processor to wake (on each start).
    pub(crate) fn configure(&self, capacity: usize, waker: Option<Waker>) {
        self.capacity.store(capacity.max(1), Ordering::Release);
        *self.waker.lock() = waker;
        self.space.notify_waiters();
    }

    /// Adds messages, waiting for room as long as the queue is full.
    pub(crate) async fn push_all(&self, msgs: Vec<Message>) {
        let mut it = msgs.into_iter().peekable();
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut pushed = false;
            {
                let mut q = self.inner.lock();
                let cap = self.capacity.load(Ordering::Acquire);
                while q.len() < cap {
                    match it.next() {
                        Some(m) => {
                            q.push_back(m);
                            pushed = true;
                        }
                        None => break,
                    }
                }
            }
            if pushed {
                self.notify();
            }
            if it.peek().is_none() {
                return;
            }
            notified.await;
        }
    }

    /// Takes up to `max` messages.
    pub(crate) fn drain(&self, max: usize) -> Vec<Message> {
        self.pending_wake.store(false, Ordering::SeqCst);
        let out: Vec<Message> = {
            let mut q = self.inner.lock();
            let n = q.len().min(max);
            q.drain(..n).collect()
        };
        if !out.is_empty() {
            self.space.notify_waiters();
        }
        out
    }

    fn notify(&self) {
        if !self.pending_wake.swap(true, Ordering::SeqCst)
            && let Some(w) = self.waker.lock().as_ref()
        {
            w.wake_with_data();
        }
    }
}

/// How a byte stream is cut into messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Messages end with `\n` (empty lines are skipped).
    Newline,
    /// Each message is preceded by its length as a 4-byte big-endian unsigned integer.
    LengthPrefixed,
    /// Syslog over TCP (RFC 6587): octet counting (`LEN SP MSG`) when a frame starts with a
    /// digit, otherwise newline-delimited (non-transparent framing).
    Syslog,
}

/// Cuts the next message off `buf`; `Ok(None)` = need more bytes. Messages longer than
/// `max` are an error (the connection is closed: a sender that never sends a delimiter
/// must not make us buffer without bound).
pub(crate) fn decode(framing: Framing, buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, String> {
    match framing {
        Framing::Newline => decode_line(buf, max),
        Framing::LengthPrefixed => {
            if buf.len() < 4 {
                return Ok(None);
            }
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if len > max {
                return Err(format!("a length prefix announces {len} bytes, more than the maximum message size {max}"));
            }
            if buf.len() < 4 + len {
                buf.reserve(4 + len - buf.len());
                return Ok(None);
            }
            buf.advance(4);
            Ok(Some(buf.split_to(len).freeze()))
        }
        Framing::Syslog => {
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0].is_ascii_digit() {
                let window = &buf[..buf.len().min(11)];
                match window.iter().position(|&b| b == b' ') {
                    Some(sp) if window[..sp].iter().all(u8::is_ascii_digit) => {
                        let len: usize = std::str::from_utf8(&window[..sp])
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or("invalid octet count")?;
                        if len > max {
                            return Err(format!(
                                "an octet count announces {len} bytes, more than the maximum message size {max}"
                            ));
                        }
                        if buf.len() < sp + 1 + len {
                            return Ok(None);
                        }
                        buf.advance(sp + 1);
                        let mut m = buf.split_to(len);
                        while m.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                            m.truncate(m.len() - 1);
                        }
                        return Ok(Some(m.freeze()));
                    }
                    None if window.len() < 11 && window.iter().all(u8::is_ascii_digit) => return Ok(None),
                    _ => {} // not an octet count: a newline-delimited frame
                }
            }
            let m = decode_line(buf, max)?;
            Ok(m.map(|mut m| {
                if m.last() == Some(&b'\r') {
                    m.truncate(m.len() - 1);
                }
                m
            }))
        }
    }
}

fn decode_line(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, String> {
    loop {
        match memchr::memchr(b'\n', buf) {
            Some(0) => buf.advance(1), // empty line
            Some(i) => {
                if i > max {
                    return Err(format!("a message is longer than the maximum message size {max}"));
                }
                let mut line = buf.split_to(i + 1);
                line.truncate(i);
                return Ok(Some(line.freeze()));
            }
            None if buf.len() > max => return Err(format!("a message is longer than the maximum message size {max}")),
            None => return Ok(None),
        }
    }
}

/// Turns `\n`, `\r`, `\t` and `\\` in a delimiter property into the characters.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Groups messages by sender (in arrival order) and cuts each group into batches of at
/// most `max_batch` messages.
pub(crate) fn batches(msgs: Vec<Message>, max_batch: usize) -> Vec<(SocketAddr, Vec<Bytes>)> {
    let max_batch = max_batch.max(1);
    let mut index: HashMap<SocketAddr, usize> = HashMap::new();
    let mut groups: Vec<(SocketAddr, Vec<Bytes>)> = Vec::new();
    for m in msgs {
        match index.get(&m.sender) {
            Some(&i) if groups[i].1.len() < max_batch => groups[i].1.push(m.data),
            _ => {
                index.insert(m.sender, groups.len());
                groups.push((m.sender, vec![m.data]));
            }
        }
    }
    groups
}

/// Joins messages with a delimiter (one message: no copy).
pub(crate) fn join(mut msgs: Vec<Bytes>, delimiter: &[u8]) -> Bytes {
    if msgs.len() == 1 {
        return msgs.pop().unwrap_or_default();
    }
    let total: usize = msgs.iter().map(Bytes::len).sum::<usize>() + delimiter.len() * msgs.len().saturating_sub(1);
    let mut out = BytesMut::with_capacity(total);
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(delimiter);
        }
        out.extend_from_slice(m);
    }
    out.freeze()
}

/// Settings of a TCP listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpSettings {
    /// Framing.
    pub framing: Framing,
    /// Longest message.
    pub max_message: usize,
    /// Most connections at once; more are closed at once.
    pub max_connections: usize,
    /// SO_RCVBUF, if set.
    pub socket_buffer: Option<usize>,
    /// Initial read buffer per connection.
    pub read_buffer: usize,
}

/// Settings of a UDP listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UdpSettings {
    /// Largest datagram read.
    pub max_datagram: usize,
    /// SO_RCVBUF, if set.
    pub socket_buffer: Option<usize>,
    /// Only datagrams from this host (and port) are kept.
    pub only_from: Option<(std::net::IpAddr, Option<u16>)>,
}

/// What a listener listens with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Transport {
    /// TCP.
    Tcp(TcpSettings),
    /// UDP.
    Udp(UdpSettings),
}

/// A running socket server; its port is released when `shutdown` returns (or on drop).
pub(crate) struct SocketServer {
    local: SocketAddr,
    shutdown: watch::Sender<bool>,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl SocketServer {
    /// Binds now (errors come back here) and serves on the shared runtime.
    pub(crate) fn bind(addr: SocketAddr, transport: Transport, queue: Arc<MessageQueue>) -> io::Result<Self> {
        let (tx, rx) = watch::channel(false);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let local = match transport {
            Transport::Tcp(s) => {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM,
                    Some(socket2::Protocol::TCP),
                )?;
                socket.set_reuse_address(true)?;
                if let Some(b) = s.socket_buffer {
                    socket.set_recv_buffer_size(b)?;
                }
                socket.bind(&addr.into())?;
                socket.listen(1024)?;
                socket.set_nonblocking(true)?;
                let std_listener: std::net::TcpListener = socket.into();
                let local = std_listener.local_addr()?;
                let listener = {
                    let _g = runtime().enter();
                    tokio::net::TcpListener::from_std(std_listener)?
                };
                runtime().spawn(tcp_accept_loop(listener, s, queue, rx, done_tx));
                local
            }
            Transport::Udp(s) => {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )?;
                socket.set_reuse_address(true)?;
                if let Some(b) = s.socket_buffer {
                    socket.set_recv_buffer_size(b)?;
                }
                socket.bind(&addr.into())?;
                socket.set_nonblocking(true)?;
                let std_socket: std::net::UdpSocket = socket.into();
                let local = std_socket.local_addr()?;
                let socket = {
                    let _g = runtime().enter();
                    tokio::net::UdpSocket::from_std(std_socket)?
                };
                runtime().spawn(udp_loop(socket, s, queue, rx, done_tx));
                local
            }
        };
        Ok(SocketServer { local, shutdown: tx, done: Some(done_rx) })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops it and waits (up to 2 s) until the port is released.
    pub(crate) fn shutdown(mut self) {
        self.stop_and_wait();
    }

    fn stop_and_wait(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}

async fn tcp_accept_loop(
    listener: tokio::net::TcpListener,
    s: TcpSettings,
    queue: Arc<MessageQueue>,
    mut shutdown: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(s.max_connections.max(1)));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "refusing a TCP connection: already {} connections", s.max_connections);
                        drop(stream);
                        continue;
                    };
                    let queue = queue.clone();
                    conns.spawn(async move {
                        read_connection(stream, peer, s, &queue).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a TCP connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    let _ = done.send(());
}

async fn read_connection(mut stream: tokio::net::TcpStream, peer: SocketAddr, s: TcpSettings, queue: &MessageQueue) {
    let mut buf = BytesMut::with_capacity(s.read_buffer.max(4096));
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(s.read_buffer.max(4096));
        }
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, "TCP connection failed: {e}");
                0
            }
        };
        let mut batch = Vec::new();
        let mut broken = false;
        loop {
            match decode(s.framing, &mut buf, s.max_message) {
                Ok(Some(m)) => batch.push(Message { data: m, sender: peer }),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, "closing TCP connection: {e}");
                    broken = true;
                    break;
                }
            }
        }
        if n == 0 && !broken && !buf.is_empty() {
            match s.framing {
                Framing::LengthPrefixed => {
                    tracing::warn!(%peer, "connection closed inside a length-prefixed message; {} bytes dropped", buf.len())
                }
                _ => {
                    let mut last = buf.split().freeze();
                    if last.last() == Some(&b'\r') && s.framing == Framing::Syslog {
                        last.truncate(last.len() - 1);
                    }
                    batch.push(Message { data: last, sender: peer });
                }
            }
        }
        if !batch.is_empty() {
            queue.push_all(batch).await;
        }
        if n == 0 || broken {
            return;
        }
    }
}

async fn udp_loop(
    socket: tokio::net::UdpSocket,
    s: UdpSettings,
    queue: Arc<MessageQueue>,
    mut shutdown: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let mut buf = vec![0u8; s.max_datagram.clamp(1, 65_535)];
    let keep = |from: &SocketAddr| match s.only_from {
        None => true,
        Some((ip, port)) => from.ip() == ip && port.is_none_or(|p| p == from.port()),
    };
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => break,
        };
        let mut batch = Vec::new();
        match received {
            Ok((n, from)) if keep(&from) => {
                batch.push(Message { data: Bytes::copy_from_slice(&buf[..n]), sender: from })
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("UDP receive failed: {e}");
                continue;
            }
        }
        // Take what else is already waiting, to queue it in one go.
        while batch.len() < 256 {
            match socket.try_recv_from(&mut buf) {
                Ok((n, from)) if keep(&from) => {
                    batch.push(Message { data: Bytes::copy_from_slice(&buf[..n]), sender: from })
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        tokio::select! {
            _ = queue.push_all(batch) => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(socket);
    let _ = done.send(());
}

/// The listening half every listener processor shares: the queue (kept across restarts),
/// the server (bound on start, re-bound on later triggers after a failure), and its
/// address.
#[derive(Default)]
pub(crate) struct Listener {
    queue: Option<Arc<MessageQueue>>,
    server: Mutex<Option<SocketServer>>,
    addr: Option<SocketAddr>,
    transport: Option<Transport>,
    port: std::sync::atomic::AtomicU16,
}

impl Listener {
    /// Configures it on start and tries to bind (a failure is retried by `ensure_running`).
    pub(crate) fn start(&mut self, ctx: &ProcessContext, addr: SocketAddr, transport: Transport, queue_size: usize) {
        self.stop();
        let queue = self.queue.get_or_insert_with(|| Arc::new(MessageQueue::new(queue_size)));
        queue.configure(queue_size, ctx.waker());
        self.addr = Some(addr);
        self.transport = Some(transport);
        self.ensure_running(ctx);
    }

    /// Binds if not bound; on failure posts a bulletin, yields, and returns false.
    pub(crate) fn ensure_running(&self, ctx: &ProcessContext) -> bool {
        let mut server = self.server.lock();
        if server.is_some() {
            return true;
        }
        let (Some(addr), Some(transport), Some(queue)) = (self.addr, self.transport, self.queue.clone()) else {
            return false;
        };
        match SocketServer::bind(addr, transport, queue) {
            Ok(s) => {
                let local = s.local_addr();
                self.port.store(local.port(), Ordering::Release);
                tracing::info!(processor = %ctx.name, "listening on {local}");
                if addr.port() == 0 {
                    ctx.bulletin(Level::Info, format!("listening on {local}"));
                }
                *server = Some(s);
                true
            }
            Err(e) => {
                ctx.bulletin(Level::Warning, format!("cannot listen on {addr}: {e}; retrying"));
                ctx.yield_now();
                false
            }
        }
    }

    /// Takes up to `max` messages.
    pub(crate) fn drain(&self, max: usize) -> Vec<Message> {
        self.queue.as_ref().map(|q| q.drain(max)).unwrap_or_default()
    }

    /// The bound port (0 before the first bind).
    pub(crate) fn port(&self) -> u16 {
        self.port.load(Ordering::Acquire)
    }

    /// Closes the socket (messages already queued stay for the next start).
    pub(crate) fn stop(&mut self) {
        if let Some(s) = self.server.lock().take() {
            s.shutdown();
        }
    }
}

/// The listen address from "Local Network Interface" (an IP address; all interfaces when
/// empty) and a port property.
pub(crate) fn listen_address(ctx: &ProcessContext, interface: &str, port: &str) -> Result<SocketAddr, ProcessError> {
    let port = ctx.int(port)?.unwrap_or(0);
    let port = u16::try_from(port).map_err(|_| ProcessError::Config(format!("{port} is not a port number")))?;
    crate::http::common::bind_address(ctx.property(interface), port).map_err(ProcessError::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(framing: Framing, input: &[u8], max: usize) -> Result<(Vec<String>, usize), String> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(m) = decode(framing, &mut buf, max)? {
            out.push(String::from_utf8_lossy(&m).into_owned());
        }
        Ok((out, buf.len()))
    }

    #[test]
    fn newline_framing() {
        assert_eq!(all(Framing::Newline, b"a\nbb\n\nccc", 10).unwrap(), (vec!["a".to_string(), "bb".into()], 3));
        assert!(all(Framing::Newline, b"0123456789abc", 10).is_err());
        assert!(all(Framing::Newline, b"0123456789abc\n", 10).is_err());
    }

    #[test]
    fn length_prefixed_framing() {
        let mut input = Vec::new();
        for m in ["hello", "", "wor\nld"] {
            input.extend_from_slice(&(m.len() as u32).to_be_bytes());
            input.extend_from_slice(m.as_bytes());
        }
        input.extend_from_slice(&[0, 0, 0, 9, b'x']);
        assert_eq!(
            all(Framing::LengthPrefixed, &input, 100).unwrap(),
            (vec!["hello".to_string(), "".into(), "wor\nld".into()], 5)
        );
        assert!(all(Framing::LengthPrefixed, &[0, 1, 0, 0], 100).is_err());
    }

    #[test]
    fn syslog_framing() {
        let input = b"12 <13>hi\nthere<14>line one\r\n5 <1>x";
        let (msgs, rest) = all(Framing::Syslog, input, 100).unwrap();
        assert_eq!(msgs, vec!["<13>hi\nthere".to_string(), "<14>line one".into()]);
        assert_eq!(rest, 6);
        assert_eq!(all(Framing::Syslog, b"12", 100).unwrap(), (vec![], 2));
        assert!(all(Framing::Syslog, b"999999 <1>", 100).is_err());
    }

    #[test]
    fn unescapes_and_batches() {
        assert_eq!(unescape("\\n"), "\n");
        assert_eq!(unescape("a\\tb\\\\c\\q"), "a\tb\\c\\q");
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let m = |s: &'static str, from| Message { data: Bytes::from_static(s.as_bytes()), sender: from };
        let got = batches(vec![m("1", a), m("2", b), m("3", a), m("4", a)], 2);
        assert_eq!(got.len(), 3);
        assert_eq!(join(got[0].1.clone(), b"\n"), Bytes::from_static(b"1\n3"));
        assert_eq!(got[1].0, b);
        assert_eq!(join(got[2].1.clone(), b"\n"), Bytes::from_static(b"4"));
    }
}
