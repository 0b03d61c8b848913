//! Database access shared by the SQL processors: one connection pool per processor
//! instance (PostgreSQL through `deadpool-postgres`/`tokio-postgres`, SQLite through
//! `rusqlite`), a small synchronous connection interface both implement, the values that
//! travel in (parameters) and out (result cells), and the classification of errors into
//! "the database is unreachable, retry later" and "this statement or this data is wrong".
//!
//! Why not one generic driver: the processors must bind parameters of whatever type the
//! table has (a text attribute into a `timestamp` column, a JSON number into `numeric`).
//! `tokio-postgres` prepares statements and reports the parameter types the server
//! inferred, so each value is converted to exactly that type; SQLite is dynamically typed
//! and synchronous, which `rusqlite` maps directly. Both are the ecosystem's reference
//! drivers (rust-postgres and rusqlite projects), actively maintained.

use std::fmt;
use std::time::{Duration, Instant};

use super::lite::SqlitePool;
use super::pg::PgPool;

/// How a database failure should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The database cannot be reached, refused our credentials, or the connection broke:
    /// nothing is wrong with the flowfile; retry later with back-off.
    Connection,
    /// A transient conflict (deadlock, serialization failure, database locked): retry.
    Transient,
    /// The statement ran longer than allowed.
    Timeout,
    /// The statement or the data is wrong (syntax, constraint, type): retrying will not help.
    Statement,
}

/// A database failure with a message safe to show (never holds a password).
#[derive(Clone, Debug)]
pub(crate) struct DbError {
    /// What to do about it.
    pub kind: ErrorKind,
    /// Why, for attributes and bulletins.
    pub message: String,
}

impl DbError {
    /// A statement or data error.
    pub fn statement(message: impl Into<String>) -> Self {
        DbError { kind: ErrorKind::Statement, message: message.into() }
    }

    /// A connection error.
    pub fn connection(message: impl Into<String>) -> Self {
        DbError { kind: ErrorKind::Connection, message: message.into() }
    }

    /// Whether the same work may succeed later (route to retry / roll back).
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Connection | ErrorKind::Transient)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A value bound to a statement parameter, typed as loosely as its source (an attribute, a
/// JSON or CSV field); each driver converts it to the parameter's real type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (also numbers and dates given as text, converted by the driver).
    Text(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A JSON object or array (for json columns and arrays).
    Json(serde_json::Value),
}

impl SqlValue {
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            SqlValue::Null => "null".into(),
            SqlValue::Bool(b) => b.to_string(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Float(f) => f.to_string(),
            SqlValue::Text(s) => {
                let mut s: String = s.chars().take(64).collect();
                s.insert(0, '\'');
                s.push('\'');
                s
            }
            SqlValue::Bytes(b) => format!("{} bytes", b.len()),
            SqlValue::Json(v) => {
                let s = v.to_string();
                s.chars().take(64).collect()
            }
        }
    }

    /// The value of a JSON field.
    pub fn from_json(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => SqlValue::Null,
            serde_json::Value::Bool(b) => SqlValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Int(i),
                // Keep the exact digits of a u64 beyond i64 (for numeric columns).
                None if n.is_u64() => SqlValue::Text(n.to_string()),
                None => n.as_f64().map(SqlValue::Float).unwrap_or_else(|| SqlValue::Text(n.to_string())),
            },
            serde_json::Value::String(s) => SqlValue::Text(s),
            v @ (serde_json::Value::Array(_) | serde_json::Value::Object(_)) => SqlValue::Json(v),
        }
    }
}

/// One value of a result row, decoded from the database's own type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// An exact decimal (PostgreSQL numeric), as its digits (`NaN` / `Infinity` possible).
    Numeric(String),
    /// Text.
    Text(String),
    /// JSON text (json, jsonb, arrays) embedded as is in JSON output.
    Json(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A date, time or timestamp: its text and a key that orders it (microseconds).
    Temporal {
        /// Sort key (microseconds since the epoch, or since midnight for times).
        key: i64,
        /// ISO 8601 text.
        text: String,
    },
}

