//! SplitText: splits text content into fragments of N lines and/or at most a given size,
//! optionally repeating header lines in every fragment. Streams: the content is read twice
//! (once to measure the fragments, once to copy them), never held whole.

use std::io::Write;

use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::{BadInput, classify};
use super::lines::{self, LineInfo, copy_n, scan_line, skip_n};

const LINE_COUNT: &str = "Line Split Count";
const MAX_SIZE: &str = "Maximum Fragment Size";
const HEADER_COUNT: &str = "Header Line Count";
const HEADER_MARKER: &str = "Header Line Marker Characters";
const REMOVE_NEWLINES: &str = "Remove Trailing Newlines";
const SPLITS: &str = "splits";

/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "SplitText.error";
/// Flowfiles split per trigger.
const BATCH: usize = 10;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(SplitText::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "SplitText",
        "Splits a text flowfile into fragments of at most 'Line Split Count' lines and/or 'Maximum Fragment Size' bytes. Header \
         lines can be copied into every fragment. Fragments carry fragment.identifier/index/count so MergeContent (Defragment) \
         can put them back together.",
    )
    .tags(&["split", "text", "lines"])
    .property(
        PropertyDescriptor::new(LINE_COUNT)
            .description("The most lines in each fragment (header lines not counted); 0 = no limit, then Maximum Fragment Size must be set")
            .required()
            .validator(Validator::NON_NEGATIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(MAX_SIZE)
            .description("The most bytes in each fragment, header included. A single line larger than this is a fragment of its own.")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(HEADER_COUNT)
            .description("How many lines at the start are a header, copied into every fragment")
            .required()
            .default_value("0")
            .validator(Validator::NON_NEGATIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(HEADER_MARKER)
            .description("When Header Line Count is 0: the lines at the start that begin with these characters are the header")
            .validator(Validator::Any),
    )
    .property(
        PropertyDescriptor::new(REMOVE_NEWLINES)
            .description(
                "Whether to remove the line endings at the end of each fragment. Fragments that then hold nothing (only empty \
                 lines) are not emitted. Set to false to merge the fragments back into the original bytes later.",
            )
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .relationship(Relationship::new(crate::ORIGINAL, "The input flowfile, after it was split (with fragment.identifier and fragment.count)"))
    .relationship(Relationship::new(SPLITS, "The fragments"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles that could not be split (fewer lines than the header, a header larger than the fragment size); SplitText.error says why",
    ))
}

/// A fragment found by the measuring pass.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Bytes of the original's body (after the header) in this fragment.
    len: u64,
    /// Bytes up to the end of the last line that is not empty (line ending excluded).
    trimmed: u64,
    /// Lines, not counting empty lines at the end.
    lines: u64,
}

/// The processor.
#[derive(Default)]
pub struct SplitText {
    line_count: u64,
    max_size: u64,
    header_count: u64,
    marker: Vec<u8>,
    remove_newlines: bool,
}

impl Processor for SplitText {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.line_count = ctx.int(LINE_COUNT)?.unwrap_or(0).max(0) as u64;
        self.max_size = ctx.data_size(MAX_SIZE)?.unwrap_or(u64::MAX);
        self.header_count = ctx.int(HEADER_COUNT)?.unwrap_or(0).max(0) as u64;
        self.marker = ctx.property(HEADER_MARKER).unwrap_or_default().as_bytes().to_vec();
        self.remove_newlines = ctx.bool(REMOVE_NEWLINES)?.unwrap_or(true);
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let zero = ctx.property(LINE_COUNT).is_some_and(|v| v.trim() == "0");
        if zero && ctx.property(MAX_SIZE).is_none_or(|v| v.trim().is_empty()) {
            vec![format!("'{MAX_SIZE}' must be set when '{LINE_COUNT}' is 0")]
        } else {
            Vec::new()
        }
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            match self.split(session, &ff) {
                Ok(children) => {
                    let id = ff.id.to_string();
                    let filename = ff.attr("filename").unwrap_or_default().to_string();
                    let count = children.len().to_string();
                    for mut c in children {
                        c.set_attr("fragment.count", &count);
                        session.transfer(c, SPLITS);
                    }
                    ff.set_attr("fragment.identifier", &id);
                    ff.set_attr("fragment.count", &count);
                    ff.set_attr("segment.original.filename", &filename);
                    session.transfer(ff, crate::ORIGINAL);
                }
                Err(e) => {
                    let bad = classify(e)?;
                    tracing::warn!(target: "sluice::SplitText", component = %ctx.id, flowfile = %ff.id, "to failure: {bad}");
                    ff.set_attr(ERROR_ATTR, &bad.0);
                    session.transfer(ff, crate::FAILURE);
                }
            }
        }
        Ok(())
    }
}

