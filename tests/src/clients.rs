//! Clients the tests drive the gateway with: the official Rust SDK's MCP
//! client (`rmcp`), the gRPC admin client, and raw HTTP.

// MCP logging is deprecated in 2026-07-28 but part of every revision the
// gateway serves today; the tests check it is relayed.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use mcpgw_proto::v1::registry_service_client::RegistryServiceClient;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceExt,
    model::{
        ClientInfo, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
        LoggingMessageNotificationParam, ProgressNotificationParam, ResourceUpdatedNotificationParam, SamplingMessage,
    },
    service::{NotificationContext, RequestContext, RunningService},
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use tonic::{Request, Status, service::interceptor::InterceptedService, transport::Channel};

/// Records the notifications an MCP client receives, and answers the
/// requests servers ask it: sampling answers `sampled: <first message's
/// text>`, elicitation accepts with a fixed user.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub logs: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
    /// The URIs of the `resources/updated` notifications it received.
    pub updated: Arc<Mutex<Vec<String>>>,
    /// The prompts of the sampling requests it answered.
    pub sampled: Arc<Mutex<Vec<String>>>,
    /// When set, each sampling request waits here before it is answered, so
    /// a test can prove several were outstanding at once.
    pub sampling_barrier: Option<Arc<tokio::sync::Barrier>>,
    /// Declares no capabilities, as the Python SDK's default client does:
    /// the gateway sends its calls in the node's shared backend session.
    pub declares_nothing: bool,
}

impl Recorder {
    /// A recorder that declares no capabilities.
    pub fn plain() -> Self {
        Self {
            declares_nothing: true,
            ..Self::default()
        }
    }
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientInfo {
        let capabilities = match self.declares_nothing {
            true => serde_json::json!({}),
            false => serde_json::json!({"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}}),
        };
        serde_json::from_value(serde_json::json!({
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "mcpgw-tests", "version": "1.0.0"},
        }))
        .expect("a valid ClientInfo")
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let asked = serde_json::to_value(&params.messages).unwrap_or_default();
        let prompt = asked
            .pointer("/0/content/text")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        self.sampled.lock().unwrap().push(prompt.clone());
        if let Some(b) = &self.sampling_barrier {
            b.wait().await;
        }
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(format!("sampled: {prompt}")),
            "test-model".into(),
        ))
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(serde_json::from_value(serde_json::json!({
            "action": "accept", "content": {"username": "ada", "email": "ada@example.com"}
        }))
        .expect("a valid ElicitResult"))
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri.to_string());
    }

    async fn on_logging_message(&self, params: LoggingMessageNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.logs.lock().unwrap().push(params);
    }
}

pub type McpClient = RunningService<RoleClient, Recorder>;

/// An initialized `rmcp` client session on `url`, with a bearer token if given.
pub async fn mcp(url: &str, token: Option<&str>) -> McpClient {
    mcp_with(Recorder::default(), url, token).await
}

/// Like [`mcp`], for a client that declares no capabilities.
pub async fn mcp_plain(url: &str, token: Option<&str>) -> McpClient {
    mcp_with(Recorder::plain(), url, token).await
}

/// Like [`mcp`], over `http` (a client that trusts a test's CA, say).
pub async fn mcp_over(http: reqwest::Client, url: &str, token: Option<&str>) -> McpClient {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    config.auth_header = token.map(str::to_owned);
    let transport = StreamableHttpClientTransport::with_client(http, config);
    Recorder::default()
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("MCP initialize with {url} failed: {e}"))
}

/// Like [`mcp`], with a given handler.
pub async fn mcp_with(handler: Recorder, url: &str, token: Option<&str>) -> McpClient {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    config.auth_header = token.map(str::to_owned);
    let transport = StreamableHttpClientTransport::from_config(config);
    handler
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("MCP initialize with {url} failed: {e}"))
}

pub type Basic = fn(Request<()>) -> Result<Request<()>, Status>;

pub fn basic(mut req: Request<()>) -> Result<Request<()>, Status> {
    // admin:changeme, the defaults every test process runs with.
    req.metadata_mut()
        .insert("authorization", "Basic YWRtaW46Y2hhbmdlbWU=".parse().expect("ascii"));
    Ok(req)
}

pub type Admin = RegistryServiceClient<InterceptedService<Channel, Basic>>;

