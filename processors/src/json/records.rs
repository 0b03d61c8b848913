//! Record formats for ConvertRecord: streaming readers for CSV, JSON (an array of objects,
//! or objects one after another) and JSON Lines, streaming writers for the same, and the
//! schema inference that decides which CSV columns become JSON numbers or booleans.
//!
//! A record is an ordered list of (field name, [`Cell`]). Readers call a function per
//! record, so memory stays bounded by one record whatever the size of the content.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// One field value of a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// No value: an empty CSV field, a JSON null or a missing JSON field.
    Null,
    /// A string.
    Text(&'a str),
    /// A JSON literal written as is: a number, `true`/`false`, or a compact object or array.
    Literal(&'a str),
}

/// A record format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Delimited text.
    Csv,
    /// A JSON array of objects (readers also take objects one after another).
    Json,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The MIME type of content in this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Json => "application/json",
            Format::JsonLines => "application/x-ndjson",
        }
    }
}

/// CSV settings (used by the reader and the writer alike).
#[derive(Clone, Copy, Debug)]
pub struct CsvOptions {
    /// The value separator.
    pub delimiter: u8,
    /// The quote character.
    pub quote: u8,
    /// Whether the first line of the input names the columns.
    pub header_in: bool,
    /// Whether the output starts with a header line.
    pub header_out: bool,
    /// Whether leading and trailing white space is removed from values read.
    pub trim: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',', quote: b'"', header_in: true, header_out: true, trim: false }
    }
}

/// Why reading records stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The content is not in the expected format: the flowfile goes to failure.
    Bad(String),
    /// Reading the content or writing the output failed (transient).
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Bad(s) => f.write_str(s),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The function a reader calls per record: the fields in order.
pub type OnRecord<'f> = dyn FnMut(&[(&str, Cell<'_>)]) -> io::Result<()> + 'f;

// ---------------------------------------------------------------------------------------
// Type inference for CSV values.

/// The inferred type of a CSV column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColumnType {
    /// Only empty values so far.
    #[default]
    Unknown,
    /// Whole numbers.
    Integer,
    /// Numbers with a fraction or exponent (or a mix with whole numbers).
    Decimal,
    /// `true` / `false`.
    Boolean,
    /// Anything else.
    String,
}

impl ColumnType {
    /// Widens the type to accept `value` (empty values are nulls and change nothing).
    pub fn widen(self, value: &str) -> ColumnType {
        let t = classify(value);
        match (self, t) {
            (s, ColumnType::Unknown) => s,
            (ColumnType::Unknown, t) => t,
            (a, b) if a == b => a,
            (ColumnType::Integer, ColumnType::Decimal) | (ColumnType::Decimal, ColumnType::Integer) => {
                ColumnType::Decimal
            }
            _ => ColumnType::String,
        }
    }

    /// How a (non-empty) value of a column of this type is written in JSON.
    fn cell(self, value: &str) -> Cell<'_> {
        if value.is_empty() {
            return Cell::Null;
        }
        match self {
            ColumnType::Integer | ColumnType::Decimal | ColumnType::Boolean => Cell::Literal(value),
            _ => Cell::Text(value),
        }
    }
}

/// The type of one value: only text that is exactly a JSON number or `true`/`false` is
/// typed, so the JSON written holds the same characters (`007`, `+1`, `TRUE` stay strings).
pub fn classify(value: &str) -> ColumnType {
    if value.is_empty() {
        return ColumnType::Unknown;
    }
    if value == "true" || value == "false" {
        return ColumnType::Boolean;
    }
    match json_number(value.as_bytes()) {
        Some(true) => ColumnType::Integer,
        Some(false) => ColumnType::Decimal,
        None => ColumnType::String,
    }
}

/// Whether `s` is a JSON number: `Some(true)` for an integer, `Some(false)` with a
/// fraction or exponent.
fn json_number(s: &[u8]) -> Option<bool> {
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return None,
    }
    let mut integer = true;
    if s.get(i) == Some(&b'.') {
        integer = false;
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        integer = false;
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    (i == s.len()).then_some(integer)
}

// ---------------------------------------------------------------------------------------
// CSV reading.

fn csv_reader<R: Read>(input: R, opts: &CsvOptions) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .delimiter(opts.delimiter)
        .quote(opts.quote)
        .trim(if opts.trim { csv::Trim::All } else { csv::Trim::None })
        .buffer_capacity(64 * 1024)
        .from_reader(input)
}

fn csv_error(e: csv::Error) -> ReadError {
    match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(io) => ReadError::Io(io),
            _ => ReadError::Bad("CSV read error".into()),
        },
        _ => ReadError::Bad(format!("bad CSV: {e}")),
    }
}

