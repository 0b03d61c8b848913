//! What the SQL processors share: the connection properties (NiFi's DBCPConnectionPool
//! properties, carried by each processor until the engine has controller services), opening
//! the pool, and the back-off used when the database is unreachable.

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

/// How long connecting, or waiting for a free pooled connection, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds the connection properties to a descriptor.
pub(crate) fn connection_properties(d: ProcessorDescriptor) -> ProcessorDescriptor {
    d.property(
        PropertyDescriptor::new(URL)
            .description(
                "The database to use: postgresql://[user[:password]@]host[:port]/database[?sslmode=require] for PostgreSQL \
                 (TLS, verified against the system's root certificates, when sslmode=require), or sqlite:/path/to/file.db \
                 for SQLite. NiFi's JDBC URLs (jdbc:postgresql://..., jdbc:sqlite:...) are accepted too. Sensitive, since it \
                 may hold a password.",
            )
            .required()
            .sensitive()
            .validator(Validator::NonEmpty),
    )
    .property(PropertyDescriptor::new(USER).description("Database user name; overrides the URL's when set"))
    .property(PropertyDescriptor::new(PASSWORD).description("Password of the database user; overrides the URL's when set").sensitive())
    .property(
        PropertyDescriptor::new(MAX_CONNECTIONS)
            .description(
                "The most connections this processor keeps open to the database (its own pool, created when it starts and \
                 closed when it stops)",
            )
            .required()
            .default_value("8")
            .validator(Validator::POSITIVE_INTEGER),
    )
}

/// Opens the processor's pool (no connection yet: a database that is down does not keep
/// the processor from starting; the first trigger reports it).
pub(crate) fn open_database(ctx: &ProcessContext) -> Result<Database, ProcessError> {
    let url = ctx.property(URL).unwrap_or("").to_string();
    let settings = PoolSettings {
        max_connections: ctx.int(MAX_CONNECTIONS)?.unwrap_or(8).clamp(1, 1000) as usize,
        max_wait: CONNECT_TIMEOUT,
    };
    Database::open(&url, ctx.property(USER), ctx.property(PASSWORD), &settings).map_err(ProcessError::Config)
}

/// Checks the URL's scheme (for `validate`).
pub(crate) fn validate_url(ctx: &ProcessContext) -> Vec<String> {
    let url = ctx.property(URL).unwrap_or("").trim();
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
    slot: &mut Option<Database>,
    backoff: &Backoff,
    ctx: &ProcessContext,
) -> Result<(), ProcessError> {
    close_database(slot);
    *slot = Some(open_database(ctx)?);
    backoff.reset();
    Ok(())
}

/// Closes a processor's database when it stops.
pub(crate) fn close_database(slot: &mut Option<Database>) {
    if let Some(db) = slot.take() {
        db.close();
    }
}

/// The database a trigger may use now: an error when the processor was not started, `None`
/// (after yielding) while backing off from an unreachable server.
pub(crate) fn database_for_trigger<'a>(
    slot: &'a Option<Database>,
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
    Ok(Some(db))
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
