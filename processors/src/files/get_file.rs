//! GetFile: picks files up from a directory into the flow (content streamed, any size) and
//! deletes them, unless told to keep them. Deletion happens only after the session
//! committed, so a crash in between ingests a file twice rather than losing it.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{self, DirFilter, INPUT_DIRECTORY};

const KEEP: &str = "Keep Source File";
const BATCH: &str = "Batch Size";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(GetFile::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "GetFile",
        "Picks up files from a local directory: each becomes a flowfile (content streamed) with the attributes \
         filename, path, absolute.path and the file.* times, owner, group and permissions; the file is then deleted \
         (after the flowfile is committed) unless Keep Source File is true. Prefer ListFile + FetchFile when the \
         files must stay.",
    )
    .tags(&["file", "get", "ingest", "source", "filesystem", "input"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(INPUT_DIRECTORY)
            .description(
                "The directory to pick files up from (expressions are evaluated once per run, without a flowfile)",
            )
            .required()
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(KEEP)
            .description(
                "Whether files are left in place after being picked up (they are then picked up again on every run)",
            )
            .required()
            .default_value("false")
            .allowable(&[("true", "leave the files"), ("false", "delete each file once its flowfile is committed")]),
    )
    .property(
        PropertyDescriptor::new(BATCH)
            .description("The most files picked up per run")
            .required()
            .default_value("10")
            .validator(Validator::POSITIVE_INTEGER),
    );
    for p in common::filter_properties() {
        d = d.property(p);
    }
    d.relationship(Relationship::new(crate::SUCCESS, "Every file picked up"))
}

/// The processor.
#[derive(Default)]
pub struct GetFile {
    filter: Option<DirFilter>,
    keep: bool,
    batch: usize,
    /// Files taken by a session not yet settled (concurrent tasks skip them).
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    /// Files that could not be deleted after their commit, posted on the next run.
    pending_warnings: Arc<Mutex<Vec<String>>>,
}

fn writable_dir(dir: &Path) -> bool {
    match CString::new(dir.as_os_str().as_bytes()) {
        // SAFETY: a valid NUL-terminated path.
        Ok(c) => unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 },
        Err(_) => false,
    }
}

impl Processor for GetFile {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.filter = Some(DirFilter::from_context(ctx)?);
        self.keep = ctx.bool(KEEP)?.unwrap_or(false);
        self.batch = ctx.int(BATCH)?.unwrap_or(10).max(1) as usize;
        self.in_flight.lock().clear();
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for w in std::mem::take(&mut *self.pending_warnings.lock()) {
            ctx.bulletin(Level::Warning, w);
        }
        let filter = self.filter.as_ref().ok_or_else(|| ProcessError::Config("not scheduled".into()))?;
        let dir = ctx.value(INPUT_DIRECTORY)?.unwrap_or_default();
        if dir.trim().is_empty() {
            return Err(ProcessError::Config("Input Directory evaluated to an empty path".into()));
        }
        let root = common::absolute(&PathBuf::from(dir.trim()));
        let entries = {
            let mut in_flight = self.in_flight.lock();
            let walked = filter.walk(&root, self.batch, &|p| in_flight.contains(p));
            match walked {
                Ok((entries, _)) => {
                    for e in &entries {
                        in_flight.insert(e.path.clone());
                    }
                    entries
                }
                Err(e) => {
                    drop(in_flight);
                    ctx.bulletin(Level::Warning, format!("cannot read {}: {e}; yielding", root.display()));
                    ctx.yield_now();
                    return Ok(());
                }
            }
        };
        if entries.is_empty() {
            ctx.yield_now();
            return Ok(());
        }
        let mut taken: Vec<PathBuf> = Vec::with_capacity(entries.len());
        let mut all: Vec<PathBuf> = Vec::with_capacity(entries.len());
        for entry in &entries {
            all.push(entry.path.clone());
            if !self.keep && !entry.path.parent().is_some_and(writable_dir) {
                ctx.bulletin(
                    Level::Warning,
                    format!(
                        "skipping {}: its directory is not writable, so it could not be deleted",
                        entry.path.display()
                    ),
                );
                continue;
            }
            let mut file = match File::open(&entry.path) {
                Ok(f) => f,
                Err(e) => {
                    ctx.bulletin(Level::Warning, format!("skipping {}: {e}", entry.path.display()));
                    continue;
                }
            };
            let mut ff = session.create();
            if let Err(e) = session.write_with(&mut ff, |w| io::copy(&mut file, w).map(|_| ())) {
                session.remove(ff);
                ctx.bulletin(Level::Warning, format!("skipping {}: {e}", entry.path.display()));
                continue;
            }
            common::set_file_attributes(&mut ff, entry, true);
            session.mark_received(&ff, &common::file_uri(&entry.path));
            session.transfer(ff, crate::SUCCESS);
            taken.push(entry.path.clone());
        }
        let in_flight = self.in_flight.clone();
        let warnings = self.pending_warnings.clone();
        let keep = self.keep;
        session.on_commit(Box::new(move |committed| {
            if committed && !keep {
                for p in &taken {
                    if let Err(e) = fs::remove_file(p)
                        && e.kind() != io::ErrorKind::NotFound
                    {
                        warnings.lock().push(format!("picked up {} but could not delete it: {e}", p.display()));
                    }
                }
            }
            let mut f = in_flight.lock();
            for p in &all {
                f.remove(p);
            }
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use sluice_engine::provenance::EventType;
    use sluice_engine::testing::TestRunner;

    #[test]
    fn picks_up_and_deletes_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            fs::write(dir.path().join(format!("f{i}.txt")), format!("content {i}")).unwrap();
        }
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/deep.txt"), b"deep").unwrap();
        fs::write(dir.path().join(".hidden"), b"h").unwrap();
        let mut r = TestRunner::new(crate::registry(), "GetFile");
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("Batch Size", "4");
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 4);
        r.run(2).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 6);
        let deep = out.iter().find(|f| f.attr("filename") == Some("deep.txt")).unwrap();
        assert_eq!(TestRunner::content(deep), "deep");
        assert_eq!(deep.attr("path"), Some("sub/"));
        assert_eq!(deep.attr("file.owner"), Some("root"));
        let f3 = out.iter().find(|f| f.attr("filename") == Some("f3.txt")).unwrap();
        assert_eq!(TestRunner::content(f3), "content 3");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "only sub/ and .hidden remain: {left:?}");
        assert!(!dir.path().join("sub/deep.txt").exists());
        assert!(r.events().iter().any(|e| e.event_type == EventType::Receive));
    }

    #[test]
    fn keeps_source_files_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.csv"), b"1,2").unwrap();
        fs::write(dir.path().join("b.txt"), b"x").unwrap();
        let mut r = TestRunner::new(crate::registry(), "GetFile");
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("Keep Source File", "true");
        r.set_property("File Filter", r".*\.csv");
        r.run(1).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 1);
        assert_eq!(TestRunner::content(&out[0]), "1,2");
        assert!(dir.path().join("a.csv").exists());
    }

    #[test]
    fn missing_directory_yields_with_a_bulletin() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = TestRunner::new(crate::registry(), "GetFile");
        r.set_property("Input Directory", dir.path().join("absent").to_str().unwrap());
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 0);
        assert!(r.bulletins().iter().any(|b| b.contains("cannot read")));
    }
}
