//! MCP 2026-07-28, the stateless era, in front of the one dispatch core:
//! no `initialize` and no session; every request carries its own `_meta`
//! (protocol version, client capabilities) and headers that must agree
//! with its body. A request of this era is checked here ([`meta`]), served
//! by the same dispatch as a session's request, and its answers are given
//! what the era requires of every result ([`results`]: `resultType`, the
//! server's identity, cache hints). `server/discover` ([`discover`]) says
//! what the gateway (or one virtual server) offers.
//!
//! What a backend of an earlier era asks such a client mid-call (sampling,
//! elicitation, roots) becomes an `input_required` round (see `inputs` and
//! `dispatch::relay::bridge`). `subscriptions/listen` is served by
//! `dispatch::listen`.

pub mod discover;
pub mod meta;
pub mod results;

pub use meta::{RequestMeta, is_stateless, says_stateless};

/// The methods of the stateless era a client may call.
pub const METHODS: [&str; 13] = [
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
    "subscriptions/listen",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
];

pub use crate::protocol::{CAPABILITIES_KEY, LOG_LEVEL_KEY, SERVER_INFO_KEY, VERSION_KEY};

/// The gateway as every result names it (`_meta[SERVER_INFO_KEY]`).
pub const SERVER_INFO: &str = concat!(r#"{"name":"mcpgw","version":""#, env!("CARGO_PKG_VERSION"), r#""}"#);