impl SplitText {
    /// Measures the header and the fragments of `ff` without keeping any line.
    fn measure(&self, session: &ProcessSession, ff: &FlowFile) -> Result<(u64, u64, Vec<Split>), ProcessError> {
        let mut src = lines::reader(session, ff)?;
        let mut header_len = 0u64;
        let mut header_eol = 0u64;
        let mut pending: Option<LineInfo> = None;
        if self.header_count > 0 || !self.marker.is_empty() {
            let mut n = 0u64;
            loop {
                if self.header_count > 0 && n == self.header_count {
                    break;
                }
                let Some(li) = scan_line(&mut *src, &self.marker)? else {
                    break;
                };
                if self.header_count == 0 && !li.starts_with {
                    pending = Some(li);
                    break;
                }
                if header_len + li.len > self.max_size {
                    return Err(BadInput(format!(
                        "the header is larger than the Maximum Fragment Size ({} bytes)",
                        self.max_size
                    ))
                    .into());
                }
                header_len += li.len;
                header_eol = li.eol;
                n += 1;
            }
            if self.header_count > 0 && n < self.header_count {
                return Err(BadInput(format!(
                    "not enough lines for the header: required {} but found {n}",
                    self.header_count
                ))
                .into());
            }
        }
        let mut splits = Vec::new();
        let mut carry: Option<LineInfo> = None;
        loop {
            let (mut len, mut trimmed, mut count, mut lines_nonempty) = (0u64, 0u64, 0u64, 0u64);
            let mut add = |li: &LineInfo, len: &mut u64, count: &mut u64| {
                if li.len > li.eol {
                    trimmed = *len + li.len - li.eol;
                    lines_nonempty = *count + 1;
                }
                *len += li.len;
                *count += 1;
            };
            if let Some(li) = carry.take() {
                add(&li, &mut len, &mut count);
            }
            let limit_reached = |count: u64| self.line_count > 0 && count >= self.line_count;
            while !limit_reached(count) {
                let li = match pending.take() {
                    Some(li) => li,
                    None => match scan_line(&mut *src, &[])? {
                        Some(li) => li,
                        None => break,
                    },
                };
                if len > 0 && len + li.len + header_len > self.max_size {
                    carry = Some(li);
                    break;
                }
                add(&li, &mut len, &mut count);
            }
            if count == 0 {
                break;
            }
            splits.push(Split { len, trimmed, lines: lines_nonempty });
        }
        Ok((header_len, header_eol, splits))
    }

