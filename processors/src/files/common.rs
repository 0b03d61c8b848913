//! What the file processors share: walking a directory with NiFi's filters (file and path
//! regexes, hidden files, age and size bounds), the file attributes NiFi writes (`filename`,
//! `path`, `absolute.path`, `file.size`, `file.lastModifiedTime`, `file.owner`, ...), and
//! permission strings.

use std::ffi::CStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use regex::Regex;
use sluice_engine::{FlowFile, ProcessContext, ProcessError, PropertyDescriptor, Validator};

/// NiFi's time format for file attributes (`yyyy-MM-dd'T'HH:mm:ssZ`).
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

/// Property names shared by ListFile and GetFile.
pub const INPUT_DIRECTORY: &str = "Input Directory";
/// Whether subdirectories are walked.
pub const RECURSE: &str = "Recurse Subdirectories";
/// Regex on file names.
pub const FILE_FILTER: &str = "File Filter";
/// Regex on relative directory paths.
pub const PATH_FILTER: &str = "Path Filter";
/// Youngest file taken.
pub const MIN_AGE: &str = "Minimum File Age";
/// Oldest file taken.
pub const MAX_AGE: &str = "Maximum File Age";
/// Smallest file taken.
pub const MIN_SIZE: &str = "Minimum File Size";
/// Largest file taken.
pub const MAX_SIZE: &str = "Maximum File Size";
/// Whether dot files and directories are skipped.
pub const IGNORE_HIDDEN: &str = "Ignore Hidden Files";

/// The filter properties ListFile and GetFile share, in NiFi's wording.
pub fn filter_properties() -> Vec<PropertyDescriptor> {
    vec![
        PropertyDescriptor::new(RECURSE)
            .description("Whether files in subdirectories are picked up too")
            .required()
            .default_value("true")
            .allowable(&[("true", "walk subdirectories"), ("false", "only the directory itself")]),
        PropertyDescriptor::new(FILE_FILTER)
            .description("Only files whose whole name matches this regular expression are picked up")
            .required()
            .default_value(r"[^\.].*")
            .validator(Validator::Regex),
        PropertyDescriptor::new(PATH_FILTER)
            .description(
                "When Recurse Subdirectories is true, only subdirectories whose path relative to the Input Directory \
                 matches this regular expression (whole path) are scanned; files of the Input Directory itself always are",
            )
            .validator(Validator::Regex),
        PropertyDescriptor::new(MIN_AGE)
            .description("The minimum age (since last modification) a file must have to be picked up; younger files wait")
            .required()
            .default_value("0 sec")
            .validator(Validator::TimePeriod),
        PropertyDescriptor::new(MAX_AGE)
            .description("The maximum age (since last modification) a file may have to be picked up; older files are ignored")
            .validator(Validator::TimePeriod),
        PropertyDescriptor::new(MIN_SIZE)
            .description("The minimum size a file must have to be picked up")
            .required()
            .default_value("0 B")
            .validator(Validator::DataSize),
        PropertyDescriptor::new(MAX_SIZE).description("The maximum size a file may have to be picked up").validator(Validator::DataSize),
        PropertyDescriptor::new(IGNORE_HIDDEN)
            .description("Whether hidden files and directories (names starting with a dot) are ignored")
            .required()
            .default_value("true")
            .allowable(&[("true", "skip hidden files and directories"), ("false", "include them")]),
    ]
}

