//! What the HTTP processors share: a small HTTP/1.1 + HTTP/2 server on the shared I/O
//! runtime that can be shut down synchronously (its port is released before `shutdown`
//! returns, so a restarted processor binds again), request body collection with a size
//! limit, a rate limit and spilling to a temporary file above an in-memory limit, and the
//! bounded inbox through which request handlers hand requests to `on_trigger`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;
use sluice_engine::scheduler::Waker;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::io::runtime;

/// The body type of every response our servers send.
pub(crate) type RespBody = BoxBody<Bytes, io::Error>;

/// Request bodies up to this size stay in memory; larger ones are spilled to an anonymous
/// temporary file while they arrive and streamed from it into the content repository.
pub(crate) const IN_MEMORY_BODY_LIMIT: usize = 256 * 1024;

/// After a request body exceeded its limit, up to this many further bytes are read and
/// discarded so that the client receives the 413 answer instead of a reset connection.
const DRAIN_AFTER_LIMIT: u64 = 32 * 1024 * 1024;

/// A response with a text body.
pub(crate) fn text_response(status: StatusCode, text: &str) -> Response<RespBody> {
    let body = Full::new(Bytes::from(text.to_string())).map_err(|e: Infallible| match e {}).boxed();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if !text.is_empty() {
        r.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    r
}

/// A response with no body.
pub(crate) fn empty_response(status: StatusCode) -> Response<RespBody> {
    let mut r = Response::new(Empty::new().map_err(|e: Infallible| match e {}).boxed());
    *r.status_mut() = status;
    r
}

/// 503 with `Retry-After`, the answer when the flow cannot take a request now.
pub(crate) fn unavailable(text: &str) -> Response<RespBody> {
    let mut r = text_response(StatusCode::SERVICE_UNAVAILABLE, text);
    r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    r
}

/// A full body from bytes.
pub(crate) fn full_body(b: Bytes) -> RespBody {
    Full::new(b).map_err(|e: Infallible| match e {}).boxed()
}

/// Addresses of one accepted connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnInfo {
    /// The client.
    pub peer: SocketAddr,
    /// The address it connected to.
    pub local: SocketAddr,
}

