//! FetchFile: replaces a flowfile's content with a local file, streamed (any size, bounded
//! memory), typically after ListFile. The file can then be left, moved or deleted; that
//! happens only after the session committed, so a crash never loses the only copy.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use sluice_engine::{
    FlowFile, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship,
};

use super::common;

const FILE_TO_FETCH: &str = "File to Fetch";
const COMPLETION: &str = "Completion Strategy";
const MOVE_DIR: &str = "Move Destination Directory";
const CONFLICT: &str = "Move Conflict Strategy";
const LOG_NOT_FOUND: &str = "Log level when file not found";
const LOG_DENIED: &str = "Log level when permission denied";

const NONE: &str = "None";
const MOVE: &str = "Move File";
const DELETE: &str = "Delete File";
const RENAME: &str = "Rename";
const REPLACE: &str = "Replace File";
const KEEP: &str = "Keep Existing";
const FAIL: &str = "Fail";

const NOT_FOUND: &str = "not.found";
const PERMISSION_DENIED: &str = "permission.denied";
/// Attribute saying why a flowfile went to not.found, permission.denied or failure.
const ERROR_ATTR: &str = "fetchfile.error";
const BATCH: usize = 16;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(FetchFile::default()));
}

fn log_levels(name: &str, what: &str) -> PropertyDescriptor {
    PropertyDescriptor::new(name)
        .description(format!("The level of the bulletin posted when {what} (NONE: no bulletin)"))
        .required()
        .default_value("ERROR")
        .allowable(&[
            ("ERROR", "error bulletin"),
            ("WARN", "warning bulletin"),
            ("INFO", "info bulletin"),
            ("NONE", "no bulletin"),
        ])
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "FetchFile",
        "Replaces the content of each flowfile with the content of a local file (streamed, any size), usually one \
         listed by ListFile; then leaves, moves or deletes the file once the flowfile is committed. Missing files go \
         to not.found, unreadable ones to permission.denied, other errors to failure, each with fetchfile.error.",
    )
    .tags(&["file", "fetch", "get", "filesystem", "ingest"])
    .property(
        PropertyDescriptor::new(FILE_TO_FETCH)
            .description("The full path of the file to fetch")
            .required()
            .default_value("${absolute.path}/${filename}")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(COMPLETION)
            .description("What to do with the file once its content is in the flow (done after the session commits)")
            .required()
            .default_value(NONE)
            .allowable(&[
                (NONE, "leave the file where it is"),
                (MOVE, "move the file to the Move Destination Directory"),
                (DELETE, "delete the file"),
            ]),
    )
    .property(
        PropertyDescriptor::new(MOVE_DIR)
            .description("Where the file is moved with Completion Strategy 'Move File'; created when missing")
            .expression_language()
            .depends_on(COMPLETION, &[MOVE]),
    )
    .property(
        PropertyDescriptor::new(CONFLICT)
            .description("What happens when a file of the same name already exists in the Move Destination Directory")
            .required()
            .default_value(RENAME)
            .allowable(&[
                (RENAME, "the moved file gets a unique name: a random UUID followed by '-' and its name"),
                (REPLACE, "the existing file is replaced"),
                (KEEP, "the existing file is kept and the fetched file deleted"),
                (FAIL, "the flowfile goes to failure and nothing is fetched"),
            ])
            .depends_on(COMPLETION, &[MOVE]),
    )
    .property(log_levels(LOG_NOT_FOUND, "the file does not exist"))
    .property(log_levels(LOG_DENIED, "the file cannot be read for lack of permission"))
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose content was fetched"))
    .relationship(Relationship::new(NOT_FOUND, "Flowfiles whose file does not exist"))
    .relationship(Relationship::new(PERMISSION_DENIED, "Flowfiles whose file could not be read for lack of permission"))
    .relationship(Relationship::new(crate::FAILURE, "Flowfiles whose file could not be fetched for another reason"))
}

/// The processor.
#[derive(Default)]
pub struct FetchFile {
    /// Completion-strategy problems seen after a commit, posted as bulletins on the next run.
    pending_warnings: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
enum Completion {
    None,
    Delete,
    Move { dir: PathBuf, conflict: String },
}

fn level(ctx: &ProcessContext, prop: &str) -> Option<Level> {
    match ctx.property(prop).unwrap_or("ERROR") {
        "ERROR" => Some(Level::Error),
        "WARN" => Some(Level::Warning),
        "INFO" => Some(Level::Info),
        _ => None,
    }
}

fn route(session: &mut ProcessSession, mut ff: FlowFile, rel: &str, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, rel);
}

