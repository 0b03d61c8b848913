//! NATS processors: PublishNATS and ConsumeNATS, core NATS and JetStream, with `async-nats`
//! (the NATS project's own Rust client) on the shared I/O runtime.

mod common;

pub mod consume_nats;
pub mod publish_nats;

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    publish_nats::register(registry);
    consume_nats::register(registry);
}
