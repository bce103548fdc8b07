//! Discovery: what a backend offers, learned by speaking MCP to it.

pub mod grpc;
pub mod health;
pub mod openapi;
pub mod relist;
pub mod watch;

use std::sync::Arc;

use mcpgw_data_plane::{
    cache::hint::{ListHints, ListKind},
    jsonrpc::RawObject,
    routing::params,
    upstream::{
        Link, LinkError, McpHttpClient, UpstreamError, UpstreamSession, channel::StdioCommand, link::Connector,
    },
};
use mcpgw_proto::v1::{BackendTransport, ItemKind};
use serde::Deserialize;

use crate::registry::{BackendRow, DiscoveredItem, Discovery};

/// The fields discovery reads of any listed item; the rest is kept raw.
#[derive(Deserialize)]
struct ItemHead {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(rename = "uriTemplate", default)]
    uri_template: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// One MCP list per item kind: the capability that announces it, its method,
/// the key of its array, and the field that names an entry.
struct Listing {
    kind: ItemKind,
    capability: &'static str,
    method: &'static str,
    key: &'static str,
    what: &'static str,
}

const LISTINGS: [Listing; 4] = [
    Listing {
        kind: ItemKind::Tool,
        capability: "tools",
        method: "tools/list",
        key: "tools",
        what: "Tool",
    },
    Listing {
        kind: ItemKind::Prompt,
        capability: "prompts",
        method: "prompts/list",
        key: "prompts",
        what: "Prompt",
    },
    Listing {
        kind: ItemKind::Resource,
        capability: "resources",
        method: "resources/list",
        key: "resources",
        what: "Resource",
    },
    Listing {
        kind: ItemKind::ResourceTemplate,
        capability: "resources",
        method: "resources/templates/list",
        key: "resourceTemplates",
        what: "ResourceTemplate",
    },
];

/// How to reach a registered backend: its URL, TLS settings and opened
/// credentials.
pub fn link_of(connector: &Connector, b: &BackendRow) -> Result<Arc<Link>, LinkError> {
    connector.link(&b.id, &b.url, &b.connection.tls(), &b.connection.sealed_secrets)
}

/// How to reach a registered stdio or WebSocket backend (its channel
/// opens on first use).
pub fn channel_link_of(connector: &Connector, b: &BackendRow) -> Result<Arc<Link>, LinkError> {
    let c = &b.connection;
    match c.stdio() {
        Some(s) if b.transport == "stdio" => {
            let command = StdioCommand {
                command: s.command,
                args: s.args,
                cwd: s.cwd,
            };
            connector.stdio_link(&b.id, &b.name, command, &c.sealed_secrets)
        }
        _ => connector.websocket_link(&b.id, &b.name, &b.url, &c.tls(), &c.sealed_secrets),
    }
}

/// Opens a channel backend's channel (starts a stdio command, connects a
/// WebSocket), runs `initialize` and lists everything it declares; the
/// channel ends when `link` is dropped. `transport` is what is stored.
#[tracing::instrument(name = "discovery", skip_all, fields(otel.kind = "client", transport))]
pub async fn discover_channel(link: &Link, transport: &str) -> Result<Discovery, UpstreamError> {
    let channel = link.channel.as_ref().expect("a channel link");
    let session = channel.session().await?;
    let (items, hints) = list_everything(&link.client, &session).await?;
    Ok(Discovery {
        transport: transport.into(),
        protocol_version: session.server.protocol_version.clone(),
        server_name: session.server.name.clone(),
        server_version: session.server.version.clone(),
        items,
        list_hints: list_hints(&hints),
        peer_gateway_id: session.server.gateway_id.clone().unwrap_or_default(),
        offered_peers: offered_peers(&session.server.peers),
    })
}

/// The peers a gateway offered, as stored (empty for none).
fn offered_peers(peers: &[mcpgw_data_plane::protocol::OfferedPeer]) -> String {
    if peers.is_empty() {
        return String::new();
    }
    serde_json::to_string(peers).expect("peers serialize")
}

/// A backend's list hints, as stored (empty for none: every backend of an
/// earlier era).
fn list_hints(hints: &ListHints) -> String {
    if hints.is_empty() {
        return String::new();
    }
    serde_json::to_string(hints).expect("hints serialize")
}

/// Which transport to reach a backend by; `None` detects it: Streamable
/// HTTP first, then the 2024-11-05 HTTP+SSE transport.
pub type Transport = Option<BackendTransport>;

