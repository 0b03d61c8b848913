//! DeleteS3Object: deletes the S3 object named by each flowfile (by default its filename).
//! Deleting an object that does not exist succeeds, as in S3 and NiFi.

use object_store::ObjectStore;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, Registry, Relationship,
};

use super::common::{self, Clients, S3Error};
use crate::io::block_on;

const BATCH: usize = 16;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(DeleteS3Object::default()));
}

fn descriptor() -> ProcessorDescriptor {
    let mut d = ProcessorDescriptor::new(
        "DeleteS3Object",
        "Deletes an object from Amazon S3 or an S3-compatible store for each flowfile (the flowfile itself is \
         unchanged). A missing object counts as deleted. An unreachable service makes the processor yield and retry \
         later; other errors go to failure with s3.exception, s3.statusCode, s3.errorCode and s3.errorMessage.",
    )
    .tags(&["aws", "s3", "delete", "remove", "object", "storage"])
    .property(common::bucket_property())
    .property(common::key_property());
    for p in common::connection_properties() {
        d = d.property(p);
    }
    d.relationship(Relationship::new(crate::SUCCESS, "Flowfiles whose object was deleted (or did not exist)"))
        .relationship(Relationship::new(
            crate::FAILURE,
            "Flowfiles whose object could not be deleted, with s3.* error attributes",
        ))
}

/// The processor.
#[derive(Default)]
pub struct DeleteS3Object {
    clients: Clients,
}

impl Processor for DeleteS3Object {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.clients.configure(ctx)
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let mut batch = session.get_batch(BATCH).into_iter();
        while let Some(ff) = batch.next() {
            let planned = (|| {
                let bucket = common::bucket_for(ctx, Some(&ff))?;
                let key = common::key_for(ctx, &ff)?;
                let path = common::object_path(&key)?;
                let store = self.clients.get(&bucket).map_err(|e| S3Error::invalid(e.to_string()))?;
                Ok((bucket, key, path, store))
            })();
            let (bucket, key, path, store) = match planned {
                Ok(p) => p,
                Err(e) => {
                    common::settle_error(ctx, session, ff, "DeleteS3Object", &e);
                    continue;
                }
            };
            match block_on(store.delete(&path)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => session.transfer(ff, crate::SUCCESS),
                Err(e) => {
                    let err = S3Error::from_store(&e);
                    if common::settle_error(ctx, session, ff, &format!("deleting s3://{bucket}/{key}"), &err) {
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
