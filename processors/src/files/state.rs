//! Small processor state kept across restarts: one JSON document in the processor's state
//! directory (`ProcessContext::state_dir`), replaced atomically (written to a temporary file,
//! synced, renamed over the old one, directory synced), so a crash leaves either the old or
//! the new state, never a torn one. Without a state directory (memory mode) nothing is
//! written and the processor keeps its state in memory only.
//!
//! Used by the listing and tailing processors (ListFile, TailFile, ListS3).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where one processor's state document lives (or nowhere, in memory mode).
#[derive(Clone, Debug, Default)]
pub struct StateFile {
    path: Option<PathBuf>,
}

impl StateFile {
    /// The state document `name` (e.g. `listing.json`) inside `dir`, when there is a state
    /// directory; the directory is created when first written.
    pub fn new(dir: Option<PathBuf>, name: &str) -> Self {
        StateFile { path: dir.map(|d| d.join(name)) }
    }

    /// The file path, if state is kept on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the state; `Ok(None)` when there is none yet (or in memory mode). A document
    /// that cannot be parsed is an error, so that a processor never silently starts over
    /// and duplicates everything.
    pub fn load<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("state file {}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state atomically (no-op in memory mode).
    pub fn save<T: Serialize>(&self, state: &T) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            // The rename itself is durable only once the directory is synced.
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFile::new(Some(dir.path().join("p1")), "state.json");
        assert_eq!(s.load::<BTreeMap<String, u64>>().unwrap(), None);
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), 1u64);
        s.save(&m).unwrap();
        m.insert("b".to_string(), 2);
        s.save(&m).unwrap();
        assert_eq!(s.load::<BTreeMap<String, u64>>().unwrap(), Some(m));
        let names: Vec<_> = fs::read_dir(dir.path().join("p1")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")], "no temporary file left");
    }

    #[test]
    fn corrupt_state_is_an_error_and_memory_mode_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("state.json"), b"{not json").unwrap();
        let s = StateFile::new(Some(dir.path().to_path_buf()), "state.json");
        assert!(s.load::<BTreeMap<String, u64>>().is_err());
        let mem = StateFile::new(None, "state.json");
        mem.save(&1u32).unwrap();
        assert_eq!(mem.load::<u32>().unwrap(), None);
    }
}
