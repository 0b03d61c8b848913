//! ExecuteProcess: a source that runs a command on its schedule and turns its output into
//! flowfiles: one per run, or, with a Batch Duration, one per batch of output of a
//! long-running command.

use std::io::{self, Read};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::command::{kill_group, own_group, read_bounded, split_args, truncate_text};

const COMMAND: &str = "Command";
const ARGUMENTS: &str = "Command Arguments";
const BATCH_DURATION: &str = "Batch Duration";
const REDIRECT: &str = "Redirect Error Stream";
const WORKING_DIR: &str = "Working Directory";
const DELIMITER: &str = "Argument Delimiter";
/// Chunks of output buffered between the command and the processor (then the command
/// blocks on its output: back pressure).
const CHANNEL_CHUNKS: usize = 64;
/// Most characters of standard error logged per run.
const MAX_ERROR_LENGTH: usize = 4000;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ExecuteProcess::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ExecuteProcess",
        "Runs an operating system command on the processor's schedule and creates a flowfile from its standard output. Without a \
         Batch Duration each run waits for the command to finish and emits one flowfile; with one, the command keeps running \
         across runs and each run emits what it wrote during the batch duration. A command that cannot start posts a bulletin.",
    )
    .tags(&["command", "process", "source", "external", "invoke", "script"])
    .input(InputRequirement::Forbidden)
    .default_period("1 min")
    .property(PropertyDescriptor::new(COMMAND).description("The command to run: a path, or a name looked up in PATH").required().validator(Validator::NonEmpty))
    .property(PropertyDescriptor::new(ARGUMENTS).description("The arguments, separated by the Argument Delimiter; double quotes keep a delimiter inside one argument"))
    .property(
        PropertyDescriptor::new(BATCH_DURATION)
            .description("If set, the command is expected to run long: each run emits the output written during this long")
            .validator(Validator::TimePeriod),
    )
    .property(
        PropertyDescriptor::new(REDIRECT)
            .description("If true, standard error is merged into the output; otherwise it is logged")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .property(PropertyDescriptor::new(WORKING_DIR).description("The directory the command runs in (default: Sluice's)"))
    .property(PropertyDescriptor::new(DELIMITER).description("The character that separates arguments (a space by default)").required().default_value(" "))
    .relationship(Relationship::new(crate::SUCCESS, "The output of the command (attributes command, command.arguments, and execution.status when it ended)"))
}

/// A long-running command (Batch Duration mode).
struct Running {
    child: Child,
    output: Receiver<Vec<u8>>,
    pump: Option<JoinHandle<()>>,
}

impl Running {
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_group(&mut self.child);
        }
        let _ = self.child.wait();
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

/// The processor.
#[derive(Default)]
pub struct ExecuteProcess {
    command: String,
    args: Vec<String>,
    batch: Option<Duration>,
    redirect: bool,
    dir: Option<String>,
    running: Mutex<Option<Running>>,
}

impl ExecuteProcess {
    /// Spawns the command with its output (and standard error, if redirected) on one pipe;
    /// standard error otherwise goes to a thread that logs it.
    fn spawn(&self, ctx: &ProcessContext) -> io::Result<(Child, io::PipeReader)> {
        let mut cmd = Command::new(&self.command);
        cmd.args(&self.args).stdin(Stdio::null());
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        let (reader, writer) = io::pipe()?;
        if self.redirect {
            cmd.stderr(writer.try_clone()?);
        } else {
            cmd.stderr(Stdio::piped());
        }
        cmd.stdout(writer);
        own_group(&mut cmd);
        let mut child = cmd.spawn()?;
        // The Command holds our copies of the pipe's write end: drop them, or the reader
        // never sees the end of the output.
        drop(cmd);
        if let Some(err) = child.stderr.take() {
            let (id, command) = (ctx.id.clone(), self.command.clone());
            thread::spawn(move || {
                if let Ok((bytes, _)) = read_bounded(err, MAX_ERROR_LENGTH * 4)
                    && !bytes.is_empty()
                {
                    tracing::warn!(target: "sluice::ExecuteProcess", component = %id, "'{command}' wrote to stderr: {}", truncate_text(&bytes, MAX_ERROR_LENGTH));
                }
            });
        }
        Ok((child, reader))
    }

    fn describe(&self, ff: &mut sluice_engine::FlowFile) {
        ff.set_attr("command", &self.command);
        ff.set_attr("command.arguments", &self.args.join(" "));
    }

    fn cannot_start(&self, ctx: &ProcessContext, e: io::Error) {
        ctx.bulletin(Level::Error, format!("cannot start '{}': {e}", self.command));
        tracing::warn!(target: "sluice::ExecuteProcess", component = %ctx.id, "cannot start '{}': {e}", self.command);
        ctx.yield_now();
    }

    /// One run to completion: the output streamed into one flowfile.
    fn run_once(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let (mut child, mut reader) = match self.spawn(ctx) {
            Ok(c) => c,
            Err(e) => {
                self.cannot_start(ctx, e);
                return Ok(());
            }
        };
        let mut ff = session.create();
        let copied = session.write_with(&mut ff, |w| io::copy(&mut reader, w).map(|_| ()));
        if let Err(e) = copied {
            kill_group(&mut child);
            let _ = child.wait();
            session.remove(ff);
            return Err(e);
        }
        let status = child.wait()?;
        self.describe(&mut ff);
        ff.set_attr("execution.status", &status.code().unwrap_or(-1).to_string());
        session.transfer(ff, crate::SUCCESS);
        Ok(())
    }

