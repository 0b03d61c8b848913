//! TailFile: follows a growing text file (a log) and emits what was appended since the last
//! run, complete lines only, as one flowfile per run. It follows rotation: when the file was
//! renamed away and replaced (a new inode) or truncated in place (copytruncate: it shrank,
//! or its first bytes changed), the rotated file is found among the files matching the
//! Rolling Filename Pattern (by inode, or by the checksum of its first bytes), finished from
//! the last position, and tailing continues with the new file from its start. The position,
//! inode and first-bytes checksum are kept in the processor's state directory, so a restart
//! resumes exactly where the last committed flowfile ended: no duplicates, no gaps.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use regex::bytes::Regex as BytesRegex;
use serde::{Deserialize, Serialize};
use sluice_engine::{
    InputRequirement, Level, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common;
use super::state::StateFile;

const FILE: &str = "File(s) to Tail";
const ROLLING: &str = "Rolling Filename Pattern";
const START: &str = "Initial Start Position";
const LINE_START: &str = "Line Start Pattern";
const MAX_BUFFER: &str = "Max Buffer Size";

const BEGINNING_OF_TIME: &str = "Beginning of Time";
const BEGINNING_OF_FILE: &str = "Beginning of File";
const CURRENT_TIME: &str = "Current Time";

/// How many leading bytes identify a file across rotations.
const HEAD_BYTES: u64 = 4096;
/// How much of each line the Line Start Pattern sees.
const LINE_PREFIX: usize = 1024;
const STATE_NAME: &str = "tailfile.json";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(TailFile::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "TailFile",
        "Tails a text file (e.g. a log): each run emits one flowfile with the complete lines appended since the last \
         run. Follows rotation (rename-and-recreate or copytruncate) by finishing the rotated file, found with the \
         Rolling Filename Pattern, before continuing with the new one; resumes where it left off after a restart. \
         Attributes: filename (name.start-end.ext), tailfile.original.path, mime.type.",
    )
    .tags(&["tail", "file", "log", "text", "source", "ingest"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(FILE)
            .description("The file to tail (a single file; expressions evaluated once per run, without a flowfile)")
            .required()
            .expression_language(),
    )
    .property(PropertyDescriptor::new(ROLLING).description(
        "The names rotated files get, in the tailed file's directory, with * and ? wildcards; ${filename} stands \
                 for the tailed file's name without its extension (e.g. app.log.* or ${filename}-*.log). Without it a \
                 rotation cannot be followed: data written before the rotation but after the last run is lost \
                 (no other expressions)",
    ))
    .property(
        PropertyDescriptor::new(START)
            .description("Where tailing starts when there is no state yet")
            .required()
            .default_value(BEGINNING_OF_FILE)
            .allowable(&[
                (
                    BEGINNING_OF_TIME,
                    "first the rotated files matching the pattern (oldest first), then the file from its start",
                ),
                (BEGINNING_OF_FILE, "the file from its start"),
                (CURRENT_TIME, "only what is appended from now on"),
            ]),
    )
    .property(
        PropertyDescriptor::new(LINE_START)
            .description(
                "A regular expression that matches the start of a message spanning several lines (e.g. a date); the \
                 last message is held back until the next one starts (or until Max Buffer Size is exceeded)",
            )
            .validator(Validator::Regex),
    )
    .property(
        PropertyDescriptor::new(MAX_BUFFER)
            .description("With a Line Start Pattern: the most data held back waiting for the next message to start")
            .required()
            .default_value("64 KB")
            .validator(Validator::DataSize),
    )
    .relationship(Relationship::new(crate::SUCCESS, "The appended lines"))
}

/// Where tailing stands, as committed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct TailState {
    /// The tailed path (a changed property starts over).
    path: String,
    /// Offset in the current file up to which everything was emitted.
    position: u64,
    /// Inode of the current file; 0 = not seen yet (it did not exist).
    inode: u64,
    /// Checksum of the first `head_len` bytes of the current file.
    head: u64,
    /// How many leading bytes `head` covers (min(position, 4096)).
    head_len: u64,
}

