//! Telling a request of the stateless era from a session's, and checking
//! what it says about itself against its headers, with the statuses and
//! codes of the 2026-07-28 transport.

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{CAPABILITIES_KEY, LOG_LEVEL_KEY, METHODS, VERSION_KEY};
use crate::{
    error::{ErrorKind, McpError},
    jsonrpc::{Envelope, RawObject},
    protocol::{ClientCaps, ProtocolVersion},
    routing::params::ParamHeader,
};

const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const SESSION_HEADER: &str = "mcp-session-id";

/// Whether the headers say the stateless era: no session, and a version
/// header naming a stateless revision (or a newer one than any with a
/// handshake). What a GET or DELETE is told by.
pub fn says_stateless(headers: &HeaderMap) -> bool {
    !headers.contains_key(SESSION_HEADER)
        && headers
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(ProtocolVersion::is_stateless_era)
}

/// Whether a POST belongs to the stateless era: its headers say so
/// ([`says_stateless`]), or, without a session, its `_meta` names a
/// version. An `initialize` without such `_meta` is a session's handshake
/// whatever the header says.
pub fn is_stateless(headers: &HeaderMap, body: &[u8]) -> bool {
    let says_meta = || contains(body, VERSION_KEY.as_bytes());
    if says_stateless(headers) {
        // A client that sends initialize opens a session.
        return says_meta() || !is_initialize(body);
    }
    !headers.contains_key(SESSION_HEADER) && says_meta() && !is_initialize(body)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn is_initialize(body: &[u8]) -> bool {
    Envelope::parse(body).is_ok_and(|e| e.method.as_deref() == Some("initialize"))
}

/// What a request of the stateless era said about itself, checked.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub version: ProtocolVersion,
    /// What the client declared it can be asked.
    pub caps: ClientCaps,
    /// Log notifications go out only when the request asks for them.
    pub log_level: Option<String>,
    /// What `Mcp-Name` named, checked equal to the body's name or URI
    /// (tools/call, prompts/get, resources/read).
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, rename = "_meta")]
    meta: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    uri: Option<&'a RawValue>,
    #[serde(borrow, rename = "taskId")]
    task_id: Option<&'a RawValue>,
}

fn missing(what: &str) -> McpError {
    McpError::new(
        ErrorKind::MissingMeta,
        format!(
            "{what}: every 2026-07-28 request carries params._meta with \"{VERSION_KEY}\" and \"{CAPABILITIES_KEY}\" (an object, {{}} for none)"
        ),
    )
}

fn mismatch(msg: String) -> McpError {
    McpError::new(ErrorKind::HeaderMismatch, msg)
}

/// A header's value, decoded from the `=?base64?…?=` form headers use for
/// values that are not plain ASCII.
fn header_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, McpError> {
    let Some(v) = headers.get(name) else { return Ok(None) };
    let text = v.to_str().map_err(|_| {
        mismatch(format!(
            "the {name} header is not ASCII: send =?base64?…?= for other values"
        ))
    })?;
    match text.strip_prefix("=?base64?").and_then(|t| t.strip_suffix("?=")) {
        None => Ok(Some(text.to_owned())),
        Some(b64) => STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| mismatch(format!("the {name} header's =?base64?…?= value is not Base64 of UTF-8"))),
    }
}

