//! The process-wide map of HTTP requests waiting for their response, keyed by the
//! `http.context.identifier` attribute: NiFi's StandardHttpContextMap without the
//! controller service. HandleHttpRequest puts a request's responder here when it makes the
//! flowfile; HandleHttpResponse takes it out to answer. A request whose flowfile is never
//! answered is removed by its own handler when it expires (504) or its client leaves.

use std::collections::HashMap;
use std::sync::LazyLock;

use hyper::Response;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::common::RespBody;

/// Sends the response of one waiting request.
pub(crate) type Responder = oneshot::Sender<Response<RespBody>>;

static MAP: LazyLock<Mutex<HashMap<String, Responder>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Records the responder of request `id`.
pub(crate) fn insert(id: &str, responder: Responder) {
    MAP.lock().insert(id.to_string(), responder);
}

/// Takes the responder of request `id` (None: unknown, expired or already answered).
pub(crate) fn take(id: &str) -> Option<Responder> {
    MAP.lock().remove(id)
}

/// Forgets request `id`; its handler then answers 503.
pub(crate) fn remove(id: &str) {
    drop(MAP.lock().remove(id));
}

/// Requests waiting for a response, process-wide.
pub(crate) fn outstanding() -> usize {
    MAP.lock().len()
}
