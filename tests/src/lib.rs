//! Shared pieces of mcpgw's end-to-end tests: fixture servers, a harness that
//! runs the real `mcpgw` binary, and clients.

pub mod bench;
pub mod clients;
pub mod fixture;
pub mod harness;
pub mod matrix;
pub mod otlp;
pub mod postgres_tls;
pub mod proxy;
pub mod tls;
