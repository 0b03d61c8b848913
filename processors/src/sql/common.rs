//! What the SQL processors share: the connection properties (a reference to a
//! DBCPConnectionPool controller service, as in NiFi, or the pool's own properties carried by
//! the processor), opening the pool, and the back-off used when the database is unreachable.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_engine::{Level, ProcessContext, ProcessError, ProcessorDescriptor, PropertyDescriptor, Validator};

use super::db::{Database, DbError, PoolSettings};

/// The database URL (sensitive: it may hold a password).
pub(crate) const URL: &str = "Database Connection URL";
/// User name overriding the URL's.
pub(crate) const USER: &str = "Database User";
/// Password overriding the URL's.
pub(crate) const PASSWORD: &str = "Password";
/// Pool size.
pub(crate) const MAX_CONNECTIONS: &str = "Max Total Connections";
/// The shared pool to use instead of the processor's own (NiFi's property name).
pub(crate) const SERVICE: &str = "Database Connection Pooling Service";
/// The API a database pool service provides.
pub(crate) const POOL_API: &str = "DatabaseConnectionPool";

/// The pool a processor uses: its own (closed when it stops) or a shared service's.
pub(crate) struct DbHandle {
    db: Arc<Database>,
    shared: bool,
}

impl Deref for DbHandle {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.db
    }
}

/// How long connecting, or waiting for a free pooled connection, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds the connection properties to a processor's descriptor: a pool service, or the
/// pool's own properties.
pub(crate) fn connection_properties(d: ProcessorDescriptor) -> ProcessorDescriptor {
    let d = d.property(
        PropertyDescriptor::new(SERVICE)
            .description(
                "A DBCPConnectionPool controller service whose pool this processor shares with others; \
                 set this or the Database Connection URL",
            )
            .identifies_service(POOL_API),
    );
    pool_properties(d, false)
}

/// Adds the pool's own properties (the URL required when `url_required`, as for the
/// DBCPConnectionPool service itself).
pub(crate) fn pool_properties(d: ProcessorDescriptor, url_required: bool) -> ProcessorDescriptor {
    let url = PropertyDescriptor::new(URL)
        .description(
            "The database to use: postgresql://[user[:password]@]host[:port]/database[?sslmode=require] for PostgreSQL \
             (TLS, verified against the system's root certificates, when sslmode=require), or sqlite:/path/to/file.db \
             for SQLite. NiFi's JDBC URLs (jdbc:postgresql://..., jdbc:sqlite:...) are accepted too. Sensitive, since it \
             may hold a password.",
        )
        .sensitive();
    let url = if url_required { url.required().validator(Validator::NonEmpty) } else { url };
    d.property(url)
        .property(PropertyDescriptor::new(USER).description("Database user name; overrides the URL's when set"))
        .property(
            PropertyDescriptor::new(PASSWORD)
                .description("Password of the database user; overrides the URL's when set")
                .sensitive(),
        )
        .property(
            PropertyDescriptor::new(MAX_CONNECTIONS)
                .description("The most connections the pool keeps open to the database")
                .required()
                .default_value("8")
                .validator(Validator::POSITIVE_INTEGER),
        )
}

/// Builds a pool from the pool properties of `ctx` (no connection yet: a database that is
/// down does not keep a processor from starting or a service from being enabled).
pub(crate) fn build_pool(ctx: &ProcessContext) -> Result<Database, String> {
    let url = ctx.property(URL).unwrap_or("").to_string();
    let max = ctx.int(MAX_CONNECTIONS).map_err(|e| e.to_string())?.unwrap_or(8).clamp(1, 1000) as usize;
    let settings = PoolSettings { max_connections: max, max_wait: CONNECT_TIMEOUT };
    Database::open(&url, ctx.property(USER), ctx.property(PASSWORD), &settings)
}

/// The processor's pool: the referenced service's, or its own.
pub(crate) fn open_database(ctx: &ProcessContext) -> Result<DbHandle, ProcessError> {
    if ctx.property(SERVICE).is_some_and(|v| !v.trim().is_empty()) {
        let db = ctx
            .service::<Database>(SERVICE)
            .ok_or_else(|| ProcessError::Config(format!("'{SERVICE}' does not name an enabled database pool")))?;
        return Ok(DbHandle { db, shared: true });
    }
    Ok(DbHandle { db: Arc::new(build_pool(ctx).map_err(ProcessError::Config)?), shared: false })
}

/// Checks that exactly one of the service and the URL is set, and the URL's scheme (for
/// `validate`).
pub(crate) fn validate_url(ctx: &ProcessContext) -> Vec<String> {
    let service = ctx.property(SERVICE).is_some_and(|v| !v.trim().is_empty());
    let url = ctx.property(URL).unwrap_or("").trim();
    match (service, url.is_empty()) {
        (true, false) => return vec![format!("set either '{SERVICE}' or '{URL}', not both")],
        (false, true) => return vec![format!("set '{SERVICE}' or '{URL}'")],
        (true, true) => return Vec::new(),
        (false, false) => {}
    }
    check_url_scheme(url)
}