/// A running HTTP server; dropping it shuts it down too.
pub(crate) struct HttpServer {
    local: SocketAddr,
    shutdown: watch::Sender<bool>,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl HttpServer {
    /// Binds `addr` now (errors such as "address in use" come back here) and serves each
    /// request with `handler` on the shared runtime.
    pub(crate) fn bind<H, F>(addr: SocketAddr, handler: H) -> io::Result<Self>
    where
        H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<RespBody>> + Send + 'static,
    {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime().enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (tx, rx) = watch::channel(false);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        runtime().spawn(accept_loop(listener, handler, rx, done_tx));
        Ok(HttpServer { local, shutdown: tx, done: Some(done_rx) })
    }

    /// The bound address (the real port when port 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting, releases the port (waits up to 2 s for that), and closes the open
    /// connections after a short grace period for answers being written.
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

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}

async fn accept_loop<H, F>(
    listener: tokio::net::TcpListener,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<RespBody>> + Send + 'static,
{
    let local = listener.local_addr().ok();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let info = ConnInfo { peer, local: local.unwrap_or(peer) };
                    let handler = handler.clone();
                    conns.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let fut = handler(req, info);
                            async move { Ok::<_, Infallible>(fut.await) }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                        if let Err(e) = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await {
                            tracing::debug!(%peer, "HTTP connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accepting an HTTP connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = done.send(());
    // Let answers being written (503s to pending requests) go out, then close the rest.
    let grace = tokio::time::sleep(Duration::from_millis(300));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            _ = &mut grace => break,
            next = conns.join_next() => if next.is_none() { break },
        }
    }
    conns.abort_all();
}

/// A request body as received: in memory, or spilled to a temporary file (rewound).
pub(crate) enum BodyData {
    /// Small bodies.
    Memory(Bytes),
    /// Large bodies: an anonymous temporary file, deleted when dropped.
    File(std::fs::File),
}

impl BodyData {
    /// Empty body.
    pub(crate) fn empty() -> Self {
        BodyData::Memory(Bytes::new())
    }
}

/// Why a body could not be collected.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the configured maximum.
    TooLarge,
    /// The client failed or disconnected.
    Client(String),
    /// The temporary file failed.
    Io(io::Error),
}

/// Reads a request body: at most `max` bytes (413 beyond), throttled by `limiter`, kept in
/// memory up to [`IN_MEMORY_BODY_LIMIT`] and spilled to a temporary file beyond.
pub(crate) async fn collect_body(
    mut body: Incoming,
    max: Option<u64>,
    limiter: Option<&RateLimiter>,
) -> Result<BodyData, BodyError> {
    let mut mem = BytesMut::new();
    let mut file: Option<tokio::fs::File> = None;
    let mut total: u64 = 0;
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Client(e.to_string()))?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len() as u64;
        if let Some(max) = max
            && total > max
        {
            too_large = true;
            if total > max.saturating_add(DRAIN_AFTER_LIMIT) {
                break;
            }
            continue;
        }
        if let Some(l) = limiter {
            l.acquire(data.len()).await;
        }
        match &mut file {
            Some(f) => f.write_all(&data).await.map_err(BodyError::Io)?,
            None if mem.len() + data.len() > IN_MEMORY_BODY_LIMIT => {
                let std_file = tempfile::tempfile().map_err(BodyError::Io)?;
                let mut f = tokio::fs::File::from_std(std_file);
                f.write_all(&mem).await.map_err(BodyError::Io)?;
                f.write_all(&data).await.map_err(BodyError::Io)?;
                mem = BytesMut::new();
                file = Some(f);
            }
            None => mem.extend_from_slice(&data),
        }
    }
    if too_large {
        return Err(BodyError::TooLarge);
    }
    match file {
        None => Ok(BodyData::Memory(mem.freeze())),
        Some(mut f) => {
            f.flush().await.map_err(BodyError::Io)?;
            let mut std_file = f.into_std().await;
            std_file.seek(SeekFrom::Start(0)).map_err(BodyError::Io)?;
            Ok(BodyData::File(std_file))
        }
    }
}

