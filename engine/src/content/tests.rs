//! The content repository on real segment files in a temporary directory: archive ageing and
//! its size cap, reference counts rebuilt from recovered claims, the small-content fast path,
//! and streamed content larger than any buffer.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sluice_provenance::ContentRef;

use super::segment::segment_path;
use super::{Content, ContentRepository, ContentRepositoryConfig};

/// Settings where every `write_bytes` retires its segment at once (so a released claim leaves
/// a closed, archivable segment of its own), with the given archive age and size cap.
fn config(archive_max_age: Duration, archive_max_bytes: u64) -> ContentRepositoryConfig {
    ContentRepositoryConfig { max_appendable_size: 1, archive_max_age, archive_max_bytes, ..Default::default() }
}

/// `len` reproducible pseudo-random bytes, different for each `seed`.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn loc(c: &Content) -> ContentRef {
    c.location().expect("content is stored in a segment")
}

fn seg_file(dir: &Path, c: &Content) -> PathBuf {
    segment_path(dir, loc(c).segment)
}

/// Reads the content through its streaming reader in small steps (never `cached`).
fn read_all(c: &Content) -> Vec<u8> {
    let mut r = c.reader().expect("reader");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn read_archived(repo: &ContentRepository, at: ContentRef) -> Option<Vec<u8>> {
    let mut r = repo.read_archived(at).expect("read_archived")?;
    let mut v = Vec::new();
    r.read_to_end(&mut v).expect("read archived content");
    Some(v)
}

/// Sets a segment file's modification time, which is what a reopened repository ages an
/// unreferenced segment from.
fn set_mtime(path: &Path, t: SystemTime) {
    OpenOptions::new().write(true).open(path).expect("open segment").set_modified(t).expect("set mtime");
}

/// A segment whose last claim is dropped stays on disk in the archive (readable for
/// provenance) and `cleanup` keeps it until its archive age has passed, then deletes the file;
/// a segment still referenced survives every cleanup however old it is.
#[test]
fn released_segment_is_archived_then_removed_once_its_archive_age_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let age = Duration::from_millis(400);
    let repo = ContentRepository::open(dir, config(age, u64::MAX)).unwrap();

    let kept_data = pattern(300, 1);
    let kept = repo.write_bytes(Bytes::from(kept_data.clone())).unwrap();
    let data = pattern(100, 2);
    let c = repo.write_bytes(Bytes::from(data.clone())).unwrap();
    let (at, file) = (loc(&c), seg_file(dir, &c));
    assert_ne!(at.segment, loc(&kept).segment);
    assert!(file.exists());
    assert_eq!(repo.stats().archived_bytes, 0, "nothing is released yet");
    assert_eq!(repo.cleanup(), 0, "referenced segments are never removed");

    drop(c);
    let st = repo.stats();
    assert_eq!((st.archived_bytes, st.live_bytes), (100, 300), "the released segment moved to the archive");
    assert_eq!(repo.cleanup(), 0, "removed before its archive age passed");
    assert!(file.exists());
    assert_eq!(read_archived(&repo, at).as_deref(), Some(&data[..]), "archived content is readable");

    std::thread::sleep(age + Duration::from_millis(150));
    assert_eq!(repo.cleanup(), 1, "exactly the aged released segment is removed");
    assert!(!file.exists(), "the segment file is deleted");
    assert!(read_archived(&repo, at).is_none(), "aged-out content is reported gone");
    assert_eq!(repo.stats().archived_bytes, 0);
    // The segment still referenced is older than the archive age too, and untouched.
    assert!(seg_file(dir, &kept).exists());
    assert_eq!(read_all(&kept), kept_data);
    assert_eq!(repo.cleanup(), 0);
}

/// Over the archive's size cap, `cleanup` deletes released segments in the order they were
/// released (oldest first, not by id), only as many as needed to get under the cap, and never
/// one still referenced.
#[test]
fn archive_size_cap_removes_the_oldest_released_segments_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Four 1,000-byte segments released: the cap of 2,500 leaves room for two.
    let repo = ContentRepository::open(dir, config(Duration::from_secs(3600), 2_500)).unwrap();
    let cs: Vec<Content> = (0..4).map(|i| repo.write_bytes(Bytes::from(pattern(1_000, i))).unwrap()).collect();
    let mut files: Vec<PathBuf> = cs.iter().map(|c| seg_file(dir, c)).collect();
    let [a, b, c, d]: [Content; 4] = cs.try_into().unwrap();
    let release = |x: Content| {
        drop(x);
        // Distinct release times whatever the clock's resolution.
        std::thread::sleep(Duration::from_millis(5));
    };
    // Released in the order c, a, b: c is the oldest in the archive though its id is higher.
    release(c);
    release(a);
    release(b);
    // Newer than every release, and referenced throughout: it must not count against the cap.
    let live = repo.write_bytes(Bytes::from(pattern(1_000, 4))).unwrap();
    files.push(seg_file(dir, &live));
    assert_eq!(repo.stats().archived_bytes, 3_000);
    assert_eq!(repo.cleanup(), 1, "one removal brings 3,000 archived bytes under the cap");
    assert!(!files[2].exists(), "the first released (c) goes first");
    assert!(files[0].exists() && files[1].exists() && files[3].exists() && files[4].exists());
    assert_eq!(repo.stats().archived_bytes, 2_000);
    assert_eq!(repo.cleanup(), 0, "at the cap nothing more goes");

    release(d);
    assert_eq!(repo.cleanup(), 1);
    assert!(!files[0].exists(), "then a, the oldest left");
    assert!(files[1].exists() && files[3].exists(), "b and d are younger");
    assert!(files[4].exists(), "a referenced segment does not count against the cap");
    assert_eq!(read_all(&live), pattern(1_000, 4));
}

