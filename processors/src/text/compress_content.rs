//! CompressContent: compresses or decompresses content with gzip, deflate (zlib) or zstd,
//! streamed; corrupt input goes to failure.

use std::fmt;
use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship,
};

const MODE: &str = "Mode";
const FORMAT: &str = "Compression Format";
const LEVEL: &str = "Compression Level";
const UPDATE_FILENAME: &str = "Update Filename";
const COMPRESS: &str = "compress";
const DECOMPRESS: &str = "decompress";
const USE_MIME: &str = "use mime.type attribute";
const MIME: &str = "mime.type";

/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "CompressContent.error";
/// Flowfiles handled per trigger.
const BATCH: usize = 20;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(CompressContent::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let levels: Vec<(&str, &str)> =
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"].iter().map(|l| (*l, "")).collect();
    ProcessorDescriptor::new(
        "CompressContent",
        "Compresses or decompresses the content of flowfiles (streamed, any size) with gzip, deflate (zlib) or zstd; the format \
         can also come from the mime.type attribute. Sets mime.type when compressing and removes it when decompressing.",
    )
    .tags(&["content", "compress", "decompress", "gzip", "zstd", "deflate", "zlib"])
    .property(
        PropertyDescriptor::new(MODE)
            .description("Whether to compress or decompress")
            .required()
            .default_value(COMPRESS)
            .allowable(&[(COMPRESS, "compress the content"), (DECOMPRESS, "decompress the content")]),
    )
    .property(
        PropertyDescriptor::new(FORMAT)
            .description("The compression format")
            .required()
            .default_value(USE_MIME)
            .allowable(&[
                (USE_MIME, "the format named by the mime.type attribute (application/gzip, application/x-gzip, application/deflate, application/x-deflate, application/zstd); flowfiles without it go to failure, those with another type pass through unchanged"),
                ("gzip", "gzip (RFC 1952); concatenated members are decompressed as one"),
                ("deflate", "zlib-wrapped deflate (RFC 1950), as Java's DeflaterOutputStream"),
                ("zstd", "Zstandard"),
            ]),
    )
    .property(
        PropertyDescriptor::new(LEVEL)
            .description("Compression level, 0 (fastest) to 9 (smallest); zstd uses twice this value (0 = zstd's default)")
            .required()
            .default_value("1")
            .allowable(&levels)
            .depends_on(MODE, &[COMPRESS]),
    )
    .property(
        PropertyDescriptor::new(UPDATE_FILENAME)
            .description("Add the format's extension (.gz, .zlib, .zst) to filename when compressing, remove it when decompressing")
            .required()
            .default_value("false")
            .allowable(&[("true", ""), ("false", "")]),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles compressed or decompressed (or passed through, see the format)"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles that could not be processed: corrupt or truncated compressed data, or no mime.type when the format comes from it; \
         CompressContent.error says why",
    ))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Gzip,
    Deflate,
    Zstd,
}

impl Format {
    fn from_mime(mime: &str) -> Option<Format> {
        match mime.trim().to_ascii_lowercase().as_str() {
            "application/gzip" | "application/x-gzip" => Some(Format::Gzip),
            "application/deflate" | "application/x-deflate" => Some(Format::Deflate),
            "application/zstd" => Some(Format::Zstd),
            _ => None,
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Format::Gzip => "application/gzip",
            Format::Deflate => "application/deflate",
            Format::Zstd => "application/zstd",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Gzip => ".gz",
            Format::Deflate => ".zlib",
            Format::Zstd => ".zst",
        }
    }
}

/// The processor.
#[derive(Default)]
pub struct CompressContent {
    decompress: bool,
    format: Option<Format>,
    level: u32,
    update_filename: bool,
}

/// An error of the content repository (reading the input or writing the output), as
/// opposed to an error of the codec: the first rolls back, the second is bad input.
#[derive(Debug)]
struct RepoError(io::Error);

impl fmt::Display for RepoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RepoError {}

fn tag(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), RepoError(e))
}

struct TagRead<R>(R);

impl<R: Read> Read for TagRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(tag)
    }
}

struct TagWrite<W>(W);

impl<W: Write> Write for TagWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(tag)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(tag)
    }
}