/// The processor.
#[derive(Default)]
pub struct TailFile {
    line_start: Option<BytesRegex>,
    max_buffer: u64,
    start: String,
    state_file: StateFile,
    state: Arc<Mutex<Option<Option<TailState>>>>,
    /// Set while a run's session is unsettled: the next run waits for its state.
    busy: Arc<AtomicBool>,
}

/// FNV-1a over the first `len` bytes of `file` (None when it is shorter).
fn head_checksum(file: &mut File, len: u64) -> io::Result<Option<u64>> {
    if len == 0 {
        return Ok(Some(0));
    }
    let mut buf = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(0))?;
    let mut read = 0;
    while read < buf.len() {
        let n = file.read(&mut buf[read..])?;
        if n == 0 {
            return Ok(None);
        }
        read += n;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &buf {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(Some(h))
}

/// A `*`/`?` glob as a whole-name regex.
fn glob_regex(glob: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| e.to_string())
}

/// The end (exclusive) of the last complete line in `[from, to)`, scanning backwards.
fn last_newline_end(file: &mut File, from: u64, to: u64) -> io::Result<Option<u64>> {
    let mut end = to;
    let mut buf = vec![0u8; 64 * 1024];
    while end > from {
        let start = end.saturating_sub(buf.len() as u64).max(from);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(Some(start + i as u64 + 1));
        }
        end = start;
    }
    Ok(None)
}

/// The start of the last line in `[from, to)` (after `from` itself) whose first bytes match
/// `pattern`; `to` must be a line end. Reads forward with bounded memory.
fn last_message_start(file: &mut File, from: u64, to: u64, pattern: &BytesRegex) -> io::Result<Option<u64>> {
    file.seek(SeekFrom::Start(from))?;
    let mut reader = io::BufReader::with_capacity(64 * 1024, file.take(to - from));
    let mut offset = from;
    let mut line_start = from;
    let mut prefix: Vec<u8> = Vec::with_capacity(LINE_PREFIX);
    let mut found = None;
    loop {
        let buf = io::BufRead::fill_buf(&mut reader)?;
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        let mut i = 0;
        while i < len {
            match memchr::memchr(b'\n', &buf[i..]) {
                Some(j) => {
                    let room = LINE_PREFIX.saturating_sub(prefix.len());
                    prefix.extend_from_slice(&buf[i..i + j.min(room)]);
                    if line_start > from && pattern.is_match(&prefix) {
                        found = Some(line_start);
                    }
                    prefix.clear();
                    i += j + 1;
                    line_start = offset + i as u64;
                }
                None => {
                    let room = LINE_PREFIX.saturating_sub(prefix.len());
                    prefix.extend_from_slice(&buf[i..(i + room).min(len)]);
                    i = len;
                }
            }
        }
        offset += len as u64;
        io::BufRead::consume(&mut reader, len);
    }
    Ok(found)
}

/// One piece of a file to emit, read through the handle opened when it was planned (so a
/// rotation in between cannot swap the file under the offsets).
struct Chunk {
    file: File,
    path: PathBuf,
    start: u64,
    end: u64,
}

impl Chunk {
    fn open(path: &Path, start: u64, end: u64) -> io::Result<Self> {
        Ok(Chunk { file: File::open(path)?, path: path.to_path_buf(), start, end })
    }
}

