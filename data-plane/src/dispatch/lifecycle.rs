//! `initialize`: version negotiation and the start of a sealed session.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    Gateway,
    auth::Principal,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr, RawObject},
    protocol::ProtocolVersion,
    session::{ClientCaps, Session},
};

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(rename = "protocolVersion", borrow)]
    protocol_version: CowStr<'a>,
    #[serde(borrow, default)]
    capabilities: Option<&'a RawValue>,
}

/// Answers `initialize`: the response message, the new session and its id.
pub fn initialize(
    gw: &Gateway,
    principal: Principal,
    server: Option<Arc<str>>,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Result<(Vec<u8>, Session, String), McpError> {
    let params: InitializeParams<'_> = params.and_then(|p| serde_json::from_str(p.get()).ok()).ok_or_else(|| {
        McpError::new(
            ErrorKind::InvalidParams,
            format!(
                "initialize needs params.protocolVersion, a string such as \"{}\"",
                ProtocolVersion::LATEST
            ),
        )
        .with_id(Some(id))
    })?;
    let version = ProtocolVersion::negotiate(&params.protocol_version);
    let declared = params.capabilities.and_then(|c| RawObject::parse(c.get()).ok());
    let caps = ClientCaps::from_names(declared.iter().flat_map(|o| o.0.iter().map(|(k, _)| &*k.0)));
    let (session, session_id) = gw.sessions.start(version, principal, caps, server);
    gw.metrics.session_started(version);
    // The gateway's id (its registry's) is declared, so another mcpgw that
    // registers this one knows it for a peer (see `protocol::VIA`), and,
    // when the fleet shares them, its own peers.
    let snapshot = gw.snapshot.load();
    let mut gateway = format!("{{\"id\":{}", jsonrpc::json_str(&snapshot.epoch));
    if let Some(peers) = snapshot.shared_peers() {
        gateway.push_str(",\"peers\":");
        gateway.push_str(&serde_json::to_string(&peers).expect("peers serialize"));
    }
    gateway.push('}');
    let result = format!(
        concat!(
            r#"{{"protocolVersion":"{}","capabilities":{{"tools":{{"listChanged":true}},"#,
            r#""prompts":{{"listChanged":true}},"resources":{{"subscribe":true,"listChanged":true}},"#,
            r#""completions":{{}},"logging":{{}},"experimental":{{"{}":{}}}}},"#,
            r#""serverInfo":{{"name":"mcpgw","version":"{}"}},"#,
            r#""instructions":"mcpgw gateway: the tools, prompts and resources of every registered backend; tools and prompts are named <backend><separator><name>."}}"#
        ),
        version,
        crate::protocol::GATEWAY_CAPABILITY,
        gateway,
        env!("CARGO_PKG_VERSION")
    );
    Ok((jsonrpc::result_response(id, &result), session, session_id))
}
