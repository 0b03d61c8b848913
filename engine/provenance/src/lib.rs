//! # sluice-provenance
//!
//! Sluice's provenance repository: every event that happened to every flowfile (NiFi's event
//! model), persisted in sled, searchable, with lineage graphs and retention.
//!
//! Why blocks: sled 0.34 with one key per event (plus index keys) reaches about 40,000 events/s
//! on the reference machine, far below what the engine produces. So a writer thread collects
//! events into blocks of ~1024, encodes them with a compact codec ([`codec`]), compresses them
//! with LZ4, and writes one atomic batch per block into one sled tree: the block, a small index
//! summary, an attribute Bloom filter and the durable WAL sequence number. Queries prune blocks
//! by their in-memory summaries and decode only the candidates.
//!
//! Modules: [`event`] (the data model and its JSON views), [`codec`] (binary encoding),
//! `block` (blocks, summaries, filters), [`store`] (the storage trait and sled), `writer`,
//! [`query`], [`lineage`], `retention`, [`error`].

#![warn(missing_docs)]

mod blob;
mod block;
pub mod codec;
mod config;
pub mod error;
pub mod event;
mod hash;
pub mod lineage;
pub mod query;
mod repository;
mod retention;
pub mod store;
mod writer;

pub use codec::{decode_event, decode_events, encode_event, encode_events, encode_events_into, encode_events_v1};
pub use config::ProvenanceConfig;
pub use error::ProvenanceError;
pub use event::{
    AttrMap, AttrStr, AttrsJson, ContentRef, EventDetail, EventSummary, EventType, ParseEventTypeError, ProvenanceEvent,
};
pub use lineage::{Lineage, LineageNode, MAX_LINEAGE_NODES};
pub use query::{DEFAULT_QUERY_LIMIT, Query, QueryResult};
pub use repository::{BackpressureHook, IntegrityReport, ProvenanceRepository, ProvenanceStats};
pub use store::{ProvenanceStore, ScanVisitor, SledStore, StoreBatch, StoreOp};
