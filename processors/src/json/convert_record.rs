//! ConvertRecord: converts record-oriented content between CSV, JSON and JSON Lines,
//! streaming record by record.

use std::cell::RefCell;
use std::io::{self, Write};

use sluice_engine::{
    FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor,
    Registry, Relationship, Validator,
};

use super::records::{self, CsvOptions, Format, ReadError, RecordWriter};

const READER: &str = "Record Reader";
const WRITER: &str = "Record Writer";
const SEPARATOR: &str = "Value Separator";
const HEADER_IN: &str = "Treat First Line as Header";
const HEADER_OUT: &str = "Include Header Line";
const QUOTE: &str = "Quote Character";
const TRIM: &str = "Trim Fields";

const CSV: &str = "CSV";
const JSON: &str = "JSON";
const JSON_LINES: &str = "JSON Lines";

/// The number of records written.
pub const RECORD_COUNT: &str = "record.count";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "ConvertRecord.error";
const BATCH: usize = 10;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(ConvertRecord::default()));
}

fn formats(what: &str) -> [(&'static str, String); 3] {
    [
        (CSV, format!("delimited text (see {SEPARATOR}, {QUOTE}, {HEADER_IN}, {HEADER_OUT}) {what}")),
        (JSON, format!("a JSON array of objects (a reader also takes objects one after another) {what}")),
        (JSON_LINES, format!("one JSON object per line {what}")),
    ]
}

fn format_property(name: &str, what: &str, nifi: &str) -> PropertyDescriptor {
    let values = formats(what);
    let refs: Vec<(&str, &str)> = values.iter().map(|(v, d)| (*v, d.as_str())).collect();
    PropertyDescriptor::new(name).description(nifi).required().allowable(&refs)
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "ConvertRecord",
        "Converts records between CSV, JSON and JSON Lines. Content is streamed record by record; converting CSV to JSON \
         reads the input twice (first to infer each column's type: integer, decimal, boolean or string; empty values are \
         null), and JSON to CSV reads it twice (first to collect the columns). Numbers keep their exact digits. Sets \
         record.count and mime.type.",
    )
    .tags(&["record", "convert", "csv", "json", "jsonl", "ndjson", "format", "schema"])
    .property(format_property(
        READER,
        "is read",
        "The format of the input. NiFi configures a Record Reader controller service (CSVReader, JsonTreeReader...); \
         Sluice offers the formats as values, with the schema always inferred.",
    ))
    .property(format_property(
        WRITER,
        "is written",
        "The format of the output. NiFi configures a Record Writer controller service (CSVRecordSetWriter, \
         JsonRecordSetWriter...); Sluice offers the formats as values. Nested objects and arrays are written to CSV as \
         JSON text.",
    ))
    .property(
        PropertyDescriptor::new(SEPARATOR)
            .description("The character between CSV values (reader and writer); \\t for a tab")
            .required()
            .default_value(","),
    )
    .property(
        PropertyDescriptor::new(HEADER_IN)
            .description(
                "Whether the first CSV line names the columns. Without a header the columns are named field_1, field_2... \
                 (NiFi's CSVReader defaults to false; Sluice to true, the common case)",
            )
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(HEADER_OUT)
            .description("Whether CSV output starts with a line of column names")
            .required()
            .default_value("true")
            .validator(Validator::Boolean),
    )
    .property(
        PropertyDescriptor::new(QUOTE)
            .description("The character that quotes CSV values holding separators, quotes or line breaks")
            .required()
            .default_value("\""),
    )
    .property(
        PropertyDescriptor::new(TRIM)
            .description(
                "Whether white space around CSV values is removed when reading (NiFi's CSVReader defaults to true; Sluice \
                 to false, so values are kept exactly)",
            )
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles converted (content replaced)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles whose content could not be read in the reader's format (ConvertRecord.error says why); content unchanged",
    ))
}

fn parse_format(v: Option<&str>) -> Option<Format> {
    match v? {
        CSV => Some(Format::Csv),
        JSON => Some(Format::Json),
        JSON_LINES => Some(Format::JsonLines),
        _ => None,
    }
}

