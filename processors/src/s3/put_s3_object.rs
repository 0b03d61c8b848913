//! PutS3Object: writes each flowfile's content to an S3 object. Content up to the multipart
//! threshold goes in one request; larger content is streamed as a multipart upload, a part
//! at a time, so memory stays bounded (about two parts) whatever the size.

use std::io::Read;

use bytes::Bytes;
use object_store::{
    Attribute, Attributes, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, WriteMultipart,
};
use sluice_engine::{
    DynamicProperties, FlowFile, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

use super::common::{self, Clients, S3Error};
use crate::io::{block_on, runtime};

const CONTENT_TYPE: &str = "Content Type";
const THRESHOLD: &str = "Multipart Threshold";
const PART_SIZE: &str = "Multipart Part Size";

/// The smallest part S3 accepts (all parts but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;
/// Parts uploaded at once.
const CONCURRENCY: usize = 2;
const BATCH: usize = 8;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(PutS3Object::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "PutS3Object",
        "Writes the content of each flowfile to an object in Amazon S3 or an S3-compatible store, streamed: content \
         above the Multipart Threshold is sent as a multipart upload with bounded memory. Dynamic properties become \
         user metadata. Writes s3.bucket, s3.key, s3.etag, s3.version, s3.contenttype. An unreachable service makes \
         the processor yield and retry the flowfile later; other errors go to failure with s3.exception, \
         s3.statusCode, s3.errorCode and s3.errorMessage.",
    )
    .tags(&["aws", "s3", "archive", "put", "object", "storage"])
    .property(common::bucket_property())
    .property(common::key_property())
    .property(
        PropertyDescriptor::new(CONTENT_TYPE)
            .description("The Content-Type of the object; when empty, the mime.type attribute (if any)")
            .expression_language(),
    )
    .property(
        PropertyDescriptor::new(THRESHOLD)
            .description("Content larger than this is sent as a multipart upload, streamed; smaller content in one request (held in memory)")
            .required()
            .default_value("8 MB")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(PART_SIZE)
            .description("The size of each part of a multipart upload (at least 5 MB); memory use is about two parts per task")
            .required()
            .default_value("8 MB")
            .validator(Validator::DataSize),
    );
    for p in common::connection_properties() {
        d = d.property(p);
    }
    d.relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose content was written"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Flowfiles that could not be written, with s3.* error attributes",
        ))
        .dynamic(DynamicProperties {
            name_meaning: "A user metadata key of the object".into(),
            value_meaning: "Its value (expressions evaluated per flowfile)".into(),
            expression_language: true,
            creates_relationships: false,
        })
}

/// The processor.
#[derive(Default)]
pub struct PutS3Object {
    clients: Clients,
    threshold: u64,
    part_size: u64,
}

/// Why an upload failed: S3's fault (classified) or ours (reading the content).
enum UploadError {
    S3(S3Error),
    Content(ProcessError),
}

impl From<object_store::Error> for UploadError {
    fn from(e: object_store::Error) -> Self {
        UploadError::S3(S3Error::from_store(&e))
    }
}

impl PutS3Object {
    fn upload(
        &self,
        store: &dyn ObjectStore,
        session: &ProcessSession,
        ff: &FlowFile,
        path: &object_store::path::Path,
        attributes: Attributes,
    ) -> Result<PutResult, UploadError> {
        let size = ff.size();
        let mut reader = session.read(ff).map_err(UploadError::Content)?;
        if size <= self.threshold {
            let mut buf = Vec::with_capacity(size as usize);
            reader.read_to_end(&mut buf).map_err(|e| UploadError::Content(e.into()))?;
            let opts = PutOptions { attributes, ..Default::default() };
            return Ok(block_on(store.put_opts(path, PutPayload::from(Bytes::from(buf)), opts))?);
        }
        let opts = PutMultipartOptions { attributes, ..Default::default() };
        let upload = block_on(store.put_multipart_opts(path, opts))?;
        // WriteMultipart spawns each part's upload on the runtime it is entered in.
        let _entered = runtime().enter();
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size as usize);
        let mut buf = vec![0u8; 256 * 1024];
        let result: Result<(), UploadError> = (|| {
            loop {
                let n = reader.read(&mut buf).map_err(|e| UploadError::Content(e.into()))?;
                if n == 0 {
                    return Ok(());
                }
                writer.write(&buf[..n]);
                block_on(writer.wait_for_capacity(CONCURRENCY))?;
            }
        })();
        match result {
            Ok(()) => Ok(block_on(writer.finish())?),
            Err(e) => {
                let _ = block_on(writer.abort());
                Err(e)
            }
        }
    }
}

