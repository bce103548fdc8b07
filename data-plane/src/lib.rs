//! mcpgw's data plane: serves MCP to clients and forwards each call to the
//! backend that owns it. Holds no durable state: its config arrives over a
//! gRPC stream from the control plane, its sessions are sealed into their ids.
//!
//! The path of one call: [`transport`] (framing, headers, session) →
//! [`auth`] → [`dispatch`] (method) → [`routing`] (name → backend, from the
//! [`config`] snapshot) → [`upstream`] (pooled MCP session) → backend, and the
//! answer relayed back with ids and progress tokens mapped.

pub mod auth;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod fleet;
mod gateway;
pub mod jsonrpc;
pub mod node;
pub mod protocol;
pub mod resume;
pub mod routing;
pub mod session;
pub mod sse;
pub mod transport;
pub mod upstream;

pub use gateway::{Gateway, Limits};
