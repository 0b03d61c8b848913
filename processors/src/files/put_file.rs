//! PutFile: writes each flowfile's content to a file in a local directory, named by its
//! `filename` attribute. The content is streamed to a hidden temporary file in the target
//! directory, then renamed into place atomically, so readers never see a partial file and a
//! crash leaves no half-written one under the final name. The file and its directory are
//! synced when the engine runs in `fsync` durability (surviving power loss, like a commit);
//! in `os` the written file is in the OS when the flowfile is released (surviving a crash of
//! Sluice, like a commit), as NiFi's PutFile does.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sluice_engine::{
    FlowFile, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common;

const DIRECTORY: &str = "Directory";
const CONFLICT: &str = "Conflict Resolution Strategy";
const CREATE_DIRS: &str = "Create Missing Directories";
const MAX_FILES: &str = "Maximum File Count";
const PERMISSIONS: &str = "Permissions";
const APPEND_DELIMITER: &str = "Append Delimiter";

const REPLACE: &str = "replace";
const IGNORE: &str = "ignore";
const FAIL: &str = "fail";
const APPEND: &str = "append";

/// Attribute saying why a flowfile went to failure.
const ERROR_ATTR: &str = "putfile.error";
const BATCH: usize = 16;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutFile));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "PutFile",
        "Writes the content of each flowfile to a local file named by its filename attribute, atomically: the \
         content is streamed to a hidden temporary file in the target directory and renamed into place (with the \
         file and directory synced first when the engine's durability is fsync). Flowfiles that cannot be written \
         go to failure with putfile.error.",
    )
    .tags(&["file", "put", "write", "filesystem", "local", "archive"])
    .property(
        PropertyDescriptor::new(DIRECTORY)
            .description("The directory to write files to (expressions are evaluated per flowfile)")
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(CONFLICT)
            .description("What happens when a file with the same name already exists in the directory")
            .required()
            .default_value(FAIL)
            .allowable(&[
                (REPLACE, "the existing file is replaced (atomically)"),
                (IGNORE, "the flowfile goes to success without writing; the existing file is kept"),
                (FAIL, "the flowfile goes to failure, penalized"),
                (
                    APPEND,
                    "the content is added at the end of the file (created when missing), followed by the Append \
                     Delimiter, like Node-RED's file node; not atomic: a crash during the write can leave a partial \
                     record, and the flowfile, still queued, is appended again whole after restart",
                ),
            ]),
    )
    .property(PropertyDescriptor::new(APPEND_DELIMITER).description(
        "With the append strategy, written after each flowfile's content, e.g. \\n for one record per line \
                 (the escapes \\n, \\r and \\t are understood)",
    ))
    .property(
        PropertyDescriptor::new(CREATE_DIRS)
            .description("Whether a missing target directory (and its parents) is created")
            .required()
            .default_value("true")
            .allowable(&[("true", "create missing directories"), ("false", "a missing directory is a failure")]),
    )
    .property(
        PropertyDescriptor::new(MAX_FILES)
            .description(
                "The most files the directory may hold; when it holds that many, flowfiles go to failure, penalized",
            )
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(PERMISSIONS)
            .description(
                "Permissions of written files, as rwxr-x--- or octal 0750 (expressions evaluated per flowfile)",
            )
            .expression_language(),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles written (or ignored because the file exists)"))
    .relationship(Relationship::new(crate::FAILURE, "Flowfiles that could not be written, with putfile.error"))
}

/// The processor (stateless).
pub struct PutFile;

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
}

enum Outcome {
    Written(PathBuf),
    Ignored,
    Failed(String),
}