impl Processor for PutS3Object {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.clients.configure(ctx)?;
        self.part_size = ctx.data_size(PART_SIZE)?.unwrap_or(8 << 20);
        if self.part_size < MIN_PART {
            return Err(ProcessError::Config(format!("{PART_SIZE} must be at least 5 MB (S3's smallest part)")));
        }
        self.threshold = ctx.data_size(THRESHOLD)?.unwrap_or(8 << 20);
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        match ctx.data_size(PART_SIZE) {
            Ok(Some(p)) if p < MIN_PART => vec![format!("'{PART_SIZE}' must be at least 5 MB (S3's smallest part)")],
            _ => Vec::new(),
        }
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let mut batch = session.get_batch(BATCH).into_iter();
        while let Some(mut ff) = batch.next() {
            let target = common::bucket_for(ctx, Some(&ff)).and_then(|b| {
                let key = common::key_for(ctx, &ff)?;
                let path = common::object_path(&key)?;
                Ok((b, key, path))
            });
            let (bucket, key, path) = match target {
                Ok(t) => t,
                Err(e) => {
                    common::settle_error(ctx, session, ff, "PutS3Object", &e);
                    continue;
                }
            };
            let content_type = match ctx.evaluate(CONTENT_TYPE, &ff) {
                Ok(Some(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
                Ok(_) => ff.attr("mime.type").map(str::to_string),
                Err(e) => {
                    common::settle_error(ctx, session, ff, "PutS3Object", &S3Error::invalid(e.to_string()));
                    continue;
                }
            };
            let mut attributes = Attributes::new();
            if let Some(t) = &content_type {
                attributes.insert(Attribute::ContentType, t.clone().into());
            }
            let mut metadata = Vec::new();
            for (name, _) in ctx.dynamic_properties() {
                if let Ok(Some(v)) = ctx.evaluate(name, &ff) {
                    attributes.insert(Attribute::Metadata(name.to_string().into()), v.clone().into());
                    metadata.push(format!("{name}={v}"));
                }
            }
            let store = match self.clients.get(&bucket) {
                Ok(s) => s,
                Err(e) => {
                    common::settle_error(ctx, session, ff, "PutS3Object", &S3Error::invalid(e.to_string()));
                    continue;
                }
            };
            match self.upload(store.as_ref(), session, &ff, &path, attributes) {
                Ok(result) => {
                    ff.set_attr("s3.bucket", &bucket);
                    ff.set_attr("s3.key", path.as_ref());
                    if let Some(e) = &result.e_tag {
                        ff.set_attr("s3.etag", &common::clean_etag(e));
                    }
                    if let Some(v) = &result.version {
                        ff.set_attr("s3.version", v);
                    }
                    if let Some(t) = &content_type {
                        ff.set_attr("s3.contenttype", t);
                    }
                    if !metadata.is_empty() {
                        ff.set_attr("s3.usermetadata", &metadata.join(","));
                    }
                    session.mark_sent(&ff, &Clients::uri(&bucket, &key));
                    session.transfer(ff, crate::SUCCESS);
                }
                Err(UploadError::Content(e)) => return Err(e),
                Err(UploadError::S3(e)) => {
                    if common::settle_error(ctx, session, ff, &format!("putting s3://{bucket}/{key}"), &e) {
                        for rest in batch.by_ref() {
                            session.return_to_queue(rest);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
