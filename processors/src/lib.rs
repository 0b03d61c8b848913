//! The standard processors of Sluice, one per module, registered by [`register_all`].

pub mod generate_flowfile;
pub mod log_attribute;
pub mod route_on_attribute;
pub mod update_attribute;

use sluice_engine::Registry;

/// The `success` relationship most processors have.
pub const SUCCESS: &str = "success";
/// The `failure` relationship.
pub const FAILURE: &str = "failure";

/// Registers every standard processor type.
pub fn register_all(registry: &mut Registry) {
    generate_flowfile::register(registry);
    update_attribute::register(registry);
    route_on_attribute::register(registry);
    log_attribute::register(registry);
}

/// A registry with every standard processor type.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register_all(&mut r);
    r
}