/// Streams `content` to a temporary file beside `target`, syncs it when `sync`, and renames
/// (or, when replacing is not allowed, hard-links) it into place; no temporary file is left
/// behind.
fn write_atomically(
    dir: &Path,
    target: &Path,
    content: &mut dyn io::Read,
    mode: Option<u32>,
    replace: bool,
    sync: bool,
) -> io::Result<bool> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        io::copy(content, &mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if let Some(m) = mode {
            file.set_permissions(fs::Permissions::from_mode(m))?;
        }
        if sync {
            file.sync_all()?;
        }
        drop(file);
        if replace {
            fs::rename(&tmp, target)?;
        } else {
            // link(2) never replaces: an existing file (created concurrently) is an error.
            match fs::hard_link(&tmp, target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e),
            }
            fs::remove_file(&tmp)?;
        }
        if sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(true)
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// Appends `content` and `delimiter` to `target` (created when missing, with `mode`), in one
/// write for small content, synced when `sync`.
fn append(
    target: &Path,
    content: &mut dyn io::Read,
    delimiter: &[u8],
    mode: Option<u32>,
    sync: bool,
) -> io::Result<()> {
    let mut options = File::options();
    options.append(true).create(true);
    if let Some(m) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, m);
    }
    let file = options.open(target)?;
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    io::copy(content, &mut w)?;
    io::Write::write_all(&mut w, delimiter)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

/// `\n`, `\r`, `\t` and `\\` in a property value as the characters they name.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn count_files(dir: &Path) -> io::Result<usize> {
    Ok(fs::read_dir(dir)?.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_file())).count())
}

