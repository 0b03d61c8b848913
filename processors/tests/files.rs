//! The file processors across restarts, on real files in temporary directories and the real
//! engine with a data directory (durable repositories, processor state on disk).

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use sluice_engine::testing::TestRunner;
use uuid::Uuid;

fn append(p: &Path, s: &str) {
    OpenOptions::new().create(true).append(true).open(p).unwrap().write_all(s.as_bytes()).unwrap();
}

/// The flowfiles on `rel` that are not in `seen` (after a restart, flowfiles queued before
/// it are recovered into the same queue).
fn new_outputs(r: &mut TestRunner, rel: &str, seen: &HashSet<Uuid>) -> Vec<sluice_engine::FlowFile> {
    r.output(rel).into_iter().filter(|f| !seen.contains(&f.id)).collect()
}

#[test]
fn list_file_lists_only_new_or_changed_files_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    fs::write(files.path().join("a.txt"), b"a").unwrap();
    fs::write(files.path().join("b.txt"), b"b").unwrap();
    fs::write(files.path().join("c.txt"), b"c").unwrap();
    let seen: HashSet<Uuid>;
    {
        let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "ListFile", data.path());
        r.set_property("Input Directory", files.path().to_str().unwrap());
        r.run(1).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 3);
        seen = out.iter().map(|f| f.id).collect();
        r.controller.shutdown();
    }
    // While stopped: one new file, one changed (size), one untouched, one removed.
    fs::write(files.path().join("d.txt"), b"d").unwrap();
    fs::write(files.path().join("b.txt"), b"bigger").unwrap();
    fs::remove_file(files.path().join("c.txt")).unwrap();
    let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "ListFile", data.path());
    r.set_property("Input Directory", files.path().to_str().unwrap());
    r.run(1).unwrap();
    let mut names: Vec<String> =
        new_outputs(&mut r, "success", &seen).iter().map(|f| f.attr("filename").unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["b.txt", "d.txt"], "only the new and the changed file");
    let state = data.path().join("state/under-test/listfile.json");
    assert!(state.exists(), "state kept in the processor's state directory");
    let leftovers: Vec<_> = fs::read_dir(state.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "the state is replaced atomically, no temporary file left: {leftovers:?}");
    r.run(1).unwrap();
    assert_eq!(new_outputs(&mut r, "success", &seen).len(), 2, "nothing new");
}

#[test]
fn list_file_then_fetch_file() {
    let files = tempfile::tempdir().unwrap();
    fs::create_dir(files.path().join("sub")).unwrap();
    fs::write(files.path().join("sub/x.bin"), [0u8, 1, 2, 255]).unwrap();
    let mut list = TestRunner::new(sluice_processors::registry(), "ListFile");
    list.set_property("Input Directory", files.path().to_str().unwrap());
    list.run(1).unwrap();
    let listed = list.output("success");
    assert_eq!(listed.len(), 1);
    let mut fetch = TestRunner::new(sluice_processors::registry(), "FetchFile");
    let attrs: Vec<(String, String)> =
        listed[0].attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fetch.enqueue("", &attrs);
    fetch.run(1).unwrap();
    let out = fetch.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].content.to_bytes().unwrap()[..], &[0u8, 1, 2, 255]);
}

/// TailFile resumes after a restart where the last committed flowfile ended, finishing a
/// file rotated while it was stopped before going on with the new one: every line exactly
/// once, in order.
#[test]
fn tail_file_follows_a_rotation_across_a_restart_without_duplicates_or_gaps() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("app.log");
    let configure = |r: &mut TestRunner| {
        r.set_property("File(s) to Tail", log.to_str().unwrap());
        r.set_property("Rolling Filename Pattern", "${filename}.log.*");
    };
    let mut emitted = String::new();
    let mut seen = HashSet::new();
    append(&log, "1 first\n2 second\n3 thi");
    {
        let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "TailFile", data.path());
        configure(&mut r);
        r.run(1).unwrap();
        append(&log, "rd\n4 fourth\n");
        r.run(1).unwrap();
        for f in r.output("success") {
            emitted.push_str(&TestRunner::content(&f));
            seen.insert(f.id);
        }
        assert_eq!(emitted, "1 first\n2 second\n3 third\n4 fourth\n");
        r.controller.shutdown();
    }
    // While stopped: more lines, a rotation (rename), lines in the new file.
    append(&log, "5 fifth\n6 sixth\n");
    fs::rename(&log, logs.path().join("app.log.1")).unwrap();
    append(&log, "7 seventh\n8 eig");
    {
        let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "TailFile", data.path());
        configure(&mut r);
        r.run(1).unwrap();
        append(&log, "hth\n");
        r.run(1).unwrap();
        r.run(1).unwrap();
        for f in new_outputs(&mut r, "success", &seen) {
            assert_eq!(f.attr("tailfile.original.path"), Some(log.to_str().unwrap()));
            emitted.push_str(&TestRunner::content(&f));
            seen.insert(f.id);
        }
        r.controller.shutdown();
    }
    // A restart with no change emits nothing; copytruncate while stopped is followed too.
    append(&log, "9 ninth\n");
    fs::copy(&log, logs.path().join("app.log.2")).unwrap();
    OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, "10 tenth\n");
    let mut r = TestRunner::with_data_dir(sluice_processors::registry(), "TailFile", data.path());
    configure(&mut r);
    r.run(2).unwrap();
    for f in new_outputs(&mut r, "success", &seen) {
        emitted.push_str(&TestRunner::content(&f));
    }
    assert_eq!(
        emitted,
        "1 first\n2 second\n3 third\n4 fourth\n5 fifth\n6 sixth\n7 seventh\n8 eighth\n9 ninth\n10 tenth\n"
    );
}

#[test]
fn get_file_then_put_file_moves_a_tree() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("nested")).unwrap();
    fs::write(src.path().join("top.txt"), b"top").unwrap();
    fs::write(src.path().join("nested/inner.txt"), b"inner").unwrap();
    let mut get = TestRunner::new(sluice_processors::registry(), "GetFile");
    get.set_property("Input Directory", src.path().to_str().unwrap());
    get.run(1).unwrap();
    let got = get.output("success");
    assert_eq!(got.len(), 2);
    let mut put = TestRunner::new(sluice_processors::registry(), "PutFile");
    put.set_property("Directory", &format!("{}/${{path}}", dst.path().display()));
    for f in &got {
        let attrs: Vec<(String, String)> = f.attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        put.enqueue(f.content.to_bytes().unwrap(), &attrs);
    }
    put.run(1).unwrap();
    assert_eq!(put.count("success"), 2);
    assert_eq!(fs::read_to_string(dst.path().join("top.txt")).unwrap(), "top");
    assert_eq!(fs::read_to_string(dst.path().join("nested/inner.txt")).unwrap(), "inner");
    assert!(!src.path().join("top.txt").exists() && !src.path().join("nested/inner.txt").exists());
}
