//! ReplaceText: rewrites text content by regex or literal search and replace, or prepends,
//! appends or replaces outright, over the entire text or line by line (streamed).

use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use regex::{NoExpand, Regex};
use sluice_engine::expression::{AttributeSource, Expression};
use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::common::{BadInput, Charset, Overlay, Segment, classify, eval_prop, segments};
use super::lines::{self, read_line, split_eol};

const STRATEGY: &str = "Replacement Strategy";
const SEARCH: &str = "Search Value";
const REPLACEMENT: &str = "Replacement Value";
const PREPEND_TEXT: &str = "Text to Prepend";
const APPEND_TEXT: &str = "Text to Append";
const CHARSET: &str = "Character Set";
const MAX_BUFFER: &str = "Maximum Buffer Size";
const MODE: &str = "Evaluation Mode";
const LINE_MODE: &str = "Line-by-Line Evaluation Mode";

const PREPEND: &str = "Prepend";
const APPEND: &str = "Append";
const SURROUND: &str = "Surround";
const REGEX_REPLACE: &str = "Regex Replace";
const LITERAL_REPLACE: &str = "Literal Replace";
const ALWAYS_REPLACE: &str = "Always Replace";
const SUBSTITUTE: &str = "Substitute Variables";
const LINE_BY_LINE: &str = "Line-by-Line";
const ENTIRE_TEXT: &str = "Entire text";
const DEFAULT_REGEX: &str = "(?s)(^.*$)";

/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "ReplaceText.error";
/// Flowfiles handled per trigger.
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ReplaceText::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ReplaceText",
        "Updates the content of a flowfile by searching for a regular expression or a literal value and replacing what matches \
         (back-references $1, $2... and expressions that use '$1' are supported), or by prepending, appending or replacing the text \
         outright. Works on the entire text (buffered up to Maximum Buffer Size) or line by line (streamed, any size).",
    )
    .tags(&["text", "regular expression", "regex", "update", "change", "replace", "modify"])
    .property(
        PropertyDescriptor::new(STRATEGY)
            .description("How and what to replace in the text")
            .required()
            .default_value(REGEX_REPLACE)
            .allowable(&[
                (PREPEND, "insert the Replacement Value at the start of the text, or of each line"),
                (APPEND, "insert the Replacement Value at the end of the text, or of each line (before its line ending)"),
                (SURROUND, "insert Text to Prepend before and Text to Append after the text, or each line"),
                (REGEX_REPLACE, "replace every match of the Search Value (a regular expression) with the Replacement Value; $1, $2... refer to capture groups"),
                (LITERAL_REPLACE, "replace every occurrence of the Search Value (literal text) with the Replacement Value"),
                (ALWAYS_REPLACE, "replace the entire text, or each line, with the Replacement Value; the Search Value is ignored"),
                (SUBSTITUTE, "replace ${name} references in the text with the value of attribute 'name' (left as is when there is none)"),
            ]),
    )
    .property(
        PropertyDescriptor::new(SEARCH)
            .description(
                "What to search for: a regular expression for Regex Replace, literal text for Literal Replace. Expressions are evaluated \
                 per flowfile; with Regex Replace their results are matched literally. In line-by-line mode the line is matched \
                 without its line ending.",
            )
            .required()
            .default_value(DEFAULT_REGEX)
            .expression_language()
            .depends_on(STRATEGY, &[REGEX_REPLACE, LITERAL_REPLACE]),
    )
    .property(
        PropertyDescriptor::new(REPLACEMENT)
            .description(
                "The value to insert. With Regex Replace, $N refers to capture group N (a reference to a group that does not exist \
                 is kept literally) and expressions may use the groups as attributes '$1', '$2'... (the quotes are required), \
                 e.g. ${'$1':toUpper()}.",
            )
            .required()
            .default_value("$1")
            .expression_language()
            .depends_on(STRATEGY, &[REGEX_REPLACE, LITERAL_REPLACE, ALWAYS_REPLACE, PREPEND, APPEND]),
    )
    .property(
        PropertyDescriptor::new(PREPEND_TEXT)
            .description("With Surround: the text put before the text, or each line")
            .expression_language()
            .depends_on(STRATEGY, &[SURROUND]),
    )
    .property(
        PropertyDescriptor::new(APPEND_TEXT)
            .description("With Surround: the text put after the text, or each line (before its line ending)")
            .expression_language()
            .depends_on(STRATEGY, &[SURROUND]),
    )
    .property(
        PropertyDescriptor::new(CHARSET)
            .description("The character set of the content")
            .required()
            .default_value("UTF-8")
            .validator(Validator::Charset),
    )
    .property(
        PropertyDescriptor::new(MAX_BUFFER)
            .description(
                "The most data buffered to apply the replacement: the whole content in 'Entire text' mode (larger flowfiles go to \
                 failure; not used by Prepend, Append, Surround and Always Replace, which stream), one line in 'Line-by-Line' mode \
                 (a longer line sends the flowfile to failure).",
            )
            .required()
            .default_value("1 MB")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(MODE)
            .description("Apply the strategy to each line separately (streamed) or to the entire text (buffered)")
            .required()
            .default_value(LINE_BY_LINE)
            .allowable(&[(LINE_BY_LINE, "each line separately, streamed"), (ENTIRE_TEXT, "the whole content at once")]),
    )
    .property(
        PropertyDescriptor::new(LINE_MODE)
            .description("In line-by-line mode: which lines the strategy applies to")
            .default_value("All")
            .allowable(&[
                ("All", "every line"),
                ("First-Line", "the first line only"),
                ("Last-Line", "the last line only"),
                ("Except-First-Line", "every line but the first"),
                ("Except-Last-Line", "every line but the last"),
            ])
            .depends_on(MODE, &[LINE_BY_LINE]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles processed, whether or not anything was replaced"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles that could not be updated (too large, a line too long, malformed text for the character set, an expression \
         that failed); the ReplaceText.error attribute says why",
    ))
}

