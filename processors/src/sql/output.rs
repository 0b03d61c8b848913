//! Query results into flowfile content, streamed row by row (JSON array of objects or CSV
//! with a header), split every Max Rows Per Flow File rows when asked.

use std::io::{self, Write};

use sluice_engine::{FlowFile, ProcessSession};

use super::db::{Cell, DbError, Failure, RowSource};

/// The format of query results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// `[{"col": value, ...}, ...]`.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// The Output Format property's allowable values.
pub(crate) const FORMATS: &[(&str, &str)] = &[
    (
        "JSON",
        "A JSON array with one object per row (column name to value); numbers, booleans and JSON columns keep their JSON type",
    ),
    ("CSV", "CSV with a header line of column names; NULL is an empty field"),
];

impl OutputFormat {
    /// From the property value.
    pub fn parse(s: Option<&str>) -> OutputFormat {
        if s.is_some_and(|s| s.eq_ignore_ascii_case("CSV")) { OutputFormat::Csv } else { OutputFormat::Json }
    }

    /// The mime.type of the content.
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::Csv => "text/csv",
        }
    }
}

enum Enc<'w> {
    Json { w: &'w mut dyn Write, keys: Vec<Vec<u8>>, first: bool },
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
}

/// Writes rows in one format.
struct Encoder<'w>(Enc<'w>);

impl<'w> Encoder<'w> {
    fn new(w: &'w mut dyn Write, format: OutputFormat, columns: &[String]) -> io::Result<Self> {
        Ok(Encoder(match format {
            OutputFormat::Json => {
                w.write_all(b"[")?;
                let keys = columns
                    .iter()
                    .map(|c| {
                        let mut k = serde_json::to_vec(c).unwrap_or_else(|_| b"\"\"".to_vec());
                        k.push(b':');
                        k
                    })
                    .collect();
                Enc::Json { w, keys, first: true }
            }
            OutputFormat::Csv => {
                let mut c = Box::new(csv::Writer::from_writer(w));
                c.write_record(columns).map_err(io::Error::other)?;
                Enc::Csv(c)
            }
        }))
    }

    fn row(&mut self, row: &[Cell]) -> io::Result<()> {
        match &mut self.0 {
            Enc::Json { w, keys, first } => {
                w.write_all(if *first { b"{" } else { b",{" })?;
                *first = false;
                for (i, (k, c)) in keys.iter().zip(row).enumerate() {
                    if i > 0 {
                        w.write_all(b",")?;
                    }
                    w.write_all(k)?;
                    write_json(&mut **w, c)?;
                }
                w.write_all(b"}")
            }
            Enc::Csv(c) => {
                for cell in row {
                    match cell.text() {
                        Some(t) => c.write_field(t),
                        None => c.write_field(""),
                    }
                    .map_err(io::Error::other)?;
                }
                c.write_record(None::<&[u8]>).map_err(io::Error::other)
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self.0 {
            Enc::Json { w, .. } => w.write_all(b"]"),
            Enc::Csv(mut c) => c.flush(),
        }
    }
}

fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    !digits.is_empty()
        && digits[0].is_ascii_digit()
        && !(digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit())
        && digits.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && !digits.ends_with(b".")
}

fn write_json(w: &mut dyn Write, c: &Cell) -> io::Result<()> {
    match c {
        Cell::Null => w.write_all(b"null"),
        Cell::Bool(b) => w.write_all(if *b { b"true" } else { b"false" }),
        Cell::Int(i) => write!(w, "{i}"),
        Cell::Float(f) if f.is_finite() => serde_json::to_writer(w, f).map_err(io::Error::other),
        Cell::Numeric(s) if is_json_number(s) => w.write_all(s.as_bytes()),
        Cell::Json(raw) => w.write_all(raw.as_bytes()),
        Cell::Text(s) => serde_json::to_writer(w, s).map_err(io::Error::other),
        other => serde_json::to_writer(w, &other.text().unwrap_or_default()).map_err(io::Error::other),
    }
}

/// How to write a result.
pub(crate) struct ResultSpec<'a> {
    /// JSON or CSV.
    pub format: OutputFormat,
    /// Rows per flowfile (0: all in one).
    pub max_rows: u64,
    /// The input flowfile the results are children of (None for a source).
    pub parent: Option<&'a FlowFile>,
    /// Whether a result with no rows still yields one (empty) flowfile.
    pub emit_empty: bool,
}