impl RequestMeta {
    /// Checks request `env` (a request, with an id) against `headers`.
    pub fn check(headers: &HeaderMap, env: &Envelope<'_>, method: &str) -> Result<Self, McpError> {
        let params: Params<'_> = match env.params {
            None => Params {
                meta: None,
                name: None,
                uri: None,
                task_id: None,
            },
            Some(p) => serde_json::from_str(p.get())
                .map_err(|_| McpError::new(ErrorKind::InvalidParams, format!("{method} params must be an object")))?,
        };
        let meta = params
            .meta
            .and_then(|m| RawObject::parse(m.get()).ok())
            .ok_or_else(|| missing("params._meta is missing"))?;
        let version: String = meta
            .get(VERSION_KEY)
            .and_then(|v| serde_json::from_str(v.get()).ok())
            .ok_or_else(|| missing(&format!("_meta[\"{VERSION_KEY}\"] is missing")))?;
        let caps = meta
            .get(CAPABILITIES_KEY)
            .and_then(|c| RawObject::parse(c.get()).ok())
            .ok_or_else(|| missing(&format!("_meta[\"{CAPABILITIES_KEY}\"] is missing")))?;
        // The header is checked against the body first: a request whose two
        // versions differ is malformed, whichever of them is served.
        match header_value(headers, VERSION_HEADER)? {
            Some(h) if h == version => {}
            Some(h) => {
                return Err(mismatch(format!(
                    "the MCP-Protocol-Version header ({h}) differs from _meta[\"{VERSION_KEY}\"] ({version})"
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "the MCP-Protocol-Version header is missing: send {version}"
                )));
            }
        }
        let Some(parsed) = ProtocolVersion::parse_stateless(&version) else {
            let supported: Vec<&str> = ProtocolVersion::STATELESS.iter().map(|v| v.as_str()).collect();
            return Err(McpError::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "Unsupported protocol version {version:?}: this gateway serves {} without a session (and {} with initialize)",
                    supported.join(", "),
                    ProtocolVersion::supported_list()
                ),
            )
            .with_data(&serde_json::json!({"supported": supported, "requested": version})));
        };
        match header_value(headers, METHOD_HEADER)? {
            Some(h) if h == method => {}
            Some(h) => {
                return Err(mismatch(format!(
                    "the Mcp-Method header ({h}) differs from the method ({method})"
                )));
            }
            None => return Err(mismatch(format!("the Mcp-Method header is missing: send {method}"))),
        }
        let named = match method {
            "tools/call" | "prompts/get" => Some(("params.name", params.name)),
            "resources/read" => Some(("params.uri", params.uri)),
            "tasks/get" | "tasks/update" | "tasks/cancel" => Some(("params.taskId", params.task_id)),
            _ => None,
        };
        let mut name = None;
        if let Some((field, value)) = named {
            let value: Option<String> = value.and_then(|v| serde_json::from_str(v.get()).ok());
            match (header_value(headers, NAME_HEADER)?, value) {
                (Some(h), Some(v)) if h == v => name = Some(v),
                (Some(h), Some(v)) => {
                    return Err(mismatch(format!(
                        "the Mcp-Name header ({h:?}) differs from {field} ({v:?})"
                    )));
                }
                (None, Some(v)) => {
                    return Err(mismatch(format!("the Mcp-Name header is missing: send {field}, {v:?}")));
                }
                (_, None) => {
                    return Err(McpError::new(
                        ErrorKind::InvalidParams,
                        format!("{method} needs {field}, a string"),
                    ));
                }
            }
        }
        if !METHODS.contains(&method) {
            return Err(McpError::new(
                ErrorKind::UnknownMethod,
                format!(
                    "Method not found: {method} is not a 2026-07-28 method (initialize, ping, logging/setLevel and resources/subscribe belong to sessions: open one with initialize and no _meta version)"
                ),
            ));
        }
        let log_level = meta.get(LOG_LEVEL_KEY).and_then(|l| serde_json::from_str(l.get()).ok());
        Ok(Self {
            version: parsed,
            caps: ClientCaps::from_names(caps.0.iter().map(|(k, _)| &*k.0)),
            log_level,
            name,
        })
    }
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its
/// arguments: every mirrored argument the body gives must come with its
/// header, equal to it (a string as it is, anything else as its JSON), the
/// header's `=?base64?…?=` form decoded first (invalid Base64 is refused;
/// a value not wrapped exactly so is taken literally).
pub fn check_params(
    headers: &HeaderMap,
    mirrored: &[ParamHeader],
    arguments: Option<&RawValue>,
) -> Result<(), McpError> {
    let Some(args) = arguments.and_then(|a| RawObject::parse(a.get()).ok()) else {
        return Ok(());
    };
    for p in mirrored {
        let Some(raw) = p.value_in(&args) else { continue };
        if raw.get() == "null" {
            continue;
        }
        let body = ParamHeader::body_text(raw);
        let name = p.header.as_str();
        let arg = p.path.join(".");
        match header_value(headers, name)? {
            Some(h) if h == body => {}
            Some(h) => {
                return Err(mismatch(format!(
                    "the {name} header ({h:?}) differs from the argument {arg:?} ({body:?})"
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "the {name} header is missing: the tool mirrors its argument {arg:?} there"
                )));
            }
        }
    }
    Ok(())
}
