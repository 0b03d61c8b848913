//! Controller services that are not tied to one group of processors: a TLS context and AWS
//! credentials. (The database pool lives with the SQL processors, whose pool type it shares.)

pub mod aws_credentials;
pub mod ssl_context;

use sluice_engine::Registry;

/// Registers the service types of this module.
pub fn register_all(registry: &mut Registry) {
    ssl_context::register(registry);
    aws_credentials::register(registry);
}