    /// Creates the fragments of `ff` (fragment.count is set by the caller).
    fn split(&self, session: &mut ProcessSession, ff: &FlowFile) -> Result<Vec<FlowFile>, ProcessError> {
        let (header_len, header_eol, splits) = self.measure(session, ff)?;
        let mut src = lines::reader(session, ff)?;
        let mut header = Vec::with_capacity(header_len as usize);
        copy_n(&mut *src, &mut header, header_len)?;
        let has_header = header_len > 0;
        let id = ff.id.to_string();
        let filename = ff.attr("filename").unwrap_or_default().to_string();
        let mut children = Vec::new();
        let mut emit = |session: &mut ProcessSession,
                        src: &mut dyn std::io::BufRead,
                        body: u64,
                        skip: u64,
                        lines: u64|
         -> Result<(), ProcessError> {
            let mut child = session.create_child(ff);
            // A fragment with no body is the header without its last line ending (NiFi).
            let head: &[u8] = if body == 0 { &header[..header.len() - header_eol as usize] } else { &header };
            lines::write_content(session, &mut child, head.len() as u64 + body, |w: &mut dyn Write| {
                w.write_all(head)?;
                copy_n(src, w, body)
            })?;
            skip_n(src, skip)?;
            child.set_attr("text.line.count", &lines.to_string());
            child.set_attr("fragment.size", &child.size().to_string());
            child.set_attr("fragment.identifier", &id);
            child.set_attr("fragment.index", &(children.len() + 1).to_string());
            child.set_attr("segment.original.filename", &filename);
            children.push(child);
            Ok(())
        };
        if splits.is_empty() && has_header {
            emit(session, &mut *src, 0, 0, 0)?;
        }
        for s in splits {
            let body = if self.remove_newlines { s.trimmed } else { s.len };
            if !has_header && body == 0 {
                skip_n(&mut *src, s.len)?;
                continue;
            }
            emit(session, &mut *src, body, s.len - body, s.lines)?;
        }
        Ok(children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn split(props: &[(&str, &str)], content: &str) -> (TestRunner, Vec<String>) {
        let mut r = TestRunner::new(crate::registry(), "SplitText");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue(content.to_string(), &[("filename", "in.txt")]);
        r.run(1).unwrap();
        let out: Vec<String> = r.output(SPLITS).iter().map(TestRunner::content).collect();
        (r, out)
    }

    #[test]
    fn splits_by_line_count_with_attributes() {
        let (mut r, out) = split(&[(LINE_COUNT, "2")], "a\nb\nc\nd\ne\n");
        assert_eq!(out, vec!["a\nb", "c\nd", "e"]);
        let splits = r.output(SPLITS);
        assert_eq!(splits[0].attr("fragment.index"), Some("1"));
        assert_eq!(splits[2].attr("fragment.index"), Some("3"));
        assert!(splits.iter().all(|s| s.attr("fragment.count") == Some("3")));
        assert_eq!(splits[0].attr("text.line.count"), Some("2"));
        assert_eq!(splits[2].attr("fragment.size"), Some("1"));
        assert_eq!(splits[1].attr("segment.original.filename"), Some("in.txt"));
        let orig = r.output(crate::ORIGINAL);
        assert_eq!(orig[0].attr("fragment.count"), Some("3"));
        assert_eq!(orig[0].attr("fragment.identifier"), splits[0].attr("fragment.identifier"));
        // FORK provenance for the splits.
        assert!(r.events().iter().any(|e| format!("{:?}", e.event_type) == "Fork" && e.child_uuids.len() == 3));
    }

    #[test]
    fn headers_are_copied_into_every_fragment() {
        let (_, out) = split(&[(LINE_COUNT, "2"), (HEADER_COUNT, "1")], "h1,h2\n1\n2\n3\n");
        assert_eq!(out, vec!["h1,h2\n1\n2", "h1,h2\n3"]);
        let (_, out) = split(&[(LINE_COUNT, "1"), (HEADER_MARKER, "#")], "#a\n#b\nx\ny");
        assert_eq!(out, vec!["#a\n#b\nx", "#a\n#b\ny"]);
        // Header only.
        let (_, out) = split(&[(LINE_COUNT, "1"), (HEADER_COUNT, "1")], "h\n");
        assert_eq!(out, vec!["h"]);
    }

    #[test]
    fn keeps_newlines_when_asked_and_skips_empty_fragments_otherwise() {
        let (_, out) = split(&[(LINE_COUNT, "1"), (REMOVE_NEWLINES, "false")], "a\r\n\nb");
        assert_eq!(out, vec!["a\r\n", "\n", "b"]);
        let (mut r, out) = split(&[(LINE_COUNT, "1")], "a\n\n\nb\n");
        assert_eq!(out, vec!["a", "b"]);
        assert_eq!(r.output(SPLITS)[1].attr("fragment.index"), Some("2"));
        assert_eq!(r.output(SPLITS)[1].attr("fragment.count"), Some("2"));
    }

    #[test]
    fn splits_by_size() {
        let (_, out) =
            split(&[(LINE_COUNT, "0"), (MAX_SIZE, "6 B"), (REMOVE_NEWLINES, "false")], "aa\nbb\ncc\ndddddddddd\ne\n");
        assert_eq!(out, vec!["aa\nbb\n", "cc\n", "dddddddddd\n", "e\n"]);
        let (_, out) = split(
            &[(LINE_COUNT, "0"), (MAX_SIZE, "8 B"), (HEADER_COUNT, "1"), (REMOVE_NEWLINES, "false")],
            "h\naa\nbb\ncc\n",
        );
        assert_eq!(out, vec!["h\naa\nbb\n", "h\ncc\n"]);
    }

    #[test]
    fn empty_input_gives_no_fragments() {
        let (mut r, out) = split(&[(LINE_COUNT, "10")], "");
        assert!(out.is_empty());
        assert_eq!(r.output(crate::ORIGINAL)[0].attr("fragment.count"), Some("0"));
    }

    #[test]
    fn failures() {
        let (mut r, _) = split(&[(LINE_COUNT, "1"), (HEADER_COUNT, "3")], "h\nx\n");
        let f = r.output(crate::FAILURE);
        assert!(f[0].attr(ERROR_ATTR).unwrap().contains("required 3 but found 2"));
        assert_eq!(r.count(SPLITS), 0);
        let (mut r, _) = split(&[(LINE_COUNT, "1"), (HEADER_COUNT, "1"), (MAX_SIZE, "2 B")], "header\nx\n");
        assert!(r.output(crate::FAILURE)[0].attr(ERROR_ATTR).unwrap().contains("header is larger"));
        let mut r = TestRunner::new(crate::registry(), "SplitText");
        r.set_property(LINE_COUNT, "0");
        assert!(!r.validation_errors().is_empty());
    }

    #[test]
    fn large_content_is_streamed() {
        let line = "x".repeat(99) + "\n";
        let content = line.repeat(30_000); // 3 MB
        let (_, out) = split(&[(LINE_COUNT, "10000"), (REMOVE_NEWLINES, "false")], &content);
        assert_eq!(out.len(), 3);
        assert_eq!(out.concat(), content);
    }
}
