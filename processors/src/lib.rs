//! The standard processors of Sluice: one per file, grouped by what they work on, all
//! registered by [`register_all`].

pub mod generate_flowfile;
pub mod io;
pub mod log_attribute;
pub mod route_on_attribute;
pub mod update_attribute;

pub mod control;
pub mod files;
pub mod http;
pub mod json;
pub mod nats;
pub mod network;
pub mod s3;
pub mod services;
pub mod sql;
pub mod text;

use sluice_engine::Registry;

/// The `success` relationship most processors have.
pub const SUCCESS: &str = "success";
/// The `failure` relationship.
pub const FAILURE: &str = "failure";
/// The `original` relationship (the input of a split or transform).
pub const ORIGINAL: &str = "original";

/// Registers every standard processor type.
pub fn register_all(registry: &mut Registry) {
    generate_flowfile::register(registry);
    update_attribute::register(registry);
    route_on_attribute::register(registry);
    log_attribute::register(registry);
    text::register_all(registry);
    json::register_all(registry);
    control::register_all(registry);
    http::register_all(registry);
    network::register_all(registry);
    files::register_all(registry);
    services::register_all(registry);
    s3::register_all(registry);
    sql::register_all(registry);
    nats::register_all(registry);
}

/// A registry with every standard processor type.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register_all(&mut r);
    r
}
