//! SQLite for the SQL processors (`rusqlite`, SQLite compiled in): a small pool of
//! connections to one database file. SQLite is synchronous and in-process, so no runtime is
//! involved; "connection" failures are a file that cannot be opened.

use std::time::Instant;

use parking_lot::Mutex;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, ffi};

use super::db::{Cell, Conn, DbError, ErrorKind, Failure, OnRows, PoolSettings, RowSource, SqlValue, TableInfo};

/// A processor's SQLite connections to one file.
pub(crate) struct SqlitePool {
    path: String,
    busy: std::time::Duration,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
    /// For `:memory:`: a connection that keeps the shared in-memory database alive.
    keeper: Mutex<Option<Connection>>,
}

impl SqlitePool {
    /// A pool for `sqlite:` URLs: `sqlite:/abs/path.db`, `sqlite:///abs/path.db`,
    /// `sqlite:relative.db`, `sqlite::memory:` (one database shared by the processor's
    /// connections while it runs).
    pub fn new(rest: &str, settings: &PoolSettings) -> Result<SqlitePool, String> {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        if rest.is_empty() {
            return Err("the sqlite: URL names no database file".into());
        }
        let memory = rest == ":memory:";
        let path = if memory {
            format!("file:sluice-{}?mode=memory&cache=shared", uuid::Uuid::new_v4())
        } else {
            rest.to_string()
        };
        Ok(SqlitePool {
            path,
            busy: settings.max_wait,
            max_idle: settings.max_connections.max(1),
            idle: Mutex::new(Vec::new()),
            keeper: Mutex::new(None),
        })
    }

    /// `sqlite:<path>`.
    pub fn display_url(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn open(&self) -> Result<Connection, DbError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let c = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| DbError::connection(format!("cannot open {}: {e}", self.display_url())))?;
        c.busy_timeout(self.busy).map_err(|e| classify(&e))?;
        c.set_prepared_statement_cache_capacity(64);
        if self.path.starts_with("file:sluice-") {
            let mut k = self.keeper.lock();
            if k.is_none() {
                *k = Some(Connection::open_with_flags(&self.path, flags).map_err(|e| classify(&e))?);
            }
        }
        Ok(c)
    }

    /// A connection (an idle one or a new one).
    pub fn get(&self) -> Result<SqliteConn<'_>, DbError> {
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        Ok(SqliteConn { conn: Some(conn), pool: self })
    }

    /// Closes idle connections.
    pub fn close(&self) {
        self.idle.lock().clear();
        self.keeper.lock().take();
    }
}

/// Sorts a SQLite error into retry-later or bad-statement.
pub(crate) fn classify(e: &rusqlite::Error) -> DbError {
    let kind = match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => ErrorKind::Transient,
            ffi::ErrorCode::OperationInterrupted => ErrorKind::Timeout,
            ffi::ErrorCode::CannotOpen
            | ffi::ErrorCode::PermissionDenied
            | ffi::ErrorCode::SystemIoFailure
            | ffi::ErrorCode::DiskFull
            | ffi::ErrorCode::ReadOnly
            | ffi::ErrorCode::NotADatabase
            | ffi::ErrorCode::DatabaseCorrupt => ErrorKind::Connection,
            _ => ErrorKind::Statement,
        },
        _ => ErrorKind::Statement,
    };
    let message = if kind == ErrorKind::Timeout {
        "the query ran longer than Max Wait Time and was interrupted".to_string()
    } else {
        e.to_string()
    };
    DbError { kind, message }
}

/// A connection taken from a [`SqlitePool`]; goes back to it when dropped.
pub(crate) struct SqliteConn<'p> {
    conn: Option<Connection>,
    pool: &'p SqlitePool,
}

impl Drop for SqliteConn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            // A connection left inside a transaction (an error path) is not reused.
            if c.is_autocommit() {
                let mut idle = self.pool.idle.lock();
                if idle.len() < self.pool.max_idle {
                    idle.push(c);
                }
            }
        }
    }
}

fn to_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Bool(b) => Value::Integer(*b as i64),
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Float(f) => Value::Real(*f),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Bytes(b) => Value::Blob(b.clone()),
        SqlValue::Json(j) => Value::Text(j.to_string()),
    }
}

/// Converts a value for a column by its declared type, following SQLite's affinity rules
/// (INT → integer, REAL/FLOA/DOUB → real, CHAR/CLOB/TEXT → text, BLOB → blob), so a value
/// that cannot be stored as the declared type is refused instead of silently stored as text.
pub(crate) fn coerce(v: SqlValue, declared: &str) -> Result<SqlValue, String> {
    let d = declared.to_ascii_uppercase();
    let bad = |v: &SqlValue| format!("{} is not a valid {declared}", v.describe());
    if matches!(v, SqlValue::Null) {
        return Ok(v);
    }
    if d.contains("BOOL") {
        return match &v {
            SqlValue::Bool(b) => Ok(SqlValue::Int(*b as i64)),
            SqlValue::Int(0 | 1) => Ok(v),
            SqlValue::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" => Ok(SqlValue::Int(1)),
                "false" | "f" | "0" => Ok(SqlValue::Int(0)),
                _ => Err(bad(&v)),
            },
            _ => Err(bad(&v)),
        };
    }
    if d.contains("INT") {
        return match &v {
            SqlValue::Int(_) => Ok(v),
            SqlValue::Bool(b) => Ok(SqlValue::Int(*b as i64)),
            SqlValue::Float(f) if f.fract() == 0.0 && f.is_finite() => Ok(SqlValue::Int(*f as i64)),
            SqlValue::Text(s) => s.trim().parse().map(SqlValue::Int).map_err(|_| bad(&v)),
            _ => Err(bad(&v)),
        };
    }
    if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        return match &v {
            SqlValue::Float(_) => Ok(v),
            SqlValue::Int(i) => Ok(SqlValue::Float(*i as f64)),
            SqlValue::Text(s) => s.trim().parse().map(SqlValue::Float).map_err(|_| bad(&v)),
            _ => Err(bad(&v)),
        };
    }
    if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        return Ok(match v {
            SqlValue::Int(i) => SqlValue::Text(i.to_string()),
            SqlValue::Float(f) => SqlValue::Text(f.to_string()),
            SqlValue::Bool(b) => SqlValue::Text(b.to_string()),
            other => other,
        });
    }
    Ok(v)
}