impl TailFile {
    fn rolled_files(&self, ctx: &ProcessContext, tailed: &Path) -> Result<Vec<(PathBuf, Metadata)>, ProcessError> {
        let Some(pattern) = ctx.property(ROLLING).filter(|p| !p.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        let name = tailed.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = match name.rfind('.') {
            Some(i) if i > 0 => name[..i].to_string(),
            _ => name.clone(),
        };
        let glob = pattern.trim().replace("${filename}", &stem);
        let re = glob_regex(&glob).map_err(|e| ProcessError::Config(format!("Rolling Filename Pattern: {e}")))?;
        let dir = tailed.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(out);
        };
        for e in entries.filter_map(Result::ok) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n == name || !re.is_match(&n) {
                continue;
            }
            if let Ok(m) = fs::metadata(e.path())
                && m.is_file()
            {
                out.push((e.path(), m));
            }
        }
        // Oldest first; equal times by name.
        out.sort_by(|a, b| (a.1.mtime(), a.1.mtime_nsec(), &a.0).cmp(&(b.1.mtime(), b.1.mtime_nsec(), &b.0)));
        Ok(out)
    }

    /// The cut point of new data in the current file: the end of what may be emitted now.
    fn cut(&self, file: &mut File, from: u64, size: u64) -> io::Result<u64> {
        let Some(line_end) = last_newline_end(file, from, size)? else {
            return Ok(from);
        };
        let Some(pattern) = &self.line_start else {
            return Ok(line_end);
        };
        match last_message_start(file, from, line_end, pattern)? {
            Some(start) if line_end - start <= self.max_buffer => Ok(start),
            // The held-back message is too large: emit it anyway.
            Some(_) => Ok(line_end),
            None if line_end - from > self.max_buffer => Ok(line_end),
            None => Ok(from),
        }
    }

    fn emit(&self, session: &mut ProcessSession, tailed: &Path, chunk: Chunk) -> Result<(), ProcessError> {
        let mut file = chunk.file;
        file.seek(SeekFrom::Start(chunk.start))?;
        let mut ff = session.create();
        let mut limited = file.take(chunk.end - chunk.start);
        session.write_with(&mut ff, |w| io::copy(&mut limited, w).map(|_| ()))?;
        if ff.size() != chunk.end - chunk.start {
            session.remove(ff);
            return Err(ProcessError::other(format!("{} shrank while being read", chunk.path.display())));
        }
        let name = chunk.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let flowfile_name = match name.rfind('.') {
            Some(i) if i > 0 => {
                format!("{}.{}-{}{}", &name[..i], chunk.start, chunk.end, &name[i..])
            }
            _ => format!("{name}.{}-{}", chunk.start, chunk.end),
        };
        ff.set_attr("filename", &flowfile_name);
        ff.set_attr("mime.type", "text/plain");
        ff.set_attr("tailfile.original.path", &tailed.to_string_lossy());
        session.mark_received(&ff, &common::file_uri(&chunk.path));
        session.set_details(&ff, format!("bytes {} through {} of {}", chunk.start, chunk.end, chunk.path.display()));
        session.transfer(ff, crate::SUCCESS);
        Ok(())
    }

    /// Works out what to emit and the state after it.
    fn plan(
        &self,
        ctx: &ProcessContext,
        tailed: &Path,
        previous: Option<TailState>,
    ) -> Result<(Vec<Chunk>, TailState), ProcessError> {
        let path_string = tailed.to_string_lossy().into_owned();
        let mut chunks = Vec::new();
        let mut current = match File::open(tailed) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(ProcessError::Io(e)),
        };
        let meta = match &current {
            Some(f) => Some(f.metadata()?),
            None => None,
        };
        if meta.as_ref().is_some_and(|m| !m.is_file()) {
            return Err(ProcessError::Config(format!("{} is not a regular file", tailed.display())));
        }
        let mut state = match previous {
            Some(s) if s.path == path_string => s,
            _ => {
                // No state yet: the initial start position decides.
                let mut s = TailState { path: path_string.clone(), ..Default::default() };
                match self.start.as_str() {
                    CURRENT_TIME => {
                        if let (Some(m), Some(f)) = (&meta, current.as_mut()) {
                            s.inode = m.ino();
                            s.position = m.len();
                            s.head_len = s.position.min(HEAD_BYTES);
                            s.head = head_checksum(f, s.head_len)?.unwrap_or(0);
                        }
                        return Ok((chunks, s));
                    }
                    BEGINNING_OF_TIME => {
                        for (p, m) in self.rolled_files(ctx, tailed)? {
                            if m.len() > 0 && meta.as_ref().is_none_or(|cm| cm.ino() != m.ino()) {
                                chunks.push(Chunk::open(&p, 0, m.len())?);
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(m) = &meta {
                    s.inode = m.ino();
                }
                s
            }
        };

        // Rotation: the file now at the path is not the one the position belongs to.
        if state.inode != 0 {
            let same = match (&meta, current.as_mut()) {
                (Some(m), Some(f)) => {
                    m.ino() == state.inode
                        && m.len() >= state.position
                        && head_checksum(f, state.head_len)?.is_some_and(|h| h == state.head)
                }
                _ => false,
            };
            if !same {
                let rolled = self.rolled_files(ctx, tailed)?;
                let matches_head = |p: &Path| -> bool {
                    File::open(p).ok().and_then(|mut f| head_checksum(&mut f, state.head_len).ok().flatten())
                        == Some(state.head)
                };
                let found = rolled
                    .iter()
                    .position(|(p, m)| m.ino() == state.inode && m.len() >= state.position && matches_head(p))
                    .or_else(|| rolled.iter().position(|(p, m)| m.len() >= state.position && matches_head(p)));
                match found {
                    Some(i) => {
                        let (p, m) = &rolled[i];
                        if m.len() > state.position {
                            chunks.push(Chunk::open(p, state.position, m.len())?);
                        }
                        // Rotated again since (never seen): whole, oldest first.
                        for (p2, m2) in &rolled[i + 1..] {
                            if m2.len() > 0 && meta.as_ref().is_none_or(|cm| cm.ino() != m2.ino()) {
                                chunks.push(Chunk::open(p2, 0, m2.len())?);
                            }
                        }
                    }
                    None => ctx.bulletin(
                        Level::Warning,
                        format!(
                            "{} was rotated but the rotated file was not found (Rolling Filename Pattern); data appended \
                             after byte {} before the rotation may be lost",
                            tailed.display(),
                            state.position
                        ),
                    ),
                }
                state = TailState {
                    path: path_string.clone(),
                    position: 0,
                    inode: meta.as_ref().map(|m| m.ino()).unwrap_or(0),
                    head: 0,
                    head_len: 0,
                };
            }
        } else if let Some(m) = &meta {
            // The file appeared.
            state.inode = m.ino();
            state.position = 0;
        }

        if let (Some(m), Some(f)) = (&meta, current.as_mut())
            && m.len() > state.position
        {
            let end = self.cut(f, state.position, m.len())?;
            if end > state.position {
                chunks.push(Chunk { file: f.try_clone()?, path: tailed.to_path_buf(), start: state.position, end });
                state.position = end;
            }
        }
        if let Some(f) = current.as_mut()
            && state.head_len < HEAD_BYTES.min(state.position)
        {
            state.head_len = HEAD_BYTES.min(state.position);
            state.head = head_checksum(f, state.head_len)?.unwrap_or(0);
        }
        Ok((chunks, state))
    }
}

impl Processor for TailFile {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.line_start = match ctx.property(LINE_START).filter(|p| !p.is_empty()) {
            Some(p) => Some(
                BytesRegex::new(&format!("^(?:{p})"))
                    .map_err(|e| ProcessError::Config(format!("Line Start Pattern: {e}")))?,
            ),
            None => None,
        };
        self.max_buffer = ctx.data_size(MAX_BUFFER)?.unwrap_or(64 * 1024);
        self.start = ctx.property(START).unwrap_or(BEGINNING_OF_FILE).to_string();
        self.state_file = StateFile::new(ctx.state_dir(), STATE_NAME);
        *self.state.lock() = None;
        self.busy.store(false, Ordering::Release);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let pending: Arc<Mutex<Option<TailState>>> = Arc::new(Mutex::new(None));
        {
            let (busy, state, file, pending) =
                (self.busy.clone(), self.state.clone(), self.state_file.clone(), pending.clone());
            // The new position is remembered only once its flowfiles are committed.
            session.on_commit(Box::new(move |committed| {
                if committed && let Some(next) = pending.lock().take() {
                    if let Err(e) = file.save(&next) {
                        tracing::warn!("TailFile could not save its state: {e}");
                    }
                    *state.lock() = Some(Some(next));
                }
                busy.store(false, Ordering::Release);
            }));
        }
        let tailed = ctx.value(FILE)?.unwrap_or_default();
        if tailed.trim().is_empty() {
            return Err(ProcessError::Config("File(s) to Tail evaluated to an empty path".into()));
        }
        let tailed = common::absolute(Path::new(tailed.trim()));
        let previous = {
            let mut guard = self.state.lock();
            if guard.is_none() {
                *guard = Some(self.state_file.load::<TailState>().map_err(ProcessError::Io)?);
            }
            guard.clone().flatten()
        };
        let (chunks, next) = self.plan(ctx, &tailed, previous.clone())?;
        if chunks.is_empty() {
            ctx.yield_now();
        }
        for chunk in chunks {
            self.emit(session, &tailed, chunk)?;
        }
        if previous.as_ref() != Some(&next) {
            *pending.lock() = Some(next);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    use sluice_engine::testing::TestRunner;

    fn append(p: &std::path::Path, s: &str) {
        OpenOptions::new().create(true).append(true).open(p).unwrap().write_all(s.as_bytes()).unwrap();
    }

    fn contents(r: &mut TestRunner) -> Vec<String> {
        r.output("success").iter().map(TestRunner::content).collect()
    }

    #[test]
    fn emits_complete_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "one\ntwo\nthr");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["one\ntwo\n"]);
        let ff = &r.output("success")[0];
        assert_eq!(ff.attr("filename"), Some("app.0-8.log"));
        assert_eq!(ff.attr("tailfile.original.path"), Some(log.to_str().unwrap()));
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1, "no complete line yet");
        append(&log, "ee\nfour\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["one\ntwo\n", "three\nfour\n"]);
    }

    #[test]
    fn current_time_skips_existing_data() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "old\n");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Initial Start Position", "Current Time");
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 0);
        append(&log, "new\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["new\n"]);
    }

    #[test]
    fn follows_rename_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "a1\na2\n");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Rolling Filename Pattern", "app.log.*");
        r.run(1).unwrap();
        append(&log, "a3\n");
        fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, "b1\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r).concat(), "a1\na2\na3\nb1\n");
        append(&log, "b2\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r).concat(), "a1\na2\na3\nb1\nb2\n");
    }

    #[test]
    fn follows_copytruncate_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "line 1\nline 2\n");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Rolling Filename Pattern", "${filename}.log.*");
        r.run(1).unwrap();
        append(&log, "line 3\n");
        fs::copy(&log, dir.path().join("app.log.1")).unwrap();
        fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
        append(&log, "x\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r).concat(), "line 1\nline 2\nline 3\nx\n");
    }

    #[test]
    fn multi_line_messages_with_line_start_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "2024 first\n  at frame\n2024 second\n  more\n");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Line Start Pattern", r"\d{4} ");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["2024 first\n  at frame\n"], "the second message may not be complete yet");
        append(&log, "2024 third\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["2024 first\n  at frame\n", "2024 second\n  more\n"]);
    }

    #[test]
    fn beginning_of_time_reads_rotated_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let old = dir.path().join("app.log.1");
        append(&old, "older\n");
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
            .unwrap();
        append(&log, "current\n");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Rolling Filename Pattern", "app.log.*");
        r.set_property("Initial Start Position", "Beginning of Time");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["older\n", "current\n"]);
    }

    #[test]
    fn a_directory_is_an_error_with_a_bulletin() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", dir.path().to_str().unwrap());
        assert!(r.run(1).is_err());
        assert!(r.bulletins().iter().any(|b| b.contains("not a regular file")), "{:?}", r.bulletins());
    }

    #[test]
    fn missing_file_waits_and_rotation_without_pattern_warns() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("late.log");
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 0);
        append(&log, "hello\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["hello\n"]);
        fs::rename(&log, dir.path().join("gone")).unwrap();
        append(&log, "new\n");
        r.run(1).unwrap();
        assert_eq!(contents(&mut r), ["hello\n", "new\n"]);
        assert!(r.bulletins().iter().any(|b| b.contains("rotated file was not found")));
        let mut r = TestRunner::new(crate::registry(), "TailFile");
        assert!(!r.validation_errors().is_empty(), "the file is required");
    }
}