/// A regex that must match the whole text, as Java's `Matcher.matches()` (NiFi's filters).
pub fn whole_match(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

/// The directory walk and its filters, compiled once per start.
#[derive(Clone, Debug)]
pub struct DirFilter {
    /// Whole-name filter.
    pub file_filter: Regex,
    /// Whole relative-directory filter.
    pub path_filter: Option<Regex>,
    /// Walk subdirectories.
    pub recurse: bool,
    /// Skip dot files and directories.
    pub ignore_hidden: bool,
    /// Age bounds.
    pub min_age: Duration,
    /// Oldest allowed.
    pub max_age: Option<Duration>,
    /// Size bounds.
    pub min_size: u64,
    /// Largest allowed.
    pub max_size: Option<u64>,
}

impl DirFilter {
    /// Reads the shared filter properties.
    pub fn from_context(ctx: &ProcessContext) -> Result<Self, ProcessError> {
        let file_filter = whole_match(ctx.property(FILE_FILTER).unwrap_or(r"[^\.].*")).map_err(ProcessError::Config)?;
        let path_filter = match ctx.property(PATH_FILTER).filter(|p| !p.is_empty()) {
            Some(p) => Some(whole_match(p).map_err(ProcessError::Config)?),
            None => None,
        };
        Ok(DirFilter {
            file_filter,
            path_filter,
            recurse: ctx.bool(RECURSE)?.unwrap_or(true),
            ignore_hidden: ctx.bool(IGNORE_HIDDEN)?.unwrap_or(true),
            min_age: ctx.duration(MIN_AGE)?.unwrap_or_default(),
            max_age: ctx.duration(MAX_AGE)?,
            min_size: ctx.data_size(MIN_SIZE)?.unwrap_or(0),
            max_size: ctx.data_size(MAX_SIZE)?,
        })
    }

    /// Walks `root` and returns the regular files that pass every filter, at most `limit`
    /// of them, skipping those `skip` rejects (e.g. files already in flight). Unreadable
    /// subdirectories are skipped (their paths are returned in the second list); an
    /// unreadable root is an error.
    pub fn walk(
        &self,
        root: &Path,
        limit: usize,
        skip: &dyn Fn(&Path) -> bool,
    ) -> io::Result<(Vec<FileEntry>, Vec<String>)> {
        let now = SystemTime::now();
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
        let mut first = true;
        while let Some((dir, rel)) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if first => return Err(e),
                Err(e) => {
                    problems.push(format!("{}: {e}", dir.display()));
                    continue;
                }
            };
            first = false;
            let mut names: Vec<fs::DirEntry> = entries.filter_map(Result::ok).collect();
            names.sort_by_key(|e| e.file_name());
            for entry in names {
                let name = entry.file_name().to_string_lossy().into_owned();
                let hidden = name.starts_with('.');
                let path = entry.path();
                // Symbolic links are followed for files, never for directories (no cycles).
                let Ok(ftype) = entry.file_type() else {
                    continue;
                };
                if ftype.is_dir() {
                    if !self.recurse || (self.ignore_hidden && hidden) {
                        continue;
                    }
                    let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
                    if let Some(pf) = &self.path_filter
                        && !pf.is_match(&child_rel)
                    {
                        continue;
                    }
                    stack.push((path, child_rel));
                    continue;
                }
                if self.ignore_hidden && hidden {
                    continue;
                }
                if !self.file_filter.is_match(&name) {
                    continue;
                }
                let Ok(meta) = fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
                if age < self.min_age || self.max_age.is_some_and(|max| age > max) {
                    continue;
                }
                if meta.len() < self.min_size || self.max_size.is_some_and(|max| meta.len() > max) {
                    continue;
                }
                if skip(&path) {
                    continue;
                }
                out.push(FileEntry { path, rel_dir: rel.clone(), name, meta });
                if out.len() >= limit {
                    return Ok((out, problems));
                }
            }
        }
        Ok((out, problems))
    }
}

/// A file found by a walk.
#[derive(Clone, Debug)]
pub struct FileEntry {
    /// Its full path.
    pub path: PathBuf,
    /// Its directory relative to the walked root (`""` for the root itself, `a/b` below).
    pub rel_dir: String,
    /// Its file name.
    pub name: String,
    /// Its metadata (symbolic links followed).
    pub meta: Metadata,
}

impl FileEntry {
    /// Last modification in milliseconds since the epoch.
    pub fn mtime_millis(&self) -> i64 {
        mtime_millis(&self.meta)
    }
}

/// Last modification of `meta` in milliseconds since the epoch (nanoseconds rounded down).
pub fn mtime_millis(meta: &Metadata) -> i64 {
    meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000
}

