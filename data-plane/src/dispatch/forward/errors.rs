//! What a client is told when its request could not reach its backend:
//! the backend's name, what the request was for, what went wrong in words a
//! person can act on, and the error kind that fixes its code.

use crate::{
    error::{ErrorKind, McpError},
    upstream::UpstreamError,
};

/// The client's error for `e`, met forwarding `what` to backend `backend`.
pub fn backend_error(backend: &str, what: &dyn std::fmt::Display, e: UpstreamError) -> McpError {
    let (kind, why) = match &e {
        UpstreamError::Timeout { secs, .. } => (ErrorKind::BackendTimeout, format!("did not answer within {secs} s")),
        UpstreamError::NotMcp { .. } => (
            ErrorKind::BackendProtocol,
            "answered with something that is not MCP".into(),
        ),
        UpstreamError::Http { status, .. } => (ErrorKind::BackendUnavailable, format!("answered HTTP {status}")),
        UpstreamError::TooManyOwned { limit } => (
            ErrorKind::BackendUnavailable,
            format!("cannot get a session of this client's own: this gateway node holds {limit}, all in use"),
        ),
        UpstreamError::Saturated { limit, .. } => (
            ErrorKind::BackendUnavailable,
            format!("already has {limit} calls in flight from this gateway node"),
        ),
        UpstreamError::Credentials { .. } => (
            ErrorKind::BackendUnavailable,
            "cannot be authenticated to (the gateway could not get its credentials)".into(),
        ),
        UpstreamError::Unreachable { .. } | UpstreamError::SessionExpired { .. } | UpstreamError::Rpc { .. } => (
            ErrorKind::BackendUnavailable,
            "is unavailable (the gateway could not reach it)".into(),
        ),
    };
    McpError::new(
        kind,
        format!(
            "Backend '{backend}' of {what} {why}; try again later, or ask the gateway operator to check the backend"
        ),
    )
}
