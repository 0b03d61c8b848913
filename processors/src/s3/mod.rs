//! s3 processors: ListS3, FetchS3Object, PutS3Object and DeleteS3Object, for Amazon S3 and
//! S3-compatible stores (MinIO, Ceph, moto...), with NiFi's names, properties and attributes.
//! They use the `object_store` crate on the shared I/O runtime; content is streamed both
//! ways (multipart uploads for large content).

use sluice_engine::Registry;

pub mod common;
pub mod delete_s3_object;
pub mod fetch_s3_object;
pub mod list_s3;
pub mod put_s3_object;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    list_s3::register(registry);
    fetch_s3_object::register(registry);
    put_s3_object::register(registry);
    delete_s3_object::register(registry);
}