/// Reference counts rebuilt at start: after a restart only the claims recovered from the
/// flowfile repository reference segments. A segment with a recovered claim is never removed
/// (not while one of two claims on it remains either) and reads back byte-identical from disk;
/// unreferenced segments are archived at once, aged from their file time, and removed.
#[test]
fn reopened_repository_keeps_only_segments_of_recovered_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (kept_data, gone1, gone2) = (pattern(20_000, 10), pattern(500, 11), pattern(700, 12));
    let (kept_at, gone_at, gone_files, max_id) = {
        let repo = ContentRepository::open(dir, config(Duration::from_secs(3600), u64::MAX)).unwrap();
        let k = repo.write_bytes(Bytes::from(kept_data.clone())).unwrap();
        let g1 = repo.write_bytes(Bytes::from(gone1.clone())).unwrap();
        let g2 = repo.write_bytes(Bytes::from(gone2.clone())).unwrap();
        let max_id = [&k, &g1, &g2].iter().map(|c| loc(c).segment).max().unwrap();
        (loc(&k), [loc(&g1), loc(&g2)], [seg_file(dir, &g1), seg_file(dir, &g2)], max_id)
        // The process "dies" here: every claim and count is lost with the repository.
    };
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for id in [kept_at.segment, gone_at[0].segment, gone_at[1].segment] {
        set_mtime(&segment_path(dir, id), an_hour_ago);
    }

    let repo = ContentRepository::open(dir, config(Duration::from_secs(600), u64::MAX)).unwrap();
    assert_eq!(repo.stats().archived_bytes, 20_000 + 500 + 700, "before recovery nothing is referenced");
    // Recovery: two queued flowfiles share the first content (a clone), nothing refers to the rest.
    let r1 = repo.claim_existing(kept_at);
    let r2 = repo.claim_existing(kept_at);
    assert!(r1.cached().is_none(), "a recovered claim has no in-memory copy");
    let st = repo.stats();
    assert_eq!((st.live_bytes, st.archived_bytes), (20_000, 1_200));

    assert_eq!(repo.cleanup(), 2, "both unreferenced segments were older than the archive age");
    assert!(gone_files.iter().all(|f| !f.exists()));
    assert!(read_archived(&repo, gone_at[0]).is_none() && read_archived(&repo, gone_at[1]).is_none());
    assert!(segment_path(dir, kept_at.segment).exists());
    assert_eq!(read_all(&r1), kept_data, "recovered content reads back byte-identical");

    drop(r1);
    assert_eq!(repo.cleanup(), 0, "one recovered claim still references the segment");
    assert_eq!(read_all(&r2), kept_data);
    drop(r2);
    assert_eq!(repo.stats().archived_bytes, 20_000, "released at last: archived from now");
    assert_eq!(repo.cleanup(), 0, "its archive age counts from the release, not the file time");
    assert_eq!(read_archived(&repo, kept_at).as_deref(), Some(&kept_data[..]));

    let fresh = repo.write_bytes(Bytes::from_static(b"after restart")).unwrap();
    assert!(loc(&fresh).segment > max_id, "a new segment never takes an existing id");
}

/// A segment id the archive removed is never handed out again after a restart, so a
/// provenance event that still names the old segment finds its content gone rather than
/// another flowfile's bytes.
#[test]
fn ids_of_removed_segments_are_not_reused_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let old: Vec<ContentRef> = {
        // A cap of zero: everything released is removed by the next cleanup.
        let repo = ContentRepository::open(dir, config(Duration::from_secs(3600), 0)).unwrap();
        let cs: Vec<Content> = (0..3).map(|i| repo.write_bytes(Bytes::from(pattern(64, i))).unwrap()).collect();
        let locs = cs.iter().map(loc).collect();
        drop(cs);
        assert_eq!(repo.cleanup(), 3);
        locs
    };
    assert!(old.iter().all(|l| !segment_path(dir, l.segment).exists()), "the archive is empty");

    let repo = ContentRepository::open(dir, config(Duration::from_secs(3600), 0)).unwrap();
    let new: Vec<Content> = (0..3).map(|i| repo.write_bytes(Bytes::from(pattern(64, 100 + i))).unwrap()).collect();
    let newest_old = old.iter().map(|l| l.segment).max().unwrap();
    for c in &new {
        assert!(loc(c).segment > newest_old, "segment {} was reused", loc(c).segment);
    }
    for l in &old {
        assert!(read_archived(&repo, *l).is_none(), "segment {} shows another content", l.segment);
    }
}

