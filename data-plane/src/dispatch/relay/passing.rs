//! A stateless backend's own input rounds (MRTR passthrough): its
//! `input_required` result goes to a 2026-07-28 client with the
//! `inputRequests` as they are and the backend's `requestState` sealed in
//! one of the gateway's (bound to the caller, the backend, the request and
//! a deadline), so the retry, on any node, reaches the same backend with
//! the backend's state byte for byte. For a client of an earlier era that
//! can be asked, the round goes on to the gateway, which asks it itself
//! (see `dispatch::forward::asking`); one that cannot be asked gets a clear
//! error.

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
    pub rounds: Rounds,
    pub principal: Arc<str>,
    pub backend_id: Arc<str>,
    pub backend_name: Arc<str>,
}

/// Who answers a stateless backend's input rounds.
pub enum Rounds {
    /// A 2026-07-28 client, retrying with a state sealed for the request
    /// with this digest.
    Sealed([u8; 32]),
    /// The gateway, asking a client of an earlier era: the result is
    /// relayed unchanged, to the gateway's own rounds.
    Asked,
    /// Nobody: a client of an earlier era that declared it answers nothing.
    Refused,
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
    /// `result`: the same, with the gateway's `requestState` (or unchanged,
    /// for the gateway to ask); or the error a client that cannot be asked
    /// gets.
    pub fn rewrite(&self, gw: &Gateway, result: &RawValue) -> Result<String, McpError> {
        let digest = match &self.rounds {
            Rounds::Sealed(digest) => digest,
            Rounds::Asked => return Ok(result.get().to_owned()),
            Rounds::Refused => {
                return Err(McpError::new(
                    ErrorKind::BackendProtocol,
                    format!(
                        "Backend '{}' asks for the client's input (an input_required round), and this client's session declared it answers none of sampling, elicitation and roots",
                        self.backend_name
                    ),
                ));
            }
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
