//! QueryDatabaseTable: a source that fetches the rows of a table added since its last run,
//! tracked by one or more maximum-value columns (an increasing id, an updated-at timestamp).
//!
//! The largest value seen per column is kept in memory and, when the engine has a data
//! directory, in `state.json` in the processor's state directory (written to a temporary
//! file and renamed, so a crash leaves the old or the new state, never half of one). The
//! state moves forward only once the session holding the fetched rows has committed
//! (`ProcessSession::on_commit`): rows are never skipped, and after a crash between the
//! commit and the state write they are fetched again (at-least-once, as NiFi).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sluice_engine::{
    DynamicProperties, InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor,
    ProcessorDescriptor, PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{
    Backoff, close_database, connection_properties, db_unavailable, recovered, reopen_database, validate_url,
};
use super::db::{Cell, Failure, SqlValue};
use super::output::{FORMATS, OutputFormat, ResultSpec, set_fragments, write_results};

const TABLE: &str = "Table Name";
const COLUMNS: &str = "Columns to Return";
const MAX_VALUE_COLUMNS: &str = "Maximum-value Columns";
const WHERE: &str = "Additional WHERE clause";
const MAX_WAIT: &str = "Max Wait Time";
const FORMAT: &str = "Output Format";
const MAX_ROWS: &str = "Max Rows Per Flow File";
const INITIAL_PREFIX: &str = "initial.maxvalue.";
const STATE_FILE: &str = "state.json";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(QueryDatabaseTable::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let d = ProcessorDescriptor::new(
        "QueryDatabaseTable",
        "Fetches the rows of a PostgreSQL or SQLite table that are new since the last run, by the largest values seen in the \
         Maximum-value Columns (kept across restarts in the processor's state), and writes them as JSON or CSV. Without \
         maximum-value columns every run fetches the whole table. The state advances only after the fetched rows are \
         committed to the flow.",
    )
    .tags(&["sql", "select", "jdbc", "query", "database", "incremental", "cdc", "postgresql", "sqlite"])
    .input(InputRequirement::Forbidden)
    .default_period("1 min");
    connection_properties(d)
        .property(
            PropertyDescriptor::new(TABLE)
                .description("The table to query, as SQL names it (schema.table allowed)")
                .required()
                .expression_language()
                .validator(Validator::NonEmpty),
        )
        .property(
            PropertyDescriptor::new(COLUMNS)
                .description("Comma-separated columns to return (all when empty); must include the Maximum-value Columns")
                .expression_language(),
        )
        .property(
            PropertyDescriptor::new(MAX_VALUE_COLUMNS)
                .description(
                    "Comma-separated columns whose largest value seen is remembered; the next run fetches only rows with a \
                     larger value in the first one (and not smaller in the others). Use increasing columns: ids, timestamps.",
                )
                .expression_language(),
        )
        .property(
            PropertyDescriptor::new(WHERE)
                .description("A condition added to the query's WHERE clause (without the keyword WHERE)")
                .expression_language(),
        )
        .property(
            PropertyDescriptor::new(MAX_WAIT)
                .description("The longest the query may run before it is cancelled; 0 = no limit")
                .required()
                .default_value("0 seconds")
                .validator(Validator::TimePeriod),
        )
        .property(
            PropertyDescriptor::new(FORMAT)
                .description("How rows are written (NiFi's QueryDatabaseTable writes Avro; Sluice writes JSON or CSV)")
                .required()
                .default_value("JSON")
                .allowable(FORMATS),
        )
        .property(
            PropertyDescriptor::new(MAX_ROWS)
                .description(
                    "The most rows per output flowfile; more are split over several with fragment.* attributes. 0 = all rows \
                     of a run in one flowfile",
                )
                .required()
                .default_value("0")
                .validator(Validator::NON_NEGATIVE_INTEGER),
        )
        .dynamic(DynamicProperties {
            name_meaning: "initial.maxvalue.<column>: the starting maximum value of a Maximum-value Column".into(),
            value_meaning: "Rows up to and including this value are never fetched (used while no state exists for the column)".into(),
            expression_language: true,
            creates_relationships: false,
        })
        .relationship(Relationship::new(crate::SUCCESS, "The new rows, with querydbtable.row.count and maxvalue.<column>"))
}

