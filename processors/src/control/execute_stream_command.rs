//! ExecuteStreamCommand: runs a command per flowfile, piping the content to its standard
//! input and its standard output into a new flowfile (both streamed), with an optional
//! timeout that kills the command and everything it started.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::command::{kill_group, own_group, read_bounded, split_args, truncate_text};

const COMMAND_PATH: &str = "Command Path";
const ARGUMENTS: &str = "Command Arguments";
const DELIMITER: &str = "Argument Delimiter";
const WORKING_DIR: &str = "Working Directory";
const IGNORE_STDIN: &str = "Ignore STDIN";
const OUTPUT_ATTRIBUTE: &str = "Output Destination Attribute";
const MAX_ATTRIBUTE_LENGTH: &str = "Max Attribute Length";
const OUTPUT_MIME: &str = "Output MIME Type";
const TIMEOUT: &str = "Command Timeout";
const OUTPUT_STREAM: &str = "output stream";
const NONZERO: &str = "nonzero status";
/// Most characters of standard error kept in execution.error.
const MAX_ERROR_LENGTH: usize = 4000;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ExecuteStreamCommand::default()));
}

fn relationships(props: &BTreeMap<String, String>) -> Vec<String> {
    if props.get(OUTPUT_ATTRIBUTE).is_some_and(|v| !v.trim().is_empty()) {
        vec![crate::ORIGINAL.into()]
    } else {
        vec![OUTPUT_STREAM.into(), crate::ORIGINAL.into(), NONZERO.into()]
    }
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ExecuteStreamCommand",
        "Runs an external command for each flowfile: the content is streamed to its standard input and its standard output \
         becomes a new flowfile (or an attribute of the original). Writes execution.command, execution.command.args, \
         execution.status (the exit code) and execution.error (standard error, truncated). A command running longer than the \
         Command Timeout is killed with everything it started.",
    )
    .tags(&["command", "command execution", "execute", "stream", "shell", "script"])
    .property(
        PropertyDescriptor::new(COMMAND_PATH)
            .description("The command to run: a path, or a name looked up in PATH")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(ARGUMENTS)
            .description("The arguments, separated by the Argument Delimiter; double quotes keep a delimiter inside one argument")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(DELIMITER)
            .description("The character that separates arguments")
            .required()
            .default_value(";"),
    )
    .property(PropertyDescriptor::new(WORKING_DIR).description("The directory the command runs in (default: Sluice's)").expression_language())
    .property(
        PropertyDescriptor::new(IGNORE_STDIN)
            .description("If true, the content is not passed to the command (its standard input is empty)")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(PropertyDescriptor::new(OUTPUT_ATTRIBUTE).description(
        "If set, the standard output goes into this attribute of the original flowfile instead of a new flowfile (truncated to Max \
         Attribute Length); then only the 'original' relationship exists",
    ))
    .property(
        PropertyDescriptor::new(MAX_ATTRIBUTE_LENGTH)
            .description("With Output Destination Attribute: the most characters of output kept")
            .required()
            .default_value("256")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(PropertyDescriptor::new(OUTPUT_MIME).description("The mime.type of the output flowfile"))
    .property(
        PropertyDescriptor::new(TIMEOUT)
            .description(
                "Sluice addition: the longest a command may run; then it and the processes it started are killed, and the output \
                 goes to 'nonzero status' with execution.error saying so. Empty = no limit.",
            )
            .validator(Validator::TimePeriod),
    )
    .relationship(Relationship::new(OUTPUT_STREAM, "The output of commands that exited with status 0"))
    .relationship(Relationship::new(crate::ORIGINAL, "The input flowfile, with the execution attributes"))
    .relationship(Relationship::new(
        NONZERO,
        "The output of commands that exited with another status, were killed by the timeout or could not start (penalized)",
    ))
    .relationships_from(relationships)
}

/// The processor.
#[derive(Default)]
pub struct ExecuteStreamCommand {
    delimiter: char,
    ignore_stdin: bool,
    output_attribute: Option<String>,
    max_attribute_length: usize,
    mime: Option<String>,
    timeout: Option<Duration>,
}

/// What one run of the command produced (besides its standard output).
struct Outcome {
    status: i32,
    error: String,
}

impl Processor for ExecuteStreamCommand {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.delimiter = ctx.property(DELIMITER).and_then(|d| d.chars().next()).unwrap_or(';');
        self.ignore_stdin = ctx.bool(IGNORE_STDIN)?.unwrap_or(false);
        self.output_attribute =
            ctx.property(OUTPUT_ATTRIBUTE).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        self.max_attribute_length = ctx.int(MAX_ATTRIBUTE_LENGTH)?.unwrap_or(256).max(1) as usize;
        self.mime = ctx.property(OUTPUT_MIME).filter(|v| !v.is_empty()).map(str::to_string);
        self.timeout = ctx.duration(TIMEOUT)?.filter(|d| !d.is_zero());
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match ctx.property(DELIMITER) {
            Some(d) if d.chars().count() != 1 => {
                vec![format!("'{DELIMITER}' must be a single character")]
            }
            _ => Vec::new(),
        }
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(mut ff) = session.get() else {
            return Ok(());
        };
        let command = ctx.evaluate(COMMAND_PATH, &ff)?.unwrap_or_default();
        let args = split_args(&ctx.evaluate(ARGUMENTS, &ff)?.unwrap_or_default(), self.delimiter);
        let dir = ctx.evaluate(WORKING_DIR, &ff)?.filter(|d| !d.is_empty());
        ff.set_attr("execution.command", &command);
        ff.set_attr("execution.command.args", &args.join(";"));

        let mut cmd = Command::new(&command);
        cmd.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if self.ignore_stdin { Stdio::null() } else { Stdio::piped() });
        if let Some(d) = &dir {
            cmd.current_dir(d);
        }
        own_group(&mut cmd);

        let mut out = match &self.output_attribute {
            Some(_) => None,
            None => Some(session.create_child(&ff)),
        };
        let outcome = match cmd.spawn() {
            Err(e) => Outcome { status: -1, error: format!("cannot start '{command}': {e}") },
            Ok(child) => {
                let input = if self.ignore_stdin { None } else { Some(session.read(&ff)?) };
                self.run(session, child, input, &mut ff, out.as_mut())?
            }
        };
        let status = outcome.status.to_string();
        for f in std::iter::once(&mut ff).chain(out.as_mut()) {
            f.set_attr("execution.status", &status);
            f.set_attr("execution.error", &outcome.error);
            f.set_attr("execution.command", &command);
            f.set_attr("execution.command.args", &args.join(";"));
        }
        if outcome.status != 0 {
            tracing::debug!(target: "sluice::ExecuteStreamCommand", component = %ctx.id, "'{command}' ended with status {status}: {}", outcome.error);
        }
        if let Some(mut o) = out {
            if let Some(m) = &self.mime {
                o.set_attr("mime.type", m);
            }
            if outcome.status == 0 {
                session.transfer(o, OUTPUT_STREAM);
            } else {
                session.penalize(&mut o);
                session.transfer(o, NONZERO);
            }
        }
        session.transfer(ff, crate::ORIGINAL);
        Ok(())
    }
}

