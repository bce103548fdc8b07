//! A fixture MCP server over Streamable HTTP, for tests and the README walk.
//!
//! Stateful like most servers: `initialize` mints an `Mcp-Session-Id`, later
//! requests must carry a live one (404 otherwise, so a restarted fixture
//! forgets its sessions like a real server would). Tools:
//! - `echo {text}`: one text item;
//! - `progress {steps}`: with a progressToken, streams `steps` progress and
//!   log notifications over SSE before its result;
//! - `fail`: a tool error (`isError: true`);
//! - `sleep {ms}`: answers after `ms` milliseconds;
//! - `extra_NNNN`: `extra_tools` more, to exercise pagination;
//!
//! `tools/list` pages `page_size` tools at a time.

use std::{
    collections::HashSet,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::StreamExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::watch,
    task::{JoinHandle, JoinSet},
};

#[derive(Clone, Debug)]
pub struct FixtureConfig {
    pub name: String,
    pub extra_tools: usize,
    pub page_size: usize,
    /// Prefixed to every tool name (to stage name clashes).
    pub tool_prefix: String,
}

impl Default for FixtureConfig {
    fn default() -> Self {
        Self {
            name: "fixture".into(),
            extra_tools: 3,
            tool_prefix: String::new(),
            page_size: 2,
        }
    }
}

struct Fx {
    cfg: FixtureConfig,
    sessions: Mutex<HashSet<String>>,
    /// How many tool calls are being answered right now.
    in_flight: watch::Sender<usize>,
}

/// A running fixture; stops when dropped.
pub struct Fixture {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    in_flight: watch::Receiver<usize>,
}

impl Fixture {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Starts a fixture on `addr` (port 0 for any free port).
    pub async fn start_on(addr: SocketAddr, cfg: FixtureConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (app, in_flight) = router_watched(cfg);
        // Connections are tasks of the server task, so stopping the server
        // drops every open connection too, as a process exit would.
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                let svc = TowerToHyperService::new(app.clone());
                conns.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, task, in_flight })
    }

    pub async fn start(cfg: FixtureConfig) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)
            .await
            .expect("bind a loopback port")
    }

    /// Waits until the fixture is answering `n` tool calls at once.
    pub async fn wait_in_flight(&self, n: usize) {
        self.in_flight
            .clone()
            .wait_for(|v| *v >= n)
            .await
            .expect("fixture running");
    }

    /// Waits until the fixture is answering at most `n` tool calls.
    pub async fn wait_in_flight_at_most(&self, n: usize) {
        self.in_flight
            .clone()
            .wait_for(|v| *v <= n)
            .await
            .expect("fixture running");
    }

    /// Stops the server and waits until its listener is closed.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn router(cfg: FixtureConfig) -> Router {
    router_watched(cfg).0
}

/// The router and a watch of how many tool calls it is answering.
fn router_watched(cfg: FixtureConfig) -> (Router, watch::Receiver<usize>) {
    let (in_flight, watched) = watch::channel(0);
    let fx = Arc::new(Fx {
        cfg,
        sessions: Mutex::new(HashSet::new()),
        in_flight,
    });
    (
        Router::new()
            .route("/mcp", post(handle).delete(end_session))
            .with_state(fx),
        watched,
    )
}