/// The gRPC admin API at `https://addr`, its certificate checked against
/// the CA certificate `ca_pem`.
pub async fn admin_tls(addr: std::net::SocketAddr, ca_pem: &str) -> Admin {
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca_pem));
    let channel = Channel::from_shared(format!("https://{addr}"))
        .expect("url")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("connect admin API over TLS");
    RegistryServiceClient::with_interceptor(channel, basic as Basic)
}

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

    /// Opens session `sid`'s standalone stream (`GET` on the endpoint).
    pub async fn open_stream(&self, sid: &str) -> reqwest::Response {
        self.get(sid, None).await
    }

    /// Resumes a stream of session `sid` after event `last` (`GET` with
    /// `Last-Event-ID`).
    pub async fn resume(&self, sid: &str, last: &str) -> reqwest::Response {
        self.get(sid, Some(last)).await
    }

    async fn get(&self, sid: &str, last: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", sid);
        if let Some(last) = last {
            req = req.header("last-event-id", last);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// A stateless (2026-07-28) request of `method` with `params`, from a
    /// client that declares `capabilities`, with the headers that mirror
    /// its body; the one JSON-RPC answer (a stream's last message), whose
    /// id is checked.
    pub async fn stateless(
        &self,
        id: u64,
        method: &str,
        mut params: serde_json::Value,
        capabilities: serde_json::Value,
    ) -> serde_json::Value {
        const V: &str = "2026-07-28";
        // Members of `_meta` the caller gave (a trace context) stay.
        let meta = params["_meta"].as_object().cloned().unwrap_or_default();
        params["_meta"] = serde_json::json!({
            "io.modelcontextprotocol/protocolVersion": V,
            "io.modelcontextprotocol/clientCapabilities": capabilities,
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        });
        params["_meta"].as_object_mut().expect("an object").extend(meta);
        let name = params["name"]
            .as_str()
            .or(params["uri"].as_str())
            .or(params["taskId"].as_str())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut headers = vec![("mcp-protocol-version", V), ("mcp-method", method)];
        if !name.is_empty() {
            headers.push(("mcp-name", &name));
        }
        let res = self.post(body.to_string(), &headers).await;
        let text = res.text().await.unwrap();
        let last = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .rfind(|d| !d.trim().is_empty())
            .map_or(text.as_str(), str::trim);
        let msg: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|_| panic!("JSON-RPC: {text}"));
        assert_eq!(msg["id"], id, "{msg}");
        msg
    }

    /// Opens a stateless `subscriptions/listen` stream following the tasks
    /// `task_ids`, from a client that declares `capabilities`; the stream,
    /// its acknowledgement read and returned with it.
    pub async fn listen_tasks(
        &self,
        task_ids: &[&str],
        capabilities: serde_json::Value,
    ) -> (Events, serde_json::Value) {
        let listen = serde_json::json!({
            "jsonrpc": "2.0", "id": 40, "method": "subscriptions/listen",
            "params": {
                "notifications": {"taskIds": task_ids},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": capabilities,
                },
            },
        });
        let headers = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "subscriptions/listen"),
        ];
        let res = self.post(listen.to_string(), &headers).await;
        assert_eq!(res.status(), 200);
        let mut events = Events::of(res);
        let acked = events.next_message().await;
        (events, acked)
    }

    /// Initializes a session at `version`; returns its id and the result.
    pub async fn initialize(&self, version: &str) -> (String, serde_json::Value) {
        self.initialize_with(version, serde_json::json!({})).await
    }

    /// Initializes a session declaring `capabilities`.
    pub async fn initialize_with(&self, version: &str, capabilities: serde_json::Value) -> (String, serde_json::Value) {
        let body = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize",
            "params":{"protocolVersion":version,"capabilities":capabilities,"clientInfo":{"name":"raw","version":"1"}}});
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
        ..Default::default()
    };
    let created = admin
        .clone()
        .create_backend(req)
        .await
        .unwrap_or_else(|e| panic!("registering {name}: {e}"));
    created.into_inner().backend.expect("a created backend").config_version
}

/// Registers a backend as `req` asks; once created, waits until every node
/// serves it.
pub async fn create_backend(
    admin: &Admin,
    req: mcpgw_proto::v1::CreateBackendRequest,
) -> Result<mcpgw_proto::v1::Backend, Status> {
    let created = admin
        .clone()
        .create_backend(req)
        .await?
        .into_inner()
        .backend
        .expect("a created backend");
    crate::harness::nodes_at(admin, &[], created.config_version).await;
    Ok(created)
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

/// The events of an SSE response, one at a time.
pub struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: mcpgw_data_plane::sse::SseDecoder,
}

impl Events {
    pub fn of(res: reqwest::Response) -> Self {
        use futures::StreamExt;
        Self {
            body: res.bytes_stream().boxed(),
            decoder: Default::default(),
        }
    }