/// A read error of the flowfile content while feeding the command (rolls back), as opposed
/// to the command closing its standard input early (ignored).
#[derive(Debug)]
struct FeedError(io::Error);

impl ExecuteStreamCommand {
    /// Feeds the content, collects the output and waits for the command (or kills it).
    fn run(
        &self,
        session: &mut ProcessSession,
        mut child: std::process::Child,
        input: Option<Box<dyn Read + Send>>,
        original: &mut FlowFile,
        out: Option<&mut FlowFile>,
    ) -> Result<Outcome, ProcessError> {
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let child = Arc::new(Mutex::new(child));

        let feeder = thread::spawn(move || -> Result<(), FeedError> {
            let (Some(mut input), Some(mut stdin)) = (input, stdin) else {
                return Ok(());
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(FeedError(e)),
                };
                // The command may stop reading (or exit) early: not an error.
                if stdin.write_all(&buf[..n]).is_err() {
                    return Ok(());
                }
            }
        });
        let errors = thread::spawn(move || match stderr {
            Some(s) => read_bounded(s, MAX_ERROR_LENGTH * 4).map(|(b, _)| b).unwrap_or_default(),
            None => Vec::new(),
        });
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        let watchdog = self.timeout.map(|limit| {
            let child = child.clone();
            thread::spawn(move || {
                if done_rx.recv_timeout(limit).is_err() {
                    let mut c = child.lock();
                    if matches!(c.try_wait(), Ok(None)) {
                        kill_group(&mut c);
                        return true;
                    }
                }
                false
            })
        });