#[derive(Clone, Copy, Default, PartialEq, Debug)]
enum Strategy {
    Prepend,
    Append,
    Surround,
    #[default]
    Regex,
    Literal,
    Always,
    Substitute,
}

#[derive(Clone, Copy, Default, PartialEq, Debug)]
enum LineMode {
    #[default]
    All,
    First,
    Last,
    ExceptFirst,
    ExceptLast,
}

/// One piece of a Regex Replace replacement, resolved for one flowfile.
#[derive(Clone, Debug)]
enum Piece {
    /// Text written as is.
    Text(String),
    /// Capture group N.
    Group(usize),
    /// An expression evaluated per match, with the groups as attributes `$0`, `$1`...
    PerMatch(Expression),
}

/// The Search Value of Regex Replace.
enum Search {
    /// A constant regular expression, compiled once.
    Fixed(Regex),
    /// One with expressions: evaluated and compiled per flowfile.
    Dynamic(Vec<Segment>),
}

/// The processor.
#[derive(Default)]
pub struct ReplaceText {
    strategy: Strategy,
    entire: bool,
    line_mode: LineMode,
    charset: Charset,
    max_buffer: usize,
    search: Option<Search>,
    /// Replacement Value split into literal text and expressions (Regex Replace).
    replacement: Vec<Segment>,
}