/// Content up to `cache_limit` written from memory keeps an in-memory copy that readers are
/// served from (proved by changing the bytes on disk underneath), while the disk holds the same
/// bytes; one byte more and the content is read from its segment.
#[test]
fn small_content_fast_path_returns_the_written_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let limit = 64;
    let cfg = ContentRepositoryConfig { cache_limit: limit, ..Default::default() };
    let repo = ContentRepository::open(dir, cfg).unwrap();

    assert!(matches!(repo.write_bytes(Bytes::new()).unwrap(), Content::Empty));
    let small = pattern(limit, 20);
    let c = repo.write_bytes(Bytes::from(small.clone())).unwrap();
    assert_eq!(c.len(), limit as u64);
    assert_eq!(c.cached().as_deref(), Some(&small[..]), "content at the limit is cached");
    assert_eq!(&c.to_bytes().unwrap()[..], &small[..]);
    let on_disk = repo.claim_existing(loc(&c));
    assert!(on_disk.cached().is_none());
    assert_eq!(read_all(&on_disk), small, "the disk holds the same bytes");

    let big = pattern(limit + 1, 21);
    let b = repo.write_bytes(Bytes::from(big.clone())).unwrap();
    assert!(b.cached().is_none(), "content over the limit is not kept in memory");
    assert_eq!(&b.to_bytes().unwrap()[..], &big[..]);

    // Zero the small content's bytes on disk: the fast path never reads them back.
    let at = loc(&c);
    let f = OpenOptions::new().write(true).open(seg_file(dir, &c)).unwrap();
    f.write_all_at(&vec![0u8; limit], at.offset).unwrap();
    drop(f);
    assert_eq!(read_all(&on_disk), vec![0u8; limit], "the disk copy did change");
    assert_eq!(read_all(&c), small, "the reader serves the in-memory copy");
    assert_eq!(&c.to_bytes().unwrap()[..], &small[..]);
    assert_eq!(read_all(&b), big, "the neighbouring claim is untouched");
}

/// Content streamed through `ContentWriter` in uneven chunks, several times larger than a
/// segment's appendable size and the cache limit, and started in a segment that already holds
/// other content, reads back byte-identical (not from memory), leaves its neighbours intact, and
/// reads back identically again after a restart.
#[test]
fn streamed_content_larger_than_buffers_reads_back_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = ContentRepositoryConfig::default();
    let total = 4 * cfg.max_appendable_size as usize + 12_345;
    let repo = ContentRepository::open(dir, cfg.clone()).unwrap();

    // The writer takes this partly filled segment: the stream starts at an offset above zero.
    let before = pattern(1_000, 30);
    let first = repo.write_bytes(Bytes::from(before.clone())).unwrap();
    let data = pattern(total, 31);
    let mut w = repo.writer().unwrap();
    let mut sizes = pattern(4_096, 32).into_iter().cycle();
    let (mut pos, mut other) = (0, None);
    while pos < data.len() {
        let n = (sizes.next().unwrap() as usize * 300 + 1).min(data.len() - pos);
        std::io::Write::write_all(&mut w, &data[pos..pos + n]).unwrap();
        pos += n;
        if other.is_none() && pos >= data.len() / 2 {
            // Another write meanwhile goes to a segment of its own.
            other = Some(repo.write_bytes(Bytes::from_static(b"meanwhile")).unwrap());
        }
    }
    let other = other.unwrap();
    assert_ne!(loc(&other).segment, loc(&first).segment);
    let streamed = w.finish().unwrap();
    let at = loc(&streamed);
    assert_eq!(at.len, total as u64);
    assert_eq!(at.segment, loc(&first).segment);
    assert!(at.offset >= 1_000, "the stream must not overwrite the earlier claim");
    assert!(streamed.cached().is_none(), "streamed content is not held in memory");
    assert!(read_all(&streamed) == data, "streamed content differs when read back");
    assert_eq!(read_all(&repo.claim_existing(loc(&first))), before, "the earlier claim is intact");
    assert_eq!(read_all(&repo.claim_existing(loc(&other))), b"meanwhile");
    let first_at = loc(&first);
    drop((first, streamed, other));
    drop(repo);

    let repo: Arc<ContentRepository> = ContentRepository::open(dir, cfg).unwrap();
    let again = repo.claim_existing(at);
    assert!(read_all(&again) == data, "streamed content differs after reopening");
    assert_eq!(read_all(&repo.claim_existing(first_at)), before);
    assert_eq!(File::open(segment_path(dir, at.segment)).unwrap().metadata().unwrap().len(), 1_000 + total as u64);
}
