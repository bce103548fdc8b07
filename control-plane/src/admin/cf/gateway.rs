//! `GatewayCreate` and `GatewayUpdate`: an MCP server or a peer gateway, a
//! backend here.

use std::collections::HashMap;

use mcpgw_proto::v1::{self as pb, backend_credentials::Auth};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ShapeError;

/// `GatewayCreate` and `GatewayUpdate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct GatewayIn {
    pub name: Option<String>,
    pub url: Option<String>,
    pub transport: Option<String>,
    pub auth_type: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub auth_token: Option<String>,
    pub auth_header_key: Option<String>,
    pub auth_header_value: Option<String>,
    pub auth_headers: Option<Vec<HeaderIn>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct HeaderIn {
    pub key: String,
    pub value: String,
}

impl GatewayIn {
    pub fn transport(&self) -> Result<pb::BackendTransport, ShapeError> {
        Ok(
            match self.transport.as_deref().map(str::to_ascii_uppercase).as_deref() {
                // Detected at registration.
                None | Some("") => pb::BackendTransport::Unspecified,
                Some("SSE") => pb::BackendTransport::Sse,
                Some("STREAMABLEHTTP" | "STREAMABLE_HTTP" | "HTTP") => pb::BackendTransport::StreamableHttp,
                Some("WEBSOCKET" | "WS") => pb::BackendTransport::Websocket,
                Some(other) => {
                    return Err(ShapeError::invalid_body(
                        Some("transport"),
                        format!("transport {other:?} must be SSE, STREAMABLEHTTP or WEBSOCKET"),
                    ));
                }
            },
        )
    }

    /// The credentials `auth_type` names, if any.
    pub fn credentials(&self) -> Result<Option<pb::BackendCredentials>, ShapeError> {
        let need = |v: &Option<String>, field: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ShapeError::invalid_body(Some(field), "field required for this auth_type"))
        };
        let mut c = pb::BackendCredentials::default();
        match self.auth_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("" | "none") => return Ok(None),
            Some("basic") => {
                c.auth = Some(Auth::Basic(pb::BasicAuth {
                    username: need(&self.auth_username, "auth_username")?,
                    password: need(&self.auth_password, "auth_password")?,
                }));
            }
            Some("bearer") => {
                c.auth = Some(Auth::Bearer(pb::BearerAuth {
                    token: need(&self.auth_token, "auth_token")?,
                }));
            }
            Some("authheaders") => {
                let mut headers: HashMap<String, String> = self
                    .auth_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.key.clone(), h.value.clone()))
                    .collect();
                if let Some(k) = self.auth_header_key.clone().filter(|k| !k.is_empty()) {
                    headers.insert(k, need(&self.auth_header_value, "auth_header_value")?);
                }
                if headers.is_empty() {
                    return Err(ShapeError::invalid_body(
                        Some("auth_headers"),
                        "give at least one header",
                    ));
                }
                c.headers = headers;
            }
            Some(other) => {
                return Err(ShapeError::invalid_body(
                    Some("auth_type"),
                    format!(
                        "auth_type {other:?} must be basic, bearer or authheaders (OAuth: use the gRPC API or the CLI)"
                    ),
                ));
            }
        }
        Ok(Some(c))
    }
}

/// Context Forge's name for a backend's transport.
pub fn transport_name(t: pb::BackendTransport) -> &'static str {
    match t {
        pb::BackendTransport::Sse => "SSE",
        pb::BackendTransport::Stdio => "STDIO",
        pb::BackendTransport::Websocket => "WEBSOCKET",
        pb::BackendTransport::Rest => "REST",
        pb::BackendTransport::Grpc => "GRPC",
        _ => "STREAMABLEHTTP",
    }
}
