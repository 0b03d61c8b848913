//! PostgreSQL for the SQL processors: a `deadpool-postgres` pool of `tokio-postgres`
//! connections, driven from the synchronous processor code with `io::block_on`.
//!
//! Parameters are converted to the types the server inferred when preparing the statement
//! (see [`to_pg`]); result values are decoded from PostgreSQL's binary format into
//! [`Cell`]s whatever their type (unknown types whose binary form is text, such as enums
//! and `citext`, come out as text; anything else as `\x` hex). `numeric` is carried as exact
//! decimal text both ways.

use std::error::Error as StdError;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{CancelToken, NoTls, RowStream, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::db::{
    Cell, Conn, DbError, ErrorKind, Failure, OnRows, PoolSettings, RowSource, SqlValue, TableInfo, hex_bytes, unhex,
};
use crate::io::block_on;

/// Statements cached per connection before the cache is cleared (PutSQL statements built
/// from content are all different).
const STATEMENT_CACHE_LIMIT: usize = 500;

type BoxError = Box<dyn StdError + Sync + Send>;

/// TLS for a pool: plain, or rustls with the system's root certificates (`sslmode=require`).
#[derive(Clone)]
enum PgTls {
    Plain,
    Rustls(MakeRustlsConnect),
}

/// A processor's PostgreSQL pool.
pub(crate) struct PgPool {
    pool: Pool,
    tls: PgTls,
    display: String,
}

impl PgPool {
    /// Builds the pool from a `postgresql://` URL; connects lazily.
    pub fn new(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
        settings: &PoolSettings,
    ) -> Result<PgPool, String> {
        let mut cfg: tokio_postgres::Config =
            url.parse().map_err(|e| format!("invalid Database Connection URL: {e}"))?;
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            cfg.user(u);
        }
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            cfg.password(p);
        }
        cfg.connect_timeout(settings.max_wait);
        cfg.application_name("sluice");
        let host = match cfg.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let db = cfg.get_dbname().or(cfg.get_user()).unwrap_or("postgres").to_string();
        let display = format!("postgresql://{host}:{port}/{db}");
        let mgr_cfg = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let tls =
            if cfg.get_ssl_mode() == SslMode::Require { PgTls::Rustls(rustls_connector()?) } else { PgTls::Plain };
        let mgr = match &tls {
            PgTls::Plain => Manager::from_config(cfg, NoTls, mgr_cfg),
            PgTls::Rustls(t) => Manager::from_config(cfg, t.clone(), mgr_cfg),
        };
        let pool = Pool::builder(mgr)
            .max_size(settings.max_connections.max(1))
            .wait_timeout(Some(settings.max_wait))
            .create_timeout(Some(settings.max_wait))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| format!("cannot build the connection pool: {e}"))?;
        Ok(PgPool { pool, tls, display })
    }

    /// The URL without credentials.
    pub fn display_url(&self) -> String {
        self.display.clone()
    }

    /// A pooled connection (connecting if none is idle).
    pub fn get(&self) -> Result<PgConn, DbError> {
        let client = block_on(self.pool.get()).map_err(|e| pool_error(e, &self.display))?;
        Ok(PgConn { client, tls: self.tls.clone() })
    }

    /// Closes the pool.
    pub fn close(&self) {
        self.pool.close();
    }
}

fn rustls_connector() -> Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn pool_error(e: PoolError, url: &str) -> DbError {
    match e {
        PoolError::Backend(e) => {
            let mut d = classify(&e);
            d.message = format!("cannot connect to {url}: {}", d.message);
            if d.kind == ErrorKind::Statement {
                d.kind = ErrorKind::Connection;
            }
            d
        }
        PoolError::Timeout(t) => DbError::connection(format!("cannot connect to {url}: timed out ({t:?})")),
        PoolError::Closed => DbError::connection("the connection pool is closed"),
        other => DbError::connection(format!("cannot connect to {url}: {other}")),
    }
}