fn parse_char(name: &str, v: Option<&str>) -> Result<u8, String> {
    let v = v.unwrap_or_default();
    let c = match v {
        "\\t" => "\t",
        other => other,
    };
    match c.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(format!("'{name}' must be one ASCII character (\\t for a tab), not '{v}'")),
    }
}

fn options(ctx: &ProcessContext) -> Result<CsvOptions, String> {
    let bool_of = |n: &str, d: bool| match ctx.property(n) {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        None => Ok(d),
        Some(o) => Err(format!("'{n}' must be true or false, not '{o}'")),
    };
    let opts = CsvOptions {
        delimiter: parse_char(SEPARATOR, ctx.property(SEPARATOR))?,
        quote: parse_char(QUOTE, ctx.property(QUOTE))?,
        header_in: bool_of(HEADER_IN, true)?,
        header_out: bool_of(HEADER_OUT, true)?,
        trim: bool_of(TRIM, false)?,
    };
    if opts.delimiter == opts.quote {
        return Err(format!("'{SEPARATOR}' and '{QUOTE}' must differ"));
    }
    Ok(opts)
}

/// The processor.
#[derive(Default)]
pub struct ConvertRecord {
    config: Option<(Format, Format, CsvOptions)>,
}

impl Processor for ConvertRecord {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let reader =
            parse_format(ctx.property(READER)).ok_or_else(|| ProcessError::Config(format!("'{READER}' is not set")))?;
        let writer =
            parse_format(ctx.property(WRITER)).ok_or_else(|| ProcessError::Config(format!("'{WRITER}' is not set")))?;
        let opts = options(ctx).map_err(ProcessError::Config)?;
        self.config = Some((reader, writer, opts));
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        options(ctx).err().into_iter().collect()
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let Some((reader, writer, opts)) = self.config else {
            return Err(ProcessError::Config("not scheduled".into()));
        };
        for ff in session.get_batch(BATCH) {
            self.convert(session, ff, reader, writer, &opts)?;
        }
        Ok(())
    }
}

/// What the first pass learned.
#[derive(Default)]
struct Plan {
    columns: Vec<String>,
    types: Option<Vec<records::ColumnType>>,
}

impl ConvertRecord {
    fn convert(
        &self,
        session: &mut ProcessSession,
        mut ff: FlowFile,
        reader: Format,
        writer: Format,
        opts: &CsvOptions,
    ) -> Result<(), ProcessError> {
        // First pass where the writer needs to know the whole input first.
        let plan = match (reader, writer) {
            (Format::Csv, Format::Json | Format::JsonLines) => records::infer_csv(session.read(&ff)?, opts)
                .map(|(columns, types, _)| Plan { columns, types: Some(types) }),
            (Format::Json | Format::JsonLines, Format::Csv) => {
                records::json_columns(session.read(&ff)?, reader == Format::Json)
                    .map(|(columns, _)| Plan { columns, types: None })
            }
            _ => Ok(Plan::default()),
        };
        let plan = match plan {
            Ok(p) => p,
            Err(ReadError::Bad(why)) => return fail(session, ff, &why),
            Err(ReadError::Io(e)) => return Err(e.into()),
        };
        let input = session.read(&ff)?;
        let mut bad: Option<String> = None;
        let mut count = 0u64;
        let written = session.write_with(&mut ff, |out: &mut dyn Write| {
            let result = write_records(input, out, reader, writer, opts, &plan);
            match result {
                Ok(n) => {
                    count = n;
                    Ok(())
                }
                Err(ReadError::Bad(why)) => {
                    bad = Some(why);
                    Err(io::Error::other("bad input"))
                }
                Err(ReadError::Io(e)) => Err(e),
            }
        });
        if let Some(why) = bad {
            return fail(session, ff, &why);
        }
        written?;
        ff.set_attr(RECORD_COUNT, &count.to_string());
        ff.set_attr("mime.type", writer.mime_type());
        session.transfer(ff, crate::SUCCESS);
        Ok(())
    }
}