impl Processor for CompressContent {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.decompress = ctx.property(MODE) == Some(DECOMPRESS);
        self.format = match ctx.property(FORMAT).unwrap_or(USE_MIME) {
            "gzip" => Some(Format::Gzip),
            "deflate" => Some(Format::Deflate),
            "zstd" => Some(Format::Zstd),
            _ => None,
        };
        self.level = ctx.int(LEVEL)?.unwrap_or(1).clamp(0, 9) as u32;
        self.update_filename = ctx.bool(UPDATE_FILENAME)?.unwrap_or(false);
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            let format = match self.format {
                Some(f) => f,
                None => match ff.attr(MIME) {
                    None => {
                        ff.set_attr(ERROR_ATTR, "no mime.type attribute to choose the compression format");
                        session.transfer(ff, crate::FAILURE);
                        continue;
                    }
                    Some(m) => match Format::from_mime(m) {
                        Some(f) => f,
                        None => {
                            tracing::debug!(target: "sluice::CompressContent", component = %ctx.id, "mime.type '{m}' is not a compression format; passed through");
                            session.transfer(ff, crate::SUCCESS);
                            continue;
                        }
                    },
                },
            };
            let input = TagRead(session.read(&ff)?);
            let (decompress, level) = (self.decompress, self.level);
            // Codec errors (corrupt data) are bad input; repository errors roll back.
            let mut codec_error: Option<String> = None;
            let result = session.write_with(&mut ff, |w| {
                let out = TagWrite(io::BufWriter::with_capacity(64 * 1024, w));
                let r = if decompress { decode(format, input, out) } else { encode(format, level, input, out) };
                match r {
                    Err(e) if e.get_ref().is_none_or(|i| !i.is::<RepoError>()) => {
                        codec_error = Some(e.to_string());
                        Err(e)
                    }
                    other => other,
                }
            });
            if let Some(why) = codec_error {
                ff.set_attr(
                    ERROR_ATTR,
                    &format!("cannot {} {format:?} data: {why}", if self.decompress { DECOMPRESS } else { COMPRESS }),
                );
                session.transfer(ff, crate::FAILURE);
                continue;
            }
            result?;
            let filename = ff.attr("filename").unwrap_or_default().to_string();
            if self.decompress {
                ff.remove_attr(MIME);
                if self.update_filename && filename.to_ascii_lowercase().ends_with(format.extension()) {
                    ff.set_attr("filename", &filename[..filename.len() - format.extension().len()]);
                }
            } else {
                ff.set_attr(MIME, format.mime());
                if self.update_filename {
                    ff.set_attr("filename", &format!("{filename}{}", format.extension()));
                }
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}

fn encode(format: Format, level: u32, mut input: impl Read, out: impl Write) -> io::Result<()> {
    match format {
        Format::Gzip => {
            let mut e = GzEncoder::new(out, Compression::new(level));
            io::copy(&mut input, &mut e)?;
            e.finish()?.flush()
        }
        Format::Deflate => {
            let mut e = ZlibEncoder::new(out, Compression::new(level));
            io::copy(&mut input, &mut e)?;
            e.finish()?.flush()
        }
        Format::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(out, (level * 2) as i32)?;
            io::copy(&mut input, &mut e)?;
            e.finish()?.flush()
        }
    }
}

fn decode(format: Format, input: impl Read, mut out: impl Write) -> io::Result<()> {
    let mut d: Box<dyn Read> = match format {
        Format::Gzip => Box::new(MultiGzDecoder::new(io::BufReader::with_capacity(64 * 1024, input))),
        Format::Deflate => Box::new(ZlibDecoder::new(io::BufReader::with_capacity(64 * 1024, input))),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
    };
    io::copy(&mut d, &mut out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn run(props: &[(&str, &str)], content: Vec<u8>, attrs: &[(&str, &str)]) -> TestRunner {
        let mut r = TestRunner::new(crate::registry(), "CompressContent");
        for (k, v) in props {
            r.set_property(k, v);
        }
        r.enqueue(content, attrs);
        r.run(1).unwrap();
        r
    }

    #[test]
    fn round_trip_every_format_with_mime_and_filename() {
        let data: Vec<u8> = "hello compression ".repeat(20_000).into_bytes();
        for fmt in ["gzip", "deflate", "zstd"] {
            let mut r =
                run(&[(FORMAT, fmt), (LEVEL, "6"), (UPDATE_FILENAME, "true")], data.clone(), &[("filename", "a.txt")]);
            let c = r.output(crate::SUCCESS).remove(0);
            assert!(c.size() < data.len() as u64 / 10, "{fmt}: {}", c.size());
            let mime = c.attr(MIME).unwrap().to_string();
            let name = c.attr("filename").unwrap().to_string();
            assert!(name.starts_with("a.txt."), "{name}");
            // Decompress choosing the format from mime.type.
            let bytes = c.content.to_bytes().unwrap().to_vec();
            let mut d =
                run(&[(MODE, DECOMPRESS), (UPDATE_FILENAME, "true")], bytes, &[(MIME, &mime), ("filename", &name)]);
            let out = d.output(crate::SUCCESS).remove(0);
            assert_eq!(out.content.to_bytes().unwrap().to_vec(), data, "{fmt}");
            assert_eq!(out.attr(MIME), None);
            assert_eq!(out.attr("filename"), Some("a.txt"));
        }
    }

    #[test]
    fn gzip_matches_the_gzip_tool_format() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"one ").unwrap();
        let mut both = e.finish().unwrap();
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"two").unwrap();
        both.extend(e.finish().unwrap());
        let mut r = run(&[(MODE, DECOMPRESS), (FORMAT, "gzip")], both, &[]);
        assert_eq!(TestRunner::content(&r.output(crate::SUCCESS)[0]), "one two");
    }

    #[test]
    fn corrupt_input_goes_to_failure_unchanged() {
        for fmt in ["gzip", "deflate", "zstd"] {
            let mut r = run(&[(MODE, DECOMPRESS), (FORMAT, fmt)], b"this is not compressed at all".to_vec(), &[]);
            let f = r.output(crate::FAILURE);
            assert_eq!(f.len(), 1, "{fmt}");
            assert!(f[0].attr(ERROR_ATTR).unwrap().contains("cannot decompress"), "{fmt}");
            assert_eq!(TestRunner::content(&f[0]), "this is not compressed at all");
        }
        // Truncated gzip.
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(&[7u8; 10_000]).unwrap();
        let mut gz = e.finish().unwrap();
        gz.truncate(gz.len() / 2);
        let mut r = run(&[(MODE, DECOMPRESS), (FORMAT, "gzip")], gz, &[]);
        assert_eq!(r.count(crate::FAILURE), 1);
    }

    #[test]
    fn mime_type_driven_edge_cases() {
        let mut r = run(&[(MODE, DECOMPRESS)], b"x".to_vec(), &[]);
        assert!(r.output(crate::FAILURE)[0].attr(ERROR_ATTR).unwrap().contains("no mime.type"));
        let mut r = run(&[(MODE, DECOMPRESS)], b"x".to_vec(), &[(MIME, "text/plain")]);
        assert_eq!(TestRunner::content(&r.output(crate::SUCCESS)[0]), "x");
    }
}