/// Sets NiFi's file attributes on `ff` for a file of a walk: `filename`, `path` (relative
/// directory with a trailing `/`, `./` for the root), `absolute.path` (with a trailing `/`),
/// `file.size`, `file.lastModifiedTime`, `file.lastAccessTime`, `file.creationTime`,
/// `file.owner`, `file.group`, `file.permissions`.
pub fn set_file_attributes(ff: &mut FlowFile, entry: &FileEntry, with_details: bool) {
    ff.set_attr("filename", &entry.name);
    let rel = if entry.rel_dir.is_empty() { "./".to_string() } else { format!("{}/", entry.rel_dir) };
    ff.set_attr("path", &rel);
    let parent = entry.path.parent().map(absolute).unwrap_or_default();
    let mut abs = parent.to_string_lossy().into_owned();
    if !abs.ends_with('/') {
        abs.push('/');
    }
    ff.set_attr("absolute.path", &abs);
    ff.set_attr("file.size", &entry.meta.len().to_string());
    if with_details {
        set_metadata_attributes(ff, &entry.meta);
    }
}

/// Sets the `file.*` time, owner, group and permission attributes from `meta`.
pub fn set_metadata_attributes(ff: &mut FlowFile, meta: &Metadata) {
    if let Ok(t) = meta.modified() {
        ff.set_attr("file.lastModifiedTime", &format_time(t));
    }
    if let Ok(t) = meta.accessed() {
        ff.set_attr("file.lastAccessTime", &format_time(t));
    }
    if let Ok(t) = meta.created() {
        ff.set_attr("file.creationTime", &format_time(t));
    }
    ff.set_attr("file.owner", &user_name(meta.uid()));
    ff.set_attr("file.group", &group_name(meta.gid()));
    ff.set_attr("file.permissions", &permissions_string(meta.permissions().mode()));
}

/// `path` made absolute against the working directory (without resolving links).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// A `file://` URI for provenance.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", absolute(path).display())
}

/// A time in NiFi's attribute format, in the local time zone.
pub fn format_time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(t).format(TIME_FORMAT).to_string()
}

/// `rwxr-x---` for the permission bits of `mode`.
pub fn permissions_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Parses permissions as NiFi accepts them: `rw-r--r--` or octal `644` / `0644`.
pub fn parse_permissions(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.len() == 9 && t.chars().all(|c| "rwx-".contains(c)) {
        let mut mode = 0u32;
        for (i, c) in t.chars().enumerate() {
            let expected = ['r', 'w', 'x'][i % 3];
            if c == expected {
                mode |= 1 << (8 - i);
            } else if c != '-' {
                return None;
            }
        }
        return Some(mode);
    }
    if (3..=4).contains(&t.len()) && t.chars().all(|c| ('0'..='7').contains(&c)) {
        return u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777);
    }
    None
}

/// The name of user `uid`, or the number when it has none.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes at most buf.len() bytes into buf and fills pwd; result is
    // null or points to pwd; the name pointer points into buf, valid while buf lives.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !pwd.pw_name.is_null()
        {
            return CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
    }
    uid.to_string()
}

/// The name of group `gid`, or the number when it has none.
pub fn group_name(gid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: as in user_name, for getgrgid_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !grp.gr_name.is_null()
        {
            return CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned();
        }
    }
    gid.to_string()
}

/// Whether a `filename` attribute is a plain file name (no directory parts), safe to join
/// to a target directory.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_both_ways() {
        assert_eq!(permissions_string(0o754), "rwxr-xr--");
        assert_eq!(parse_permissions("rw-r-----"), Some(0o640));
        assert_eq!(parse_permissions("0644"), Some(0o644));
        assert_eq!(parse_permissions("755"), Some(0o755));
        assert_eq!(parse_permissions("rw-r--rwz"), None);
        assert_eq!(parse_permissions("wr-------"), None);
        assert_eq!(parse_permissions("99"), None);
    }

    #[test]
    fn whole_match_anchors() {
        let r = whole_match(r"[^\.].*\.txt").unwrap();
        assert!(r.is_match("a.txt"));
        assert!(!r.is_match("a.txt.bak"));
        assert!(!r.is_match(".a.txt"));
        assert!(whole_match("(").is_err());
    }

    #[test]
    fn names_of_root() {
        assert_eq!(user_name(0), "root");
        assert_eq!(group_name(0), "root");
        assert_eq!(user_name(4_000_000), "4000000");
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_file_name("a.txt"));
        assert!(!is_plain_file_name("../a"));
        assert!(!is_plain_file_name(".."));
        assert!(!is_plain_file_name(""));
    }
}
