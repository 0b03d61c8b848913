//! ExecuteSQL: runs a SELECT query against PostgreSQL or SQLite and writes the result set
//! as JSON or CSV, streamed row by row into the content (never held whole).
//!
//! With an incoming connection the query runs once per flowfile (from the property,
//! evaluated against its attributes, or from its content when the property is empty, with
//! NiFi's `sql.args.N.*` parameters); the results are children of the input, which is then
//! dropped. Without one it runs on schedule as a source.

use std::io::Read;
use std::time::Instant;

use sluice_engine::{
    FlowFile, InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::args::{question_marks_to_dollars, sql_args};
use super::common::{
    Backoff, close_database, connection_properties, database_for_trigger, db_unavailable, recovered, reopen_database,
    validate_url,
};
use super::db::Failure;
use super::output::{FORMATS, OutputFormat, ResultSpec, set_fragments, write_results};

const QUERY: &str = "SQL select query";
const MAX_WAIT: &str = "Max Wait Time";
const FORMAT: &str = "Output Format";
const MAX_ROWS: &str = "Max Rows Per Flow File";

/// NiFi's attribute for why a query failed.
pub(crate) const ERROR_ATTR: &str = "executesql.error.message";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ExecuteSql::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "ExecuteSQL",
        "Runs a SQL SELECT query against PostgreSQL or SQLite and writes the result set, streamed row by row, as a JSON array of \
         objects or as CSV. With an incoming connection the query runs once per flowfile (the query property evaluated against \
         its attributes, or its content when the property is empty; `?` parameters from NiFi's sql.args.N.type / \
         sql.args.N.value attributes) and the results replace it; without one it runs on schedule. A database that cannot \
         be reached is reported in a bulletin and retried with back-off; the input stays queued.",
    )
    .tags(&["sql", "select", "jdbc", "query", "database", "postgresql", "sqlite"])
    .input(InputRequirement::Allowed);
    connection_properties(d)
        .property(
            PropertyDescriptor::new(QUERY)
                .description(
                    "The SELECT query to run (expressions evaluated against the incoming flowfile). When empty, the content of \
                     the incoming flowfile is the query; a processor without incoming connection needs it.",
                )
                .expression_language(),
        )
        .property(
            PropertyDescriptor::new(MAX_WAIT)
                .description("The longest a query may run before it is cancelled and the flowfile routed to failure; 0 = no limit")
                .required()
                .default_value("0 seconds")
                .validator(Validator::TimePeriod),
        )
        .property(
            PropertyDescriptor::new(FORMAT)
                .description("How rows are written (NiFi's ExecuteSQL writes Avro; Sluice writes JSON or CSV)")
                .required()
                .default_value("JSON")
                .allowable(FORMATS),
        )
        .property(
            PropertyDescriptor::new(MAX_ROWS)
                .description(
                    "The most rows per output flowfile; a larger result is split into several, with fragment.identifier, \
                     fragment.count and fragment.index. 0 = one flowfile for the whole result",
                )
                .required()
                .default_value("0")
                .validator(Validator::NON_NEGATIVE_INTEGER),
        )
        .relationship(Relationship::new(crate::SUCCESS, "The result set of a successful query"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Incoming flowfiles whose query failed (bad SQL, a value that does not fit, the time limit), with executesql.error.message",
        ))
}

/// The processor.
#[derive(Default)]
pub struct ExecuteSql {
    db: Option<super::common::DbHandle>,
    backoff: Backoff,
}

impl ExecuteSql {
    fn fail(&self, session: &mut ProcessSession, mut ff: FlowFile, msg: &str) {
        ff.set_attr(ERROR_ATTR, msg);
        session.penalize(&mut ff);
        session.transfer(ff, crate::FAILURE);
    }
}

