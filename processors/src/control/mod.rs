//! Flow control and external command processors: rate limiting, running a command per
//! flowfile, and running a command as a source.

use sluice_engine::Registry;

pub mod command;

pub mod control_rate;
pub mod execute_process;
pub mod execute_stream_command;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    control_rate::register(registry);
    execute_process::register(registry);
    execute_stream_command::register(registry);
}