/// The scheme check of a database URL.
pub(crate) fn check_url_scheme(url: &str) -> Vec<String> {
    let url = url.strip_prefix("jdbc:").unwrap_or(url);
    if url.is_empty() || url.contains("#{") {
        return Vec::new();
    }
    if ["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p)) {
        Vec::new()
    } else {
        vec![format!(
            "'{URL}' must start with postgresql://, postgres:// or sqlite: (or jdbc:postgresql:, jdbc:sqlite:)"
        )]
    }
}

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Exponential back-off for an unreachable remote system: after a failure the processor
/// does not try again before the delay (1 s, doubling to 60 s) has passed, whatever its
/// schedule, so a down database or broker is not hammered and the bulletin board not flooded.
#[derive(Default)]
pub(crate) struct Backoff {
    state: Mutex<(u32, Option<Instant>)>,
}

impl Backoff {
    /// Whether an attempt may be made now.
    pub fn ready(&self) -> bool {
        self.state.lock().1.is_none_or(|t| Instant::now() >= t)
    }

    /// Records a failure; returns the delay before the next attempt.
    pub fn failed(&self) -> Duration {
        let mut s = self.state.lock();
        s.0 = s.0.saturating_add(1);
        let d = BACKOFF_FIRST.saturating_mul(1u32 << (s.0 - 1).min(10)).min(BACKOFF_MAX);
        s.1 = Some(Instant::now() + d);
        d
    }

    /// Records a success; returns whether it ends a run of failures.
    pub fn succeeded(&self) -> bool {
        let mut s = self.state.lock();
        let was = s.0 > 0;
        *s = (0, None);
        was
    }

    /// Forgets past failures (the processor was restarted).
    pub fn reset(&self) {
        *self.state.lock() = (0, None);
    }
}

/// Opens a processor's database when it is scheduled (closing one left open) and forgets past
/// failures: the shared `on_scheduled` of the SQL processors.
pub(crate) fn reopen_database(
    slot: &mut Option<DbHandle>,
    backoff: &Backoff,
    ctx: &ProcessContext,
) -> Result<(), ProcessError> {
    close_database(slot);
    *slot = Some(open_database(ctx)?);
    backoff.reset();
    Ok(())
}

/// Closes a processor's own pool when it stops (a shared one stays open for the others).
pub(crate) fn close_database(slot: &mut Option<DbHandle>) {
    if let Some(h) = slot.take()
        && !h.shared
    {
        h.db.close();
    }
}

/// The database a trigger may use now: an error when the processor was not started, `None`
/// (after yielding) while backing off from an unreachable server.
pub(crate) fn database_for_trigger<'a>(
    slot: &'a Option<DbHandle>,
    backoff: &Backoff,
    ctx: &ProcessContext,
) -> Result<Option<&'a Database>, ProcessError> {
    let Some(db) = slot else {
        return Err(ProcessError::other("not started"));
    };
    if !backoff.ready() {
        ctx.yield_now();
        return Ok(None);
    }
    Ok(Some(&**db))
}

/// Reports an unreachable remote system: back-off, bulletin, yield.
pub(crate) fn unavailable(ctx: &ProcessContext, backoff: &Backoff, what: &str) {
    let d = backoff.failed();
    let msg = format!("{what}; retrying in {} s", d.as_secs_f64());
    tracing::warn!(processor = %ctx.name, "{msg}");
    ctx.bulletin(Level::Warning, msg);
    ctx.yield_now();
}

/// Reports that the remote system answers again, after failures.
pub(crate) fn recovered(ctx: &ProcessContext, backoff: &Backoff, what: &str) {
    if backoff.succeeded() {
        ctx.bulletin(Level::Info, what.to_string());
    }
}

/// Reports a database failure that is not the flowfile's fault.
pub(crate) fn db_unavailable(ctx: &ProcessContext, backoff: &Backoff, db: &Database, e: &DbError) {
    let what = if e.message.contains(&db.display_url()) {
        e.message.clone()
    } else {
        format!("{}: {}", db.display_url(), e.message)
    };
    unavailable(ctx, backoff, &what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let b = Backoff::default();
        assert!(b.ready());
        assert_eq!(b.failed(), Duration::from_secs(1));
        assert!(!b.ready());
        assert_eq!(b.failed(), Duration::from_secs(2));
        assert_eq!(b.failed(), Duration::from_secs(4));
        for _ in 0..20 {
            b.failed();
        }
        assert_eq!(b.failed(), BACKOFF_MAX);
        assert!(b.succeeded());
        assert!(b.ready());
        assert!(!b.succeeded());
    }
}
