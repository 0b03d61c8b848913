//! What the NATS processors share: connection properties, connecting with `async-nats`
//! (which reconnects by itself once connected), and turning the client's connection events
//! into bulletins.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use sluice_engine::{Level, ProcessContext, ProcessError, ProcessorDescriptor, PropertyDescriptor, Validator};
use tokio::sync::mpsc;

/// The servers.
pub(crate) const SERVERS: &str = "Server URLs";
/// User name.
pub(crate) const USERNAME: &str = "Username";
/// Password.
pub(crate) const PASSWORD: &str = "Password";
/// Token.
pub(crate) const TOKEN: &str = "Token";
/// Core NATS or JetStream.
pub(crate) const MODE: &str = "Mode";
/// Core NATS.
pub(crate) const CORE: &str = "Core";
/// JetStream.
pub(crate) const JETSTREAM: &str = "JetStream";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds the connection properties.
pub(crate) fn connection_properties(d: ProcessorDescriptor) -> ProcessorDescriptor {
    d.property(
        PropertyDescriptor::new(SERVERS)
            .description(
                "Comma-separated NATS servers, e.g. nats://localhost:4222 (tls://host:port for TLS verified against the system's \
                 roots). The client reconnects by itself when a server goes away.",
            )
            .required()
            .validator(Validator::NonEmpty),
    )
    .property(PropertyDescriptor::new(USERNAME).description("User name for user/password authentication"))
    .property(PropertyDescriptor::new(PASSWORD).description("Password for user/password authentication").sensitive())
    .property(PropertyDescriptor::new(TOKEN).description("Token for token authentication").sensitive())
}

/// The Mode property.
pub(crate) fn mode_property(core_meaning: &str, js_meaning: &str) -> PropertyDescriptor {
    PropertyDescriptor::new(MODE)
        .description("Core NATS (fire and forget) or JetStream (persisted streams, acknowledged)")
        .required()
        .default_value(CORE)
        .allowable(&[(CORE, core_meaning), (JETSTREAM, js_meaning)])
}

/// The configured servers.
pub(crate) fn servers(ctx: &ProcessContext) -> Vec<String> {
    ctx.property(SERVERS).unwrap_or("").split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Checks the server URLs (for `validate`).
pub(crate) fn validate_servers(ctx: &ProcessContext) -> Vec<String> {
    let mut errs = Vec::new();
    for s in servers(ctx) {
        if s.contains("#{") {
            continue;
        }
        if let Err(e) = s.parse::<async_nats::ServerAddr>() {
            errs.push(format!("'{SERVERS}': '{}' is not a NATS server URL: {e}", display_server(&s)));
        }
    }
    if ctx.property(USERNAME).is_some_and(|u| !u.is_empty()) && ctx.property(TOKEN).is_some_and(|t| !t.is_empty()) {
        errs.push(format!("set either '{USERNAME}'/'{PASSWORD}' or '{TOKEN}', not both"));
    }
    errs
}

/// A server URL without credentials, with the nats:// scheme.
pub(crate) fn display_server(s: &str) -> String {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (sc, r),
        None => ("nats", s),
    };
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{scheme}://{}", rest.trim_end_matches('/'))
}

/// A client event worth a bulletin.
pub(crate) struct Notice {
    /// How serious.
    pub level: Level,
    /// What happened.
    pub message: String,
}

/// Connects (failing fast when no server answers; once connected the client reconnects by
/// itself). Connection events go to `events`, which the processor turns into bulletins.
pub(crate) fn connect(
    ctx: &ProcessContext,
    events: mpsc::Sender<Notice>,
    extra: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> Result<Client, String> {
    let servers = servers(ctx);
    if servers.is_empty() {
        return Err(format!("'{SERVERS}' is empty"));
    }
    let addrs: Vec<async_nats::ServerAddr> = servers
        .iter()
        .map(|s| s.parse().map_err(|e| format!("'{}' is not a NATS server URL: {e}", display_server(s))))
        .collect::<Result<_, _>>()?;
    let mut opts = ConnectOptions::new()
        .name("sluice")
        .connection_timeout(CONNECT_TIMEOUT)
        .reconnect_delay_callback(|attempts| Duration::from_millis((100u64 << attempts.min(5)).min(2000)))
        .event_callback(move |e| {
            let events = events.clone();
            async move {
                let n = match e {
                    Event::Connected => Notice { level: Level::Info, message: "connected to the NATS server".into() },
                    Event::Disconnected => Notice {
                        level: Level::Warning,
                        message: "disconnected from the NATS server; reconnecting".into(),
                    },
                    Event::SlowConsumer(_) => Notice {
                        level: Level::Warning,
                        message: "slow consumer: the NATS client dropped messages it could not buffer".into(),
                    },
                    other => Notice { level: Level::Warning, message: format!("NATS: {other}") },
                };
                let _ = events.try_send(n);
            }
        });
    let user = ctx.property(USERNAME).filter(|u| !u.is_empty());
    let token = ctx.property(TOKEN).filter(|t| !t.is_empty());
    if let Some(u) = user {
        opts = opts.user_and_password(u.to_string(), ctx.property(PASSWORD).unwrap_or("").to_string());
    } else if let Some(t) = token {
        opts = opts.token(t.to_string());
    }
    let opts = extra(opts);
    crate::io::block_on(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, opts.connect(addrs)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", display_server(&servers[0]))),
            Err(_) => Err(format!("cannot connect to {}: timed out", display_server(&servers[0]))),
        }
    })
}

/// Posts the client's pending connection events as bulletins.
pub(crate) fn post_notices(ctx: &ProcessContext, rx: &parking_lot::Mutex<mpsc::Receiver<Notice>>) {
    let mut rx = rx.lock();
    while let Ok(n) = rx.try_recv() {
        tracing::info!(processor = %ctx.name, "{}", n.message);
        ctx.bulletin(n.level, n.message);
    }
}

/// Maps a configuration problem found at run time.
pub(crate) fn config(msg: impl Into<String>) -> ProcessError {
    ProcessError::Config(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_shown_without_credentials() {
        assert_eq!(display_server("nats://u:p@localhost:4222"), "nats://localhost:4222");
        assert_eq!(display_server("localhost:4222"), "nats://localhost:4222");
        assert_eq!(display_server("tls://h:1/"), "tls://h:1");
    }
}
