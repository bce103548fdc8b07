//! Clients the tests drive the gateway with: the official Rust SDK's MCP
//! client (`rmcp`), the gRPC admin client, and raw HTTP.

// MCP logging is deprecated in 2026-07-28 but part of every revision the
// gateway serves today; the tests check it is relayed.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use mcpgw_proto::v1::registry_service_client::RegistryServiceClient;
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{LoggingMessageNotificationParam, ProgressNotificationParam},
    service::{NotificationContext, RunningService},
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use tonic::{Request, Status, service::interceptor::InterceptedService, transport::Channel};

/// Records the notifications an MCP client receives.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub logs: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_logging_message(&self, params: LoggingMessageNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.logs.lock().unwrap().push(params);
    }
}

pub type McpClient = RunningService<RoleClient, Recorder>;

/// An initialized `rmcp` client session on `url`, with a bearer token if given.
pub async fn mcp(url: &str, token: Option<&str>) -> McpClient {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    config.auth_header = token.map(str::to_owned);
    let transport = StreamableHttpClientTransport::from_config(config);
    Recorder::default()
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("MCP initialize with {url} failed: {e}"))
}

type Basic = fn(Request<()>) -> Result<Request<()>, Status>;

fn basic(mut req: Request<()>) -> Result<Request<()>, Status> {
    // admin:changeme, the defaults every test process runs with.
    req.metadata_mut()
        .insert("authorization", "Basic YWRtaW46Y2hhbmdlbWU=".parse().expect("ascii"));
    Ok(req)
}

pub type Admin = RegistryServiceClient<InterceptedService<Channel, Basic>>;

/// The gRPC admin API at `addr`, authenticated with the default Basic credentials.
pub async fn admin(addr: std::net::SocketAddr) -> Admin {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect admin API");
    RegistryServiceClient::with_interceptor(channel, basic as Basic)
}

/// A token for `sub` signed with the default secret every test process uses.
pub fn token(sub: &str) -> String {
    mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint(sub, 600)
}

/// Raw Streamable HTTP, for tests about exact bytes, headers and statuses.
#[derive(Clone)]
pub struct RawMcp {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
}

impl RawMcp {
    pub fn new(url: String, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            url,
            token,
        }
    }

    /// POSTs `body` with the headers a conforming client sends (JSON content
    /// type, both Accept types, the bearer token), each replaceable through
    /// `headers`; an empty value removes it.
    pub async fn post(&self, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("accept", "application/json, text/event-stream".parse().unwrap());
        if let Some(t) = &self.token {
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        for (k, v) in headers {
            let name: reqwest::header::HeaderName = k.parse().unwrap();
            if v.is_empty() {
                h.remove(&name);
            } else {
                h.insert(name, v.parse().unwrap());
            }
        }
        self.http.post(&self.url).headers(h).body(body).send().await.unwrap()
    }

    /// Initializes a session at `version`; returns its id and the result.
    pub async fn initialize(&self, version: &str) -> (String, serde_json::Value) {
        let body = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize",
            "params":{"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}});
        let res = self.post(body.to_string(), &[]).await;
        assert_eq!(res.status(), reqwest::StatusCode::OK, "initialize at {}", self.url);
        let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        (sid, res.json().await.unwrap())
    }
}

/// Registers an MCP backend; returns the config version that holds it.
pub async fn register(admin: &Admin, name: &str, url: String) -> u64 {
    let req = mcpgw_proto::v1::CreateBackendRequest {
        name: name.into(),
        url,
        transport: 0,
    };
    let created = admin
        .clone()
        .create_backend(req)
        .await
        .unwrap_or_else(|e| panic!("registering {name}: {e}"));
    created.into_inner().backend.expect("a created backend").config_version
}

/// The names `tools/list` gives through `url`, every page followed by rmcp.
pub async fn tool_names(url: &str, token: &str) -> Vec<String> {
    let c = mcp(url, Some(token)).await;
    let names = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    c.cancel().await.unwrap();
    names
}
