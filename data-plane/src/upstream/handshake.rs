//! The MCP handshake from the gateway's side: the `initialize` request it
//! sends (declaring every client capability it can relay), the session the
//! server's answer opens, and `notifications/initialized`. Streamable HTTP
//! runs it here; the 2024-11-05 HTTP+SSE transport runs the same messages
//! over its stream (see `legacy`).

use std::sync::{Arc, atomic::AtomicU64};

use http::HeaderValue;
use serde::Deserialize;

use super::{
    EventStream, McpHttpClient, ServerInfo, UpstreamError, UpstreamSession,
    channel::Pipe,
    client::{SESSION_HEADER, rpc_result},
};
use crate::{
    jsonrpc,
    protocol::{ClientCaps, ProtocolVersion},
};

/// The gateway's `initialize` request (id 0), declaring what the clients
/// of the session answer: `caps` for a session of clients with those
/// (a client's own, or the one 2026-07-28 clients with them share, so a
/// backend that checks asks only what they answer); without, every client
/// capability the gateway can relay (whether a given client can answer is
/// checked when a backend asks it).
pub(super) fn initialize_request(caps: Option<ClientCaps>) -> Vec<u8> {
    let declared = caps.unwrap_or(ClientCaps::ALL).to_json();
    let params = format!(
        r#"{{"protocolVersion":"{}","capabilities":{declared},"clientInfo":{{"name":"mcpgw","version":"{}"}}}}"#,
        ProtocolVersion::LATEST,
        env!("CARGO_PKG_VERSION")
    );
    jsonrpc::request("0", "initialize", Some(&params))
}

pub(super) fn initialized_note() -> Vec<u8> {
    br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec()
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    #[serde(rename = "serverInfo", default)]
    server_info: Option<Implementation>,
    #[serde(default)]
    capabilities: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Implementation {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

/// The peers a gateway's capability names (the valid ones, at most
/// [`crate::protocol::MAX_OFFERED_PEERS`]); a list it does not give, or
/// gives malformed, is none.
pub(super) fn offered_peers(gateway: &serde_json::Value) -> Vec<crate::protocol::OfferedPeer> {
    let Some(all) = gateway.get("peers").and_then(serde_json::Value::as_array) else {
        return Vec::new();
    };
    all.iter()
        .take(crate::protocol::MAX_OFFERED_PEERS)
        .filter_map(|p| serde_json::from_value::<crate::protocol::OfferedPeer>(p.clone()).ok())
        .filter(crate::protocol::OfferedPeer::valid)
        .collect()
}

impl UpstreamSession {
    /// The session an `initialize` response `msg` opens, POSTing to
    /// `endpoint`.
    pub(super) fn from_initialize(
        client: &McpHttpClient,
        url: &str,
        endpoint: reqwest::Url,
        session_id: Option<HeaderValue>,
        msg: &[u8],
        legacy: Option<tokio::sync::Mutex<EventStream>>,
    ) -> Result<Self, UpstreamError> {
        let not_mcp = |reason: String| UpstreamError::NotMcp {
            url: url.into(),
            reason,
        };
        let result = rpc_result(url, msg)?;
        let init: InitializeResult = serde_json::from_str(result.get())
            .map_err(|e| not_mcp(format!("its initialize result is not an InitializeResult: {e}")))?;
        let protocol_version = HeaderValue::from_str(&init.protocol_version)
            .map_err(|_| not_mcp("its protocolVersion is not a valid header value".into()))?;
        let server = init.server_info.unwrap_or(Implementation {
            name: String::new(),
            version: String::new(),
        });
        let gateway = init
            .capabilities
            .get("experimental")
            .and_then(|e| e.get(crate::protocol::GATEWAY_CAPABILITY));
        Ok(Self {
            client: client.clone(),
            url: url.into(),
            endpoint,
            session_id,
            protocol_version,
            server: ServerInfo {
                protocol_version: init.protocol_version,
                name: server.name,
                version: server.version,
                gateway_id: gateway
                    .and_then(|g| g.get("id"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                peers: gateway.map(offered_peers).unwrap_or_default(),
                capabilities: init.capabilities.into_keys().collect(),
            },
            next_id: AtomicU64::new(1),
            legacy,
            pipe: None,
            stateless: false,
        })
    }
}

/// Runs the handshake with a server on the other end of `pipe` (a stdio
/// child); the session sends everything through the pipe.
pub(super) async fn over_pipe(client: &McpHttpClient, pipe: Arc<Pipe>) -> Result<UpstreamSession, UpstreamError> {
    let msg = pipe.ask(0, initialize_request(None), client.timeout).await?;
    let endpoint = reqwest::Url::parse("stdio:child").expect("a static URL");
    let mut session = UpstreamSession::from_initialize(client, &pipe.url, endpoint, None, &msg, None)?;
    pipe.send(initialized_note()).await?;
    session.pipe = Some(pipe);
    Ok(session)
}

impl McpHttpClient {
    /// Whether the MCP server at `url` answers as `dialect` says: an
    /// `initialize` (the session ended again at once), over the 2024-11-05
    /// HTTP+SSE transport its stream opened and dropped, in the stateless
    /// era a `server/discover`. For health checks and circuit-breaker
    /// probes.
    pub async fn probe(&self, url: &str, dialect: super::Dialect) -> Result<(), UpstreamError> {
        match dialect {
            super::Dialect::Sse => self.open_legacy(url, None).await.map(drop),
            super::Dialect::Stateless => self.discover(url).await.map(drop),
            super::Dialect::Session => {
                let session = self.initialize(url).await?;
                self.terminate(&session).await;
                Ok(())
            }
        }
    }

    /// Runs the `initialize` handshake and returns the new session.
    pub async fn initialize(&self, url: &str) -> Result<UpstreamSession, UpstreamError> {
        self.initialize_as(url, None).await
    }

    /// Runs the `initialize` handshake declaring `caps` (see
    /// [`initialize_request`]) and returns the new session.
    pub async fn initialize_as(&self, url: &str, caps: Option<ClientCaps>) -> Result<UpstreamSession, UpstreamError> {
        let not_mcp = |reason: String| UpstreamError::NotMcp {
            url: url.into(),
            reason,
        };
        let endpoint = reqwest::Url::parse(url).map_err(|e| not_mcp(format!("its URL is invalid ({e})")))?;
        let res = self
            .post(&endpoint, None, initialize_request(caps))
            .await
            .map_err(|e| match e {
                UpstreamError::Http { status: 401, .. } => not_mcp(
                    "initialize was answered with HTTP 401: the backend wants credentials, or refused the ones it was registered with".into(),
                ),
                UpstreamError::Http { status, body, .. } => {
                    not_mcp(format!("initialize was answered with HTTP {status} {body}"))
                }
                e => e,
            })?;
        let session_id = res.headers().get(SESSION_HEADER).cloned();
        let msg = self.read_response(url, res, "0").await?;
        let session = UpstreamSession::from_initialize(self, url, endpoint, session_id, &msg, None)?;
        self.post(&session.endpoint, Some(&session), initialized_note()).await?;
        Ok(session)
    }
}