/// A remembered maximum value: its kind (how to bind it) and text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct MaxValue {
    kind: String,
    value: String,
}

/// The persisted state: maximum values by `table@!@column` (lower case, as NiFi keys them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    maxvalues: BTreeMap<String, MaxValue>,
}

/// The processor.
#[derive(Default)]
pub struct QueryDatabaseTable {
    db: Option<super::common::DbHandle>,
    backoff: Backoff,
    state: Arc<Mutex<State>>,
    state_file: Option<PathBuf>,
    /// A fetch whose session has not settled yet: the next waits for its state.
    in_flight: Arc<AtomicBool>,
}

fn state_key(table: &str, column: &str) -> String {
    format!("{}@!@{}", table.to_lowercase(), column.to_lowercase())
}

fn load_state(path: &Path) -> Result<State, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("state file {} is unreadable: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
    }
}

/// Writes the state atomically: a temporary file, synced, renamed over the old one.
fn save_state(path: &Path, state: &State) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default().split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
}

/// Guesses how to bind an initial value given by the user.
fn guess_kind(v: &str) -> &'static str {
    if v.trim().parse::<i64>().is_ok() {
        "int"
    } else if v.trim().parse::<f64>().is_ok() {
        "float"
    } else {
        "text"
    }
}

impl Processor for QueryDatabaseTable {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        reopen_database(&mut self.db, &self.backoff, ctx)?;
        self.in_flight = Arc::new(AtomicBool::new(false));
        self.state_file = ctx.state_dir().map(|d| d.join(STATE_FILE));
        let state = match &self.state_file {
            Some(p) => load_state(p).map_err(ProcessError::Config)?,
            // Memory mode: keep what this instance learnt across stop/start.
            None => self.state.lock().clone(),
        };
        self.state = Arc::new(Mutex::new(state));
        Ok(())
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        close_database(&mut self.db);
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let mut errs = validate_url(ctx);
        let cols = split_list(ctx.value(COLUMNS).ok().flatten());
        if !cols.is_empty() && !cols.iter().any(|c| c == "*") {
            for m in split_list(ctx.value(MAX_VALUE_COLUMNS).ok().flatten()) {
                if !cols.iter().any(|c| c.eq_ignore_ascii_case(&m)) {
                    errs.push(format!("'{COLUMNS}' must include the Maximum-value Column '{m}'"));
                }
            }
        }
        errs
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(db) = &self.db else {
            return Err(ProcessError::other("not started"));
        };
        if self.in_flight.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.backoff.ready() {
            ctx.yield_now();
            return Ok(());
        }
        let table = ctx.value(TABLE)?.unwrap_or_default().trim().to_string();
        if table.is_empty() {
            return Err(ProcessError::Config(format!("'{TABLE}' is empty")));
        }
        let columns = split_list(ctx.value(COLUMNS)?);
        let max_cols = split_list(ctx.value(MAX_VALUE_COLUMNS)?);
        let extra_where = ctx.value(WHERE)?.filter(|w| !w.trim().is_empty());
        let format = OutputFormat::parse(ctx.property(FORMAT));
        let max_rows = ctx.int(MAX_ROWS)?.unwrap_or(0).max(0) as u64;
        let deadline = ctx.duration(MAX_WAIT)?.filter(|d| !d.is_zero()).map(|d| Instant::now() + d);

        let current: Vec<Option<MaxValue>> = {
            let st = self.state.lock();
            max_cols
                .iter()
                .map(|c| -> Result<Option<MaxValue>, ProcessError> {
                    if let Some(v) = st.maxvalues.get(&state_key(&table, c)) {
                        return Ok(Some(v.clone()));
                    }
                    let initial = ctx
                        .dynamic_properties()
                        .find(|(k, _)| k.strip_prefix(INITIAL_PREFIX).is_some_and(|n| n.eq_ignore_ascii_case(c)))
                        .map(|(k, _)| k.to_string());
                    match initial {
                        Some(k) => Ok(ctx.value(&k)?.map(|v| MaxValue { kind: guess_kind(&v).into(), value: v })),
                        None => Ok(None),
                    }
                })
                .collect::<Result<_, _>>()?
        };