/// The column names of a CSV input and the first data record when the input has no header.
struct CsvHead {
    names: Vec<String>,
    first: Option<csv::StringRecord>,
}

fn csv_head<R: Read>(rdr: &mut csv::Reader<R>, opts: &CsvOptions) -> Result<Option<CsvHead>, ReadError> {
    let mut rec = csv::StringRecord::new();
    if !rdr.read_record(&mut rec).map_err(csv_error)? {
        return Ok(None);
    }
    if opts.header_in {
        let names: Vec<String> = rec.iter().map(str::to_string).collect();
        let mut seen = HashSet::new();
        for n in &names {
            if !seen.insert(n.as_str()) {
                return Err(ReadError::Bad(format!("bad CSV: the header names column '{n}' twice")));
            }
        }
        Ok(Some(CsvHead { names, first: None }))
    } else {
        let names = (1..=rec.len()).map(|i| format!("field_{i}")).collect();
        Ok(Some(CsvHead { names, first: Some(rec) }))
    }
}

/// Reads a CSV input and returns its column names and inferred types (first pass of a
/// conversion to JSON), with the number of records.
pub fn infer_csv(input: impl Read, opts: &CsvOptions) -> Result<(Vec<String>, Vec<ColumnType>, u64), ReadError> {
    let mut rdr = csv_reader(input, opts);
    let Some(head) = csv_head(&mut rdr, opts)? else {
        return Ok((Vec::new(), Vec::new(), 0));
    };
    let mut types = vec![ColumnType::Unknown; head.names.len()];
    let mut count = 0u64;
    let mut widen = |rec: &csv::StringRecord| {
        for (t, v) in types.iter_mut().zip(rec.iter()) {
            *t = t.widen(v);
        }
    };
    if let Some(first) = &head.first {
        widen(first);
        count += 1;
    }
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(csv_error)? {
        widen(&rec);
        count += 1;
    }
    Ok((head.names, types, count))
}

