//! `mcpgw-bench`: the repo's own benchmark. Each scenario measures the direct
//! path and the gateway in the same run, prints a table and writes JSON.

pub mod backend;
pub mod loadgen;
pub mod procstat;
pub mod report;
mod scenarios;

pub use scenarios::{Bench, Scale};
