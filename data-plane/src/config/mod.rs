//! The data plane's config: the snapshot it serves and the stream that keeps
//! it current.

pub mod client;
mod snapshot;

pub use snapshot::Snapshot;