/// Sorts a driver error into retry-later or bad-statement, with a readable message.
pub(crate) fn classify(e: &tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = match code.get(..2).unwrap_or("") {
            "08" | "28" | "3D" => ErrorKind::Connection,
            "53" | "40" => ErrorKind::Transient,
            "57" if code == "57014" => ErrorKind::Timeout,
            "57" => ErrorKind::Connection,
            _ => ErrorKind::Statement,
        };
        return DbError { kind, message: format!("{db} (SQLSTATE {code})") };
    }
    let mut message = e.to_string();
    let mut src = e.source();
    let mut io = false;
    while let Some(s) = src {
        io |= s.is::<std::io::Error>();
        let m = s.to_string();
        if !message.contains(&m) {
            message.push_str(": ");
            message.push_str(&m);
        }
        src = s.source();
    }
    let statement = ["error serializing", "error deserializing", "invalid column", "expected ", "query returned"]
        .iter()
        .any(|p| message.starts_with(p));
    let kind = if e.is_closed() || io || !statement { ErrorKind::Connection } else { ErrorKind::Statement };
    DbError { kind, message }
}

/// A connection taken from a [`PgPool`].
pub(crate) struct PgConn {
    client: Object,
    tls: PgTls,
}

impl PgConn {
    fn prepare(&self, sql: &str, cached: bool) -> Result<Statement, DbError> {
        let r = if cached {
            if self.client.statement_cache.size() > STATEMENT_CACHE_LIMIT {
                self.client.statement_cache.clear();
            }
            block_on(self.client.prepare_cached(sql))
        } else {
            block_on(self.client.prepare(sql))
        };
        r.map_err(|e| classify(&e))
    }

    fn params(stmt: &Statement, values: &[SqlValue]) -> Result<Vec<PgParam>, DbError> {
        if stmt.params().len() != values.len() {
            return Err(DbError::statement(format!(
                "the statement has {} parameters but {} values were given",
                stmt.params().len(),
                values.len()
            )));
        }
        stmt.params()
            .iter()
            .zip(values)
            .enumerate()
            .map(|(i, (ty, v))| to_pg(v, ty).map_err(|e| DbError::statement(format!("parameter {}: {e}", i + 1))))
            .collect()
    }
}

impl Conn for PgConn {
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        block_on(self.client.batch_execute(sql)).map_err(|e| classify(&e))
    }

    fn execute(&mut self, sql: &str, values: &[SqlValue]) -> Result<u64, DbError> {
        let stmt = self.prepare(sql, !values.is_empty())?;
        let params = Self::params(&stmt, values)?;
        block_on(self.client.execute_raw(&stmt, params.iter().map(|p| p as &dyn ToSql))).map_err(|e| classify(&e))
    }

    fn query(
        &mut self,
        sql: &str,
        values: &[SqlValue],
        deadline: Option<Instant>,
        f: &mut OnRows<'_>,
    ) -> Result<(), Failure> {
        let cancel = self.client.cancel_token();
        let tls = self.tls.clone();
        let started = with_deadline(deadline, &cancel, &tls, async {
            let stmt =
                if values.is_empty() { self.client.prepare(sql).await } else { self.client.prepare_cached(sql).await }
                    .map_err(|e| classify(&e))?;
            let params = Self::params(&stmt, values)?;
            let stream =
                self.client.query_raw(&stmt, params.iter().map(|p| p as &dyn ToSql)).await.map_err(|e| classify(&e))?;
            Ok((stmt, stream))
        });
        let (stmt, stream) = started?;
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
        let mut rows = PgRows { stream: Box::pin(stream), columns, deadline, cancel, tls };
        f(&mut rows)
    }

    fn table_columns(&mut self, table: &str) -> Result<TableInfo, DbError> {
        const SQL: &str = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)), false) \
             FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
        let rows = block_on(self.client.query(SQL, &[&table])).map_err(|e| classify(&e))?;
        let mut info = TableInfo::default();
        for r in rows {
            let name: String = r.get(0);
            let ty: String = r.get(1);
            let pk: bool = r.get(2);
            if pk {
                info.primary_key.push(name.clone());
            }
            info.columns.push((name, ty));
        }
        Ok(info)
    }

    fn placeholder(&self, i: usize) -> String {
        format!("${i}")
    }
}