impl Processor for ReplaceText {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let search_raw = ctx.property(SEARCH).unwrap_or(DEFAULT_REGEX).to_string();
        let replacement_raw = ctx.property(REPLACEMENT).unwrap_or("$1").to_string();
        self.entire = ctx.property(MODE) == Some(ENTIRE_TEXT);
        self.strategy = match ctx.property(STRATEGY).unwrap_or(REGEX_REPLACE) {
            PREPEND => Strategy::Prepend,
            APPEND => Strategy::Append,
            SURROUND => Strategy::Surround,
            LITERAL_REPLACE => Strategy::Literal,
            ALWAYS_REPLACE => Strategy::Always,
            SUBSTITUTE => Strategy::Substitute,
            // As NiFi: ".*" (or the default regex over the entire text with an empty
            // replacement) means "replace everything" without running the regex.
            _ if search_raw == ".*" => Strategy::Always,
            _ if search_raw == DEFAULT_REGEX && self.entire && replacement_raw.is_empty() => Strategy::Always,
            _ => Strategy::Regex,
        };
        self.line_mode = match ctx.property(LINE_MODE).unwrap_or("All") {
            "First-Line" => LineMode::First,
            "Last-Line" => LineMode::Last,
            "Except-First-Line" => LineMode::ExceptFirst,
            "Except-Last-Line" => LineMode::ExceptLast,
            _ => LineMode::All,
        };
        self.charset = Charset::parse(ctx.property(CHARSET).unwrap_or("UTF-8"))?;
        self.max_buffer = ctx.data_size(MAX_BUFFER)?.unwrap_or(1024 * 1024).min(usize::MAX as u64) as usize;
        self.search = None;
        self.replacement = Vec::new();
        if self.strategy == Strategy::Regex {
            self.search = Some(if search_raw.contains("${") {
                Search::Dynamic(segments(&search_raw).map_err(|e| ProcessError::Config(format!("'{SEARCH}': {e}")))?)
            } else {
                Search::Fixed(Regex::new(&search_raw).map_err(|e| ProcessError::Config(format!("'{SEARCH}': {e}")))?)
            });
            self.replacement =
                segments(&replacement_raw).map_err(|e| ProcessError::Config(format!("'{REPLACEMENT}': {e}")))?;
        }
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        let strategy = ctx.property(STRATEGY).unwrap_or(REGEX_REPLACE);
        let search = ctx.property(SEARCH).unwrap_or_default();
        let mut errors = Vec::new();
        if strategy == REGEX_REPLACE
            && !search.contains("${")
            && let Err(e) = Regex::new(search)
        {
            errors.push(format!("'{SEARCH}' is not a valid regular expression: {e}"));
        }
        if strategy == LITERAL_REPLACE && search.is_empty() {
            errors.push(format!("'{SEARCH}' must not be empty with Literal Replace"));
        }
        errors
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            match self.process(ctx, session, &mut ff) {
                Ok(()) => session.transfer(ff, crate::SUCCESS),
                Err(e) => {
                    let bad = classify(e)?;
                    tracing::warn!(target: "sluice::ReplaceText", component = %ctx.id, flowfile = %ff.id, "to failure: {bad}");
                    ff.set_attr(ERROR_ATTR, &bad.0);
                    session.transfer(ff, crate::FAILURE);
                }
            }
        }
        Ok(())
    }
}

impl ReplaceText {
    fn process(
        &self,
        ctx: &ProcessContext,
        session: &mut ProcessSession,
        ff: &mut FlowFile,
    ) -> Result<(), ProcessError> {
        let attrs = ff.attributes.clone();
        let cs = self.charset;
        match self.strategy {
            Strategy::Prepend | Strategy::Append | Strategy::Surround | Strategy::Always => {
                let (before, after) = match self.strategy {
                    Strategy::Prepend => (eval_prop(ctx, REPLACEMENT, &attrs)?, String::new()),
                    Strategy::Append => (String::new(), eval_prop(ctx, REPLACEMENT, &attrs)?),
                    Strategy::Surround => (eval_prop(ctx, PREPEND_TEXT, &attrs)?, eval_prop(ctx, APPEND_TEXT, &attrs)?),
                    _ => (eval_prop(ctx, REPLACEMENT, &attrs)?, String::new()),
                };
                let before = cs.encode(&before)?.into_owned();
                let after = cs.encode(&after)?.into_owned();
                let always = self.strategy == Strategy::Always;
                if self.entire {
                    if always {
                        session.write(ff, before)?;
                        return Ok(());
                    }
                    let mut src = lines::reader(session, ff)?;
                    let hint = ff.size() + before.len() as u64 + after.len() as u64;
                    return lines::write_content(session, ff, hint, |w| {
                        w.write_all(&before)?;
                        io::copy(&mut src, w)?;
                        w.write_all(&after)
                    });
                }
                self.per_line(session, ff, |line, w| {
                    let (body, eol) = split_eol(line);
                    w.write_all(&before)?;
                    if !always {
                        w.write_all(body)?;
                        w.write_all(&after)?;
                    }
                    w.write_all(eol)
                })
            }
            Strategy::Literal => {
                let search = eval_prop(ctx, SEARCH, &attrs)?;
                let replacement = eval_prop(ctx, REPLACEMENT, &attrs)?;
                if search.is_empty() {
                    return Err(BadInput(format!("'{SEARCH}' evaluated to an empty value")).into());
                }
                self.text_op(session, ff, |text| Ok(Cow::Owned(text.replace(&search, &replacement))))
            }
            Strategy::Substitute => self.text_op(session, ff, |text| Ok(substitute(text, &attrs))),
            Strategy::Regex => {
                let compiled;
                let re = match &self.search {
                    Some(Search::Fixed(re)) => re,
                    Some(Search::Dynamic(segs)) => {
                        let mut pattern = String::new();
                        for s in segs {
                            match s {
                                Segment::Lit(t) => pattern.push_str(t),
                                Segment::Expr(e) => pattern.push_str(&regex::escape(
                                    &e.evaluate(&attrs).map_err(|e| BadInput(format!("evaluating '{SEARCH}': {e}")))?,
                                )),
                            }
                        }
                        compiled = Regex::new(&pattern).map_err(|e| {
                            BadInput(format!("'{SEARCH}' evaluated to an invalid regular expression: {e}"))
                        })?;
                        &compiled
                    }
                    None => return Err(ProcessError::Config("not scheduled".into())),
                };
                let pieces = resolve_pieces(&self.replacement, re.captures_len() - 1, &attrs)?;
                let replacer = Replacer { re, pieces: &pieces, attrs: &attrs };
                self.text_op(session, ff, |text| replacer.apply(text))
            }
        }
    }

