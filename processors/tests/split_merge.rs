//! Property: SplitText (keeping line endings) followed by MergeContent (Defragment) gives
//! back the original bytes, whatever the content, line endings, split sizes and the order
//! in which the fragments arrive.

use proptest::prelude::*;
use sluice_engine::testing::TestRunner;

/// A fragment: its content and attributes (uuid excluded).
type Fragment = (Vec<u8>, Vec<(String, String)>);

fn split(content: &[u8], lines: usize, max_size: Option<usize>) -> Vec<Fragment> {
    let mut r = TestRunner::new(sluice_processors::registry(), "SplitText");
    r.set_property("Line Split Count", &lines.to_string()).set_property("Remove Trailing Newlines", "false");
    if let Some(m) = max_size {
        r.set_property("Maximum Fragment Size", &format!("{m} B"));
    }
    r.enqueue(content.to_vec(), &[("filename", "data.txt")]);
    r.run(1).unwrap();
    assert_eq!(r.count("failure"), 0);
    assert_eq!(r.count("original"), 1);
    r.output("splits")
        .iter()
        .map(|f| {
            let attrs = f
                .attributes
                .iter()
                .filter(|(k, _)| *k != "uuid")
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (f.content.to_bytes().unwrap().to_vec(), attrs)
        })
        .collect()
}

fn merge(fragments: &[Fragment]) -> Vec<Vec<u8>> {
    let mut r = TestRunner::new(sluice_processors::registry(), "MergeContent");
    r.set_property("Merge Strategy", "Defragment");
    for (content, attrs) in fragments {
        let pairs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        r.enqueue(content.clone(), &pairs);
    }
    r.run(1).unwrap();
    assert_eq!(r.count("failure"), 0);
    assert!(r.input_queue().is_empty());
    let merged = r.output("merged");
    for m in &merged {
        assert_eq!(m.attr("filename"), Some("data.txt"));
    }
    merged.iter().map(|m| m.content.to_bytes().unwrap().to_vec()).collect()
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    // Lines of mostly letters with every kind of line ending, including none at the end,
    // empty lines and multi-byte characters.
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(b"abcxyz 019".to_vec()),
            2 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => prop::sample::select(vec![0xc3u8, 0xa9]),
        ],
        1..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn split_then_defragment_gives_the_original(
        content in text(),
        lines in 0usize..6,
        max_size in prop::option::of(1usize..80),
        seed in any::<u64>(),
    ) {
        let lines = if lines == 0 && max_size.is_none() { 1 } else { lines };
        let mut fragments = split(&content, lines, max_size);
        prop_assert!(!fragments.is_empty());
        // Deliver the fragments in a scrambled order.
        let n = fragments.len();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            fragments.swap(i, (s >> 33) as usize % (i + 1));
        }
        let merged = merge(&fragments);
        prop_assert_eq!(merged.len(), 1);
        prop_assert_eq!(&merged[0], &content);
    }
}

#[test]
fn split_then_defragment_large_file() {
    let content: Vec<u8> = (0..50_000).flat_map(|i| format!("line {i}\r\n").into_bytes()).collect();
    let fragments = split(&content, 1000, None);
    assert_eq!(fragments.len(), 50);
    assert_eq!(merge(&fragments), vec![content]);
}