/// Writes all rows of `src` into new flowfiles (children of the parent, if any); returns
/// each with its row count. `on_row` sees every row (maximum-value tracking). On failure the
/// flowfiles created so far are removed from the session.
pub(crate) fn write_results(
    session: &mut ProcessSession,
    src: &mut dyn RowSource,
    spec: &ResultSpec<'_>,
    on_row: &mut dyn FnMut(&[Cell]),
) -> Result<Vec<(FlowFile, u64)>, Failure> {
    let columns = src.columns().to_vec();
    let mut out: Vec<(FlowFile, u64)> = Vec::new();
    let mut pending = src.next_row()?;
    if pending.is_none() && !spec.emit_empty {
        return Ok(out);
    }
    loop {
        let mut ff = match spec.parent {
            Some(p) => session.create_child(p),
            None => session.create(),
        };
        let mut count = 0u64;
        let mut db_err: Option<DbError> = None;
        let res = session.write_with(&mut ff, |w| {
            let mut enc = Encoder::new(w, spec.format, &columns)?;
            while let Some(row) = pending.take() {
                on_row(&row);
                enc.row(&row)?;
                count += 1;
                match src.next_row() {
                    Ok(next) => pending = next,
                    Err(e) => {
                        db_err = Some(e);
                        return Err(io::Error::other("the query failed while its rows were read"));
                    }
                }
                if spec.max_rows > 0 && count >= spec.max_rows {
                    break;
                }
            }
            enc.finish()
        });
        out.push((ff, count));
        let failure = match (db_err, res) {
            (Some(e), _) => Some(Failure::Db(e)),
            (None, Err(e)) => Some(Failure::Process(e)),
            (None, Ok(())) => None,
        };
        if let Some(f) = failure {
            for (ff, _) in out {
                session.remove(ff);
            }
            return Err(f);
        }
        if pending.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Sets NiFi's fragment attributes on split results (when there is more than one).
pub(crate) fn set_fragments(out: &mut [(FlowFile, u64)], split: bool) {
    if !split {
        return;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let n = out.len().to_string();
    for (i, (ff, _)) in out.iter_mut().enumerate() {
        ff.set_attr("fragment.identifier", &id);
        ff.set_attr("fragment.count", &n);
        ff.set_attr("fragment.index", &i.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(format: OutputFormat, rows: &[Vec<Cell>]) -> String {
        let mut buf = Vec::new();
        {
            let w: &mut dyn Write = &mut buf;
            let mut e = Encoder::new(w, format, &["a".to_string(), "b \"q\"".to_string()]).unwrap();
            for r in rows {
                e.row(r).unwrap();
            }
            e.finish().unwrap();
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_keeps_types_and_escapes() {
        let rows = vec![
            vec![Cell::Int(1), Cell::Text("x\"y".into())],
            vec![Cell::Numeric("1.50".into()), Cell::Json("{\"k\":[1]}".into())],
            vec![Cell::Float(f64::NAN), Cell::Null],
            vec![Cell::Numeric("NaN".into()), Cell::Bytes(vec![1, 2])],
        ];
        let s = encode(OutputFormat::Json, &rows);
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v[0]["a"], 1);
        assert_eq!(v[0]["b \"q\""], "x\"y");
        assert!(s.contains("{\"a\":1.50,"), "numeric digits kept: {s}");
        assert_eq!(v[1]["b \"q\""]["k"][0], 1);
        assert_eq!(v[2]["a"], "NaN");
        assert!(v[2]["b \"q\""].is_null());
        assert_eq!(v[3]["a"], "NaN");
        assert_eq!(v[3]["b \"q\""], "\\x0102");
        assert_eq!(encode(OutputFormat::Json, &[]), "[]");
    }

    #[test]
    fn csv_has_a_header_and_quotes() {
        let s = encode(
            OutputFormat::Csv,
            &[vec![Cell::Int(1), Cell::Text("a,b".into())], vec![Cell::Null, Cell::Bool(true)]],
        );
        assert_eq!(s, "a,\"b \"\"q\"\"\"\n1,\"a,b\"\n,true\n");
    }

    #[test]
    fn json_numbers_are_recognized() {
        assert!(is_json_number("-12.5"));
        assert!(is_json_number("0.001"));
        assert!(!is_json_number("NaN"));
        assert!(!is_json_number("01"));
        assert!(!is_json_number("1."));
    }
}
