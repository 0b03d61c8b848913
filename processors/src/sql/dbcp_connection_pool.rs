//! DBCPConnectionPool: a database connection pool shared by SQL processors (NiFi's
//! controller service of that name), for PostgreSQL or SQLite.

use std::sync::Arc;

use sluice_engine::service::ServiceInstance;
use sluice_engine::{InputRequirement, ProcessContext, ProcessorDescriptor, Registry};

use super::common::{POOL_API, build_pool, check_url_scheme, pool_properties};

/// Registers the service type.
pub fn register(r: &mut Registry) {
    r.register_service(descriptor(), POOL_API, create);
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "DBCPConnectionPool",
        "A pool of database connections (PostgreSQL or SQLite) that several SQL processors share through their \
         'Database Connection Pooling Service' property, so credentials are configured once and connections reused.",
    )
    .tags(&["database", "connection", "pool", "jdbc", "sql", "postgresql", "sqlite"])
    .input(InputRequirement::Forbidden);
    pool_properties(d, true)
}

/// Builds the pool (no connection yet: a database that is down does not keep the service
/// from being enabled; processors report it on use).
fn create(ctx: &ProcessContext) -> Result<ServiceInstance, String> {
    let url = ctx.property(super::common::URL).unwrap_or("").trim();
    if let Some(e) = check_url_scheme(url).into_iter().next() {
        return Err(e);
    }
    Ok(Arc::new(build_pool(ctx)?))
}
