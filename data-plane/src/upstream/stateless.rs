//! Backends of the stateless era (MCP 2026-07-28): no `initialize` and no
//! session. The gateway learns what such a backend offers with
//! `server/discover`, and every request it sends carries its own `_meta`
//! (protocol version, the capabilities of the client it is made for, the
//! gateway as client) and the headers that mirror its body (`Mcp-Method`,
//! `Mcp-Name`, a tool's `Mcp-Param-*`). Its "session" is only where to
//! POST: one per endpoint, made without a round trip.

use std::sync::{Arc, atomic::AtomicU64};

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use futures::StreamExt;

use super::{EventStream, McpHttpClient, Outgoing, ServerInfo, UpstreamError, UpstreamSession};
use crate::{
    jsonrpc::{self, RawObject, json_str},
    protocol::{CAPABILITIES_KEY, CLIENT_INFO_KEY, GATEWAY_CAPABILITY, ProtocolVersion, SERVER_INFO_KEY, VERSION_KEY},
};

/// The revision the gateway speaks to such backends.
pub const VERSION: ProtocolVersion = ProtocolVersion::V2026_07_28;

/// `clientInfo`: the gateway, as the client of its backends.
const CLIENT_INFO: &str = concat!(r#"{"name":"mcpgw","version":""#, env!("CARGO_PKG_VERSION"), r#""}"#);

/// The headers a stateless request carries beside its body, mirroring it.
#[derive(Debug)]
pub struct Mirror {
    /// `Mcp-Method`.
    pub method: HeaderValue,
    /// `Mcp-Name`: the tool or prompt name, or resource URI, as the backend
    /// knows it (after the gateway's renaming).
    pub name: Option<HeaderValue>,
    /// A tool's `Mcp-Param-*` headers.
    pub params: Vec<(HeaderName, HeaderValue)>,
}

impl Mirror {
    pub fn of(method: &str) -> Self {
        Self {
            method: HeaderValue::from_str(method).unwrap_or(HeaderValue::from_static("invalid")),
            name: None,
            params: Vec::new(),
        }
    }
}

/// `_meta` members a stateless request must carry, for a client with
/// capabilities `caps` (a capabilities object): the version, the
/// capabilities, and `clientInfo` unless the request has one.
pub fn meta_members(meta: Option<&RawObject<'_>>, caps: &str) -> [(&'static str, String); 3] {
    let info = meta
        .and_then(|m| m.get(CLIENT_INFO_KEY))
        .map_or_else(|| CLIENT_INFO.to_owned(), |i| i.get().to_owned());
    [
        (VERSION_KEY, json_str(VERSION.as_str())),
        (CAPABILITIES_KEY, caps.to_owned()),
        (CLIENT_INFO_KEY, info),
    ]
}

/// `params` (raw JSON, or none) with the stateless `_meta` of a client
/// that answers nothing added: the gateway's own requests (discovery's
/// lists, subscriptions).
fn own_params(params: Option<&str>) -> String {
    own_params_with(params, "{}")
}

/// [`own_params`] of a client declaring `caps` (a capabilities object).
fn own_params_with(params: Option<&str>, caps: &str) -> String {
    let parsed = params.and_then(|p| RawObject::parse(p).ok()).unwrap_or_default();
    let meta = parsed.get("_meta").and_then(|m| RawObject::parse(m.get()).ok());
    let members = meta_members(meta.as_ref(), caps);
    let members: Vec<(&str, &str)> = members.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let meta = meta.unwrap_or_default().to_string_with(&members);
    parsed.to_string_with(&[("_meta", &meta)])
}

#[derive(Deserialize)]
struct DiscoverResult {
    #[serde(rename = "supportedVersions", default)]
    supported_versions: Vec<String>,
    #[serde(default)]
    capabilities: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(rename = "_meta", default)]
    meta: Option<serde_json::Map<String, serde_json::Value>>,
}

impl UpstreamSession {
    /// Where to POST a stateless backend's requests: no session, the
    /// revision of the era.
    pub fn stateless(client: &McpHttpClient, url: &str, server: ServerInfo) -> Result<Self, UpstreamError> {
        let endpoint = reqwest::Url::parse(url).map_err(|e| UpstreamError::NotMcp {
            url: url.into(),
            reason: format!("its URL is invalid ({e})"),
        })?;
        Ok(Self {
            client: client.clone(),
            url: url.into(),
            endpoint,
            session_id: None,
            protocol_version: HeaderValue::from_static(VERSION.as_str()),
            server,
            next_id: AtomicU64::new(1),
            legacy: None,
            pipe: None,
            stateless: true,
        })
    }
}

