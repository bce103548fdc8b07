//! mcpgw's data plane: serves MCP to clients and forwards each call to the
//! backend that owns it. Holds no durable state: its config arrives over a
//! gRPC stream from the control plane, its sessions are sealed into their ids.
//!
//! The path of one call: [`transport`] (framing, headers, session) →
//! [`auth`] → [`dispatch`] (method) → [`routing`] (name → backend, from the
//! [`config`] snapshot) → [`upstream`] (pooled MCP session) → backend, and the
//! answer relayed back with ids and progress tokens mapped.
//!
//! The layers, each using only those below it (`tests/layers.rs` checks that
//! no module uses one that uses it back, and that the fleet bus uses nothing
//! of the crate):
//!
//! ```text
//! cli            the binaries' entry points, flags
//! listen         the process's own listeners, plain or terminating TLS
//! node           the wiring: which part handles which fleet notice, the
//!                node's background tasks, the config stream to the control plane
//! transport      Streamable HTTP, /rpc, WebSocket, legacy SSE: framing, headers,
//!                the session id; hands envelopes to dispatch
//! dispatch       MCP methods: lists, routed calls, the relay of answers,
//!                answers from clients, requests outside a call
//! Gateway        the core dispatch and transports serve from (gateway.rs):
//!                snapshot, auth, sessions, backend sessions, limits, fleet bus
//! routing  session  resume  inputs
//!                names and indexes; sealed session ids, calls, subscriptions,
//!                standalone streams; resumable client streams; calls held
//!                for a stateless client's input
//! owned          the registry's own prompts, resources, templates and REST
//!                tools, compiled and answered without a backend
//! upstream       MCP client, pooled and per-client backend sessions,
//!                handshake; REST and gRPC calls
//! config  fleet  cache  auth  protocol  telemetry  jsonrpc  sse  error  seal
//!                snapshot and its changes; the bus between nodes (Redis or
//!                in-process); the response cache (memory or Redis); tokens;
//!                revisions; logs and trace spans; raw JSON-RPC; the
//!                event-stream format both ways; errors clients see; sealing
//!                with the fleet secret
//! ```

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod fleet;
mod gateway;
pub mod inputs;
pub mod jsonrpc;
pub mod listen;
pub mod metrics;
pub mod node;
pub mod owned;
pub mod protocol;
pub mod resume;
pub mod routing;
pub mod seal;
pub mod session;
pub mod sse;
pub mod stateless;
pub mod tasks;
pub mod telemetry;
pub mod transport;
pub mod upstream;

pub use gateway::{Gateway, Limits};
