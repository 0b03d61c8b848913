//! PutDatabaseRecord: writes the records of a flowfile (JSON, JSON Lines or CSV) into a
//! table of PostgreSQL or SQLite with INSERT, UPSERT, UPDATE or DELETE statements, all
//! records of one flowfile in one transaction.
//!
//! Records are read and written one at a time (the content is never held whole). Fields
//! are matched to the table's columns by name (case-insensitively); each value is converted
//! to its column's type (PostgreSQL: the type the server reports for the parameter; SQLite:
//! the declared type's affinity), and a value that does not fit fails the flowfile, naming
//! the record and field.

use std::collections::HashMap;

use sluice_engine::{
    FlowFile, InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{
    Backoff, close_database, connection_properties, database_for_trigger, db_unavailable, recovered, reopen_database,
    validate_url,
};
use super::db::{Conn, DbError, ErrorKind, Failure, SqlValue, TableInfo};
use super::records::{READERS, ReadFailure, RecordFormat, read_records};

const READER: &str = "Record Reader";
const STATEMENT_TYPE: &str = "Statement Type";
const TABLE: &str = "Table Name";
const UPDATE_KEYS: &str = "Update Keys";
const UNMATCHED_FIELD: &str = "Unmatched Field Behavior";
const RETRY: &str = "retry";
/// NiFi's attribute for why a flowfile failed.
const ERROR_ATTR: &str = "putdatabaserecord.error";

const IGNORE_FIELDS: &str = "Ignore Unmatched Fields";
const FAIL_FIELDS: &str = "Fail on Unmatched Fields";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutDatabaseRecord::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "PutDatabaseRecord",
        "Writes the records of each flowfile (JSON, JSON Lines or CSV) into a PostgreSQL or SQLite table with INSERT, UPSERT \
         (INSERT ... ON CONFLICT (keys) DO UPDATE), UPDATE or DELETE statements; all records of a flowfile in one \
         transaction, so a flowfile is written whole or not at all. Fields match columns by name, case-insensitively; values \
         are converted to the column types and a value that does not fit sends the flowfile to failure with \
         putdatabaserecord.error naming the record and field.",
    )
    .tags(&["sql", "record", "put", "insert", "update", "upsert", "delete", "database", "postgresql", "sqlite"])
    .input(InputRequirement::Required);
    connection_properties(d)
        .property(
            PropertyDescriptor::new(READER)
                .description(
                    "The format of the records in the content (NiFi's Record Reader is a controller service; Sluice reads these \
                     formats itself)",
                )
                .required()
                .default_value("JSON")
                .allowable(READERS),
        )
        .property(
            PropertyDescriptor::new(STATEMENT_TYPE)
                .description("The statement generated for each record")
                .required()
                .default_value("INSERT")
                .allowable(&[
                    ("INSERT", "INSERT INTO table (fields) VALUES (...)"),
                    (
                        "UPSERT",
                        "INSERT ... ON CONFLICT (Update Keys, or the primary key) DO UPDATE SET the other fields (PostgreSQL and \
                         SQLite 3.24+)",
                    ),
                    ("UPDATE", "UPDATE table SET the other fields WHERE the Update Keys (or the primary key) match"),
                    (
                        "DELETE",
                        "DELETE FROM table WHERE the Update Keys (or the primary key; without either, every field) match",
                    ),
                ]),
        )
        .property(
            PropertyDescriptor::new(TABLE)
                .description("The table to write to, as SQL names it (schema.table allowed); expressions evaluated per flowfile")
                .required()
                .expression_language()
                .validator(Validator::NonEmpty),
        )
        .property(
            PropertyDescriptor::new(UPDATE_KEYS)
                .description(
                    "Comma-separated column names identifying a row for UPSERT, UPDATE and DELETE; the table's primary key when \
                     empty",
                )
                .expression_language()
                .depends_on(STATEMENT_TYPE, &["UPSERT", "UPDATE", "DELETE"]),
        )
        .property(
            PropertyDescriptor::new(UNMATCHED_FIELD)
                .description("What to do with a record field that matches no column")
                .required()
                .default_value(IGNORE_FIELDS)
                .allowable(&[(IGNORE_FIELDS, "leave the field out"), (FAIL_FIELDS, "send the flowfile to failure")]),
        )
        .relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose records were all written and committed"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Flowfiles that cannot be written (malformed content, a value of the wrong type, a constraint, a missing table), \
             with putdatabaserecord.error; nothing of them was committed",
        ))
        .relationship(Relationship::new(
            RETRY,
            "Flowfiles not written because the database was unreachable, the connection was lost, or a transient conflict; \
             nothing of them was committed",
        ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StatementType {
    Insert,
    Upsert,
    Update,
    Delete,
}

/// The processor.
#[derive(Default)]
pub struct PutDatabaseRecord {
    db: Option<super::common::DbHandle>,
    backoff: Backoff,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Builds statements for one table, one per distinct set of fields.
struct Planner<'a> {
    table: &'a str,
    info: &'a TableInfo,
    keys: Vec<usize>,
    kind: StatementType,
    fail_unmatched: bool,
    by_name: HashMap<String, usize>,
    cache: HashMap<Vec<usize>, String>,
}

impl<'a> Planner<'a> {
    fn new(
        table: &'a str,
        info: &'a TableInfo,
        key_names: &[String],
        kind: StatementType,
        fail_unmatched: bool,
    ) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for (i, (n, _)) in info.columns.iter().enumerate() {
            by_name.entry(n.to_lowercase()).or_insert(i);
        }
        let find =
            |n: &str| info.columns.iter().position(|(c, _)| c == n).or_else(|| by_name.get(&n.to_lowercase()).copied());
        let names: Vec<String> = if key_names.is_empty() { info.primary_key.clone() } else { key_names.to_vec() };
        let keys = names
            .iter()
            .map(|k| find(k).ok_or_else(|| format!("update key '{k}' is not a column of {table}")))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() && matches!(kind, StatementType::Upsert | StatementType::Update) {
            return Err(format!("{table} has no primary key: set Update Keys"));
        }
        Ok(Planner { table, info, keys, kind, fail_unmatched, by_name, cache: HashMap::new() })
    }

    fn column(&self, field: &str) -> Option<usize> {
        self.info
            .columns
            .iter()
            .position(|(c, _)| c == field)
            .or_else(|| self.by_name.get(&field.to_lowercase()).copied())
    }

    /// The statement and its parameters for one record.
    /// The statement, its parameters and the column each parameter is for.
    fn plan(
        &mut self,
        conn: &dyn Conn,
        n: u64,
        record: Vec<(String, SqlValue)>,
    ) -> Result<(String, Vec<SqlValue>, Vec<String>), DbError> {
        let mut fields: Vec<(usize, SqlValue)> = Vec::with_capacity(record.len());
        for (name, v) in record {
            match self.column(&name) {
                Some(i) if fields.iter().any(|(j, _)| *j == i) => {}
                Some(i) => {
                    let v = conn
                        .coerce(v, &self.info.columns[i].1)
                        .map_err(|e| DbError::statement(format!("record {n}, field '{name}': {e}")))?;
                    fields.push((i, v));
                }
                None if self.fail_unmatched => {
                    return Err(DbError::statement(format!(
                        "record {n}: field '{name}' matches no column of {}",
                        self.table
                    )));
                }
                None => {}
            }
        }
        if fields.is_empty() {
            return Err(DbError::statement(format!("record {n} has no field matching a column of {}", self.table)));
        }
        let is_key = |i: &usize| self.keys.contains(i);
        // Order: for UPDATE the SET fields then the keys; otherwise the record's order.
        let ordered: Vec<(usize, SqlValue)> = match self.kind {
            StatementType::Update | StatementType::Delete => {
                for k in &self.keys {
                    if !fields.iter().any(|(i, _)| i == k) {
                        return Err(DbError::statement(format!(
                            "record {n} has no value for key column '{}'",
                            self.info.columns[*k].0
                        )));
                    }
                }
                let (keys, rest): (Vec<_>, Vec<_>) = fields.into_iter().partition(|(i, _)| is_key(i));
                let mut keys = keys;
                keys.sort_by_key(|(i, _)| self.keys.iter().position(|k| k == i));
                match self.kind {
                    StatementType::Update => {
                        if rest.is_empty() {
                            return Err(DbError::statement(format!(
                                "record {n} has no field to update besides the keys"
                            )));
                        }
                        rest.into_iter().chain(keys).collect()
                    }
                    _ if self.keys.is_empty() => rest,
                    _ => keys,
                }
            }
            _ => fields,
        };
        let cols: Vec<usize> = ordered.iter().map(|(i, _)| *i).collect();
        let names: Vec<String> = cols.iter().map(|i| self.info.columns[*i].0.clone()).collect();
        let sql = match self.cache.get(&cols) {
            Some(s) => s.clone(),
            None => {
                let s = self.build(conn, &cols);
                self.cache.insert(cols, s.clone());
                s
            }
        };
        Ok((sql, ordered.into_iter().map(|(_, v)| v).collect(), names))
    }

    fn build(&self, conn: &dyn Conn, cols: &[usize]) -> String {
        let name = |i: &usize| quote(&self.info.columns[*i].0);
        let ph = |p: usize| conn.placeholder(p);
        match self.kind {
            StatementType::Insert | StatementType::Upsert => {
                let names: Vec<String> = cols.iter().map(name).collect();
                let values: Vec<String> = (1..=cols.len()).map(ph).collect();
                let mut s = format!("INSERT INTO {} ({}) VALUES ({})", self.table, names.join(", "), values.join(", "));
                if self.kind == StatementType::Upsert {
                    let keys: Vec<String> = self.keys.iter().map(name).collect();
                    let sets: Vec<String> = cols
                        .iter()
                        .filter(|i| !self.keys.contains(i))
                        .map(|i| format!("{} = excluded.{}", name(i), name(i)))
                        .collect();
                    if sets.is_empty() {
                        s.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
                    } else {
                        s.push_str(&format!(" ON CONFLICT ({}) DO UPDATE SET {}", keys.join(", "), sets.join(", ")));
                    }
                }
                s
            }
            StatementType::Update => {
                let n_set = cols.len() - self.keys.len();
                let sets: Vec<String> =
                    cols[..n_set].iter().enumerate().map(|(p, i)| format!("{} = {}", name(i), ph(p + 1))).collect();
                let wheres: Vec<String> = cols[n_set..]
                    .iter()
                    .enumerate()
                    .map(|(p, i)| format!("{} = {}", name(i), ph(n_set + p + 1)))
                    .collect();
                format!("UPDATE {} SET {} WHERE {}", self.table, sets.join(", "), wheres.join(" AND "))
            }
            StatementType::Delete => {
                let wheres: Vec<String> =
                    cols.iter().enumerate().map(|(p, i)| format!("{} = {}", name(i), ph(p + 1))).collect();
                format!("DELETE FROM {} WHERE {}", self.table, wheres.join(" AND "))
            }
        }
    }
}

enum Outcome {
    Success(u64),
    Failure(String),
    Retry(DbError),
}

impl PutDatabaseRecord {
    fn write(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        conn: &mut dyn Conn,
        ff: &FlowFile,
    ) -> Result<Outcome, ProcessError> {
        let table = ctx.evaluate(TABLE, ff)?.unwrap_or_default().trim().to_string();
        if table.is_empty() {
            return Ok(Outcome::Failure("Table Name evaluated to nothing".into()));
        }
        let kind = match ctx.property(STATEMENT_TYPE) {
            Some("UPSERT") => StatementType::Upsert,
            Some("UPDATE") => StatementType::Update,
            Some("DELETE") => StatementType::Delete,
            _ => StatementType::Insert,
        };
        let keys: Vec<String> = ctx
            .evaluate(UPDATE_KEYS, ff)?
            .unwrap_or_default()
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        let fail_unmatched = ctx.property(UNMATCHED_FIELD) == Some(FAIL_FIELDS);
        let format = RecordFormat::parse(ctx.property(READER));
        let info = match conn.table_columns(&table) {
            Ok(i) => i,
            Err(e) if e.retryable() => return Ok(Outcome::Retry(e)),
            Err(e) => return Ok(Outcome::Failure(e.message)),
        };
        let mut planner = match Planner::new(&table, &info, &keys, kind, fail_unmatched) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::Failure(e)),
        };
        if let Err(e) = conn.batch("BEGIN") {
            return Ok(if e.retryable() { Outcome::Retry(e) } else { Outcome::Failure(e.message) });
        }
        let input = session.read(ff)?;
        let mut n = 0u64;
        let read = read_records(input, format, &mut |record| {
            n += 1;
            let (sql, params, names) = planner.plan(conn, n, record)?;
            conn.execute(&sql, &params).map_err(|mut e| {
                // "parameter 2: ..." from the driver names the field instead.
                let named = e.message.strip_prefix("parameter ").and_then(|rest| {
                    let (i, why) = rest.split_once(": ")?;
                    let col = names.get(i.parse::<usize>().ok()?.checked_sub(1)?)?;
                    Some(format!("field '{col}': {why}"))
                });
                e.message = format!("record {n}, {}", named.unwrap_or(e.message));
                e
            })?;
            Ok(())
        });
        let outcome = match read {
            Ok(count) => match conn.batch("COMMIT") {
                Ok(()) => return Ok(Outcome::Success(count)),
                Err(e) if e.retryable() => Outcome::Retry(e),
                Err(e) => Outcome::Failure(format!("the transaction failed at commit: {}", e.message)),
            },
            Err(ReadFailure::Parse(msg)) => Outcome::Failure(msg),
            Err(ReadFailure::Callback(Failure::Db(e))) if e.retryable() => Outcome::Retry(e),
            Err(ReadFailure::Callback(Failure::Db(e))) => Outcome::Failure(e.message),
            Err(ReadFailure::Callback(Failure::Process(e))) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        };
        let _ = conn.batch("ROLLBACK");
        Ok(outcome)
    }
}

