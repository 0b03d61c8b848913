//! LogAttribute: logs each flowfile's attributes (and optionally its content).

use std::fmt::Write as _;

use regex::Regex;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship, Validator,
};

const LEVEL: &str = "Log Level";
const PAYLOAD: &str = "Log Payload";
const TO_LOG: &str = "Attributes to Log by Regular Expression";
const PREFIX: &str = "Log prefix";
const BATCH: usize = 100;
/// At most this much content is logged with Log Payload.
const PAYLOAD_LIMIT: usize = 64 * 1024;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(LogAttribute::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "LogAttribute",
        "Logs the attributes of each flowfile, and optionally its content, to the Sluice log.",
    )
    .tags(&["attributes", "logging", "debug"])
    .property(
        PropertyDescriptor::new(LEVEL).description("The log level").required().default_value("info").allowable(&[
            ("trace", ""),
            ("debug", ""),
            ("info", ""),
            ("warn", ""),
            ("error", ""),
        ]),
    )
    .property(
        PropertyDescriptor::new(PAYLOAD)
            .description("Whether to log the content too (first 64 KiB)")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(TO_LOG)
            .description("Only attributes whose names match are logged")
            .default_value(".*")
            .validator(Validator::Regex),
    )
    .property(PropertyDescriptor::new(PREFIX).description("Text put before each entry").expression_language())
    .relationship(Relationship::new(crate::SUCCESS, "Every flowfile, after it is logged"))
}

/// The processor.
#[derive(Default)]
pub struct LogAttribute {
    filter: Option<Regex>,
}

impl Processor for LogAttribute {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.filter =
            Some(Regex::new(ctx.property(TO_LOG).unwrap_or(".*")).map_err(|e| ProcessError::Config(e.to_string()))?);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let payload = ctx.bool(PAYLOAD)?.unwrap_or(false);
        let level = ctx.property(LEVEL).unwrap_or("info").to_string();
        for ff in session.get_batch(BATCH) {
            let prefix = ctx.evaluate(PREFIX, &ff)?.unwrap_or_default();
            let mut msg = String::new();
            let _ = write!(msg, "{prefix}flowfile {} ({} bytes):", ff.id, ff.size());
            for (k, v) in ff.attributes.iter() {
                if self.filter.as_ref().is_none_or(|f| f.is_match(k)) {
                    let _ = write!(msg, "\n  {k} = {v}");
                }
            }
            if payload {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(session.read(&ff)?, PAYLOAD_LIMIT as u64),
                    &mut buf,
                )?;
                let _ = write!(msg, "\n  payload: {}", String::from_utf8_lossy(&buf));
            }
            match level.as_str() {
                "trace" => tracing::trace!(target: "sluice::LogAttribute", component = %ctx.id, "{msg}"),
                "debug" => tracing::debug!(target: "sluice::LogAttribute", component = %ctx.id, "{msg}"),
                "warn" => tracing::warn!(target: "sluice::LogAttribute", component = %ctx.id, "{msg}"),
                "error" => tracing::error!(target: "sluice::LogAttribute", component = %ctx.id, "{msg}"),
                _ => tracing::info!(target: "sluice::LogAttribute", component = %ctx.id, "{msg}"),
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}