impl PutFile {
    fn put(&self, ctx: &ProcessContext, session: &ProcessSession, ff: &FlowFile) -> Outcome {
        let dir = match ctx.evaluate(DIRECTORY, ff) {
            Ok(Some(d)) if !d.trim().is_empty() => PathBuf::from(d.trim()),
            Ok(_) => return Outcome::Failed("Directory evaluated to an empty path".into()),
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let name = ff.attr("filename").map(str::to_string).unwrap_or_else(|| ff.id.to_string());
        if !common::is_plain_file_name(&name) {
            return Outcome::Failed(format!("filename '{name}' is not a plain file name (no '/', not '.' or '..')"));
        }
        let mode = match ctx.evaluate(PERMISSIONS, ff) {
            Ok(Some(p)) if !p.trim().is_empty() => match common::parse_permissions(&p) {
                Some(m) => Some(m),
                None => {
                    return Outcome::Failed(format!("Permissions '{p}' is neither rwxr-x--- nor octal like 0750"));
                }
            },
            Ok(_) => None,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Outcome::Failed(format!("{} is not a directory", dir.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if ctx.bool(CREATE_DIRS).ok().flatten().unwrap_or(true) {
                    if let Err(e) = fs::create_dir_all(&dir) {
                        return Outcome::Failed(format!("cannot create {}: {e}", dir.display()));
                    }
                } else {
                    return Outcome::Failed(format!(
                        "{} does not exist and Create Missing Directories is false",
                        dir.display()
                    ));
                }
            }
            Err(e) => return Outcome::Failed(format!("cannot access {}: {e}", dir.display())),
        }
        if let Ok(Some(max)) = ctx.int(MAX_FILES) {
            match count_files(&dir) {
                Ok(n) if n as i64 >= max => {
                    return Outcome::Failed(format!(
                        "{} already holds {n} files (Maximum File Count {max})",
                        dir.display()
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Outcome::Failed(format!("cannot count the files of {}: {e}", dir.display()));
                }
            }
        }
        let target = dir.join(&name);
        let strategy = ctx.property(CONFLICT).unwrap_or(FAIL);
        if strategy == APPEND {
            let delimiter = unescape(ctx.property(APPEND_DELIMITER).unwrap_or(""));
            let mut content = match session.read(ff) {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(format!("cannot read the content: {e}")),
            };
            let sync = ctx.durability() == sluice_engine::repository::Durability::Fsync;
            return match append(&target, &mut content, delimiter.as_bytes(), mode, sync) {
                Ok(()) => Outcome::Written(target),
                Err(e) => Outcome::Failed(format!("cannot append to {}: {e}", target.display())),
            };
        }
        if fs::symlink_metadata(&target).is_ok() {
            match strategy {
                IGNORE => return Outcome::Ignored,
                REPLACE => {}
                _ => return Outcome::Failed(format!("{} already exists", target.display())),
            }
        }
        let mut content = match session.read(ff) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot read the content: {e}")),
        };
        let sync = ctx.durability() == sluice_engine::repository::Durability::Fsync;
        match write_atomically(&dir, &target, &mut content, mode, strategy == REPLACE, sync) {
            Ok(true) => Outcome::Written(target),
            Ok(false) if strategy == IGNORE => Outcome::Ignored,
            Ok(false) => Outcome::Failed(format!("{} already exists", target.display())),
            Err(e) => Outcome::Failed(format!("cannot write {}: {e}", target.display())),
        }
    }
}

/// Temporary files of ours (`.<name>.<32 hex>.tmp`) older than a minute in `dir`, left by a
/// process killed mid-write, are removed; younger ones may belong to a write in progress.
fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
        let Some((_, hex)) = stem.rsplit_once('.') else { continue };
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if old.is_some_and(|age| age > std::time::Duration::from_secs(60)) && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl Processor for PutFile {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        // With a fixed directory, tidy what a killed predecessor left there.
        if ctx.expression(DIRECTORY).is_none()
            && let Some(dir) = ctx.property(DIRECTORY)
        {
            let n = remove_stale_temporaries(Path::new(dir));
            if n > 0 {
                tracing::info!(directory = dir, removed = n, "PutFile removed temporary files of interrupted writes");
            }
        }
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for ff in session.get_batch(BATCH) {
            match self.put(ctx, session, &ff) {
                Outcome::Written(path) => {
                    session.mark_sent(&ff, &common::file_uri(&path));
                    session.transfer(ff, crate::SUCCESS);
                }
                Outcome::Ignored => {
                    session.set_details(&ff, "a file of that name exists; ignored");
                    session.transfer(ff, crate::SUCCESS);
                }
                Outcome::Failed(why) => {
                    ctx.bulletin(Level::Warning, format!("could not write a file: {why}"));
                    fail(session, ff, &why);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use sluice_engine::provenance::EventType;
    use sluice_engine::testing::TestRunner;

    fn runner(dir: &std::path::Path) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "PutFile");
        r.set_property("Directory", &format!("{}/${{sub}}", dir.display()));
        r
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_atomically_creating_directories() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner(dir.path());
        r.set_property("Permissions", "rw-r-----");
        r.enqueue("first", &[("filename", "a.txt"), ("sub", "x/y")]);
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1);
        let target = dir.path().join("x/y/a.txt");
        assert_eq!(fs::read_to_string(&target).unwrap(), "first");
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(names(&dir.path().join("x/y")), ["a.txt"], "no temporary file left");
        let send = r.events().into_iter().find(|e| e.event_type == EventType::Send).expect("SEND");
        assert_eq!(send.transit_uri.unwrap(), format!("file://{}", target.display()));
    }

    #[test]
    fn append_adds_records_to_one_file_with_the_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner(dir.path());
        r.set_property("Conflict Resolution Strategy", "append");
        r.set_property("Append Delimiter", "\\n");
        for body in ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"] {
            r.enqueue(body, &[("filename", "log.jsonl"), ("sub", "")]);
        }
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 3);
        assert_eq!(fs::read_to_string(dir.path().join("log.jsonl")).unwrap(), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        assert_eq!(names(dir.path()), ["log.jsonl"], "no temporary files in append mode");
        // An unwritable target fails the flowfile, naming the file.
        fs::create_dir(dir.path().join("d.jsonl")).unwrap();
        r.enqueue("x", &[("filename", "d.jsonl"), ("sub", "")]);
        r.run(1).unwrap();
        let failed = r.output("failure");
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0].attr("putfile.error").unwrap().contains("cannot append to"),
            "{:?}",
            failed[0].attr("putfile.error")
        );
        assert_eq!(super::unescape("a\\tb\\\\n\\q"), "a\tb\\n\\q");
    }

    #[test]
    fn stale_temporary_files_are_removed_when_scheduled() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(format!(".a.txt.{}.tmp", "0123456789abcdef0123456789abcdef"));
        let fresh = dir.path().join(format!(".b.txt.{}.tmp", "fedcba9876543210fedcba9876543210"));
        let other = dir.path().join(".hidden.tmp");
        for p in [&stale, &fresh, &other] {
            fs::write(p, b"partial").unwrap();
        }
        let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for p in [&stale, &other] {
            fs::File::options().write(true).open(p).unwrap().set_modified(two_minutes_ago).unwrap();
        }
        assert_eq!(super::remove_stale_temporaries(dir.path()), 1);
        assert!(!stale.exists(), "an old temporary file of ours goes");
        assert!(fresh.exists(), "a young one may be a write in progress");
        assert!(other.exists(), "files not named like ours stay");
    }

    #[test]
    fn conflict_strategies() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("c.txt"), b"existing").unwrap();
        // fail (the default)
        let mut r = runner(dir.path());
        r.enqueue("new", &[("filename", "c.txt"), ("sub", "")]);
        r.run(1).unwrap();
        let out = r.output("failure");
        assert_eq!(out.len(), 1);
        assert!(out[0].attr("putfile.error").unwrap().contains("already exists"));
        assert_eq!(fs::read_to_string(dir.path().join("c.txt")).unwrap(), "existing");
        // ignore
        let mut r = runner(dir.path());
        r.set_property("Conflict Resolution Strategy", "ignore");
        r.enqueue("new", &[("filename", "c.txt"), ("sub", "")]);
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1);
        assert_eq!(fs::read_to_string(dir.path().join("c.txt")).unwrap(), "existing");
        // replace
        let mut r = runner(dir.path());
        r.set_property("Conflict Resolution Strategy", "replace");
        r.enqueue("replaced", &[("filename", "c.txt"), ("sub", "")]);
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1);
        assert_eq!(fs::read_to_string(dir.path().join("c.txt")).unwrap(), "replaced");
        assert_eq!(names(dir.path()), ["c.txt"], "no temporary file left");
    }

    #[test]
    fn bad_input_goes_to_failure() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("plain-file"), b"").unwrap();
        let mut r = runner(dir.path());
        r.set_property("Maximum File Count", "2");
        r.set_property("Create Missing Directories", "false");
        r.enqueue("x", &[("filename", "../escape"), ("sub", "")]);
        r.enqueue("x", &[("filename", "a"), ("sub", "plain-file")]);
        r.enqueue("x", &[("filename", "a"), ("sub", "missing")]);
        r.enqueue("x", &[("filename", "one"), ("sub", "")]);
        r.enqueue("x", &[("filename", "two"), ("sub", "")]);
        r.run(1).unwrap();
        let out = r.output("failure");
        let why: Vec<&str> = out.iter().map(|f| f.attr("putfile.error").unwrap()).collect();
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(why[0].contains("not a plain file name"));
        assert!(why[1].contains("not a directory"));
        assert!(why[2].contains("does not exist"));
        assert!(why[3].contains("Maximum File Count"));
        assert_eq!(r.count("success"), 1);
        assert_eq!(names(dir.path()), ["one", "plain-file"]);
        let mut r = runner(dir.path());
        r.set_property("Permissions", "rwz");
        r.enqueue("x", &[("filename", "p"), ("sub", "")]);
        r.run(1).unwrap();
        assert!(r.output("failure")[0].attr("putfile.error").unwrap().contains("Permissions"));
    }

    /// Root writes anywhere, so "cannot write" is made real by dropping this thread's DAC
    /// capabilities and writing into a read-only directory.
    #[test]
    fn unwritable_directory_goes_to_failure_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        crate::files::test_support::drop_dac_capabilities_of_this_thread();
        let mut r = TestRunner::new(crate::registry(), "PutFile");
        r.set_property("Directory", ro.to_str().unwrap());
        r.enqueue("data", &[("filename", "f")]);
        r.run(1).unwrap();
        let out = r.output("failure");
        assert_eq!(out.len(), 1);
        assert!(out[0].attr("putfile.error").unwrap().contains("cannot write"), "{:?}", out[0].attr("putfile.error"));
        assert!(names(&ro).is_empty());
    }
}
