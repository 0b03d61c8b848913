//! PutSQL: runs an INSERT/UPDATE/DELETE (or any statement) per flowfile against
//! PostgreSQL or SQLite, Batch Size flowfiles per database transaction.
//!
//! Each flowfile's statement runs inside a savepoint, so one bad statement (syntax, a
//! constraint, a value that does not fit) sends only that flowfile to failure while the rest
//! of the batch commits. A database that cannot be reached, or a connection lost mid-batch,
//! rolls the transaction back and sends the whole batch to retry; nothing is reported as
//! success before the COMMIT has been acknowledged.

use std::io::Read;

use sluice_engine::{
    FlowFile, InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::args::{question_marks_to_dollars, sql_args};
use super::common::{
    Backoff, close_database, connection_properties, database_for_trigger, db_unavailable, recovered, reopen_database,
    validate_url,
};
use super::db::{Conn, DbError, ErrorKind, SqlValue};

const STATEMENT: &str = "SQL Statement";
const BATCH: &str = "Batch Size";
const ROLLBACK_ON_FAILURE: &str = "Rollback On Failure";
const RETRY: &str = "retry";
/// Why a flowfile went to failure.
const ERROR_ATTR: &str = "putsql.error.message";
const SAVEPOINT: &str = "sluice_putsql";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutSql::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "PutSQL",
        "Runs a SQL statement (INSERT, UPDATE, DELETE, DDL...) for each flowfile against PostgreSQL or SQLite: the SQL \
         Statement property, or the flowfile's content when it is empty. `?` parameters come from NiFi's sql.args.N.type \
         (JDBC type code), sql.args.N.value and sql.args.N.format (hex/base64/ascii for binary) attributes. Up to Batch Size \
         flowfiles share one transaction; each statement runs in its own savepoint so a bad one fails alone.",
    )
    .tags(&["sql", "put", "insert", "update", "delete", "database", "jdbc", "postgresql", "sqlite"])
    .input(InputRequirement::Required);
    connection_properties(d)
        .property(
            PropertyDescriptor::new(STATEMENT)
                .description("The statement to run (expressions evaluated per flowfile); when empty, the flowfile's content is the statement")
                .expression_language(),
        )
        .property(
            PropertyDescriptor::new(BATCH)
                .description("The most flowfiles run in one database transaction")
                .required()
                .default_value("100")
                .validator(Validator::POSITIVE_INTEGER),
        )
        .property(
            PropertyDescriptor::new(ROLLBACK_ON_FAILURE)
                .description(
                    "When true, a failing statement rolls back the whole transaction and the session: every flowfile of the \
                     batch stays queued (penalized) instead of the bad one going to failure",
                )
                .required()
                .default_value("false")
                .allowable(&[("true", "roll everything back on a failure"), ("false", "route the failing flowfile to failure")]),
        )
        .relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose statement was committed"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Flowfiles whose statement failed for a reason retrying will not fix (syntax, constraint, bad parameter), with putsql.error.message",
        ))
        .relationship(Relationship::new(
            RETRY,
            "Flowfiles whose statement could not be committed because the database was unreachable, the connection was lost, or \
             a transient conflict (deadlock, lock timeout)",
        ))
}

/// The processor.
#[derive(Default)]
pub struct PutSql {
    db: Option<super::common::DbHandle>,
    backoff: Backoff,
}