        let select = if columns.is_empty() { "*".to_string() } else { columns.join(", ") };
        let mut sql = format!("SELECT {select} FROM {table}");
        let mut conds: Vec<String> = Vec::new();
        if let Some(w) = &extra_where {
            conds.push(format!("({w})"));
        }
        let mut params: Vec<SqlValue> = Vec::new();
        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => {
                db_unavailable(ctx, &self.backoff, db, &e);
                return Ok(());
            }
        };
        for (i, (c, v)) in max_cols.iter().zip(&current).enumerate() {
            if let Some(v) = v {
                params.push(Cell::to_param(&v.kind, &v.value));
                conds.push(format!("{c} {} {}", if i == 0 { ">" } else { ">=" }, conn.placeholder(params.len())));
            }
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        if !max_cols.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&max_cols.join(", "));
        }

        let mut maxima: Vec<Option<Cell>> = vec![None; max_cols.len()];
        let mut outputs = Vec::new();
        let spec = ResultSpec { format, max_rows, parent: None, emit_empty: false };
        let result = conn.query(&sql, &params, deadline, &mut |src| {
            let idx: Vec<usize> = max_cols
                .iter()
                .map(|m| {
                    src.columns().iter().position(|c| c.eq_ignore_ascii_case(m)).ok_or_else(|| {
                        Failure::Process(ProcessError::Config(format!(
                            "Maximum-value Column '{m}' is not among the returned columns"
                        )))
                    })
                })
                .collect::<Result<_, _>>()?;
            outputs = write_results(session, src, &spec, &mut |row| {
                for (k, &i) in idx.iter().enumerate() {
                    let cell = &row[i];
                    if maxima[k].as_ref().is_none_or(|m| cell.greater_than(m)) && !matches!(cell, Cell::Null) {
                        maxima[k] = Some(cell.clone());
                    }
                }
            })?;
            Ok(())
        });
        drop(conn);
        match result {
            Ok(()) => recovered(ctx, &self.backoff, &format!("connected to {} again", db.display_url())),
            Err(Failure::Process(e)) => return Err(e),
            Err(Failure::Db(e)) if e.retryable() => {
                db_unavailable(ctx, &self.backoff, db, &e);
                return Ok(());
            }
            Err(Failure::Db(e)) => {
                self.backoff.succeeded();
                ctx.bulletin(Level::Error, format!("query failed: {} (query: {sql})", e.message));
                ctx.yield_now();
                return Ok(());
            }
        }
        if outputs.is_empty() {
            ctx.yield_now();
            return Ok(());
        }

        let mut next = self.state.lock().clone();
        let mut attrs: Vec<(String, String)> = Vec::new();
        for (c, m) in max_cols.iter().zip(&maxima) {
            if let Some(m) = m {
                let value = m.text().unwrap_or_default();
                attrs.push((format!("maxvalue.{}", c.to_lowercase()), value.clone()));
                next.maxvalues.insert(state_key(&table, c), MaxValue { kind: m.kind().into(), value });
            }
        }
        set_fragments(&mut outputs, max_rows > 0);
        let uri = db.display_url();
        for (mut ff, rows) in outputs {
            ff.set_attr("tablename", &table);
            ff.set_attr("querydbtable.row.count", &rows.to_string());
            ff.set_attr("mime.type", format.mime_type());
            for (k, v) in &attrs {
                ff.set_attr(k, v);
            }
            session.mark_received(&ff, &uri);
            session.transfer(ff, crate::SUCCESS);
        }
        self.in_flight.store(true, Ordering::Release);
        let state = self.state.clone();
        let in_flight = self.in_flight.clone();
        let file = self.state_file.clone();
        session.on_commit(Box::new(move |committed| {
            if committed {
                if let Some(f) = &file
                    && let Err(e) = save_state(f, &next)
                {
                    tracing::error!("QueryDatabaseTable could not save its state to {}: {e}", f.display());
                }
                *state.lock() = next;
            }
            in_flight.store(false, Ordering::Release);
        }));
        Ok(())
    }
}
