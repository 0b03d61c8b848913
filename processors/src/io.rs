//! The shared tokio runtime for processors that do asynchronous I/O (listeners, HTTP, S3,
//! NATS, databases). The engine is synchronous: async work runs here and hands data to
//! `on_trigger` through bounded channels, so back pressure reaches the remote peer.

use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-proc-io")
        .enable_all()
        .build()
        .expect("the processors' I/O runtime starts")
});

/// The runtime asynchronous processors spawn their I/O on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}

/// Runs a future to completion from synchronous processor code (never call this from
/// inside the runtime itself).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}