/// Runs `fut` until the deadline; past it, asks the server to cancel the running query.
fn with_deadline<T>(
    deadline: Option<Instant>,
    cancel: &CancelToken,
    tls: &PgTls,
    fut: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    block_on(async {
        match deadline {
            None => fut.await,
            Some(d) => match tokio::time::timeout_at(tokio::time::Instant::from_std(d), fut).await {
                Ok(r) => r,
                Err(_) => {
                    cancel_query(cancel, tls).await;
                    Err(DbError {
                        kind: ErrorKind::Timeout,
                        message: "the query ran longer than Max Wait Time and was cancelled".into(),
                    })
                }
            },
        }
    })
}

async fn cancel_query(cancel: &CancelToken, tls: &PgTls) {
    let r = match tls {
        PgTls::Plain => cancel.cancel_query(NoTls).await,
        PgTls::Rustls(t) => cancel.cancel_query(t.clone()).await,
    };
    if let Err(e) = r {
        tracing::warn!("cancelling a PostgreSQL query failed: {e}");
    }
}

struct PgRows {
    stream: Pin<Box<RowStream>>,
    columns: Vec<String>,
    deadline: Option<Instant>,
    cancel: CancelToken,
    tls: PgTls,
}

impl RowSource for PgRows {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<Vec<Cell>>, DbError> {
        let stream = &mut self.stream;
        let next = with_deadline(self.deadline, &self.cancel, &self.tls, async { Ok(stream.next().await) })?;
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(classify(&e)),
            Some(Ok(row)) => {
                let mut cells = Vec::with_capacity(self.columns.len());
                for i in 0..self.columns.len() {
                    let c: PgCell = row.try_get(i).map_err(|e| {
                        DbError::statement(format!("column '{}': {}", self.columns[i], classify(&e).message))
                    })?;
                    cells.push(c.0);
                }
                Ok(Some(cells))
            }
        }
    }
}

/// Any PostgreSQL value decoded into a [`Cell`].
struct PgCell(Cell);

