//! HTTP processors: ListenHTTP (a server whose POSTs become flowfiles, answered after
//! commit), HandleHttpRequest and HandleHttpResponse (request-reply flows), and InvokeHTTP
//! (a client). Servers are hyper on the shared I/O runtime ([`crate::io::runtime`]); the
//! client is reqwest with rustls.

pub(crate) mod common;
pub(crate) mod context_map;
pub mod handle_http_request;
pub mod handle_http_response;
pub mod invoke_http;
pub mod listen_http;

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    listen_http::register(registry);
    handle_http_request::register(registry);
    handle_http_response::register(registry);
    invoke_http::register(registry);
}