/// Runs the completion strategy on a fetched file (after the commit).
fn complete(source: &Path, completion: &Completion) -> io::Result<()> {
    match completion {
        Completion::None => Ok(()),
        Completion::Delete => fs::remove_file(source),
        Completion::Move { dir, conflict } => {
            fs::create_dir_all(dir)?;
            let name = source.file_name().ok_or_else(|| io::Error::other("the fetched path has no file name"))?;
            let mut target = dir.join(name);
            if target.exists() {
                match conflict.as_str() {
                    KEEP => return fs::remove_file(source),
                    REPLACE => {}
                    FAIL => {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{} exists", target.display()),
                        ));
                    }
                    _ => target = dir.join(format!("{}-{}", uuid::Uuid::new_v4(), name.to_string_lossy())),
                }
            }
            match fs::rename(source, &target) {
                Ok(()) => Ok(()),
                // Another file system: copy, sync, then remove the source.
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    fs::copy(source, &target)?;
                    File::open(&target)?.sync_all()?;
                    fs::remove_file(source)
                }
                Err(e) => Err(e),
            }
        }
    }
}

impl Processor for FetchFile {
    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for w in std::mem::take(&mut *self.pending_warnings.lock()) {
            ctx.bulletin(Level::Warning, w);
        }
        let strategy = ctx.property(COMPLETION).unwrap_or(NONE).to_string();
        for mut ff in session.get_batch(BATCH) {
            let path = match ctx.evaluate(FILE_TO_FETCH, &ff) {
                Ok(Some(p)) if !p.trim().is_empty() => PathBuf::from(p),
                Ok(_) => {
                    route(session, ff, crate::FAILURE, "File to Fetch evaluated to an empty path");
                    continue;
                }
                Err(e) => {
                    route(session, ff, crate::FAILURE, &e.to_string());
                    continue;
                }
            };
            let completion = match strategy.as_str() {
                MOVE => {
                    let dir = match ctx.evaluate(MOVE_DIR, &ff) {
                        Ok(Some(d)) if !d.trim().is_empty() => PathBuf::from(d.trim()),
                        Ok(_) => {
                            route(session, ff, crate::FAILURE, "Move Destination Directory is not set");
                            continue;
                        }
                        Err(e) => {
                            route(session, ff, crate::FAILURE, &e.to_string());
                            continue;
                        }
                    };
                    let conflict = ctx.property(CONFLICT).unwrap_or(RENAME).to_string();
                    // As NiFi: a conflict that would fail is found before fetching.
                    if conflict == FAIL
                        && let Some(name) = path.file_name()
                        && dir.join(name).exists()
                    {
                        let why =
                            format!("{} already exists and Move Conflict Strategy is Fail", dir.join(name).display());
                        route(session, ff, crate::FAILURE, &why);
                        continue;
                    }
                    if dir.exists() && !dir.is_dir() {
                        route(
                            session,
                            ff,
                            crate::FAILURE,
                            &format!("Move Destination Directory {} is not a directory", dir.display()),
                        );
                        continue;
                    }
                    Completion::Move { dir, conflict }
                }
                DELETE => Completion::Delete,
                _ => Completion::None,
            };
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let why = format!("{} does not exist", path.display());
                    if let Some(l) = level(ctx, LOG_NOT_FOUND) {
                        ctx.bulletin(l, format!("could not fetch: {why}"));
                    }
                    route(session, ff, NOT_FOUND, &why);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    let why = format!("no permission to read {}: {e}", path.display());
                    if let Some(l) = level(ctx, LOG_DENIED) {
                        ctx.bulletin(l, format!("could not fetch: {why}"));
                    }
                    route(session, ff, PERMISSION_DENIED, &why);
                    continue;
                }
                Err(e) => {
                    let why = format!("cannot open {}: {e}", path.display());
                    ctx.bulletin(Level::Error, format!("could not fetch: {why}"));
                    route(session, ff, crate::FAILURE, &why);
                    continue;
                }
            };
            // Opening a directory succeeds on Linux; reading it fails with EISDIR (failure,
            // as in NiFi), caught below.
            if let Err(e) = session.write_with(&mut ff, |w| io::copy(&mut file, w).map(|_| ())) {
                let why = format!("cannot read {}: {e}", path.display());
                ctx.bulletin(Level::Error, format!("could not fetch: {why}"));
                route(session, ff, crate::FAILURE, &why);
                continue;
            }
            session.mark_fetched(&ff, &common::file_uri(&path));
            session.transfer(ff, crate::SUCCESS);
            if !matches!(completion, Completion::None) {
                let warnings = self.pending_warnings.clone();
                session.on_commit(Box::new(move |committed| {
                    if committed && let Err(e) = complete(&path, &completion) {
                        let msg = format!("fetched {} but could not complete the strategy: {e}", path.display());
                        tracing::warn!("{msg}");
                        warnings.lock().push(msg);
                    }
                }));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use sluice_engine::provenance::EventType;
    use sluice_engine::testing::TestRunner;

    fn runner() -> TestRunner {
        TestRunner::new(crate::registry(), "FetchFile")
    }

    #[test]
    fn fetches_with_default_path_and_provenance() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"hello world").unwrap();
        let mut r = runner();
        r.enqueue("", &[("absolute.path", &format!("{}/", dir.path().display())), ("filename", "a.txt")]);
        r.run(1).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 1);
        assert_eq!(TestRunner::content(&out[0]), "hello world");
        let ev = r.events();
        let fetch = ev.iter().find(|e| e.event_type == EventType::Fetch).expect("a FETCH event");
        assert!(fetch.transit_uri.as_deref().unwrap().starts_with("file:///"), "{:?}", fetch.transit_uri);
        assert!(dir.path().join("a.txt").exists(), "None leaves the file");
    }

    #[test]
    fn missing_file_goes_to_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner();
        r.set_property("File to Fetch", &format!("{}/${{filename}}", dir.path().display()));
        r.enqueue("", &[("filename", "missing.txt")]);
        r.run(1).unwrap();
        let out = r.output("not.found");
        assert_eq!(out.len(), 1);
        assert!(out[0].attr("fetchfile.error").unwrap().contains("does not exist"));
        assert!(r.bulletins().iter().any(|b| b.contains("missing.txt")));
    }

    /// A directory instead of a file fails even for root (EISDIR on read): NiFi routes that
    /// to failure, and so does Sluice.
    #[test]
    fn a_directory_goes_to_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner();
        r.set_property("File to Fetch", dir.path().to_str().unwrap());
        r.enqueue("", &[]);
        r.run(1).unwrap();
        let out = r.output("failure");
        assert_eq!(out.len(), 1);
        assert!(
            out[0].attr("fetchfile.error").unwrap().contains("cannot read"),
            "{:?}",
            out[0].attr("fetchfile.error")
        );
        assert_eq!(r.count("success"), 0);
    }

    /// Tests run as root, which reads any file: this test drops the DAC override
    /// capabilities of its own thread (the harness runs the processor on the calling
    /// thread), so a mode-000 file really cannot be opened (EACCES).
    #[test]
    fn unreadable_file_goes_to_permission_denied() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.txt");
        fs::write(&p, b"secret").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
        crate::files::test_support::drop_dac_capabilities_of_this_thread();
        assert!(fs::File::open(&p).is_err(), "the thread can no longer bypass permissions");
        let mut r = runner();
        r.set_property("File to Fetch", p.to_str().unwrap());
        r.set_property("Log level when permission denied", "WARN");
        r.enqueue("", &[]);
        r.run(1).unwrap();
        let out = r.output("permission.denied");
        assert_eq!(out.len(), 1);
        assert!(out[0].attr("fetchfile.error").unwrap().contains("no permission"));
    }

    #[test]
    fn delete_and_move_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("d.txt"), b"delete me").unwrap();
        let mut r = runner();
        r.set_property("File to Fetch", &format!("{}/${{filename}}", dir.path().display()));
        r.set_property("Completion Strategy", "Delete File");
        r.enqueue("", &[("filename", "d.txt")]);
        r.run(1).unwrap();
        assert_eq!(TestRunner::content(&r.output("success")[0]), "delete me");
        assert!(!dir.path().join("d.txt").exists());

        let archive = dir.path().join("archive");
        fs::create_dir(&archive).unwrap();
        fs::write(archive.join("m.txt"), b"old").unwrap();
        fs::write(dir.path().join("m.txt"), b"new").unwrap();
        let mut r = runner();
        r.set_property("File to Fetch", &format!("{}/${{filename}}", dir.path().display()));
        r.set_property("Completion Strategy", "Move File");
        r.set_property("Move Destination Directory", archive.to_str().unwrap());
        r.enqueue("", &[("filename", "m.txt")]);
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1);
        assert!(!dir.path().join("m.txt").exists());
        let names: Vec<String> =
            fs::read_dir(&archive).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "renamed beside the existing one: {names:?}");
        assert_eq!(fs::read(archive.join("m.txt")).unwrap(), b"old");

        // Fail: found before fetching.
        fs::write(dir.path().join("m.txt"), b"again").unwrap();
        r.set_property("Move Conflict Strategy", "Fail");
        r.enqueue("", &[("filename", "m.txt")]);
        r.run(1).unwrap();
        assert_eq!(r.count("failure"), 1);
        assert!(dir.path().join("m.txt").exists());
    }
}