fn write_records(
    input: impl io::Read,
    out: &mut dyn Write,
    reader: Format,
    writer: Format,
    opts: &CsvOptions,
    plan: &Plan,
) -> Result<u64, ReadError> {
    let sink: RefCell<Option<RecordWriter<'_>>> = RefCell::new(None);
    let out = RefCell::new(Some(out));
    let open = |columns: &[String]| -> io::Result<()> {
        if sink.borrow().is_some() {
            return Ok(());
        }
        let Some(out) = out.borrow_mut().take() else {
            return Ok(());
        };
        *sink.borrow_mut() = Some(RecordWriter::new(writer, out, opts, columns)?);
        Ok(())
    };
    if reader != Format::Csv || !plan.columns.is_empty() {
        open(&plan.columns)?;
    }
    let mut on_record = |fields: &[(&str, records::Cell<'_>)]| -> io::Result<()> {
        match sink.borrow_mut().as_mut() {
            Some(w) => w.write(fields),
            None => Err(io::Error::other("record before the header")),
        }
    };
    let count = match reader {
        Format::Csv => {
            let mut on_header = |names: &[String]| open(names);
            records::read_csv(input, opts, plan.types.as_deref(), &mut on_header, &mut on_record)?
        }
        Format::Json => records::read_json(input, true, &mut on_record)?,
        Format::JsonLines => records::read_json(input, false, &mut on_record)?,
    };
    open(&[])?;
    if let Some(w) = sink.into_inner() {
        w.finish()?;
    }
    Ok(count)
}

fn fail(session: &mut ProcessSession, mut ff: FlowFile, why: &str) -> Result<(), ProcessError> {
    ff.set_attr(ERROR_ATTR, why);
    session.penalize(&mut ff);
    session.transfer(ff, crate::FAILURE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_engine::testing::TestRunner;

    fn runner(reader: &str, writer: &str) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "ConvertRecord");
        r.set_property("Record Reader", reader).set_property("Record Writer", writer);
        r
    }

    fn convert(r: &mut TestRunner, input: &str) -> sluice_engine::FlowFile {
        r.enqueue(input.to_string(), &[]);
        r.run(1).expect("runs");
        let mut out = r.output("success");
        assert_eq!(
            r.count("failure"),
            0,
            "{:?}",
            r.output("failure").iter().map(|f| f.attr("ConvertRecord.error").map(str::to_string)).collect::<Vec<_>>()
        );
        out.pop().expect("converted")
    }

    #[test]
    fn csv_to_json_infers_types() {
        let mut r = runner("CSV", "JSON");
        let ff = convert(&mut r, "id,price,ok,name,code,empty\n1,2.50,true,\"Smith, J\",007,\n2,3,false,Ann,12,\n");
        let v: Value = serde_json::from_str(&TestRunner::content(&ff)).expect("json");
        assert_eq!(
            v,
            json!([
                {"id": 1, "price": 2.50, "ok": true, "name": "Smith, J", "code": "007", "empty": null},
                {"id": 2, "price": 3, "ok": false, "name": "Ann", "code": "12", "empty": null}
            ])
        );
        assert!(TestRunner::content(&ff).contains("\"price\":2.50"), "digits kept: {}", TestRunner::content(&ff));
        assert_eq!(ff.attr("record.count"), Some("2"));
        assert_eq!(ff.attr("mime.type"), Some("application/json"));
    }

    #[test]
    fn json_to_csv_collects_columns_and_quotes() {
        let mut r = runner("JSON", "CSV");
        r.set_property("Value Separator", ";");
        let ff = convert(&mut r, r#"[{"a": 1, "b": "x;y"}, {"b": "say \"hi\"", "c": {"n": [1, 2]}, "a": null}]"#);
        assert_eq!(TestRunner::content(&ff), "a;b;c\n1;\"x;y\";\n;\"say \"\"hi\"\"\";\"{\"\"n\"\":[1,2]}\"\n");
        assert_eq!(ff.attr("record.count"), Some("2"));
        assert_eq!(ff.attr("mime.type"), Some("text/csv"));
    }

    #[test]
    fn json_lines_both_ways_and_no_header_csv() {
        let mut r = runner("JSON Lines", "JSON");
        let ff = convert(&mut r, "{\"a\":1}\n\n{\"a\":2}\n");
        assert_eq!(TestRunner::content(&ff), r#"[{"a":1},{"a":2}]"#);
        let mut r = runner("JSON", "JSON Lines");
        let ff = convert(&mut r, r#"{"a":1} {"a":2}"#);
        assert_eq!(TestRunner::content(&ff), "{\"a\":1}\n{\"a\":2}\n");
        let mut r = runner("CSV", "JSON Lines");
        r.set_property("Treat First Line as Header", "false").set_property("Value Separator", "\\t");
        let ff = convert(&mut r, "1\tx\n2\ty\n");
        assert_eq!(TestRunner::content(&ff), "{\"field_1\":1,\"field_2\":\"x\"}\n{\"field_1\":2,\"field_2\":\"y\"}\n");
        let mut r = runner("CSV", "CSV");
        r.set_property("Include Header Line", "false");
        let ff = convert(&mut r, "a,b\n1,\"x\"\n");
        assert_eq!(TestRunner::content(&ff), "1,x\n");
        let mut r = runner("CSV", "JSON");
        let ff = convert(&mut r, "");
        assert_eq!(TestRunner::content(&ff), "[]");
        assert_eq!(ff.attr("record.count"), Some("0"));
    }

    #[test]
    fn bad_input_goes_to_failure_unchanged() {
        for (reader, writer, input, expect) in [
            ("CSV", "JSON", "a,b\n1,2\n3\n", "fields"),
            ("CSV", "CSV", "a,b\n1,2\n3\n", "fields"),
            ("CSV", "JSON Lines", "a,a\n1,2\n", "twice"),
            ("JSON", "CSV", r#"[{"a":1},{"a":"#, "record 2"),
            ("JSON", "JSON Lines", r#"[{"a":1}, 5]"#, "object"),
            ("JSON Lines", "JSON", "{\"a\":1}\n[1]\n", "record 2"),
        ] {
            let mut r = runner(reader, writer);
            r.enqueue(input.to_string(), &[]);
            r.run(1).expect("runs");
            let failed = r.output("failure");
            assert_eq!(failed.len(), 1, "{reader} → {writer}: {input}");
            let why = failed[0].attr("ConvertRecord.error").expect("why");
            assert!(why.contains(expect), "{reader} → {writer}: {why}");
            assert_eq!(TestRunner::content(&failed[0]), input, "content unchanged");
        }
    }

    #[test]
    fn invalid_csv_options_are_reported() {
        let mut r = runner("CSV", "JSON");
        r.set_property("Value Separator", "::");
        assert!(r.validation_errors().iter().any(|e| e.contains("Value Separator")), "{:?}", r.validation_errors());
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (any::<i32>(), 0u32..1000).prop_map(|(a, b)| format!("{a}.{b:03}")),
            Just("true".to_string()),
            Just("false".to_string()),
            Just(String::new()),
            "[a-z0-9 ,;\"'\\n\\r.\\-+éß]{0,12}",
        ]
    }

    fn table() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
        (1usize..6).prop_flat_map(|cols| {
            (
                proptest::collection::hash_set("[a-zA-Z_][a-zA-Z0-9_ ,\"]{0,8}", cols)
                    .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
                proptest::collection::vec(proptest::collection::vec(cell(), cols), 1..20),
            )
        })
    }

    fn to_csv(header: &[String], rows: &[Vec<String>]) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header).expect("header");
        for r in rows {
            w.write_record(r).expect("row");
        }
        String::from_utf8(w.into_inner().expect("flush")).expect("utf8")
    }

    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        rdr.records().map(|r| r.expect("valid CSV").iter().map(str::to_string).collect()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn csv_to_json_lines_to_csv_round_trips((header, rows) in table()) {
            let input = to_csv(&header, &rows);
            let mut to_jsonl = runner("CSV", "JSON Lines");
            to_jsonl.enqueue(input.clone(), &[]);
            to_jsonl.run(1).expect("runs");
            let jsonl = to_jsonl.output("success");
            prop_assert_eq!(jsonl.len(), 1);
            let lines = TestRunner::content(&jsonl[0]);
            prop_assert_eq!(lines.lines().count(), rows.len());
            let mut back = runner("JSON Lines", "CSV");
            back.enqueue(lines.clone(), &[]);
            back.run(1).expect("runs");
            let csv_out = back.output("success");
            prop_assert_eq!(csv_out.len(), 1);
            let mut expected = vec![header.clone()];
            expected.extend(rows.iter().cloned());
            prop_assert_eq!(parse_csv(&TestRunner::content(&csv_out[0])), expected, "via {}", lines);
        }
    }
}