/// Streams the records of a CSV input. With `types`, values are typed (for JSON output);
/// without, every non-empty value is text. Returns the column names and the record count.
pub fn read_csv(
    input: impl Read,
    opts: &CsvOptions,
    types: Option<&[ColumnType]>,
    on_header: &mut dyn FnMut(&[String]) -> io::Result<()>,
    on_record: &mut OnRecord<'_>,
) -> Result<u64, ReadError> {
    let mut rdr = csv_reader(input, opts);
    let Some(head) = csv_head(&mut rdr, opts)? else {
        return Ok(0);
    };
    on_header(&head.names)?;
    let mut emit = |rec: &csv::StringRecord| -> io::Result<()> {
        let mut out: Vec<(&str, Cell<'_>)> = Vec::with_capacity(head.names.len());
        for (i, (name, v)) in head.names.iter().zip(rec.iter()).enumerate() {
            let cell = match types {
                Some(t) => t.get(i).copied().unwrap_or(ColumnType::String).cell(v),
                None if v.is_empty() => Cell::Null,
                None => Cell::Text(v),
            };
            out.push((name.as_str(), cell));
        }
        on_record(&out)
    };
    let mut count = 0u64;
    if let Some(first) = &head.first {
        emit(first)?;
        count += 1;
    }
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(csv_error)? {
        emit(&rec)?;
        count += 1;
    }
    Ok(count)
}

// ---------------------------------------------------------------------------------------
// JSON reading.

/// A JSON object read with its values kept as raw JSON text (numbers keep their digits).
struct RawRecord(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for RawRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRecord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (a record)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRecord, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push((k, v));
                }
                Ok(RawRecord(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// Cells of a raw record: strings unescaped, objects and arrays made compact.
struct Decoded {
    fields: Vec<(String, Decoded1)>,
}

enum Decoded1 {
    Null,
    Text(String),
    Literal(String),
    Raw(usize),
}

fn decode(rec: RawRecord) -> Result<(Decoded, Vec<Box<RawValue>>), String> {
    let mut raws = Vec::new();
    let mut fields = Vec::with_capacity(rec.0.len());
    for (k, v) in rec.0 {
        let text = v.get().trim();
        let cell = match text.as_bytes().first() {
            Some(b'"') => {
                Decoded1::Text(serde_json::from_str::<String>(text).map_err(|e| format!("field '{k}': {e}"))?)
            }
            Some(b'{' | b'[') => {
                let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("field '{k}': {e}"))?;
                Decoded1::Literal(value.to_string())
            }
            Some(b'n') => Decoded1::Null,
            _ => {
                raws.push(v);
                Decoded1::Raw(raws.len() - 1)
            }
        };
        fields.push((k, cell));
    }
    Ok((Decoded { fields }, raws))
}

fn with_cells(rec: RawRecord, on_record: &mut OnRecord<'_>) -> Result<(), ReadError> {
    let (decoded, raws) = decode(rec).map_err(ReadError::Bad)?;
    let cells: Vec<(&str, Cell<'_>)> = decoded
        .fields
        .iter()
        .map(|(k, c)| {
            let cell = match c {
                Decoded1::Null => Cell::Null,
                Decoded1::Text(s) => Cell::Text(s),
                Decoded1::Literal(s) => Cell::Literal(s),
                Decoded1::Raw(i) => Cell::Literal(raws[*i].get().trim()),
            };
            (k.as_str(), cell)
        })
        .collect();
    on_record(&cells).map_err(ReadError::Io)
}

struct ArrayVisitor<'a, 'f> {
    on_record: &'a mut OnRecord<'f>,
    count: u64,
    failure: Option<ReadError>,
}

impl<'de> Visitor<'de> for &mut ArrayVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of JSON objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(rec) = seq.next_element::<RawRecord>()? {
            self.count += 1;
            if let Err(e) = with_cells(rec, self.on_record) {
                self.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut ArrayVisitor<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

fn json_error(e: serde_json::Error, record: u64) -> ReadError {
    if e.is_io() {
        ReadError::Io(io::Error::other(e.to_string()))
    } else {
        ReadError::Bad(format!("bad JSON in record {}: {e}", record + 1))
    }
}

/// Streams the records of a JSON input: an array of objects (`array_allowed`), or objects
/// one after another separated by white space (JSON Lines is the one-per-line case).
pub fn read_json(input: impl Read, array_allowed: bool, on_record: &mut OnRecord<'_>) -> Result<u64, ReadError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    // Skip leading white space to see whether the input is an array.
    let first = loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(0);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                break b;
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    };
    if first == b'[' && array_allowed {
        let mut de = serde_json::Deserializer::from_reader(input);
        let mut v = ArrayVisitor { on_record, count: 0, failure: None };
        let result = (&mut v).deserialize(&mut de);
        if let Some(f) = v.failure.take() {
            return Err(f);
        }
        result.map_err(|e| json_error(e, v.count))?;
        de.end().map_err(|e| json_error(e, v.count))?;
        return Ok(v.count);
    }
    let stream = serde_json::Deserializer::from_reader(input).into_iter::<RawRecord>();
    let mut count = 0u64;
    for rec in stream {
        let rec = rec.map_err(|e| json_error(e, count))?;
        count += 1;
        with_cells(rec, on_record)?;
    }
    Ok(count)
}

/// The field names of every record of a JSON input, in order of first appearance (first
/// pass of a conversion to CSV).
pub fn json_columns(input: impl Read, array_allowed: bool) -> Result<(Vec<String>, u64), ReadError> {
    let mut names: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let count = read_json(input, array_allowed, &mut |fields| {
        for (k, _) in fields {
            if !seen.contains(*k) {
                seen.insert(k.to_string());
                names.push(k.to_string());
            }
        }
        Ok(())
    })?;
    Ok((names, count))
}

// ---------------------------------------------------------------------------------------
// Writers.

/// Writes records in a format.
pub enum RecordWriter<'w> {
    /// CSV with a fixed set of columns.
    Csv {
        /// The CSV writer.
        out: Box<csv::Writer<&'w mut dyn Write>>,
        /// Column name → position.
        index: HashMap<String, usize>,
        /// Column count.
        width: usize,
        /// Reused row of values.
        row: Vec<String>,
    },
    /// A JSON array.
    Json {
        /// The output.
        out: &'w mut dyn Write,
        /// Whether a record was written (a comma goes before the next).
        any: bool,
    },
    /// One JSON object per line.
    JsonLines {
        /// The output.
        out: &'w mut dyn Write,
    },
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    }
}

impl<'w> RecordWriter<'w> {
    /// A writer of `format` to `out`. CSV needs the `columns` (written as the header when
    /// `opts.header_out`).
    pub fn new(format: Format, out: &'w mut dyn Write, opts: &CsvOptions, columns: &[String]) -> io::Result<Self> {
        Ok(match format {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .delimiter(opts.delimiter)
                    .quote(opts.quote)
                    .has_headers(false)
                    .buffer_capacity(64 * 1024)
                    .from_writer(out);
                if opts.header_out && !columns.is_empty() {
                    w.write_record(columns).map_err(csv_io)?;
                }
                let index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
                RecordWriter::Csv {
                    out: Box::new(w),
                    index,
                    width: columns.len(),
                    row: vec![String::new(); columns.len()],
                }
            }
            Format::Json => {
                out.write_all(b"[")?;
                RecordWriter::Json { out, any: false }
            }
            Format::JsonLines => RecordWriter::JsonLines { out },
        })
    }

    /// Writes one record.
    pub fn write(&mut self, fields: &[(&str, Cell<'_>)]) -> io::Result<()> {
        match self {
            RecordWriter::Csv { out, index, width, row } => {
                for v in row.iter_mut() {
                    v.clear();
                }
                for (k, c) in fields {
                    if let Some(&i) = index.get(*k) {
                        match c {
                            Cell::Null => {}
                            Cell::Text(s) | Cell::Literal(s) => row[i].push_str(s),
                        }
                    }
                }
                if *width > 0 {
                    out.write_record(row.iter()).map_err(csv_io)?;
                }
                Ok(())
            }
            RecordWriter::Json { out, any } => {
                if *any {
                    out.write_all(b",")?;
                }
                *any = true;
                write_object(&mut **out, fields)
            }
            RecordWriter::JsonLines { out } => {
                write_object(&mut **out, fields)?;
                out.write_all(b"\n")
            }
        }
    }

    /// Ends the output (closes a JSON array, flushes CSV).
    pub fn finish(self) -> io::Result<()> {
        match self {
            RecordWriter::Csv { mut out, .. } => out.flush(),
            RecordWriter::Json { out, .. } => out.write_all(b"]"),
            RecordWriter::JsonLines { .. } => Ok(()),
        }
    }
}

fn write_object(out: &mut dyn Write, fields: &[(&str, Cell<'_>)]) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (k, c)) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, k).map_err(io::Error::other)?;
        out.write_all(b":")?;
        match c {
            Cell::Null => out.write_all(b"null")?,
            Cell::Text(s) => serde_json::to_writer(&mut *out, s).map_err(io::Error::other)?,
            Cell::Literal(s) => out.write_all(s.as_bytes())?,
        }
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_values_as_json_would_write_them() {
        assert_eq!(classify(""), ColumnType::Unknown);
        assert_eq!(classify("12"), ColumnType::Integer);
        assert_eq!(classify("-0"), ColumnType::Integer);
        assert_eq!(classify("1.50"), ColumnType::Decimal);
        assert_eq!(classify("6.02e23"), ColumnType::Decimal);
        assert_eq!(classify("true"), ColumnType::Boolean);
        for s in ["007", "+1", ".5", "1.", "1e", "TRUE", " 1", "1 ", "NaN", "0x10", "-"] {
            assert_eq!(classify(s), ColumnType::String, "{s}");
        }
        assert_eq!(ColumnType::Integer.widen("2.5"), ColumnType::Decimal);
        assert_eq!(ColumnType::Integer.widen(""), ColumnType::Integer);
        assert_eq!(ColumnType::Boolean.widen("1"), ColumnType::String);
    }

    #[test]
    fn json_arrays_stream_with_raw_numbers() {
        let input = br#" [ {"a": 1.50, "b": "x\"y", "c": null, "d": {"e": [1, 2]}}, {"a": 12345678901234567890123} ] "#;
        let mut seen = Vec::new();
        let n = read_json(&input[..], true, &mut |f| {
            seen.push(format!("{f:?}"));
            Ok(())
        })
        .expect("reads");
        assert_eq!(n, 2);
        assert_eq!(
            seen[0],
            r#"[("a", Literal("1.50")), ("b", Text("x\"y")), ("c", Null), ("d", Literal("{\"e\":[1,2]}"))]"#
        );
        assert_eq!(seen[1], r#"[("a", Literal("12345678901234567890123"))]"#);
    }

    #[test]
    fn json_errors_name_the_record() {
        let bad = br#"[{"a": 1}, {"a": ]"#;
        match read_json(&bad[..], true, &mut |_| Ok(())) {
            Err(ReadError::Bad(m)) => assert!(m.contains("record 2"), "{m}"),
            other => panic!("{other:?}"),
        }
        match read_json(&b"{\"a\":1}\n[1]\n"[..], false, &mut |_| Ok(())) {
            Err(ReadError::Bad(m)) => {
                assert!(m.contains("record 2") && m.contains("object"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match read_json(&b"[1]"[..], true, &mut |_| Ok(())) {
            Err(ReadError::Bad(m)) => assert!(m.contains("object"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
