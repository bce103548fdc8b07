//! A stateless backend's own input rounds (MRTR passthrough): its
//! `input_required` result goes to a 2026-07-28 client with the
//! `inputRequests` as they are and the backend's `requestState` sealed in
//! one of the gateway's (bound to the caller, the backend, the request and
//! a deadline), so the retry, on any node, reaches the same backend with
//! the backend's state byte for byte. A client of an earlier era cannot
//! be asked so: its call fails with a clear error.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    inputs::{Call, Ticket},
    jsonrpc::{RawObject, json_str},
};

/// What sealing a stateless backend's round needs.
pub struct Passing {
    /// What the round is bound to; `None` for a client of an earlier era,
    /// which cannot answer it.
    pub digest: Option<[u8; 32]>,
    pub principal: Arc<str>,
    pub backend_id: Arc<str>,
    pub backend_name: Arc<str>,
}

/// Whether a result (raw) asks for input.
pub fn asks_input(result: &RawValue) -> bool {
    // Cheap first: most results are complete.
    result.get().contains("input_required")
        && RawObject::parse(result.get())
            .ok()
            .and_then(|r| r.get("resultType"))
            .is_some_and(|t| t.get() == r#""input_required""#)
}

impl Passing {
    /// The result the client gets for the backend's `input_required`
    /// `result`: the same, with the gateway's `requestState`; or the
    /// error a client of an earlier era gets.
    pub fn rewrite(&self, gw: &Gateway, result: &RawValue) -> Result<String, McpError> {
        let Some(digest) = &self.digest else {
            return Err(McpError::new(
                ErrorKind::BackendProtocol,
                format!(
                    "Backend '{}' asks for the client's input in an input_required round (MCP 2026-07-28), which a client of an earlier revision cannot answer through this gateway yet; call it from a 2026-07-28 client",
                    self.backend_name
                ),
            ));
        };
        let obj = RawObject::parse(result.get()).map_err(|_| {
            McpError::new(
                ErrorKind::BackendProtocol,
                format!(
                    "Backend '{}' answered with a result that is not an object",
                    self.backend_name
                ),
            )
        })?;
        let own: Option<String> = match obj.get("requestState") {
            None => None,
            Some(raw) => Some(serde_json::from_str(raw.get()).map_err(|_| {
                McpError::new(
                    ErrorKind::BackendProtocol,
                    format!(
                        "Backend '{}' gave a requestState that is not a string",
                        self.backend_name
                    ),
                )
            })?),
        };
        let ttl = gw.inputs.ttl.as_secs().max(1);
        let ticket = Ticket::new(Call::Passed(own), &self.backend_id, &self.principal, ttl);
        let state = json_str(&gw.inputs.seal(&ticket, digest));
        Ok(obj.to_string_with(&[("requestState", &state)]))
    }
}
