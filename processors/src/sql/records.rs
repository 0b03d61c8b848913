//! Reading records from flowfile content for PutDatabaseRecord, one at a time (the content
//! is never held whole): a JSON array of objects (streamed element by element), JSON Lines
//! (or any whitespace-separated objects), or CSV with a header line.

use std::io::{BufRead, BufReader, Read};

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::db::{Failure, SqlValue};

/// The formats of the Record Reader property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordFormat {
    /// A JSON array of objects, or one object (also accepts JSON Lines).
    Json,
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header line.
    Csv,
}

/// The Record Reader property's allowable values.
pub(crate) const READERS: &[(&str, &str)] = &[
    ("JSON", "A JSON array of objects, or a single object (objects separated by whitespace are accepted too)"),
    ("JSON Lines", "One JSON object per line"),
    ("CSV", "CSV (RFC 4180) with a header line naming the fields; an empty field is NULL"),
];

impl RecordFormat {
    /// From the property value.
    pub fn parse(s: Option<&str>) -> RecordFormat {
        match s {
            Some("CSV") => RecordFormat::Csv,
            Some("JSON Lines") => RecordFormat::JsonLines,
            _ => RecordFormat::Json,
        }
    }
}

/// A record: field names and values, in the content's order.
pub(crate) type Record = Vec<(String, SqlValue)>;

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The content is not valid in the format (message names the record).
    Parse(String),
    /// The callback failed.
    Callback(Failure),
}

fn record_of(map: Map<String, Value>) -> Record {
    map.into_iter().map(|(k, v)| (k, SqlValue::from_json(v))).collect()
}

/// Calls `f` with each record of `input`; returns how many were read.
pub(crate) fn read_records(
    input: impl Read,
    format: RecordFormat,
    f: &mut dyn FnMut(Record) -> Result<(), Failure>,
) -> Result<u64, ReadFailure> {
    match format {
        RecordFormat::Csv => read_csv(input, f),
        RecordFormat::Json | RecordFormat::JsonLines => read_json(input, f),
    }
}

fn read_csv(input: impl Read, f: &mut dyn FnMut(Record) -> Result<(), Failure>) -> Result<u64, ReadFailure> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(input);
    let headers: Vec<String> =
        r.headers().map_err(|e| ReadFailure::Parse(format!("CSV header: {e}")))?.iter().map(String::from).collect();
    let mut n = 0u64;
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => return Ok(n),
            Ok(true) => {
                n += 1;
                let record = headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| {
                        (h.clone(), if v.is_empty() { SqlValue::Null } else { SqlValue::Text(v.to_string()) })
                    })
                    .collect();
                f(record).map_err(ReadFailure::Callback)?;
            }
            Err(e) => return Err(ReadFailure::Parse(format!("record {}: {e}", n + 1))),
        }
    }
}

fn read_json(input: impl Read, f: &mut dyn FnMut(Record) -> Result<(), Failure>) -> Result<u64, ReadFailure> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    // Skip leading whitespace to see whether this is an array.
    let first = loop {
        let buf = reader.fill_buf().map_err(|e| ReadFailure::Parse(e.to_string()))?;
        if buf.is_empty() {
            return Ok(0);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(p) => {
                let c = buf[p];
                reader.consume(p);
                break c;
            }
            None => {
                let l = buf.len();
                reader.consume(l);
            }
        }
    };
    let mut n = 0u64;
    if first == b'[' {
        let mut failed: Option<Failure> = None;
        let mut de = serde_json::Deserializer::from_reader(reader);
        let r = Each { f, failed: &mut failed, count: &mut n }.deserialize(&mut de).and_then(|()| de.end());
        return match (r, failed) {
            (_, Some(e)) => Err(ReadFailure::Callback(e)),
            (Err(e), None) => Err(ReadFailure::Parse(format!("record {}: {e}", n + 1))),
            (Ok(()), None) => Ok(n),
        };
    }
    for item in serde_json::Deserializer::from_reader(reader).into_iter::<Map<String, Value>>() {
        let map = item.map_err(|e| ReadFailure::Parse(format!("record {}: {e}", n + 1)))?;
        n += 1;
        f(record_of(map)).map_err(ReadFailure::Callback)?;
    }
    Ok(n)
}

/// Streams the elements of a JSON array to the callback.
struct Each<'a> {
    f: &'a mut dyn FnMut(Record) -> Result<(), Failure>,
    failed: &'a mut Option<Failure>,
    count: &'a mut u64,
}

impl<'de> DeserializeSeed<'de> for Each<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Each<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(map) = seq.next_element::<Map<String, Value>>()? {
            *self.count += 1;
            if let Err(e) = (self.f)(record_of(map)) {
                *self.failed = Some(e);
                return Err(A::Error::custom("stopped by the database"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str, format: RecordFormat) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        read_records(input.as_bytes(), format, &mut |r| {
            out.push(r);
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }

    #[test]
    fn reads_arrays_lines_and_csv() {
        let a = collect(" [{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":null}]", RecordFormat::Json).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0][0], ("id".to_string(), SqlValue::Int(1)));
        assert_eq!(a[1][1], ("name".to_string(), SqlValue::Null));
        let l = collect("{\"id\":1}\n{\"id\":2}\n", RecordFormat::JsonLines).unwrap();
        assert_eq!(l.len(), 2);
        let c = collect("id,name\n1,x\n2,\n", RecordFormat::Csv).unwrap();
        assert_eq!(c[1][1], ("name".to_string(), SqlValue::Null));
        assert_eq!(c[0][0], ("id".to_string(), SqlValue::Text("1".into())));
        assert!(collect("", RecordFormat::Json).unwrap().is_empty());
    }

    #[test]
    fn malformed_input_names_the_record() {
        let e = collect("[{\"id\":1},{\"id\":]", RecordFormat::Json).unwrap_err();
        assert!(e.contains("record 2"), "{e}");
        let e = collect("[1,2]", RecordFormat::Json).unwrap_err();
        assert!(e.contains("record 1"), "{e}");
        let e = collect("a,b\n1,2,3\n", RecordFormat::Csv).unwrap_err();
        assert!(e.contains("record 1"), "{e}");
    }
}
