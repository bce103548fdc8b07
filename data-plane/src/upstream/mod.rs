//! Talking to backends as an MCP client: one HTTP client per process (one
//! per backend with TLS settings of its own), each backend's credentials,
//! and one pooled and self-healing MCP session per backend.

pub mod channel;
mod client;
pub mod endpoints;
mod events;
pub mod grpc;
mod handshake;
mod legacy;
pub mod link;
mod pool;
pub mod rest;
pub mod secrets;
pub mod stateless;

pub use client::{McpHttpClient, Outgoing, ServerInfo, UpstreamSession};
pub use endpoints::{BreakerPolicy, Endpoint, Endpoints};
pub use events::EventStream;
pub use link::{Link, LinkError, TlsSettings};
pub use pool::{Held, InFlight, Outside, Owner, ResourceUpdated, Sent, UpstreamPool};

/// How a backend reached over HTTP is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Streamable HTTP, in sessions opened with `initialize`.
    #[default]
    Session,
    /// The 2024-11-05 HTTP+SSE transport: a session per call.
    Sse,
    /// The stateless era (2026-07-28): no session, each request on its own.
    Stateless,
}

impl Dialect {
    /// The dialect of a backend registered with the HTTP+SSE transport
    /// (`sse`) or not, whose discovery found `protocol_version`.
    pub fn of(sse: bool, protocol_version: &str) -> Self {
        match (sse, crate::protocol::ProtocolVersion::parse_stateless(protocol_version)) {
            (true, _) => Self::Sse,
            (false, Some(_)) => Self::Stateless,
            (false, None) => Self::Session,
        }
    }
}

/// Why a backend could not answer, worded for the person operating the gateway.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach backend at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("backend at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("backend at {url} answered HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("backend at {url} no longer knows its MCP session (HTTP 404)")]
    SessionExpired { url: String },
    #[error("{url} does not speak MCP: {reason}")]
    NotMcp { url: String, reason: String },
    #[error("backend at {url} already has {limit} calls in flight from this node")]
    Saturated { url: String, limit: usize },
    #[error("this node already holds {limit} backend sessions of clients' own, all in use")]
    TooManyOwned { limit: usize },
    #[error("cannot authenticate to backend at {url}: {reason}")]
    Credentials { url: String, reason: String },
    #[error("backend at {url} returned JSON-RPC error {code}: {message}")]
    Rpc { url: String, code: i64, message: String },
}

/// A response body read whole, or `None` once it is over `max` bytes (a
/// backend's answer never grows the gateway's memory past a bound).
pub(crate) async fn read_capped(res: &mut reqwest::Response, max: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > max {
            return Ok(None);
        }
    }
    Ok(Some(body))
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
