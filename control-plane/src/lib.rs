//! mcpgw's control plane: the registry (SQLite or Postgres), the gRPC admin
//! API, discovery of what backends offer, and config distribution to data
//! planes. Also home of the `mcpgw` CLI.

pub mod admin;
pub mod cli;
pub mod discovery;
pub mod distribute;
pub mod error;
pub mod registry;
pub mod server;
