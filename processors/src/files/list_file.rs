//! ListFile: lists the files of a directory as flowfiles without content (one per file,
//! with NiFi's file attributes), for FetchFile to pick up, possibly elsewhere. Only new or
//! changed files (by path, modification time and size) are listed on each run; what was
//! listed is remembered in the processor's state directory, so a restart does not list
//! everything again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship,
};

use super::common::{self, DirFilter, INPUT_DIRECTORY};
use super::state::StateFile;

const INCLUDE_ATTRS: &str = "Include File Attributes";
const STATE_NAME: &str = "listfile.json";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ListFile::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "ListFile",
        "Lists the files of a local directory: one flowfile without content per new or changed file (by path, \
         modification time and size), with the attributes filename, path, absolute.path, file.size, \
         file.lastModifiedTime, file.creationTime, file.owner, file.group and file.permissions. Pair it with FetchFile. \
         What was listed is kept in the processor's state, so a restart lists only what is new since.",
    )
    .tags(&["file", "list", "source", "filesystem", "ingest"])
    .input(InputRequirement::Forbidden)
    .default_period("1 min")
    .property(
        PropertyDescriptor::new(INPUT_DIRECTORY)
            .description("The directory to list (expressions are evaluated once per run, without a flowfile)")
            .required()
            .expression_language(),
    );
    for p in common::filter_properties() {
        d = d.property(p);
    }
    d.property(
        PropertyDescriptor::new(INCLUDE_ATTRS)
            .description("Whether the time, owner, group and permission attributes are written (cheaper without)")
            .required()
            .default_value("true")
            .allowable(&[
                ("true", "write file.* attributes"),
                ("false", "only filename, path, absolute.path, file.size"),
            ]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "One flowfile per listed file"))
}

/// What was listed: path → (modification time in ms, size).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Listing {
    /// The directory these entries belong to (a changed Input Directory starts over).
    directory: String,
    files: BTreeMap<String, (i64, u64)>,
}

/// The processor.
#[derive(Default)]
pub struct ListFile {
    filter: Option<DirFilter>,
    with_details: bool,
    state_file: StateFile,
    /// The last committed listing; `None` until loaded from the state file.
    state: Arc<Mutex<Option<Listing>>>,
    /// Held for a whole run: listing is not parallel.
    running: Mutex<()>,
}

impl Processor for ListFile {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.filter = Some(DirFilter::from_context(ctx)?);
        self.with_details = ctx.bool(INCLUDE_ATTRS)?.unwrap_or(true);
        self.state_file = StateFile::new(ctx.state_dir(), STATE_NAME);
        // State is re-read at start, so a stop/start keeps what is on disk.
        *self.state.lock() = None;
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some(_running) = self.running.try_lock() else {
            return Ok(());
        };
        let filter = self.filter.as_ref().ok_or_else(|| ProcessError::Config("not scheduled".into()))?;
        let dir = ctx.value(INPUT_DIRECTORY)?.unwrap_or_default();
        if dir.trim().is_empty() {
            return Err(ProcessError::Config("Input Directory evaluated to an empty path".into()));
        }
        let root = common::absolute(&PathBuf::from(dir.trim()));
        let directory = root.to_string_lossy().into_owned();

        let previous = {
            let mut guard = self.state.lock();
            if guard.is_none() {
                let loaded: Option<Listing> = self.state_file.load().map_err(ProcessError::Io)?;
                *guard = Some(loaded.unwrap_or_default());
            }
            guard.clone().unwrap_or_default()
        };
        let previous_files = if previous.directory == directory { previous.files } else { BTreeMap::new() };

        let (entries, problems) = match filter.walk(&root, usize::MAX, &|_| false) {
            Ok(r) => r,
            Err(e) => {
                ctx.bulletin(Level::Warning, format!("cannot list {}: {e}; yielding", root.display()));
                ctx.yield_now();
                return Ok(());
            }
        };
        for p in problems.iter().take(3) {
            ctx.bulletin(Level::Warning, format!("skipped unreadable directory {p}"));
        }

