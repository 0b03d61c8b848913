//! Database processors: ExecuteSQL, PutSQL, PutDatabaseRecord and QueryDatabaseTable, for
//! PostgreSQL (`tokio-postgres` with a `deadpool-postgres` pool) and SQLite (`rusqlite`).
//!
//! As in NiFi, processors share a pool through a DBCPConnectionPool controller service named
//! by their 'Database Connection Pooling Service' property; a processor may instead carry the
//! pool's properties itself (Database Connection URL, Database User, Password, Max Total
//! Connections) and own its pool from `on_scheduled` to `on_stopped`.

mod args;
mod common;
mod db;
mod lite;
mod output;
mod pg;
mod records;

pub mod dbcp_connection_pool;
pub mod execute_sql;
pub mod put_database_record;
pub mod put_sql;
pub mod query_database_table;

pub(crate) use common::{Backoff, recovered, unavailable};

use sluice_engine::Registry;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    dbcp_connection_pool::register(registry);
    execute_sql::register(registry);
    put_sql::register(registry);
    put_database_record::register(registry);
    query_database_table::register(registry);
}