    /// Applies a text-to-text function to the entire text or to each line's text (without
    /// its ending), decoding and encoding with the character set.
    fn text_op(
        &self,
        session: &mut ProcessSession,
        ff: &mut FlowFile,
        f: impl for<'t> Fn(&'t str) -> Result<Cow<'t, str>, BadInput>,
    ) -> Result<(), ProcessError> {
        let cs = self.charset;
        if self.entire {
            if ff.size() > self.max_buffer as u64 {
                return Err(BadInput(format!(
                    "content ({} bytes) is larger than the Maximum Buffer Size ({} bytes)",
                    ff.size(),
                    self.max_buffer
                ))
                .into());
            }
            let bytes = session.read_bytes(ff)?;
            let text = cs.decode(&bytes)?;
            let out = f(&text)?;
            if let Cow::Borrowed(_) = out {
                return Ok(()); // nothing replaced: content unchanged
            }
            let encoded = cs.encode(&out)?.into_owned();
            return session.write(ff, encoded);
        }
        self.per_line(session, ff, |line, w| {
            let (body, eol) = split_eol(line);
            let text = cs.decode(body)?;
            match f(&text)? {
                Cow::Borrowed(_) => w.write_all(body)?,
                Cow::Owned(s) => w.write_all(&cs.encode(&s)?)?,
            }
            w.write_all(eol)
        })
    }

    /// Streams the content line by line through `f` for the lines the Line-by-Line
    /// Evaluation Mode selects; the other lines are copied.
    fn per_line(
        &self,
        session: &mut ProcessSession,
        ff: &mut FlowFile,
        mut f: impl FnMut(&[u8], &mut dyn Write) -> io::Result<()>,
    ) -> Result<(), ProcessError> {
        if ff.size() == 0 {
            return Ok(()); // as NiFi: empty content is left untouched
        }
        let mut src = lines::reader(session, ff)?;
        let (max, mode) = (self.max_buffer, self.line_mode);
        let hint = ff.size() + ff.size() / 4;
        lines::write_content(session, ff, hint, |w| each_line(&mut *src, w, max, mode, &mut f))
    }
}

/// Rewrites one line (with its ending) into the output.
type LineFn<'a> = dyn FnMut(&[u8], &mut dyn Write) -> io::Result<()> + 'a;

fn each_line(
    src: &mut dyn BufRead,
    out: &mut dyn Write,
    max: usize,
    mode: LineMode,
    f: &mut LineFn<'_>,
) -> io::Result<()> {
    let (mut cur, mut next) = (Vec::new(), Vec::new());
    if !read_line(src, &mut cur, max)? {
        return Ok(());
    }
    let mut first = true;
    loop {
        // Last-Line modes need to know whether this line is the last: read one ahead.
        let has_next = match mode {
            LineMode::Last | LineMode::ExceptLast => read_line(src, &mut next, max)?,
            _ => {
                let apply = mode == LineMode::All || (mode == LineMode::First) == first;
                if apply {
                    f(&cur, out)?
                } else {
                    out.write_all(&cur)?
                }
                first = false;
                if !read_line(src, &mut cur, max)? {
                    return Ok(());
                }
                continue;
            }
        };
        let apply = (mode == LineMode::Last) != has_next;
        if apply {
            f(&cur, out)?
        } else {
            out.write_all(&cur)?
        }
        if !has_next {
            return Ok(());
        }
        std::mem::swap(&mut cur, &mut next);
    }
}