    /// The next event; `None` when the stream ends. Panics when none comes
    /// within [`crate::harness::PATIENCE`] (keep-alive comments are no
    /// events), so a test waiting for one fails instead of hanging.
    pub async fn try_next(&mut self) -> Option<mcpgw_data_plane::sse::SseEvent> {
        use futures::StreamExt;
        let next = async {
            loop {
                if let Some(ev) = self.decoder.next_event().expect("a well-formed event stream") {
                    return Some(ev);
                }
                let chunk = self.body.next().await?.expect("chunk");
                self.decoder.push(&chunk);
            }
        };
        tokio::time::timeout(crate::harness::PATIENCE, next)
            .await
            .unwrap_or_else(|_| panic!("no event within {:?}", crate::harness::PATIENCE))
    }

    pub async fn next(&mut self) -> mcpgw_data_plane::sse::SseEvent {
        self.try_next().await.expect("stream open")
    }

    /// The next JSON-RPC message, past priming events (an id and no data,
    /// which clients skip).
    pub async fn next_message(&mut self) -> serde_json::Value {
        let mut ev = self.next().await;
        while ev.data.is_empty() && ev.id.is_some() {
            ev = self.next().await;
        }
        assert_eq!(ev.event.as_deref(), Some("message"));
        serde_json::from_str(&ev.data).unwrap()
    }
}

/// `tools/call` params for `name` with JSON `args` (an object).
pub fn tool_call(name: &str, args: serde_json::Value) -> rmcp::model::CallToolRequestParams {
    let args = args.as_object().cloned().unwrap_or_default();
    rmcp::model::CallToolRequestParams::new(name.to_owned()).with_arguments(args)
}

/// The text of a tool result's first content item.
pub fn first_text(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_value(&result.content).unwrap_or_default()[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Opens a node's config stream to the control plane at `addr` as node
/// `node_id`, authenticated with JWT `bearer`: the control plane's updates,
/// or why it refused. The hello stays the only message sent while the
/// returned sender lives.
pub async fn config_stream(
    addr: std::net::SocketAddr,
    bearer: &str,
    node_id: &str,
) -> (
    tokio::sync::mpsc::Sender<mcpgw_proto::v1::StreamConfigRequest>,
    Result<tonic::Streaming<mcpgw_proto::v1::StreamConfigResponse>, Status>,
) {
    use mcpgw_proto::v1::{
        NodeHello, StreamConfigRequest, config_service_client::ConfigServiceClient, stream_config_request::Message,
    };
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect the config service");
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {bearer}").parse().expect("a header value");
    let mut cfg = ConfigServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", bearer.clone());
        Ok(r)
    });
    let hello = StreamConfigRequest {
        message: Some(Message::Hello(NodeHello {
            node_id: node_id.into(),
            ..Default::default()
        })),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello).await.expect("queue the hello");
    let opened = cfg
        .stream_config(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map(tonic::Response::into_inner);
    (tx, opened)
}

/// The full config snapshot the control plane at `addr` sends a data-plane
/// node, encoded as on the wire: what a node (or anyone holding its token)
/// sees of the registry.
pub async fn config_dump(addr: std::net::SocketAddr) -> Vec<u8> {
    use prost::Message as _;
    let (_hello, opened) = config_stream(addr, &token("node:dump"), "dump").await;
    let first = opened
        .expect("open the config stream")
        .message()
        .await
        .expect("a config update")
        .expect("the stream stays open");
    first.encode_to_vec()
}

/// One backend as the admin API reads it, by name or id.
pub async fn backend(admin: &Admin, name: &str) -> mcpgw_proto::v1::Backend {
    admin
        .clone()
        .get_backend(mcpgw_proto::v1::GetBackendRequest { backend: name.into() })
        .await
        .unwrap_or_else(|e| panic!("reading backend {name}: {e}"))
        .into_inner()
        .backend
        .expect("a backend")
}

/// The first page of registered backends.
pub async fn backends(admin: &Admin) -> Vec<mcpgw_proto::v1::Backend> {
    admin
        .clone()
        .list_backends(mcpgw_proto::v1::ListBackendsRequest::default())
        .await
        .expect("list backends")
        .into_inner()
        .backends
}

/// An item's id by the name the whole gateway serves it under.
pub async fn item_id(admin: &Admin, kind: mcpgw_proto::v1::ItemKind, exposed: &str) -> String {
    let req = mcpgw_proto::v1::ListItemsRequest {
        kind: kind.into(),
        page_size: 1000,
        ..Default::default()
    };
    let items = admin.clone().list_items(req).await.unwrap().into_inner().items;
    items
        .into_iter()
        .find(|i| i.exposed_name == exposed)
        .unwrap_or_else(|| panic!("no {kind:?} {exposed}"))
        .id
}
