//! Database processors: ExecuteSQL, PutSQL, PutDatabaseRecord and QueryDatabaseTable, for
//! PostgreSQL (`tokio-postgres` with a `deadpool-postgres` pool) and SQLite (`rusqlite`).
//!
//! NiFi shares a connection pool between processors as a controller service
//! (DBCPConnectionPool); Sluice has no controller services yet, so each processor carries
//! the pool's properties (Database Connection URL, Database User, Password, Max Total
//! Connections) and owns its pool from `on_scheduled` to `on_stopped`.

mod args;
mod common;
mod db;
mod lite;
mod output;
mod pg;
mod records;

pub mod execute_sql;
pub mod put_database_record;
pub mod put_sql;
pub mod query_database_table;

pub(crate) use common::{Backoff, recovered, unavailable};

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    execute_sql::register(registry);
    put_sql::register(registry);
    put_database_record::register(registry);
    query_database_table::register(registry);
}