impl Cell {
    /// The text of the cell as CSV and state files hold it (None for NULL).
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Numeric(s) | Cell::Text(s) | Cell::Json(s) => s.clone(),
            Cell::Bytes(b) => hex_bytes(b),
            Cell::Temporal { text, .. } => text.clone(),
        })
    }

    /// The kind name kept in state files with a maximum value.
    pub fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Bool(_) => "bool",
            Cell::Int(_) => "int",
            Cell::Float(_) => "float",
            Cell::Numeric(_) => "numeric",
            Cell::Text(_) | Cell::Json(_) | Cell::Bytes(_) => "text",
            Cell::Temporal { .. } => "temporal",
        }
    }

    /// Whether `self` is greater than `other` (both from the same column); NULL is smallest.
    pub fn greater_than(&self, other: &Cell) -> bool {
        use std::cmp::Ordering;
        let ord = match (self, other) {
            (Cell::Null, _) => return false,
            (_, Cell::Null) => return true,
            (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Cell::Int(a), Cell::Float(b)) => (*a as f64).partial_cmp(b).unwrap_or(Ordering::Equal),
            (Cell::Float(a), Cell::Int(b)) => a.partial_cmp(&(*b as f64)).unwrap_or(Ordering::Equal),
            (Cell::Numeric(a), Cell::Numeric(b)) => compare_decimal(a, b),
            (Cell::Temporal { key: a, .. }, Cell::Temporal { key: b, .. }) => a.cmp(b),
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            (a, b) => a.text().cmp(&b.text()),
        };
        ord == std::cmp::Ordering::Greater
    }

    /// A parameter value that stands for this cell (to query "greater than it").
    pub fn to_param(kind: &str, text: &str) -> SqlValue {
        match kind {
            "int" => text.parse().map(SqlValue::Int).unwrap_or_else(|_| SqlValue::Text(text.into())),
            "float" => text.parse().map(SqlValue::Float).unwrap_or_else(|_| SqlValue::Text(text.into())),
            "bool" => SqlValue::Bool(text == "true"),
            _ => SqlValue::Text(text.into()),
        }
    }
}

/// Binary data as PostgreSQL prints it: `\x` then lower-case hex.
pub(crate) fn hex_bytes(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// Decodes `\x`-prefixed hex; None when `s` is not that.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let h = s.strip_prefix("\\x")?;
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok()).collect()
}

/// Compares two decimal strings numerically (`-12.50` vs `3`); non-numbers compare as text.
pub(crate) fn compare_decimal(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn split(s: &str) -> Option<(bool, &str, &str)> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        if i.is_empty() && f.is_empty() || !i.bytes().chain(f.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((neg, i.trim_start_matches('0'), f.trim_end_matches('0')))
    }
    let (Some((na, ia, fa)), Some((nb, ib, fb))) = (split(a), split(b)) else {
        return a.cmp(b);
    };
    let zero_a = ia.is_empty() && fa.is_empty();
    let zero_b = ib.is_empty() && fb.is_empty();
    let na = na && !zero_a;
    let nb = nb && !zero_b;
    let magnitude = ia.len().cmp(&ib.len()).then_with(|| ia.cmp(ib)).then_with(|| fa.cmp(fb));
    match (na, nb) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
    }
}

/// Rows of a running query, pulled one at a time so results stream into content.
pub(crate) trait RowSource {
    /// The result's column names.
    fn columns(&self) -> &[String];
    /// The next row, None at the end.
    fn next_row(&mut self) -> Result<Option<Vec<Cell>>, DbError>;
}

/// What a query callback may fail with: the database (mid-stream) or the engine (content).
#[derive(Debug)]
pub(crate) enum Failure {
    /// A database error.
    Db(DbError),
    /// An engine error (content repository...), which rolls the session back.
    Process(sluice_engine::ProcessError),
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Db(e)
    }
}

impl From<sluice_engine::ProcessError> for Failure {
    fn from(e: sluice_engine::ProcessError) -> Self {
        Failure::Process(e)
    }
}

/// Callback that consumes a query's rows.
pub(crate) type OnRows<'f> = dyn FnMut(&mut dyn RowSource) -> Result<(), Failure> + 'f;