impl SqliteConn<'_> {
    fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("a pooled connection is present until drop")
    }
}

impl Conn for SqliteConn<'_> {
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn().execute_batch(sql).map_err(|e| classify(&e))
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let c = self.conn();
        let n = if params.is_empty() {
            c.execute(sql, [])
        } else {
            let mut stmt = c.prepare_cached(sql).map_err(|e| classify(&e))?;
            stmt.execute(rusqlite::params_from_iter(params.iter().map(to_value)))
        }
        .map_err(|e| classify(&e))?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        deadline: Option<Instant>,
        f: &mut OnRows<'_>,
    ) -> Result<(), Failure> {
        let c = self.conn();
        if let Some(d) = deadline {
            c.progress_handler(1000, Some(move || Instant::now() >= d)).map_err(|e| classify(&e))?;
        }
        let result = run_query(c, sql, params, deadline, f);
        if deadline.is_some() {
            let _ = c.progress_handler(0, None::<fn() -> bool>);
        }
        result
    }

    fn table_columns(&mut self, table: &str) -> Result<TableInfo, DbError> {
        let c = self.conn();
        let mut stmt =
            c.prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid").map_err(|e| classify(&e))?;
        let mut rows = stmt.query([table]).map_err(|e| classify(&e))?;
        let mut info = TableInfo::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        while let Some(r) = rows.next().map_err(|e| classify(&e))? {
            let name: String = r.get(0).map_err(|e| classify(&e))?;
            let ty: String = r.get(1).map_err(|e| classify(&e))?;
            let p: i64 = r.get(2).map_err(|e| classify(&e))?;
            if p > 0 {
                pk.push((p, name.clone()));
            }
            info.columns.push((name, ty));
        }
        if info.columns.is_empty() {
            return Err(DbError::statement(format!("no such table: {table}")));
        }
        pk.sort();
        info.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        Ok(info)
    }

    fn placeholder(&self, i: usize) -> String {
        format!("?{i}")
    }

    fn coerce(&self, v: SqlValue, declared: &str) -> Result<SqlValue, String> {
        coerce(v, declared)
    }
}

fn run_query(
    c: &Connection,
    sql: &str,
    params: &[SqlValue],
    deadline: Option<Instant>,
    f: &mut OnRows<'_>,
) -> Result<(), Failure> {
    let mut stmt = c.prepare(sql).map_err(|e| classify(&e))?;
    let columns: Vec<String> = stmt.column_names().map(String::from).collect();
    if stmt.parameter_count() != params.len() {
        return Err(DbError::statement(format!(
            "the statement has {} parameters but {} values were given",
            stmt.parameter_count(),
            params.len()
        ))
        .into());
    }
    let rows =
        stmt.query(rusqlite::params_from_iter(params.iter().map(to_value))).map_err(|e| timeout_aware(&e, deadline))?;
    let mut src = SqliteRows { rows, columns, deadline };
    f(&mut src)
}

fn timeout_aware(e: &rusqlite::Error, deadline: Option<Instant>) -> DbError {
    let mut d = classify(e);
    if deadline.is_some_and(|d| Instant::now() >= d) && d.kind != ErrorKind::Timeout {
        d = DbError {
            kind: ErrorKind::Timeout,
            message: "the query ran longer than Max Wait Time and was interrupted".into(),
        };
    }
    d
}

struct SqliteRows<'s> {
    rows: rusqlite::Rows<'s>,
    columns: Vec<String>,
    deadline: Option<Instant>,
}

impl RowSource for SqliteRows<'_> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<Vec<Cell>>, DbError> {
        let deadline = self.deadline;
        let n = self.columns.len();
        let Some(row) = self.rows.next().map_err(|e| timeout_aware(&e, deadline))? else {
            return Ok(None);
        };
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            let v = row.get_ref(i).map_err(|e| classify(&e))?;
            cells.push(match v {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::Int(i),
                ValueRef::Real(f) => Cell::Float(f),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            });
        }
        Ok(Some(cells))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_declared_affinity() {
        assert_eq!(coerce(SqlValue::Text("12".into()), "INTEGER"), Ok(SqlValue::Int(12)));
        assert!(coerce(SqlValue::Text("twelve".into()), "INTEGER").unwrap_err().contains("not a valid INTEGER"));
        assert_eq!(coerce(SqlValue::Int(2), "REAL"), Ok(SqlValue::Float(2.0)));
        assert_eq!(coerce(SqlValue::Int(2), "VARCHAR(10)"), Ok(SqlValue::Text("2".into())));
        assert_eq!(coerce(SqlValue::Bool(true), "BOOLEAN"), Ok(SqlValue::Int(1)));
        assert_eq!(coerce(SqlValue::Text("x".into()), ""), Ok(SqlValue::Text("x".into())));
    }
}
