//! LogMessage: writes a message built from each flowfile's attributes to the Sluice log.

use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship,
};

use super::common::eval_prop;

const LEVEL: &str = "Log Level";
const PREFIX: &str = "Log prefix";
const MESSAGE: &str = "Log message";
/// Flowfiles handled per trigger.
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(LogMessage::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "LogMessage",
        "Writes a message to the Sluice log for each flowfile; the message and its prefix may use the expression language over \
         the flowfile's attributes. A message whose expression fails is logged as the error instead, and the flowfile still \
         goes on: logging never holds data back.",
    )
    .tags(&["attributes", "logging", "debug"])
    .property(
        PropertyDescriptor::new(LEVEL)
            .description("The log level")
            .required()
            .default_value("info")
            .allowable(&[("trace", ""), ("debug", ""), ("info", ""), ("warn", ""), ("error", "")]),
    )
    .property(PropertyDescriptor::new(PREFIX).description("Text put before the message").expression_language())
    .property(PropertyDescriptor::new(MESSAGE).description("The message to log").expression_language())
    .relationship(Relationship::new(crate::SUCCESS, "Every flowfile, after its message is logged"))
}

#[derive(Default, Clone, Copy)]
enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

/// The processor.
#[derive(Default)]
pub struct LogMessage {
    level: LogLevel,
}

impl Processor for LogMessage {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.level = match ctx.property(LEVEL).unwrap_or("info") {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        };
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in session.get_batch(BATCH) {
            let text =
                eval_prop(ctx, PREFIX, &ff.attributes).and_then(|p| Ok(p + &eval_prop(ctx, MESSAGE, &ff.attributes)?));
            match (text, self.level) {
                (Err(e), _) => {
                    tracing::warn!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "could not build the log message: {e}")
                }
                (Ok(m), LogLevel::Trace) => {
                    tracing::trace!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "{m}")
                }
                (Ok(m), LogLevel::Debug) => {
                    tracing::debug!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "{m}")
                }
                (Ok(m), LogLevel::Info) => {
                    tracing::info!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "{m}")
                }
                (Ok(m), LogLevel::Warn) => {
                    tracing::warn!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "{m}")
                }
                (Ok(m), LogLevel::Error) => {
                    tracing::error!(target: "sluice::LogMessage", component = %ctx.id, flowfile = %ff.id, "{m}")
                }
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sluice_engine::testing::{TestRunner, capture_logs};
    fn logged(props: &[(&str, &str)], attrs: &[(&str, &str)]) -> (TestRunner, Vec<(String, String, String)>) {
        let mut r = TestRunner::new(crate::registry(), "LogMessage");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue("x", attrs);
        let (run, lines) = capture_logs(|| r.run(1));
        run.unwrap();
        let lines = lines.into_iter().filter(|(_, t, _)| t == "sluice::LogMessage").collect();
        (r, lines)
    }

    #[test]
    fn logs_evaluated_message_at_level() {
        let (mut r, lines) =
            logged(&[(LEVEL, "warn"), (PREFIX, "[${who}] "), (MESSAGE, "hi ${who:toUpper()}")], &[("who", "me")]);
        assert_eq!(lines, vec![("WARN".to_string(), "sluice::LogMessage".to_string(), "[me] hi ME".to_string())]);
        assert_eq!(r.count(crate::SUCCESS), 1);
    }

    #[test]
    fn failing_expression_is_logged_and_flowfile_continues() {
        let (mut r, lines) = logged(&[(MESSAGE, "${n:divide(0)}")], &[("n", "1")]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, "WARN");
        assert!(lines[0].2.contains("could not build the log message"), "{lines:?}");
        assert_eq!(r.count(crate::SUCCESS), 1);
    }
}