impl<'a> FromSql<'a> for PgCell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(PgCell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgCell(Cell::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn decode(ty: &Type, raw: &[u8]) -> Result<Cell, BoxError> {
    match ty.kind() {
        Kind::Array(_) => {
            let items: Vec<PgCell> = Vec::from_sql(ty, raw)?;
            let arr: Vec<serde_json::Value> = items.iter().map(|c| cell_json(&c.0)).collect();
            return Ok(Cell::Json(serde_json::Value::Array(arr).to_string()));
        }
        Kind::Domain(base) => return decode(base, raw),
        Kind::Enum(_) => return Ok(Cell::Text(String::from_utf8_lossy(raw).into_owned())),
        _ => {}
    }
    let infinite = |raw: &[u8], size: usize| -> Option<Cell> {
        if raw.len() != size {
            return None;
        }
        let v = if size == 8 {
            i64::from_be_bytes(raw.try_into().ok()?)
        } else {
            i32::from_be_bytes(raw.try_into().ok()?) as i64
        };
        let max = if size == 8 { i64::MAX } else { i32::MAX as i64 };
        let min = if size == 8 { i64::MIN } else { i32::MIN as i64 };
        if v == max {
            Some(Cell::Temporal { key: i64::MAX, text: "infinity".into() })
        } else if v == min {
            Some(Cell::Temporal { key: i64::MIN, text: "-infinity".into() })
        } else {
            None
        }
    };
    Ok(match *ty {
        Type::BOOL => Cell::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Cell::Int(i16::from_sql(ty, raw)? as i64),
        Type::INT4 => Cell::Int(i32::from_sql(ty, raw)? as i64),
        Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
        Type::OID => Cell::Int(u32::from_sql(ty, raw)? as i64),
        Type::FLOAT4 => Cell::Float(f32::from_sql(ty, raw)? as f64),
        Type::FLOAT8 => Cell::Float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => Cell::Numeric(decode_numeric(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Cell::Text(String::from_sql(ty, raw)?)
        }
        Type::CHAR => Cell::Text(((i8::from_sql(ty, raw)? as u8) as char).to_string()),
        Type::JSON | Type::JSONB => Cell::Json(serde_json::Value::from_sql(ty, raw)?.to_string()),
        Type::BYTEA => Cell::Bytes(raw.to_vec()),
        Type::UUID => Cell::Text(uuid::Uuid::from_sql(ty, raw)?.to_string()),
        Type::TIMESTAMP => match infinite(raw, 8) {
            Some(c) => c,
            None => {
                let t = NaiveDateTime::from_sql(ty, raw)?;
                Cell::Temporal {
                    key: t.and_utc().timestamp_micros(),
                    text: t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
                }
            }
        },
        Type::TIMESTAMPTZ => match infinite(raw, 8) {
            Some(c) => c,
            None => {
                let t = DateTime::<Utc>::from_sql(ty, raw)?;
                Cell::Temporal { key: t.timestamp_micros(), text: t.to_rfc3339_opts(SecondsFormat::AutoSi, true) }
            }
        },
        Type::DATE => match infinite(raw, 4) {
            Some(c) => c,
            None => {
                let d = NaiveDate::from_sql(ty, raw)?;
                let days = d.signed_duration_since(NaiveDate::default()).num_days();
                Cell::Temporal { key: days.saturating_mul(MICROS_PER_DAY), text: d.format("%Y-%m-%d").to_string() }
            }
        },
        Type::TIME => {
            let t = NaiveTime::from_sql(ty, raw)?;
            let key = t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64;
            Cell::Temporal { key, text: t.format("%H:%M:%S%.f").to_string() }
        }
        _ => match std::str::from_utf8(raw) {
            // Types whose binary form is their text (citext, enums of extensions, xml...).
            Ok(s) if !s.bytes().any(|b| b < 0x09) => Cell::Text(s.to_string()),
            _ => Cell::Text(hex_bytes(raw)),
        },
    })
}

/// A cell as a JSON value (array elements).
pub(crate) fn cell_json(c: &Cell) -> serde_json::Value {
    use serde_json::Value;
    match c {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Int(i) => Value::from(*i),
        Cell::Float(f) => {
            serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or_else(|| Value::String(f.to_string()))
        }
        Cell::Numeric(s) => serde_json::from_str::<serde_json::Number>(s)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(s.clone())),
        Cell::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        other => Value::String(other.text().unwrap_or_default()),
    }
}

/// PostgreSQL's binary numeric as decimal text.
fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    if raw.len() < 8 {
        return Err("numeric value too short".into());
    }
    let rd = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
    let ndigits = rd(0).max(0) as usize;
    let weight = rd(2) as i32;
    let sign = u16::from_be_bytes([raw[4], raw[5]]);
    let dscale = u16::from_be_bytes([raw[6], raw[7]]) as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    if raw.len() < 8 + ndigits * 2 {
        return Err("numeric value truncated".into());
    }
    let digit = |i: i32| -> i16 { if i >= 0 && (i as usize) < ndigits { rd(8 + i as usize * 2) } else { 0 } };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                s.push_str(&digit(i).to_string());
            } else {
                s.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::new();
        let groups = dscale.div_ceil(4) as i32;
        for j in 0..groups {
            frac.push_str(&format!("{:04}", digit(weight + 1 + j)));
        }
        frac.truncate(dscale);
        s.push_str(&frac);
    }
    Ok(s)
}