        // Standard output: into the new flowfile (streamed) or the attribute (bounded).
        let read_result: Result<(), ProcessError> = match (stdout, out) {
            (Some(mut stdout), Some(out)) => session.write_with(out, |w| io::copy(&mut stdout, w).map(|_| ())),
            (Some(stdout), None) => match read_bounded(stdout, self.max_attribute_length * 4) {
                Ok((bytes, _)) => {
                    if let Some(attr) = &self.output_attribute {
                        original.set_attr(attr, &truncate_text(&bytes, self.max_attribute_length));
                    }
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            (None, _) => Ok(()),
        };
        if read_result.is_err() {
            kill_group(&mut child.lock());
        }
        // Wait for the exit without holding the lock, so the watchdog can still kill.
        let mut backoff = Duration::from_micros(100);
        let status = loop {
            if let Some(s) = child.lock().try_wait()? {
                break s;
            }
            thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(50));
        };
        let _ = done_tx.send(());
        let timed_out = watchdog.map(|w| w.join().unwrap_or(false)).unwrap_or(false);
        let stderr_bytes = errors.join().unwrap_or_default();
        match feeder.join() {
            Ok(Ok(())) => {}
            Ok(Err(FeedError(e))) => return Err(ProcessError::Io(e)),
            Err(_) => {
                return Err(ProcessError::other("the thread feeding the command panicked"));
            }
        }
        read_result?;
        let mut error = truncate_text(&stderr_bytes, MAX_ERROR_LENGTH);
        let code = status.code().unwrap_or(-1);
        if timed_out {
            let limit = self.timeout.unwrap_or_default();
            error = format!(
                "timed out after {} ms and was killed{}{error}",
                limit.as_millis(),
                if error.is_empty() { "" } else { "; stderr: " }
            );
            return Ok(Outcome { status: -1, error });
        }
        Ok(Outcome { status: code, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;
    use std::time::Instant;

    fn runner(props: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ExecuteStreamCommand");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r
    }

    #[test]
    fn pipes_content_through_a_command() {
        let mut r = runner(&[(COMMAND_PATH, "tr"), (ARGUMENTS, "a-z;A-Z"), (OUTPUT_MIME, "text/plain")]);
        r.enqueue("hello world", &[("filename", "f")]);
        r.run(1).unwrap();
        let out = r.output(OUTPUT_STREAM);
        assert_eq!(TestRunner::content(&out[0]), "HELLO WORLD");
        assert_eq!(out[0].attr("execution.status"), Some("0"));
        assert_eq!(out[0].attr("execution.command"), Some("tr"));
        assert_eq!(out[0].attr("execution.command.args"), Some("a-z;A-Z"));
        assert_eq!(out[0].attr("mime.type"), Some("text/plain"));
        assert_eq!(out[0].attr("filename"), Some("f"));
        let orig = r.output(crate::ORIGINAL);
        assert_eq!(TestRunner::content(&orig[0]), "hello world");
        assert_eq!(orig[0].attr("execution.status"), Some("0"));
    }

    #[test]
    fn streams_large_content_both_ways() {
        let mut r = runner(&[(COMMAND_PATH, "cat")]);
        let data = "0123456789abcdef".repeat(400_000); // 6.4 MB: more than any pipe buffer
        r.enqueue(data.clone(), &[]);
        r.run(1).unwrap();
        let out = r.output(OUTPUT_STREAM);
        assert_eq!(out[0].size(), data.len() as u64);
        assert_eq!(TestRunner::content(&out[0]), data);
    }

    #[test]
    fn nonzero_status_with_stderr_and_expression_arguments() {
        let mut r = runner(&[
            (COMMAND_PATH, "sh"),
            (ARGUMENTS, "-c;echo out\necho \"${msg}\" >&2\nexit 3"),
            (IGNORE_STDIN, "true"),
        ]);
        r.enqueue("", &[("msg", "bad things")]);
        r.run(1).unwrap();
        assert_eq!(r.count(OUTPUT_STREAM), 0);
        let out = r.output(NONZERO);
        assert_eq!(TestRunner::content(&out[0]), "out\n");
        assert_eq!(out[0].attr("execution.status"), Some("3"));
        assert_eq!(out[0].attr("execution.error"), Some("bad things\n"));
        assert!(out[0].penalty_until_millis > 0);
    }

    #[test]
    fn output_to_attribute() {
        let mut r = runner(&[
            (COMMAND_PATH, "wc"),
            (ARGUMENTS, "-c"),
            (OUTPUT_ATTRIBUTE, "bytes"),
            (MAX_ATTRIBUTE_LENGTH, "3"),
        ]);
        r.enqueue("12345", &[]);
        r.run(1).unwrap();
        let o = r.output(crate::ORIGINAL);
        assert_eq!(o[0].attr("bytes").map(str::trim), Some("5"));
        r.enqueue("x".repeat(123_456), &[]);
        r.run(1).unwrap();
        assert_eq!(r.output(crate::ORIGINAL)[1].attr("bytes"), Some("123"));
    }

    #[test]
    fn timeout_kills_the_command_and_its_children() {
        let mut r =
            runner(&[(COMMAND_PATH, "sh"), (ARGUMENTS, "-c;sleep 30 & sleep 30\necho never"), (TIMEOUT, "300 millis")]);
        r.enqueue("x", &[]);
        let t = Instant::now();
        r.run(1).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let out = r.output(NONZERO);
        assert_eq!(out[0].attr("execution.status"), Some("-1"));
        assert!(out[0].attr("execution.error").unwrap().contains("timed out after 300 ms"));
        assert_eq!(TestRunner::content(&out[0]), "");
    }

    #[test]
    fn command_that_cannot_start() {
        let mut r = runner(&[(COMMAND_PATH, "/nonexistent/command")]);
        r.enqueue("x", &[]);
        r.run(1).unwrap();
        let out = r.output(NONZERO);
        assert!(out[0].attr("execution.error").unwrap().contains("cannot start '/nonexistent/command'"));
        assert_eq!(r.count(crate::ORIGINAL), 1);
    }

    #[test]
    fn command_ignoring_stdin_does_not_fail() {
        let mut r = runner(&[(COMMAND_PATH, "true")]);
        r.enqueue("y".repeat(5_000_000), &[]);
        r.run(1).unwrap();
        assert_eq!(r.count(OUTPUT_STREAM), 1);
    }
}
