//! The input files of workload c, byte for byte those of the Node-RED peer's
//! `lib/make-c-input.js`: COUNT files of SIZE bytes of lower-case words and newlines from a
//! xorshift32 generator seeded with 42, named `in-<index>.txt` with the index zero-padded to
//! the width of COUNT − 1. Ported (not shelled out to Node.js) so the benchmark needs only the
//! `sluice` binary; a unit test pins the bytes to the peer's.

use std::path::Path;

use anyhow::{Context, Result};

/// The peer's generator: xorshift32 with shifts 13, 17, 5.
struct XorShift32(u32);

impl XorShift32 {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// The contents of every file, in order of their index.
pub fn generate(count: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = XorShift32(42);
    let width = (count.saturating_sub(1)).to_string().len();
    let mut files = Vec::with_capacity(count);
    for i in 0..count {
        let mut buf = vec![0u8; size];
        let mut col = 0u32;
        for (j, byte) in buf.iter_mut().enumerate() {
            // Same order of draws as the JavaScript: the line-length draw happens only when
            // this is not the last byte (`||` short-circuits).
            *byte = if j == size - 1 || col >= 72 + rng.next() % 8 {
                col = 0;
                b'\n'
            } else if rng.next().is_multiple_of(6) {
                col += 1;
                b' '
            } else {
                col += 1;
                b'a' + (rng.next() % 26) as u8
            };
        }
        files.push((format!("in-{i:0width$}.txt"), buf));
    }
    files
}

/// Makes `dir` hold exactly the workload's files (skipping the work when a marker says it
/// already does, as the peer's script does).
pub fn ensure(dir: &Path, count: usize, size: usize) -> Result<()> {
    let marker = dir.with_extension("json");
    let want = format!("{{\"count\":{count},\"size\":{size},\"seed\":42,\"version\":1}}\n");
    let matches = || -> bool {
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
            return false;
        }
        let Ok(entries) = std::fs::read_dir(dir) else { return false };
        let sizes: Vec<u64> = entries.filter_map(|e| e.ok()?.metadata().ok().map(|m| m.len())).collect();
        sizes.len() == count && sizes.iter().all(|&s| s == size as u64)
    };
    if matches() {
        return Ok(());
    }
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in generate(count, size) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(&marker, want).with_context(|| format!("writing {}", marker.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn sha256(data: &[u8]) -> String {
        // A tiny dependency-free check would be weaker than the real digest; sha2 is already
        // in the dependency tree through the processors crate.
        use sha2::Digest;
        hex(&sha2::Sha256::digest(data))
    }

    /// Digests of `node lib/make-c-input.js DIR 3 4096` from the peer harness.
    #[test]
    fn bytes_match_the_peer_generator() {
        let files = generate(3, 4096);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["in-0.txt", "in-1.txt", "in-2.txt"]);
        assert_eq!(sha256(&files[0].1), "13b09f42f70a567bd6b78815357abca4dcd92295e79b83612d96b6c34ca8b9e3");
        assert_eq!(sha256(&files[1].1), "da4d51268578ba89483d78c5a57f40788bdb0f85a319457fbf973d0434fb5f9d");
        assert_eq!(sha256(&files[2].1), "9f49447de26b6db57c339b618f3864e3021ee17960680eb4c5f8604295d8655c");
    }

    /// `node lib/make-c-input.js DIR 12 100`: two-digit names, first line as the peer wrote it.
    #[test]
    fn names_are_padded_and_text_matches() {
        let files = generate(12, 100);
        assert_eq!(files[0].0, "in-00.txt");
        assert_eq!(files[11].0, "in-11.txt");
        let text = String::from_utf8(files[0].1.clone()).unwrap();
        assert!(
            text.starts_with("r  jcp  ohv  u edxtgjc j lfuap pwrnsv xwup ynoscgvnygeekbzti oxtpshbpnzc q\n"),
            "{text}"
        );
    }

    #[test]
    fn ensure_writes_once_and_detects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("c-input");
        ensure(&input, 5, 64).unwrap();
        assert_eq!(std::fs::read_dir(&input).unwrap().count(), 5);
        std::fs::write(input.join("in-0.txt"), b"short").unwrap();
        ensure(&input, 5, 64).unwrap();
        assert_eq!(std::fs::read(input.join("in-0.txt")).unwrap(), generate(5, 64)[0].1);
    }
}