/// Connects to the MCP server at `url`, learns what it is (`initialize`,
/// else `server/discover` for the stateless era), and lists every page of
/// everything it declares: tools, prompts, resources and templates.
#[tracing::instrument(name = "discovery", skip_all, fields(otel.kind = "client", transport = ?transport))]
pub async fn discover(client: &McpHttpClient, url: &str, transport: Transport) -> Result<Discovery, UpstreamError> {
    let (session, transport) = match transport {
        Some(BackendTransport::Sse) => (client.open_legacy_session(url).await?, "sse"),
        Some(_) => (open_streamable(client, url).await?, "streamable_http"),
        None => match open_streamable(client, url).await {
            Ok(s) => (s, "streamable_http"),
            // Not Streamable HTTP there: perhaps the older transport.
            Err(e @ (UpstreamError::NotMcp { .. } | UpstreamError::Http { .. })) => {
                match client.open_legacy_session(url).await {
                    Ok(s) => (s, "sse"),
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        },
    };
    let listed = list_everything(client, &session).await;
    client.terminate(&session).await;
    let (items, hints) = listed?;
    Ok(Discovery {
        transport: transport.into(),
        protocol_version: session.server.protocol_version.clone(),
        server_name: session.server.name.clone(),
        server_version: session.server.version.clone(),
        items,
        list_hints: list_hints(&hints),
        peer_gateway_id: session.server.gateway_id.clone().unwrap_or_default(),
        offered_peers: offered_peers(&session.server.peers),
    })
}

/// A Streamable HTTP backend in the era it is best called in: a session
/// after `initialize` wherever it offers one, else statelessly (MCP
/// 2026-07-28) when it answers `server/discover` with that revision.
/// A server of both eras stays in sessions: a tool written for sessions
/// (one that asks through its session object, as the Python SDK's
/// `ctx.session.create_message` does) fails when called statelessly,
/// while in a session every tool works, including those written for the
/// stateless era (the SDKs send their questions as requests then, and
/// the gateway turns them into input rounds for stateless clients).
async fn open_streamable(client: &McpHttpClient, url: &str) -> Result<UpstreamSession, UpstreamError> {
    let refused = match client.initialize(url).await {
        Ok(s) => return Ok(s),
        // Nothing there, or not let in: no other request would fare better.
        Err(
            e @ (UpstreamError::Unreachable { .. } | UpstreamError::Timeout { .. } | UpstreamError::Credentials { .. }),
        ) => {
            return Err(e);
        }
        Err(e) => e,
    };
    match client.discover(url).await {
        Ok(s) => Ok(s),
        // Neither era's handshake: what initialize said is the better clue.
        Err(e) => {
            tracing::debug!(%url, error = %e, "not of the stateless era either");
            Err(refused)
        }
    }
}

/// Every item the backend declares, and the caching hints of its lists.
async fn list_everything(
    client: &McpHttpClient,
    session: &UpstreamSession,
) -> Result<(Vec<DiscoveredItem>, ListHints), UpstreamError> {
    let not_mcp = |reason: String| UpstreamError::NotMcp {
        url: session.url.clone(),
        reason,
    };
    let mut items: Vec<DiscoveredItem> = Vec::new();
    let mut hints = ListHints::default();
    for listing in &LISTINGS {
        // A server without the capability is not asked; templates are optional
        // even for servers with resources.
        if !session.server.offers(listing.capability) {
            continue;
        }
        let (raw, hint) = match client.list_all(session, listing.method, listing.key).await {
            Err(UpstreamError::Rpc { code: -32601, .. }) if listing.kind == ItemKind::ResourceTemplate => continue,
            r => r?,
        };
        *hints.of_mut(ListKind::of(listing.kind).expect("every listing is of a list")) = hint;
        let first = items.len();
        for (i, raw) in raw.iter().enumerate() {
            let bad = |why: String| not_mcp(format!("{} #{i} in its {} {why}", listing.what, listing.method));
            let head: ItemHead = serde_json::from_str(raw.get()).map_err(|e| bad(format!("is not an object: {e}")))?;
            let name = match listing.kind {
                ItemKind::Resource => head.uri,
                ItemKind::ResourceTemplate => head.uri_template,
                _ => head.name,
            };
            let name = name.ok_or_else(|| bad("lacks the field that names it".into()))?;
            // Stored compact but otherwise exactly as sent: member order and values untouched.
            let obj = RawObject::parse(raw.get()).map_err(|e| bad(format!("is not an object: {e}")))?;
            // A client MUST drop a tool whose header annotations break the
            // rules (MCP 2026-07-28): served, it could not be called right.
            if listing.kind == ItemKind::Tool
                && let Err(why) = params::of_definition(raw.get())
            {
                tracing::warn!(backend = %session.url, tool = %name, "tool left out: {why}");
                continue;
            }
            if items[first..].iter().any(|t| t.name == name) {
                return Err(not_mcp(format!("its {} lists {name:?} twice", listing.method)));
            }
            items.push(DiscoveredItem {
                kind: listing.kind,
                name,
                description: head.description.unwrap_or_default(),
                definition_json: obj.to_string_with(&[]),
            });
        }
    }
    Ok((items, hints))
}
