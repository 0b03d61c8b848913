//! Content and text processors: search and replace, split and merge, route and extract
//! by content, compress, hash, duplicate and log.

use sluice_engine::Registry;

pub mod common;
pub mod lines;
pub mod spool;

pub mod compress_content;
pub mod cryptographic_hash_content;
pub mod duplicate_flowfile;
pub mod extract_text;
pub mod log_message;
pub mod merge_content;
pub mod replace_text;
pub mod route_on_content;
pub mod route_text;
pub mod split_text;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    compress_content::register(registry);
    cryptographic_hash_content::register(registry);
    duplicate_flowfile::register(registry);
    extract_text::register(registry);
    log_message::register(registry);
    merge_content::register(registry);
    replace_text::register(registry);
    route_on_content::register(registry);
    route_text::register(registry);
    split_text::register(registry);
}
