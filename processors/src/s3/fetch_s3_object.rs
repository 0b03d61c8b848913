//! FetchS3Object: replaces each flowfile's content with an S3 object (or a byte range of
//! it), streamed chunk by chunk into the content repository: any size, bounded memory.

use std::io::{self, Write};

use futures_util::StreamExt;
use object_store::{Attribute, GetOptions, GetRange, ObjectStore};
use parking_lot::Mutex;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship,
};

use super::common::{self, Clients, Failure, S3Error};
use crate::io::block_on;

const VERSION: &str = "Version";
const RANGE_START: &str = "Range Start";
const RANGE_LENGTH: &str = "Range Length";
const BATCH: usize = 8;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(FetchS3Object::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "FetchS3Object",
        "Replaces the content of each flowfile with an object from Amazon S3 or an S3-compatible store (or a byte \
         range of it), streamed. Writes s3.bucket, s3.etag, s3.version, s3.lastModified, s3.length, mime.type and the \
         object's user metadata. A missing object goes to failure with s3.exception NotFound, s3.statusCode 404 and \
         s3.errorCode; an unreachable service makes the processor yield and retry later.",
    )
    .tags(&["aws", "s3", "fetch", "get", "object", "storage"])
    .property(common::bucket_property())
    .property(common::key_property())
    .property(
        PropertyDescriptor::new(VERSION)
            .description("The version of the object to fetch (versioned buckets)")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(RANGE_START)
            .description("The first byte to fetch (a data size such as 0 B or 10 MB); empty = from the start")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(RANGE_LENGTH)
            .description("How many bytes to fetch from Range Start (a data size); empty = to the end")
            .expression_language(),
    );
    for p in common::connection_properties() {
        d = d.property(p);
    }
    d.relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose content was fetched")).relationship(
        Relationship::new(
            crate::FAILURE,
            "Flowfiles whose object could not be fetched (missing, denied...), with s3.* error attributes",
        ),
    )
}

/// The processor.
#[derive(Default)]
pub struct FetchS3Object {
    clients: Clients,
}

fn data_size(ctx: &ProcessContext, name: &str, ff: &sluice_engine::FlowFile) -> Result<Option<u64>, S3Error> {
    match ctx.evaluate(name, ff).map_err(|e| S3Error::invalid(e.to_string()))? {
        Some(v) if !v.trim().is_empty() => {
            sluice_engine::units::parse_data_size(&v).map(Some).map_err(|e| S3Error::invalid(format!("{name}: {e}")))
        }
        _ => Ok(None),
    }
}

impl Processor for FetchS3Object {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.clients.configure(ctx)
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let mut batch = session.get_batch(BATCH).into_iter();
        while let Some(mut ff) = batch.next() {
            let planned = (|| {
                let bucket = common::bucket_for(ctx, Some(&ff))?;
                let key = common::key_for(ctx, &ff)?;
                let path = common::object_path(&key)?;
                let version = ctx
                    .evaluate(VERSION, &ff)
                    .map_err(|e| S3Error::invalid(e.to_string()))?
                    .filter(|v| !v.trim().is_empty());
                let range = match (data_size(ctx, RANGE_START, &ff)?, data_size(ctx, RANGE_LENGTH, &ff)?) {
                    (None, None) => None,
                    (start, Some(0)) => {
                        return Err(S3Error::invalid(format!("Range Length is 0 (from {})", start.unwrap_or(0))));
                    }
                    (start, Some(len)) => Some(GetRange::Bounded(start.unwrap_or(0)..start.unwrap_or(0) + len)),
                    (Some(start), None) => Some(GetRange::Offset(start)),
                };
                let store = self.clients.get(&bucket).map_err(|e| S3Error::invalid(e.to_string()))?;
                Ok((bucket, key, path, version, range, store))
            })();
            let (bucket, key, path, version, range, store) = match planned {
                Ok(p) => p,
                Err(e) => {
                    common::settle_error(ctx, session, ff, "FetchS3Object", &e);
                    continue;
                }
            };
            let opts = GetOptions { range, version, ..Default::default() };
            let what = format!("fetching s3://{bucket}/{key}");
            let result = match block_on(store.get_opts(&path, opts)) {
                Ok(r) => r,
                Err(e) => {
                    let mut err = S3Error::from_store(&e);
                    if err.kind == Failure::NotFound && err.code.is_none() {
                        err.code = Some("NoSuchKey".into());
                    }
                    if err.kind == Failure::NotFound && err.status.is_none() {
                        err.status = Some(404);
                    }
                    if common::settle_error(ctx, session, ff, &what, &err) {
                        for rest in batch.by_ref() {
                            session.return_to_queue(rest);
                        }
                    }
                    continue;
                }
            };
            let meta = result.meta.clone();
            let attributes = result.attributes.clone();
            let mut stream = result.into_stream();
            // An S3 error while streaming is kept apart from a content-repository error.
            let stream_error: Mutex<Option<S3Error>> = Mutex::new(None);
            let written = session.write_with(&mut ff, |w: &mut dyn Write| {
                while let Some(chunk) = block_on(stream.next()) {
                    match chunk {
                        Ok(bytes) => w.write_all(&bytes)?,
                        Err(e) => {
                            let err = S3Error::from_store(&e);
                            let msg = err.message.clone();
                            *stream_error.lock() = Some(err);
                            return Err(io::Error::other(msg));
                        }
                    }
                }
                Ok(())
            });
            if let Err(e) = written {
                match stream_error.into_inner() {
                    Some(err) => {
                        if common::settle_error(ctx, session, ff, &what, &err) {
                            for rest in batch.by_ref() {
                                session.return_to_queue(rest);
                            }
                        }
                        continue;
                    }
                    None => return Err(e),
                }
            }
            ff.set_attr("s3.bucket", &bucket);
            ff.set_attr("s3.key", path.as_ref());
            ff.set_attr("s3.lastModified", &meta.last_modified.timestamp_millis().to_string());
            ff.set_attr("s3.length", &meta.size.to_string());
            if let Some(e) = &meta.e_tag {
                ff.set_attr("s3.etag", &common::clean_etag(e));
            }
            if let Some(v) = &meta.version {
                ff.set_attr("s3.version", v);
            }
            for (k, v) in attributes.iter() {
                match k {
                    Attribute::ContentType => ff.set_attr("mime.type", v.as_ref()),
                    Attribute::Metadata(name) => ff.set_attr(name.as_ref(), v.as_ref()),
                    _ => {}
                }
            }
            session.mark_fetched(&ff, &Clients::uri(&bucket, &key));
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}
