//! control processors.

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(_registry: &mut Registry) {}
