//! The data plane's config: the snapshot it serves, and what changes
//! between two snapshots in the lists clients see. (The stream that keeps it
//! current is the node's: `node::config_stream`.)

pub mod changes;
mod snapshot;

pub use snapshot::Snapshot;