/// Resolves the Replacement Value for one flowfile: expressions that do not use the
/// capture groups are evaluated once; back-references in the literal text are parsed with
/// Java's rules as NiFi applies them.
fn resolve_pieces(segs: &[Segment], groups: usize, attrs: &dyn AttributeSource) -> Result<Vec<Piece>, BadInput> {
    // NiFi quotes the whole replacement when a '$' is followed by something other than a
    // digit: then no back-reference is expanded.
    let literal_only = segs.iter().any(|s| match s {
        Segment::Lit(t) => t.as_bytes().windows(2).any(|w| w[0] == b'$' && !w[1].is_ascii_digit()),
        Segment::Expr(_) => false,
    });
    let mut out = Vec::new();
    for s in segs {
        match s {
            Segment::Expr(e) => {
                if e.referenced_attributes().iter().any(|a| a.starts_with('$')) {
                    out.push(Piece::PerMatch(e.clone()));
                } else {
                    let v = e.evaluate(attrs).map_err(|e| BadInput(format!("evaluating '{REPLACEMENT}': {e}")))?;
                    push_text(&mut out, &v);
                }
            }
            Segment::Lit(t) if literal_only => push_text(&mut out, t),
            Segment::Lit(t) => parse_backrefs(t, groups, &mut out),
        }
    }
    Ok(out)
}

fn push_text(out: &mut Vec<Piece>, t: &str) {
    if let Some(Piece::Text(last)) = out.last_mut() {
        last.push_str(t);
    } else if !t.is_empty() {
        out.push(Piece::Text(t.to_string()));
    }
}

/// Java replacement syntax: `\x` is a literal x, `$N` a group, taking as many digits as
/// still name an existing group; `$N` for a group that does not exist stays literal (NiFi).
fn parse_backrefs(t: &str, groups: usize, out: &mut Vec<Piece>) {
    let b = t.as_bytes();
    let mut lit = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let c = t[i + 1..].chars().next().unwrap_or('\\');
                lit.push(c);
                i += 1 + c.len_utf8();
            }
            b'$' if i + 1 < b.len() && b[i + 1].is_ascii_digit() => {
                let mut n = (b[i + 1] - b'0') as usize;
                if n > groups {
                    lit.push('$');
                    i += 1;
                    continue;
                }
                let mut j = i + 2;
                while j < b.len() && b[j].is_ascii_digit() {
                    let m = n * 10 + (b[j] - b'0') as usize;
                    if m > groups {
                        break;
                    }
                    n = m;
                    j += 1;
                }
                push_text(out, &lit);
                lit.clear();
                out.push(Piece::Group(n));
                i = j;
            }
            _ => {
                let c = t[i..].chars().next().unwrap_or(' ');
                lit.push(c);
                i += c.len_utf8();
            }
        }
    }
    push_text(out, &lit);
}

struct Replacer<'a> {
    re: &'a Regex,
    pieces: &'a [Piece],
    attrs: &'a dyn AttributeSource,
}

impl Replacer<'_> {
    fn apply<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, BadInput> {
        // Fast path: a replacement without groups or per-match expressions.
        if self.pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
            let rep = match self.pieces.first() {
                Some(Piece::Text(t)) => t.as_str(),
                _ => "",
            };
            return Ok(self.re.replace_all(text, NoExpand(rep)));
        }
        let mut out: Option<String> = None;
        let mut last = 0;
        let mut extra: Vec<(String, String)> = Vec::new();
        for caps in self.re.captures_iter(text) {
            let Some(m) = caps.get(0) else { continue };
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
            buf.push_str(&text[last..m.start()]);
            for p in self.pieces {
                match p {
                    Piece::Text(t) => buf.push_str(t),
                    Piece::Group(n) => buf.push_str(caps.get(*n).map(|g| g.as_str()).unwrap_or("")),
                    Piece::PerMatch(e) => {
                        if extra.is_empty() {
                            extra = (0..caps.len())
                                .map(|i| {
                                    (format!("${i}"), caps.get(i).map(|g| g.as_str().to_string()).unwrap_or_default())
                                })
                                .collect();
                        }
                        let v = e
                            .evaluate(&Overlay { extra: &extra, base: self.attrs })
                            .map_err(|e| BadInput(format!("evaluating '{REPLACEMENT}': {e}")))?;
                        buf.push_str(&v);
                    }
                }
            }
            extra.clear();
            last = m.end();
        }
        Ok(match out {
            Some(mut buf) => {
                buf.push_str(&text[last..]);
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(text),
        })
    }
}