impl Processor for PutDatabaseRecord {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        reopen_database(&mut self.db, &self.backoff, ctx)?;
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        close_database(&mut self.db);
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        validate_url(ctx)
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(db) = database_for_trigger(&self.db, &self.backoff, ctx)? else {
            return Ok(());
        };
        let Some(mut ff) = session.get() else {
            return Ok(());
        };
        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => {
                session.penalize(&mut ff);
                session.transfer(ff, RETRY);
                db_unavailable(ctx, &self.backoff, db, &e);
                return Ok(());
            }
        };
        let outcome = self.write(ctx, session, &mut *conn, &ff)?;
        drop(conn);
        match outcome {
            Outcome::Success(count) => {
                recovered(ctx, &self.backoff, &format!("connected to {} again", db.display_url()));
                ff.remove_attr(ERROR_ATTR);
                ff.set_attr("putdatabaserecord.record.count", &count.to_string());
                session.mark_sent(&ff, &db.display_url());
                session.transfer(ff, crate::SUCCESS);
            }
            Outcome::Failure(msg) => {
                ff.set_attr(ERROR_ATTR, &msg);
                session.penalize(&mut ff);
                session.transfer(ff, crate::FAILURE);
            }
            Outcome::Retry(e) => {
                session.penalize(&mut ff);
                session.transfer(ff, RETRY);
                if e.kind == ErrorKind::Connection {
                    db_unavailable(ctx, &self.backoff, db, &e);
                } else {
                    ctx.bulletin(sluice_engine::Level::Warning, format!("routed to retry: {}", e.message));
                }
            }
        }
        Ok(())
    }
}