struct Work {
    ff: FlowFile,
    sql: String,
    params: Vec<SqlValue>,
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, msg: &str) {
    ff.set_attr(ERROR_ATTR, msg);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

impl PutSql {
    /// Routes flowfiles to retry after the database became unusable mid-batch.
    fn abort(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        conn: &mut dyn Conn,
        flowfiles: impl IntoIterator<Item = FlowFile>,
        e: &DbError,
    ) {
        let _ = conn.batch("ROLLBACK");
        for mut ff in flowfiles {
            session.penalize(&mut ff);
            session.transfer(ff, RETRY);
        }
        if let Some(db) = &self.db {
            if e.kind == ErrorKind::Connection {
                db_unavailable(ctx, &self.backoff, db, e);
            } else {
                ctx.bulletin(Level::Warning, format!("transaction rolled back, batch routed to retry: {}", e.message));
            }
        }
    }
}

impl Processor for PutSql {
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
        let batch = ctx.int(BATCH)?.unwrap_or(100).max(1) as usize;
        let rollback_on_failure = ctx.bool(ROLLBACK_ON_FAILURE)?.unwrap_or(false);
        let flowfiles = session.get_batch(batch);
        if flowfiles.is_empty() {
            return Ok(());
        }
        let mut work = Vec::with_capacity(flowfiles.len());
        for ff in flowfiles {
            let stmt = ctx.evaluate(STATEMENT, &ff)?.filter(|s| !s.trim().is_empty());
            let sql = match stmt {
                Some(s) => s,
                None => {
                    let mut text = String::new();
                    if let Err(e) = session.read(&ff)?.read_to_string(&mut text) {
                        fail(session, ff, &format!("the content is not a UTF-8 statement: {e}"));
                        continue;
                    }
                    if text.trim().is_empty() {
                        fail(session, ff, "no statement: the SQL Statement property and the content are empty");
                        continue;
                    }
                    text
                }
            };
            let params = match sql_args(&ff) {
                Ok(p) => p,
                Err(e) => {
                    fail(session, ff, &e);
                    continue;
                }
            };
            let sql = if db.is_postgres() && !params.is_empty() { question_marks_to_dollars(&sql) } else { sql };
            work.push(Work { ff, sql, params });
        }
        if work.is_empty() {
            return Ok(());
        }
        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => {
                for mut w in work {
                    session.penalize(&mut w.ff);
                    session.transfer(w.ff, RETRY);
                }
                db_unavailable(ctx, &self.backoff, db, &e);
                return Ok(());
            }
        };
        if let Err(e) = conn.batch("BEGIN") {
            self.abort(ctx, session, &mut *conn, work.into_iter().map(|w| w.ff), &e);
            return Ok(());
        }
        let mut done: Vec<FlowFile> = Vec::new();
        let mut pending = work.into_iter();
        while let Some(w) = pending.next() {
            let result = conn.batch(&format!("SAVEPOINT {SAVEPOINT}")).and_then(|()| {
                if w.params.is_empty() { conn.batch(&w.sql).map(|()| 0) } else { conn.execute(&w.sql, &w.params) }
            });
            let err = match result {
                Ok(_) => match conn.batch(&format!("RELEASE SAVEPOINT {SAVEPOINT}")) {
                    Ok(()) => {
                        done.push(w.ff);
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if err.retryable() {
                let all = done.into_iter().chain(std::iter::once(w.ff)).chain(pending.map(|w| w.ff));
                self.abort(ctx, session, &mut *conn, all, &err);
                return Ok(());
            }
            if rollback_on_failure {
                let _ = conn.batch("ROLLBACK");
                return Err(ProcessError::other(format!("statement failed, whole batch rolled back: {}", err.message)));
            }
            if let Err(e) = conn.batch(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}")) {
                let all = done.into_iter().chain(std::iter::once(w.ff)).chain(pending.map(|w| w.ff));
                self.abort(ctx, session, &mut *conn, all, &e);
                return Ok(());
            }
            fail(session, w.ff, &err.message);
        }
        match conn.batch("COMMIT") {
            Ok(()) => {
                recovered(ctx, &self.backoff, &format!("connected to {} again", db.display_url()));
                let uri = db.display_url();
                for mut ff in done {
                    ff.remove_attr(ERROR_ATTR);
                    session.mark_sent(&ff, &uri);
                    session.transfer(ff, crate::SUCCESS);
                }
            }
            Err(e) if e.retryable() => self.abort(ctx, session, &mut *conn, done, &e),
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                for ff in done {
                    fail(session, ff, &format!("the transaction failed at commit: {}", e.message));
                }
            }
        }
        Ok(())
    }
}