/// Replaces `${name}` with the value of attribute `name`; unknown names are left as is.
fn substitute<'t>(text: &'t str, attrs: &dyn AttributeSource) -> Cow<'t, str> {
    if !text.contains("${") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match attrs.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn runner() -> TestRunner {
        TestRunner::new(crate::registry(), "ReplaceText")
    }

    fn run_one(props: &[(&str, &str)], content: &str, attrs: &[(&str, &str)]) -> (String, String) {
        let mut r = runner();
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue(content.to_string(), attrs);
        r.run(1).unwrap();
        if let Some(f) = r.output(crate::FAILURE).first() {
            return ("failure".into(), f.attr(ERROR_ATTR).unwrap_or_default().to_string());
        }
        let out = r.output(crate::SUCCESS);
        ("success".into(), TestRunner::content(&out[0]))
    }

    #[test]
    fn regex_replace_line_by_line_with_backrefs() {
        let (rel, out) =
            run_one(&[(SEARCH, r"(\w+)@(\w+)"), (REPLACEMENT, "$2 at $1")], "a joe@home b\r\nno match\nx@y", &[]);
        assert_eq!(rel, "success");
        assert_eq!(out, "a home at joe b\r\nno match\ny at x");
    }

    #[test]
    fn regex_replace_default_keeps_content_and_literal_dollar_groups() {
        let (_, out) = run_one(&[], "keep me\n", &[]);
        assert_eq!(out, "keep me\n");
        // $8 names no group: literal. $12 with one group: group 1 then '2'.
        let (_, out) = run_one(&[(SEARCH, "(b)"), (REPLACEMENT, "[$8|$12]")], "abc", &[]);
        assert_eq!(out, "a[$8|b2]c");
        // '$' followed by a non-digit: the whole replacement is literal (NiFi).
        let (_, out) = run_one(&[(SEARCH, "(b)"), (REPLACEMENT, "$1 costs $x")], "abc", &[]);
        assert_eq!(out, "a$1 costs $xc");
    }

    #[test]
    fn regex_replace_with_expressions_per_match() {
        let (_, out) = run_one(
            &[(SEARCH, "(WOLF|LION)"), (REPLACEMENT, "${'$1':toLower()}-${animal}"), (MODE, ENTIRE_TEXT)],
            "WOLF and LION",
            &[("animal", "cat")],
        );
        assert_eq!(out, "wolf-cat and lion-cat");
    }

    #[test]
    fn regex_search_with_expression_is_quoted() {
        let (_, out) = run_one(&[(SEARCH, "${needle}+"), (REPLACEMENT, "X")], "a.b a.bbb", &[("needle", "a.b")]);
        assert_eq!(out, "X X");
    }

    #[test]
    fn literal_prepend_append_surround_always() {
        let (_, out) = run_one(&[(STRATEGY, LITERAL_REPLACE), (SEARCH, "."), (REPLACEMENT, "!")], "a.b\nc.d", &[]);
        assert_eq!(out, "a!b\nc!d");
        let (_, out) = run_one(&[(STRATEGY, PREPEND), (REPLACEMENT, "> ")], "a\nb\n", &[]);
        assert_eq!(out, "> a\n> b\n");
        let (_, out) = run_one(&[(STRATEGY, APPEND), (REPLACEMENT, ";")], "a\r\nb", &[]);
        assert_eq!(out, "a;\r\nb;");
        let (_, out) =
            run_one(&[(STRATEGY, SURROUND), (PREPEND_TEXT, "<"), (APPEND_TEXT, ">"), (MODE, ENTIRE_TEXT)], "a\nb", &[]);
        assert_eq!(out, "<a\nb>");
        let (_, out) =
            run_one(&[(STRATEGY, ALWAYS_REPLACE), (REPLACEMENT, "${filename}")], "x\ny\n", &[("filename", "f")]);
        assert_eq!(out, "f\nf\n");
        let (_, out) = run_one(&[(STRATEGY, ALWAYS_REPLACE), (REPLACEMENT, "new"), (MODE, ENTIRE_TEXT)], "x\ny\n", &[]);
        assert_eq!(out, "new");
    }

    #[test]
    fn line_selection_modes() {
        let p = |m: &'static str| vec![(STRATEGY, PREPEND), (REPLACEMENT, "#"), (LINE_MODE, m)];
        assert_eq!(run_one(&p("First-Line"), "a\nb\nc", &[]).1, "#a\nb\nc");
        assert_eq!(run_one(&p("Last-Line"), "a\nb\nc", &[]).1, "a\nb\n#c");
        assert_eq!(run_one(&p("Except-First-Line"), "a\nb\nc", &[]).1, "a\n#b\n#c");
        assert_eq!(run_one(&p("Except-Last-Line"), "a\nb\nc", &[]).1, "#a\n#b\nc");
        assert_eq!(run_one(&p("Last-Line"), "only", &[]).1, "#only");
    }

    #[test]
    fn substitute_variables() {
        let (_, out) = run_one(&[(STRATEGY, SUBSTITUTE)], "hi ${who}, ${missing}!", &[("who", "ann")]);
        assert_eq!(out, "hi ann, ${missing}!");
    }

    #[test]
    fn latin1_round_trip() {
        let mut r = runner();
        r.set_property(CHARSET, "ISO-8859-1")
            .set_property(STRATEGY, LITERAL_REPLACE)
            .set_property(SEARCH, "é")
            .set_property(REPLACEMENT, "è");
        r.enqueue(vec![b'c', b'a', b'f', 0xe9], &[]);
        r.run(1).unwrap();
        let out = r.output(crate::SUCCESS);
        assert_eq!(&out[0].content.to_bytes().unwrap()[..], &[b'c', b'a', b'f', 0xe8]);
    }

    #[test]
    fn failures_carry_the_reason() {
        // Entire text larger than the buffer.
        let (rel, why) = run_one(&[(MODE, ENTIRE_TEXT), (MAX_BUFFER, "4 B"), (SEARCH, "a")], "aaaaaaaa", &[]);
        assert_eq!(rel, "failure");
        assert!(why.contains("larger than the Maximum Buffer Size"), "{why}");
        // A line over the buffer.
        let (rel, why) = run_one(&[(MAX_BUFFER, "4 B"), (SEARCH, "a")], "ab\nabcdefgh\n", &[]);
        assert_eq!(rel, "failure");
        assert!(why.contains("line is longer"), "{why}");
        // Malformed UTF-8.
        let mut r = runner();
        r.set_property(SEARCH, "a");
        r.enqueue(vec![0x61, 0xff, 0x0a], &[]);
        r.run(1).unwrap();
        let f = r.output(crate::FAILURE);
        assert!(f[0].attr(ERROR_ATTR).unwrap().contains("UTF-8"));
        assert_eq!(r.count(crate::SUCCESS), 0);
    }

    #[test]
    fn invalid_regex_is_a_validation_error() {
        let mut r = runner();
        r.set_property(SEARCH, "(unclosed");
        assert!(r.validation_errors().iter().any(|e| e.contains("regular expression")), "{:?}", r.validation_errors());
    }

    #[test]
    fn large_content_streams_line_by_line() {
        let line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"; // 64 bytes
        let content = line.repeat(40_000); // 2.5 MB, over the in-memory limit
        let (rel, out) = run_one(&[(STRATEGY, LITERAL_REPLACE), (SEARCH, "abc"), (REPLACEMENT, "ABC")], &content, &[]);
        assert_eq!(rel, "success");
        assert_eq!(out.len(), content.len());
        assert_eq!(out, content.replace("abc", "ABC"));
    }

    #[test]
    fn provenance_records_content_modified() {
        let mut r = runner();
        r.set_property(SEARCH, "a").set_property(REPLACEMENT, "b");
        r.enqueue("aaa", &[]);
        r.run(1).unwrap();
        let ev = r.events();
        assert!(ev.iter().any(|e| format!("{:?}", e.event_type).contains("ContentModified")), "{ev:?}");
    }
}