/// A shared byte-rate limit ("Max Data to Receive per Second"): each chunk reserves its
/// share of time and waits until its slot begins.
pub(crate) struct RateLimiter {
    bytes_per_sec: f64,
    next_free: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter of `bytes_per_sec` (at least 1).
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        RateLimiter { bytes_per_sec: bytes_per_sec.max(1) as f64, next_free: Mutex::new(Instant::now()) }
    }

    /// Waits until `n` bytes may be taken.
    pub(crate) async fn acquire(&self, n: usize) {
        let wait = {
            let mut next = self.next_free.lock();
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec);
            start.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Requests waiting for `on_trigger`, bounded ("Container Queue Size"). A request handler
/// pushes its request and may take it back (by id) while no trigger has claimed it, which
/// is how a request that waited too long is refused without ever becoming a flowfile.
pub(crate) struct Inbox<T> {
    queue: Mutex<VecDeque<(u64, T)>>,
    capacity: usize,
    waker: Mutex<Option<Waker>>,
    pending_wake: AtomicBool,
    open: AtomicBool,
}

impl<T> Inbox<T> {
    /// An inbox holding at most `capacity` requests.
    pub(crate) fn new(capacity: usize, waker: Option<Waker>) -> Self {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            waker: Mutex::new(waker),
            pending_wake: AtomicBool::new(false),
            open: AtomicBool::new(true),
        }
    }

    /// Adds a request unless the inbox is full or closed (then gives it back).
    pub(crate) fn try_push(&self, id: u64, item: T) -> Result<(), T> {
        {
            let mut q = self.queue.lock();
            if q.len() >= self.capacity || !self.open.load(Ordering::Acquire) {
                return Err(item);
            }
            q.push_back((id, item));
        }
        self.notify();
        Ok(())
    }

    /// Adds a request, waiting up to `wait` for room.
    pub(crate) async fn push(&self, id: u64, mut item: T, wait: Duration) -> Result<(), T> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_push(id, item) {
                Ok(()) => return Ok(()),
                Err(back) => {
                    item = back;
                    if Instant::now() >= deadline || !self.open.load(Ordering::Acquire) {
                        return Err(item);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    /// Takes back the request `id` if no trigger claimed it yet.
    pub(crate) fn withdraw(&self, id: u64) -> Option<T> {
        let mut q = self.queue.lock();
        let pos = q.iter().position(|(i, _)| *i == id)?;
        q.remove(pos).map(|(_, t)| t)
    }

    /// Claims up to `max` requests for the current trigger.
    pub(crate) fn take(&self, max: usize) -> Vec<T> {
        self.pending_wake.store(false, Ordering::SeqCst);
        let mut q = self.queue.lock();
        let n = q.len().min(max);
        q.drain(..n).map(|(_, t)| t).collect()
    }

    /// Refuses new requests and returns those waiting (the processor stops).
    pub(crate) fn close(&self) -> Vec<T> {
        self.open.store(false, Ordering::Release);
        self.queue.lock().drain(..).map(|(_, t)| t).collect()
    }

    fn notify(&self) {
        if !self.pending_wake.swap(true, Ordering::SeqCst)
            && let Some(w) = self.waker.lock().as_ref()
        {
            w.wake_with_data();
        }
    }
}

/// The host part of an address for attributes (`http.remote.host`).
pub(crate) fn host_of(addr: &SocketAddr) -> String {
    addr.ip().to_string()
}

/// Parses the bind address from an optional interface/host property and a port.
pub(crate) fn bind_address(host: Option<&str>, port: u16) -> Result<SocketAddr, String> {
    let host = host.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("0.0.0.0");
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        h => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("'{h}' is not an IP address to listen on"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Percent-decodes a URL component (`+` as space in query strings) as UTF-8 or ISO-8859-1.
pub(crate) fn url_decode(s: &str, plus_as_space: bool, latin1: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    if latin1 { out.iter().map(|&c| c as char).collect() } else { String::from_utf8_lossy(&out).into_owned() }
}

/// Unique ids for inbox entries.
pub(crate) fn next_id() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_urls() {
        assert_eq!(url_decode("a%20b+c", true, false), "a b c");
        assert_eq!(url_decode("a%20b+c", false, false), "a b+c");
        assert_eq!(url_decode("%C3%A9", false, false), "é");
        assert_eq!(url_decode("%E9", false, true), "é");
        assert_eq!(url_decode("100%", false, false), "100%");
        assert_eq!(url_decode("%zz%4", false, false), "%zz%4");
    }

    #[test]
    fn parses_bind_addresses() {
        assert_eq!(bind_address(None, 80).unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(bind_address(Some("127.0.0.1"), 1).unwrap().to_string(), "127.0.0.1:1");
        assert_eq!(bind_address(Some("[::1]"), 1).unwrap().to_string(), "[::1]:1");
        assert!(bind_address(Some("not an ip"), 1).is_err());
    }

    #[test]
    fn inbox_is_bounded_and_withdrawable() {
        let inbox = Inbox::new(2, None);
        assert!(inbox.try_push(1, "a").is_ok());
        assert!(inbox.try_push(2, "b").is_ok());
        assert_eq!(inbox.try_push(3, "c"), Err("c"));
        assert_eq!(inbox.withdraw(1), Some("a"));
        assert_eq!(inbox.withdraw(1), None);
        assert_eq!(inbox.take(10), vec!["b"]);
        assert_eq!(inbox.close(), Vec::<&str>::new());
        assert_eq!(inbox.try_push(4, "d"), Err("d"));
    }
}