impl Processor for ExecuteSql {
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
        let input = if ctx.has_incoming {
            match session.get() {
                Some(ff) => Some(ff),
                None => return Ok(()),
            }
        } else {
            None
        };
        let query = match &input {
            Some(ff) => ctx.evaluate(QUERY, ff)?,
            None => ctx.value(QUERY)?,
        }
        .filter(|q| !q.trim().is_empty());
        let query = match (query, &input) {
            (Some(q), _) => q,
            (None, Some(ff)) => {
                let mut text = String::new();
                if let Err(e) = session.read(ff)?.read_to_string(&mut text) {
                    let msg = format!("the content is not a UTF-8 query: {e}");
                    if let Some(ff) = input {
                        self.fail(session, ff, &msg);
                    }
                    return Ok(());
                }
                text
            }
            (None, None) => {
                return Err(ProcessError::Config(format!(
                    "'{QUERY}' is required when there is no incoming connection"
                )));
            }
        };
        let params = match &input {
            Some(ff) => match sql_args(ff) {
                Ok(p) => p,
                Err(e) => {
                    if let Some(ff) = input {
                        self.fail(session, ff, &e);
                    }
                    return Ok(());
                }
            },
            None => Vec::new(),
        };
        let sql = if db.is_postgres() && !params.is_empty() { question_marks_to_dollars(&query) } else { query };
        let deadline = ctx.duration(MAX_WAIT)?.filter(|d| !d.is_zero()).map(|d| Instant::now() + d);
        let format = OutputFormat::parse(ctx.property(FORMAT));
        let max_rows = ctx.int(MAX_ROWS)?.unwrap_or(0).max(0) as u64;

        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => {
                if let Some(ff) = input {
                    session.return_to_queue(ff);
                }
                db_unavailable(ctx, &self.backoff, db, &e);
                return Ok(());
            }
        };
        let started = Instant::now();
        let mut exec_ms = 0u128;
        let mut outputs = Vec::new();
        let spec = ResultSpec { format, max_rows, parent: input.as_ref(), emit_empty: true };
        let result = conn.query(&sql, &params, deadline, &mut |src| {
            exec_ms = started.elapsed().as_millis();
            outputs = write_results(session, src, &spec, &mut |_| {})?;
            Ok(())
        });
        drop(conn);
        let total_ms = started.elapsed().as_millis();
        match result {
            Ok(()) => {
                recovered(ctx, &self.backoff, &format!("connected to {} again", db.display_url()));
                let split = max_rows > 0;
                set_fragments(&mut outputs, split);
                let uri = db.display_url();
                for (mut ff, rows) in outputs {
                    ff.set_attr("executesql.row.count", &rows.to_string());
                    ff.set_attr("executesql.query.duration", &total_ms.to_string());
                    ff.set_attr("executesql.query.executiontime", &exec_ms.to_string());
                    ff.set_attr("executesql.query.fetchtime", &(total_ms - exec_ms).to_string());
                    ff.set_attr("executesql.resultset.index", "0");
                    ff.set_attr("mime.type", format.mime_type());
                    ff.remove_attr(ERROR_ATTR);
                    if input.is_some() {
                        session.mark_fetched(&ff, &uri);
                    } else {
                        session.mark_received(&ff, &uri);
                    }
                    session.transfer(ff, crate::SUCCESS);
                }
                if let Some(ff) = input {
                    session.remove(ff);
                }
                Ok(())
            }
            Err(Failure::Process(e)) => Err(e),
            Err(Failure::Db(e)) if e.retryable() => {
                if let Some(ff) = input {
                    session.return_to_queue(ff);
                }
                db_unavailable(ctx, &self.backoff, db, &e);
                Ok(())
            }
            Err(Failure::Db(e)) => {
                self.backoff.succeeded();
                match input {
                    Some(ff) => self.fail(session, ff, &e.message),
                    None => {
                        ctx.bulletin(Level::Error, format!("query failed: {}", e.message));
                        ctx.yield_now();
                    }
                }
                Ok(())
            }
        }
    }
}