impl McpHttpClient {
    /// Asks the server at `url` what it is with `server/discover`: the
    /// session to call it statelessly if it speaks the stateless era,
    /// else why not.
    pub async fn discover(&self, url: &str) -> Result<UpstreamSession, UpstreamError> {
        let not_mcp = |reason: String| UpstreamError::NotMcp {
            url: url.into(),
            reason,
        };
        let probe = UpstreamSession::stateless(self, url, ServerInfo::default())?;
        let result = self.call(&probe, "server/discover", None).await?;
        let found: DiscoverResult = serde_json::from_str(result.get())
            .map_err(|e| not_mcp(format!("its server/discover result is not a DiscoverResult: {e}")))?;
        if !found.supported_versions.iter().any(|v| v == VERSION.as_str()) {
            return Err(not_mcp(format!(
                "its server/discover names {:?}, not {}",
                found.supported_versions,
                VERSION.as_str()
            )));
        }
        let info = found.meta.as_ref().and_then(|m| m.get(SERVER_INFO_KEY));
        let text = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let gateway = found
            .capabilities
            .get("experimental")
            .and_then(|e| e.get(GATEWAY_CAPABILITY));
        let server = ServerInfo {
            protocol_version: VERSION.as_str().into(),
            name: text("name"),
            version: text("version"),
            gateway_id: gateway
                .and_then(|g| g.get("id"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            peers: gateway.map(super::handshake::offered_peers).unwrap_or_default(),
            capabilities: found.capabilities.into_keys().collect(),
        };
        UpstreamSession::stateless(self, url, server)
    }

    /// The gateway's own request `method` (with `params`) in a stateless
    /// session, and its response.
    pub(super) async fn call_stateless(
        &self,
        session: &UpstreamSession,
        id: &str,
        method: &str,
        params: Option<&str>,
    ) -> Result<Vec<u8>, UpstreamError> {
        let params = own_params(params);
        let msg = Outgoing {
            body: jsonrpc::request(id, method, Some(&params)),
            via: None,
            mirror: Some(Mirror::of(method)),
            forwarded: false,
            trace: None,
        };
        let res = self.post(&session.endpoint, Some(session), msg).await?;
        self.read_response(&session.url, res, id).await
    }
}

impl McpHttpClient {
    /// Listens to a stateless backend (`subscriptions/listen`) for the
    /// notifications `notifications` asks (the request's filter object):
    /// the stream they come on, the backend's acknowledgement first. The
    /// backend ends it by answering instead; a backend that cannot listen
    /// answers with an error at once. The gateway declares it answers
    /// nothing, and `extensions` (a JSON object: `{}` for none).
    pub async fn subscribe(
        &self,
        session: &UpstreamSession,
        notifications: &str,
        extensions: &str,
    ) -> Result<EventStream, UpstreamError> {
        const ID: &str = r#""listen""#;
        let params = format!(r#"{{"notifications":{notifications}}}"#);
        let params = match extensions {
            "{}" => own_params(Some(&params)),
            e => own_params_with(Some(&params), &format!(r#"{{"extensions":{e}}}"#)),
        };
        let msg = Outgoing {
            body: jsonrpc::request(ID, "subscriptions/listen", Some(&params)),
            via: None,
            mirror: Some(Mirror::of("subscriptions/listen")),
            forwarded: false,
            trace: None,
        };
        let res = self.post(&session.endpoint, Some(session), msg).await?;
        if !crate::sse::is_event_stream(res.headers()) {
            self.read_response(&session.url, res, ID).await?;
            return Err(UpstreamError::NotMcp {
                url: session.url.clone(),
                reason: "its subscriptions/listen answered at once instead of streaming".into(),
            });
        }
        Ok(EventStream {
            body: res.bytes_stream().boxed(),
            decoder: Default::default(),
        })
    }
}

/// The shared session of a stateless backend's endpoint, made once.
#[derive(Debug, Default)]
pub struct StatelessCell(std::sync::OnceLock<Arc<UpstreamSession>>);

impl StatelessCell {
    /// The session for `url` with `client`, made on first use.
    pub fn get(&self, client: &McpHttpClient, url: &str) -> Result<Arc<UpstreamSession>, UpstreamError> {
        if let Some(s) = self.0.get() {
            return Ok(s.clone());
        }
        let made = Arc::new(UpstreamSession::stateless(client, url, ServerInfo::default())?);
        Ok(self.0.get_or_init(|| made).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_own_requests_carry_the_eras_meta() {
        let p: serde_json::Value = serde_json::from_str(&own_params(Some(r#"{"cursor":"c"}"#))).unwrap();
        assert_eq!(p["cursor"], "c");
        assert_eq!(p["_meta"][VERSION_KEY], "2026-07-28");
        assert_eq!(p["_meta"][CAPABILITIES_KEY], serde_json::json!({}));
        assert_eq!(p["_meta"][CLIENT_INFO_KEY]["name"], "mcpgw");
        let p: serde_json::Value = serde_json::from_str(&own_params(None)).unwrap();
        assert_eq!(p["_meta"][VERSION_KEY], "2026-07-28");
    }
}
