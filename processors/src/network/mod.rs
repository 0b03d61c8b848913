//! Network processors: ListenTCP, ListenUDP and ListenSyslog (socket servers on the shared
//! I/O runtime feeding bounded queues), PutTCP and PutUDP (blocking sockets on the worker
//! threads), and the syslog parser ListenSyslog uses.

pub(crate) mod common;
pub mod listen_syslog;
pub mod listen_tcp;
pub mod listen_udp;
pub mod put_tcp;
pub mod put_udp;
pub mod syslog;

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    listen_tcp::register(registry);
    listen_udp::register(registry);
    listen_syslog::register(registry);
    put_tcp::register(registry);
    put_udp::register(registry);
}