        let mut current = BTreeMap::new();
        let mut listed = 0usize;
        for entry in &entries {
            let key = entry.path.to_string_lossy().into_owned();
            let stamp = (entry.mtime_millis(), entry.meta.len());
            if previous_files.get(&key) != Some(&stamp) {
                let mut ff = session.create();
                common::set_file_attributes(&mut ff, entry, self.with_details);
                session.transfer(ff, crate::SUCCESS);
                listed += 1;
            }
            current.insert(key, stamp);
        }
        if listed == 0 {
            ctx.yield_now();
        }
        let next = Listing { directory, files: current };
        if next.files != previous_files || previous.directory != next.directory {
            // The listing is remembered only once its flowfiles are committed: a rollback
            // lists the same files again next time.
            let state = self.state.clone();
            let file = self.state_file.clone();
            session.on_commit(Box::new(move |committed| {
                if committed {
                    if let Err(e) = file.save(&next) {
                        tracing::warn!("ListFile could not save its state: {e}");
                    }
                    *state.lock() = Some(next);
                }
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, SystemTime};

    use sluice_engine::testing::TestRunner;

    fn runner() -> TestRunner {
        TestRunner::new(crate::registry(), "ListFile")
    }

    #[test]
    fn lists_with_attributes_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        fs::write(dir.path().join(".hidden"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        fs::write(dir.path().join("sub/b.log"), b"12345678").unwrap();
        fs::write(dir.path().join("sub/deeper/c.txt"), b"c").unwrap();
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.run(1).unwrap();
        let out = r.output("success");
        let mut names: Vec<String> = out.iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.log", "c.txt"]);
        let a = out.iter().find(|f| f.attr("filename") == Some("a.txt")).unwrap();
        assert_eq!(a.attr("path"), Some("./"));
        assert_eq!(a.attr("absolute.path").unwrap(), format!("{}/", dir.path().display()));
        assert_eq!(a.attr("file.size"), Some("5"));
        assert_eq!(a.attr("file.owner"), Some("root"));
        assert!(a.attr("file.permissions").unwrap().len() == 9);
        assert!(a.attr("file.lastModifiedTime").unwrap().contains('T'));
        assert!(a.attr("file.creationTime").is_some());
        assert_eq!(a.size(), 0, "no content");
        let c = out.iter().find(|f| f.attr("filename") == Some("c.txt")).unwrap();
        assert_eq!(c.attr("path"), Some("sub/deeper/"));

        // Filters: regex on names, path filter, size bounds, no recursion.
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("File Filter", r".*\.txt");
        r.set_property("Path Filter", "sub");
        r.run(1).unwrap();
        let names: Vec<String> = r.output("success").iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
        assert_eq!(names, ["a.txt"], "sub/deeper does not match the path filter; b.log not the file filter");
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("Minimum File Size", "2 B");
        r.set_property("Maximum File Size", "6 B");
        r.set_property("Ignore Hidden Files", "false");
        r.set_property("File Filter", ".*");
        r.set_property("Recurse Subdirectories", "false");
        r.run(1).unwrap();
        let names: Vec<String> = r.output("success").iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
        assert_eq!(names, ["a.txt"]);
    }

    #[test]
    fn age_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.txt");
        fs::write(&old, b"old").unwrap();
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        fs::write(dir.path().join("new.txt"), b"new").unwrap();
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("Minimum File Age", "10 min");
        r.run(1).unwrap();
        let names: Vec<String> = r.output("success").iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
        assert_eq!(names, ["old.txt"]);
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.set_property("Maximum File Age", "10 min");
        r.run(1).unwrap();
        let names: Vec<String> = r.output("success").iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
        assert_eq!(names, ["new.txt"]);
    }

    #[test]
    fn lists_only_new_or_changed_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"a").unwrap();
        let mut r = runner();
        r.set_property("Input Directory", dir.path().to_str().unwrap());
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1);
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1, "nothing new");
        fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 2, "changed size lists it again");
    }

    #[test]
    fn missing_directory_is_a_bulletin_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner();
        r.set_property("Input Directory", dir.path().join("nope").to_str().unwrap());
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 0);
        assert!(r.bulletins().iter().any(|b| b.contains("cannot list")), "{:?}", r.bulletins());
        assert!(r.validation_errors().is_empty());
        let mut r = runner();
        assert!(!r.validation_errors().is_empty(), "Input Directory is required");
    }
}