pub fn tool_definitions(cfg: &FixtureConfig) -> Vec<Value> {
    let mut tools = vec![
        json!({"name": "echo", "description": "Echoes its text argument",
               "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
               "annotations": {"readOnlyHint": true}}),
        json!({"name": "progress", "description": "Streams progress and logs, then answers",
               "inputSchema": {"type": "object", "properties": {"steps": {"type": "integer"}}}}),
        json!({"name": "fail", "description": "Always fails with a tool error",
               "inputSchema": {"type": "object"}}),
        json!({"name": "sleep", "description": "Answers after ms milliseconds",
               "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}}),
    ];
    for i in 0..cfg.extra_tools {
        tools.push(
            json!({"name": format!("extra_{i:04}"), "description": format!("Extra tool {i}"),
                          "inputSchema": {"type": "object"}}),
        );
    }
    for t in &mut tools {
        t["name"] = json!(format!("{}{}", cfg.tool_prefix, t["name"].as_str().unwrap_or_default()));
    }
    tools
}

/// `DELETE /mcp` ends the session named in the header.
async fn end_session(State(fx): State<Arc<Fx>>, headers: HeaderMap) -> StatusCode {
    let sid = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if fx.sessions.lock().unwrap().remove(sid) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn json_response(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn handle(State(fx): State<Arc<Fx>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            json_response(&rpc_error(&Value::Null, -32700, "parse error")),
        )
            .into_response();
    };
    let method = msg.get("method").and_then(Value::as_str).unwrap_or_default();
    let id = msg.get("id").cloned();
    if method == "initialize" {
        let requested = msg
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("2025-11-25");
        let version = if ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"].contains(&requested) {
            requested
        } else {
            "2025-11-25"
        };
        let sid = uuid::Uuid::new_v4().to_string();
        fx.sessions.lock().unwrap().insert(sid.clone());
        let result = json!({"protocolVersion": version, "capabilities": {"tools": {"listChanged": false}, "logging": {}},
                            "serverInfo": {"name": fx.cfg.name, "version": "1.0.0"}});
        let mut res = json_response(&rpc_result(&id.unwrap_or(Value::Null), result));
        res.headers_mut()
            .insert("mcp-session-id", HeaderValue::from_str(&sid).unwrap());
        return res;
    }
    let live = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| fx.sessions.lock().unwrap().contains(s));
    if !live {
        return (
            StatusCode::NOT_FOUND,
            json_response(&rpc_error(&Value::Null, -32001, "Session not found")),
        )
            .into_response();
    }
    let Some(id) = id else {
        return StatusCode::ACCEPTED.into_response();
    };
    match method {
        "ping" => json_response(&rpc_result(&id, json!({}))),
        "tools/list" => {
            let all = tool_definitions(&fx.cfg);
            let start: usize = msg
                .pointer("/params/cursor")
                .and_then(Value::as_str)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let end = (start + fx.cfg.page_size).min(all.len());
            let mut result = json!({"tools": all[start.min(end)..end]});
            if end < all.len() {
                result["nextCursor"] = json!(end.to_string());
            }
            json_response(&rpc_result(&id, result))
        }
        "tools/call" => {
            let _counted = InFlight::enter(&fx.in_flight);
            call(&msg, id, &fx.cfg.tool_prefix).await
        }
        _ => json_response(&rpc_error(&id, -32601, &format!("Method not found: {method}"))),
    }
}

/// Counts a call in flight until dropped (also when the caller goes away).
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a watch::Sender<usize>) -> Self {
        counter.send_modify(|n| *n += 1);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

fn text(s: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": s.into()}]})
}

async fn call(msg: &Value, id: Value, prefix: &str) -> Response {
    let full = msg.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
    let name = full.strip_prefix(prefix).unwrap_or(full);
    let args = msg.pointer("/params/arguments").cloned().unwrap_or(json!({}));
    match name {
        "echo" => json_response(&rpc_result(&id, text(args["text"].as_str().unwrap_or_default()))),
        "fail" => json_response(&rpc_result(
            &id,
            json!({"content": [{"type": "text", "text": "this tool always fails"}], "isError": true}),
        )),
        "sleep" => {
            let ms = args["ms"].as_u64().unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json_response(&rpc_result(&id, text(format!("slept {ms} ms"))))
        }
        "progress" => progress(msg, id, args["steps"].as_u64().unwrap_or(3)),
        n if n.starts_with("extra_") => json_response(&rpc_result(&id, text(n))),
        _ => json_response(&rpc_error(&id, -32602, &format!("Unknown tool: {name}"))),
    }
}

/// Streams `steps` progress + log notifications, then the result, as SSE.
fn progress(msg: &Value, id: Value, steps: u64) -> Response {
    let token = msg.pointer("/params/_meta/progressToken").cloned();
    let mut events = Vec::new();
    for i in 1..=steps {
        if let Some(t) = &token {
            events.push(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                               "params": {"progressToken": t, "progress": i, "total": steps, "message": format!("step {i}")}}));
        }
        events.push(json!({"jsonrpc": "2.0", "method": "notifications/message",
                           "params": {"level": "info", "logger": "fixture", "data": format!("step {i} of {steps}")}}));
    }
    events.push(rpc_result(&id, text(format!("done after {steps} steps"))));
    let stream = futures::stream::iter(events).then(|e| async move {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Bytes::from(format!("event: message\ndata: {e}\n\n")))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