/// Decimal text as PostgreSQL's binary numeric.
fn encode_numeric(text: &str, out: &mut BytesMut) -> Result<(), String> {
    let t = text.trim();
    let special = match t.to_ascii_lowercase().as_str() {
        "nan" => Some(0xC000u16),
        "infinity" | "+infinity" | "inf" => Some(0xD000),
        "-infinity" | "-inf" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(0);
        return Ok(());
    }
    let bad = || format!("'{text}' is not a number");
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(p) => (&rest[..p], rest[p + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (ip, fp) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (ip.is_empty() && fp.is_empty()) || !ip.bytes().chain(fp.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let all: String = format!("{ip}{fp}");
    let point = ip.len() as i64 + exp as i64;
    if point.abs() > 200_000 {
        return Err(format!("'{text}' is out of range for numeric"));
    }
    let (int_s, frac_s) = if point <= 0 {
        (String::new(), format!("{}{all}", "0".repeat((-point) as usize)))
    } else if point as usize >= all.len() {
        (format!("{all}{}", "0".repeat(point as usize - all.len())), String::new())
    } else {
        (all[..point as usize].to_string(), all[point as usize..].to_string())
    };
    let dscale = frac_s.len();
    let int_s = int_s.trim_start_matches('0');
    let pad_left = (4 - int_s.len() % 4) % 4;
    let int_p = format!("{}{int_s}", "0".repeat(pad_left));
    let pad_right = (4 - frac_s.len() % 4) % 4;
    let frac_p = format!("{frac_s}{}", "0".repeat(pad_right));
    let group = |s: &str| {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or("0").parse::<i16>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let mut digits = group(&int_p);
    let mut weight = digits.len() as i32 - 1;
    digits.extend(group(&frac_p));
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    if dscale > 0x3FFF || digits.len() > i16::MAX as usize {
        return Err(format!("'{text}' is out of range for numeric"));
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if neg && !digits.is_empty() { 0x4000 } else { 0 });
    out.put_u16(dscale as u16);
    for d in digits {
        out.put_i16(d);
    }
    Ok(())
}

/// A parameter value in the exact type the server expects.
#[derive(Debug)]
pub(crate) enum PgParam {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Oid(u32),
    F32(f32),
    F64(f64),
    Numeric(String),
    Text(String),
    /// Sent as its bytes whatever the type (enums, whose binary form is the label).
    Raw(String),
    Bytes(Vec<u8>),
    Json(serde_json::Value),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    Uuid(uuid::Uuid),
    Array(Vec<PgParam>),
}

impl ToSql for PgParam {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            PgParam::Null => Ok(IsNull::Yes),
            PgParam::Bool(v) => v.to_sql(ty, out),
            PgParam::I16(v) => v.to_sql(ty, out),
            PgParam::I32(v) => v.to_sql(ty, out),
            PgParam::I64(v) => v.to_sql(ty, out),
            PgParam::Oid(v) => v.to_sql(ty, out),
            PgParam::F32(v) => v.to_sql(ty, out),
            PgParam::F64(v) => v.to_sql(ty, out),
            PgParam::Numeric(v) => {
                encode_numeric(v, out)?;
                Ok(IsNull::No)
            }
            PgParam::Text(v) => v.to_sql(ty, out),
            PgParam::Raw(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            PgParam::Bytes(v) => v.to_sql(ty, out),
            PgParam::Json(v) => v.to_sql(ty, out),
            PgParam::Timestamp(v) => v.to_sql(ty, out),
            PgParam::TimestampTz(v) => v.to_sql(ty, out),
            PgParam::Date(v) => v.to_sql(ty, out),
            PgParam::Time(v) => v.to_sql(ty, out),
            PgParam::Uuid(v) => v.to_sql(ty, out),
            PgParam::Array(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Parses a timestamp without time zone: ISO 8601 (`T` or space, optional fraction, a
/// zone is converted to UTC), a date alone (midnight), or milliseconds since the epoch.
pub(crate) fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    if let Some(t) = parse_timestamptz_zoned(s) {
        return Some(t.naive_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    epoch_millis(s).map(|t| t.naive_utc())
}

fn parse_timestamptz_zoned(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// Parses a timestamp with time zone (one without a zone is taken as UTC).
pub(crate) fn parse_timestamptz(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    parse_timestamptz_zoned(s).or_else(|| parse_timestamp(s).map(|t| t.and_utc()))
}

fn epoch_millis(s: &str) -> Option<DateTime<Utc>> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp_millis(s.parse().ok()?)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Converts a loosely typed value into the parameter type `ty` the server inferred; the
/// error says why the value does not fit (the caller routes the flowfile to failure).
pub(crate) fn to_pg(v: &SqlValue, ty: &Type) -> Result<PgParam, String> {
    if matches!(v, SqlValue::Null) {
        return Ok(PgParam::Null);
    }
    let mismatch = || format!("{} is not a valid {}", v.describe(), ty.name());
    match ty.kind() {
        Kind::Domain(base) => return to_pg(v, base),
        Kind::Enum(_) => {
            return match v {
                SqlValue::Text(s) => Ok(PgParam::Raw(s.clone())),
                _ => Err(mismatch()),
            };
        }
        Kind::Array(member) => {
            let items = match v {
                SqlValue::Json(serde_json::Value::Array(a)) => a.clone(),
                SqlValue::Text(s) => match serde_json::from_str::<serde_json::Value>(s) {
                    Ok(serde_json::Value::Array(a)) => a,
                    _ => {
                        return Err(format!("{} is not a JSON array for {}", v.describe(), ty.name()));
                    }
                },
                _ => return Err(mismatch()),
            };
            return items
                .into_iter()
                .map(|i| to_pg(&SqlValue::from_json(i), member))
                .collect::<Result<_, _>>()
                .map(PgParam::Array);
        }
        _ => {}
    }
    let int = |min: i64, max: i64| -> Result<i64, String> {
        let i = match v {
            SqlValue::Int(i) => *i,
            SqlValue::Float(f) if f.fract() == 0.0 && f.is_finite() => *f as i64,
            SqlValue::Bool(b) => *b as i64,
            SqlValue::Text(s) => s.trim().parse::<i64>().map_err(|_| mismatch())?,
            _ => return Err(mismatch()),
        };
        if i < min || i > max { Err(format!("{i} is out of range for {}", ty.name())) } else { Ok(i) }
    };
    let float = || -> Result<f64, String> {
        match v {
            SqlValue::Int(i) => Ok(*i as f64),
            SqlValue::Float(f) => Ok(*f),
            SqlValue::Text(s) => s.trim().parse::<f64>().map_err(|_| mismatch()),
            _ => Err(mismatch()),
        }
    };
    let text = || -> Result<String, String> {
        match v {
            SqlValue::Text(s) => Ok(s.clone()),
            SqlValue::Int(i) => Ok(i.to_string()),
            SqlValue::Float(f) => Ok(f.to_string()),
            SqlValue::Bool(b) => Ok(b.to_string()),
            SqlValue::Json(j) => Ok(j.to_string()),
            SqlValue::Bytes(b) => String::from_utf8(b.clone()).map_err(|_| mismatch()),
            SqlValue::Null => Ok(String::new()),
        }
    };
    Ok(match *ty {
        Type::BOOL => PgParam::Bool(match v {
            SqlValue::Bool(b) => *b,
            SqlValue::Int(0) => false,
            SqlValue::Int(1) => true,
            SqlValue::Text(s) => parse_bool(s).ok_or_else(mismatch)?,
            _ => return Err(mismatch()),
        }),
        Type::INT2 => PgParam::I16(int(i16::MIN as i64, i16::MAX as i64)? as i16),
        Type::INT4 => PgParam::I32(int(i32::MIN as i64, i32::MAX as i64)? as i32),
        Type::INT8 => PgParam::I64(int(i64::MIN, i64::MAX)?),
        Type::OID => PgParam::Oid(int(0, u32::MAX as i64)? as u32),
        Type::FLOAT4 => PgParam::F32(float()? as f32),
        Type::FLOAT8 => PgParam::F64(float()?),
        Type::NUMERIC => {
            let s = match v {
                SqlValue::Bool(_) | SqlValue::Json(_) | SqlValue::Bytes(_) => {
                    return Err(mismatch());
                }
                _ => text()?,
            };
            let mut probe = BytesMut::new();
            encode_numeric(&s, &mut probe).map_err(|_| mismatch())?;
            PgParam::Numeric(s)
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => PgParam::Text(text()?),
        Type::JSON | Type::JSONB => PgParam::Json(match v {
            SqlValue::Json(j) => j.clone(),
            SqlValue::Text(s) => serde_json::from_str(s).map_err(|e| format!("{} is not JSON: {e}", v.describe()))?,
            SqlValue::Int(i) => serde_json::Value::from(*i),
            SqlValue::Float(f) => serde_json::Value::from(*f),
            SqlValue::Bool(b) => serde_json::Value::Bool(*b),
            _ => return Err(mismatch()),
        }),
        Type::BYTEA => PgParam::Bytes(match v {
            SqlValue::Bytes(b) => b.clone(),
            SqlValue::Text(s) => unhex(s).unwrap_or_else(|| s.as_bytes().to_vec()),
            _ => return Err(mismatch()),
        }),
        Type::TIMESTAMP => PgParam::Timestamp(match v {
            SqlValue::Int(ms) => DateTime::from_timestamp_millis(*ms).ok_or_else(mismatch)?.naive_utc(),
            SqlValue::Text(s) => parse_timestamp(s).ok_or_else(mismatch)?,
            _ => return Err(mismatch()),
        }),
        Type::TIMESTAMPTZ => PgParam::TimestampTz(match v {
            SqlValue::Int(ms) => DateTime::from_timestamp_millis(*ms).ok_or_else(mismatch)?,
            SqlValue::Text(s) => parse_timestamptz(s).ok_or_else(mismatch)?,
            _ => return Err(mismatch()),
        }),
        Type::DATE => PgParam::Date(match v {
            SqlValue::Int(ms) => DateTime::from_timestamp_millis(*ms).ok_or_else(mismatch)?.date_naive(),
            SqlValue::Text(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .or_else(|| parse_timestamp(s).map(|t| t.date()))
                .ok_or_else(mismatch)?,
            _ => return Err(mismatch()),
        }),
        Type::TIME => PgParam::Time(match v {
            SqlValue::Text(s) => ["%H:%M:%S%.f", "%H:%M"]
                .iter()
                .find_map(|f| NaiveTime::parse_from_str(s.trim(), f).ok())
                .ok_or_else(mismatch)?,
            _ => return Err(mismatch()),
        }),
        Type::UUID => PgParam::Uuid(match v {
            SqlValue::Text(s) => uuid::Uuid::parse_str(s.trim()).map_err(|_| mismatch())?,
            _ => return Err(mismatch()),
        }),
        _ => {
            return Err(format!(
                "parameters of type {} are not supported; cast the parameter in SQL (e.g. $1::text::{})",
                ty.name(),
                ty.name()
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        let mut b = BytesMut::new();
        encode_numeric(s, &mut b).expect("encodes");
        decode_numeric(&b).expect("decodes")
    }

    #[test]
    fn numeric_round_trips_exactly() {
        assert_eq!(round_trip("0"), "0");
        assert_eq!(round_trip("12345678901234567890.123456789"), "12345678901234567890.123456789");
        assert_eq!(round_trip("-1.50"), "-1.50");
        assert_eq!(round_trip("0.0001"), "0.0001");
        assert_eq!(round_trip("10000"), "10000");
        assert_eq!(round_trip("1.5e3"), "1500");
        assert_eq!(round_trip("25e-3"), "0.025");
        assert_eq!(round_trip("NaN"), "NaN");
        assert!(encode_numeric("12a", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn values_convert_to_the_inferred_type_or_say_why() {
        assert!(matches!(to_pg(&SqlValue::Text("42".into()), &Type::INT4), Ok(PgParam::I32(42))));
        let e = to_pg(&SqlValue::Text("abc".into()), &Type::INT4).unwrap_err();
        assert!(e.contains("not a valid int4"), "{e}");
        assert!(to_pg(&SqlValue::Int(70000), &Type::INT2).is_err());
        assert!(matches!(
            to_pg(&SqlValue::Text("2024-03-01T10:00:00Z".into()), &Type::TIMESTAMPTZ),
            Ok(PgParam::TimestampTz(_))
        ));
        assert!(matches!(to_pg(&SqlValue::Int(0), &Type::TIMESTAMP), Ok(PgParam::Timestamp(_))));
        assert!(matches!(to_pg(&SqlValue::Text("{\"a\":1}".into()), &Type::JSONB), Ok(PgParam::Json(_))));
        assert!(to_pg(&SqlValue::Text("x".into()), &Type::INTERVAL).unwrap_err().contains("cast the parameter"));
    }
}