    /// One batch of a long-running command's output.
    fn run_batch(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        batch: Duration,
    ) -> Result<(), ProcessError> {
        let mut guard = self.running.lock();
        if guard.is_none() {
            let (child, mut reader) = match self.spawn(ctx) {
                Ok(c) => c,
                Err(e) => {
                    self.cannot_start(ctx, e);
                    return Ok(());
                }
            };
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(CHANNEL_CHUNKS);
            let pump = thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
            });
            *guard = Some(Running { child, output: rx, pump: Some(pump) });
        }
        let Some(running) = guard.as_mut() else {
            return Ok(());
        };
        let deadline = Instant::now() + batch;
        let rx = running.output.clone();
        let mut ended = false;
        let mut ff = session.create();
        session.write_with(&mut ff, |w| {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(chunk) => w.write_all(&chunk)?,
                    Err(RecvTimeoutError::Timeout) => return Ok(()),
                    Err(RecvTimeoutError::Disconnected) => {
                        ended = true;
                        return Ok(());
                    }
                }
            }
        })?;
        if ended {
            let status = running.child.wait()?;
            ff.set_attr("execution.status", &status.code().unwrap_or(-1).to_string());
            if let Some(mut r) = guard.take() {
                r.stop();
            }
        }
        if ff.size() == 0 {
            session.remove(ff);
            if !ended {
                ctx.yield_now();
            }
            return Ok(());
        }
        self.describe(&mut ff);
        session.transfer(ff, crate::SUCCESS);
        Ok(())
    }
}

impl Processor for ExecuteProcess {
    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match ctx.property(DELIMITER) {
            Some(d) if d.chars().count() != 1 => {
                vec![format!("'{DELIMITER}' must be a single character")]
            }
            _ => Vec::new(),
        }
    }

    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.command = ctx.property(COMMAND).unwrap_or_default().trim().to_string();
        let delimiter = ctx.property(DELIMITER).and_then(|d| d.chars().next()).unwrap_or(' ');
        self.args = split_args(ctx.property(ARGUMENTS).unwrap_or_default(), delimiter);
        self.batch = ctx.duration(BATCH_DURATION)?.filter(|d| !d.is_zero());
        self.redirect = ctx.bool(REDIRECT)?.unwrap_or(false);
        self.dir = ctx.property(WORKING_DIR).filter(|d| !d.is_empty()).map(str::to_string);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        match self.batch {
            Some(b) => self.run_batch(ctx, session, b),
            None => self.run_once(ctx, session),
        }
    }

    fn on_stopped(&mut self, _ctx: &ProcessContext) {
        if let Some(mut r) = self.running.lock().take() {
            r.stop();
        }
    }
}

impl Drop for ExecuteProcess {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.lock().take() {
            r.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn runner(props: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ExecuteProcess");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r
    }

    #[test]
    fn runs_the_command_each_time() {
        let mut r = runner(&[(COMMAND, "echo"), (ARGUMENTS, "hello world")]);
        r.run(2).unwrap();
        let out = r.output(crate::SUCCESS);
        assert_eq!(out.len(), 2);
        assert_eq!(TestRunner::content(&out[0]), "hello world\n");
        assert_eq!(out[0].attr("command"), Some("echo"));
        assert_eq!(out[0].attr("command.arguments"), Some("hello world"));
        assert_eq!(out[0].attr("execution.status"), Some("0"));
        assert!(r.events().iter().any(|e| format!("{:?}", e.event_type) == "Create"));
    }

    #[test]
    fn redirects_the_error_stream() {
        let mut r =
            runner(&[(COMMAND, "sh"), (ARGUMENTS, r#"-c "echo out; echo err >&2; exit 2""#), (REDIRECT, "true")]);
        r.run(1).unwrap();
        let out = r.output(crate::SUCCESS);
        assert_eq!(TestRunner::content(&out[0]), "out\nerr\n");
        assert_eq!(out[0].attr("execution.status"), Some("2"));
        let mut r = runner(&[(COMMAND, "sh"), (ARGUMENTS, "-c|echo out; echo err >&2"), (DELIMITER, "|")]);
        r.run(1).unwrap();
        assert_eq!(TestRunner::content(&r.output(crate::SUCCESS)[0]), "out\n");
    }

    #[test]
    fn batches_the_output_of_a_long_running_command() {
        let script = r#"-c "for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done""#;
        let mut r = runner(&[(COMMAND, "sh"), (ARGUMENTS, script), (BATCH_DURATION, "250 millis")]);
        let mut all = String::new();
        for _ in 0..20 {
            r.run(1).unwrap();
            let out = r.output(crate::SUCCESS);
            all = out.iter().map(TestRunner::content).collect();
            if all.lines().count() == 6 && out.last().and_then(|f| f.attr("execution.status")).is_some() {
                break;
            }
        }
        assert_eq!(all, "1\n2\n3\n4\n5\n6\n");
        let out = r.output(crate::SUCCESS);
        assert!(out.len() >= 2, "the output came in several batches: {}", out.len());
    }

    #[test]
    fn a_command_that_cannot_start_posts_a_bulletin() {
        let mut r = runner(&[(COMMAND, "/nonexistent/tool")]);
        r.run(1).unwrap();
        assert_eq!(r.count(crate::SUCCESS), 0);
        assert!(r.bulletins().iter().any(|b| b.contains("cannot start '/nonexistent/tool'")), "{:?}", r.bulletins());
    }
}