/// A connection taken from a pool; returned to it when dropped.
pub(crate) trait Conn {
    /// Runs SQL without parameters or results (may hold several statements): BEGIN,
    /// SAVEPOINT, a parameterless PutSQL statement.
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs one statement with parameters; returns the rows affected.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError>;
    /// Runs a query and hands its rows to `f`, which pulls them as it writes. The deadline
    /// (Max Wait Time) cancels the query when reached.
    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        deadline: Option<Instant>,
        f: &mut OnRows<'_>,
    ) -> Result<(), Failure>;
    /// The table's columns (real names, declared type) and its primary key columns.
    fn table_columns(&mut self, table: &str) -> Result<TableInfo, DbError>;
    /// The placeholder for parameter `i` (1-based): `$1` or `?1`.
    fn placeholder(&self, i: usize) -> String;
    /// Converts a record value for a column of `declared` type where the driver does not
    /// (SQLite's dynamic typing); PostgreSQL converts to the prepared parameter type instead.
    fn coerce(&self, v: SqlValue, _declared: &str) -> Result<SqlValue, String> {
        Ok(v)
    }
}

/// A table's columns as the database knows them.
#[derive(Clone, Debug, Default)]
pub(crate) struct TableInfo {
    /// (name, declared type), in table order.
    pub columns: Vec<(String, String)>,
    /// Primary key column names.
    pub primary_key: Vec<String>,
}

/// A database: which driver, and the processor's pool for it.
pub(crate) enum Database {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite (a file).
    Sqlite(SqlitePool),
}

/// Pool settings from the processor's properties.
#[derive(Clone, Debug)]
pub(crate) struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long to wait for a free connection or a new one.
    pub max_wait: Duration,
}

impl Database {
    /// Builds the pool for a connection URL (no connection is made yet, so a database that
    /// is down does not keep the processor from starting). Accepts NiFi's JDBC URLs too
    /// (`jdbc:postgresql://...`, `jdbc:sqlite:...`).
    pub fn open(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
        settings: &PoolSettings,
    ) -> Result<Database, String> {
        let url = url.trim();
        let url = url.strip_prefix("jdbc:").unwrap_or(url);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgPool::new(url, user, password, settings).map(Database::Postgres)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            SqlitePool::new(rest, settings).map(Database::Sqlite)
        } else {
            Err("the Database Connection URL must start with postgresql://, postgres://, sqlite: (or jdbc:postgresql:, jdbc:sqlite:)".into())
        }
    }

    /// The URL without credentials, for bulletins and provenance.
    pub fn display_url(&self) -> String {
        match self {
            Database::Postgres(p) => p.display_url(),
            Database::Sqlite(s) => s.display_url(),
        }
    }

    /// A connection from the pool.
    pub fn get(&self) -> Result<Box<dyn Conn + '_>, DbError> {
        match self {
            Database::Postgres(p) => Ok(Box::new(p.get()?)),
            Database::Sqlite(s) => Ok(Box::new(s.get()?)),
        }
    }

    /// Closes every pooled connection.
    pub fn close(&self) {
        match self {
            Database::Postgres(p) => p.close(),
            Database::Sqlite(s) => s.close(),
        }
    }

    /// Whether this is PostgreSQL (for `?` placeholder translation).
    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn decimals_compare_numerically() {
        assert_eq!(compare_decimal("10", "9"), Ordering::Greater);
        assert_eq!(compare_decimal("-10", "9"), Ordering::Less);
        assert_eq!(compare_decimal("-10.5", "-10.25"), Ordering::Less);
        assert_eq!(compare_decimal("1.50", "1.5"), Ordering::Equal);
        assert_eq!(compare_decimal("-0", "0.000"), Ordering::Equal);
        assert_eq!(compare_decimal("0.001", "0.01"), Ordering::Less);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex_bytes(&[0, 255, 16]), "\\x00ff10");
        assert_eq!(unhex("\\x00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("\\x0"), None);
        assert_eq!(unhex("00"), None);
    }

    #[test]
    fn json_numbers_keep_their_digits() {
        assert_eq!(SqlValue::from_json(serde_json::json!(5)), SqlValue::Int(5));
        assert_eq!(SqlValue::from_json(serde_json::json!(1.25)), SqlValue::Float(1.25));
        assert_eq!(SqlValue::from_json(serde_json::json!(u64::MAX)), SqlValue::Text(u64::MAX.to_string()));
    }
}
