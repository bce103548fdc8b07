//! The fast backend: an MCP server over Streamable HTTP that does as little
//! as possible per call, so what a benchmark measures is the gateway.
//!
//! Raw hyper (no router), one pre-rendered answer per method, any session id
//! accepted. Paths `/b{N}/mcp` are independent backends of one server, so
//! one process can stand in for a hundred. `tools/call` of `stream` answers
//! with `notifications/progress` × `STREAM_EVENTS` over SSE, anything else
//! with one text item. `GET` opens a standalone stream that stays open and
//! silent, as a real server's does.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use mcpgw_data_plane::jsonrpc::{Envelope, Message, RawObject};
use tokio::{net::TcpListener, task::JoinSet};

pub const STREAM_EVENTS: usize = 100;

pub struct FastBackend {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    canned: Arc<Canned>,
}

impl Drop for FastBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Canned {
    tools_list: String,
    /// Sessions `initialize` started.
    initialized: AtomicU64,
    /// Connections accepted (TLS handshakes, over `https://`).
    connections: AtomicU64,
    scheme: &'static str,
}

/// A tool definition of realistic size (description, schema, annotations).
pub fn tool_definition(i: usize) -> String {
    format!(
        r#"{{"name":"tool_{i:04}","description":"Benchmark tool number {i}: looks something up and returns a short text","inputSchema":{{"type":"object","properties":{{"query":{{"type":"string","description":"what to look up"}},"limit":{{"type":"integer","minimum":1}}}},"required":["query"]}},"annotations":{{"readOnlyHint":true}}}}"#
    )
}

impl FastBackend {
    /// Serves on a free loopback port; every backend path lists `tools`
    /// tools and `stream`.
    pub async fn start(tools: usize) -> Self {
        Self::start_with(tools, None).await
    }

    /// Like [`FastBackend::start`], over TLS with `tls` (`https://` URLs).
    pub async fn start_tls(tools: usize, tls: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        Self::start_with(tools, Some(tls)).await
    }

    async fn start_with(tools: usize, tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut defs: Vec<String> = (0..tools).map(tool_definition).collect();
        defs.push(
            r#"{"name":"stream","description":"Streams progress, then answers","inputSchema":{"type":"object"}}"#
                .into(),
        );
        let canned = Arc::new(Canned {
            tools_list: format!(r#"{{"tools":[{}]}}"#, defs.join(",")),
            initialized: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            scheme,
        });
        let served = canned.clone();
        let task = tokio::spawn(async move {
            let canned = served;
            let mut conns = JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                canned.connections.fetch_add(1, Ordering::Relaxed);
                let (canned, tls) = (canned.clone(), tls.clone());
                let svc = service_fn(move |req| handle(canned.clone(), req));
                conns.spawn(crate::tls::serve_connection(sock, tls, svc));
            }
        });
        Self { addr, task, canned }
    }

    /// How many sessions clients started with `initialize`, on every path.
    pub fn initialized(&self) -> u64 {
        self.canned.initialized.load(Ordering::Relaxed)
    }

    /// How many connections clients opened, on every path.
    pub fn connections(&self) -> u64 {
        self.canned.connections.load(Ordering::Relaxed)
    }

    pub fn url(&self, backend: usize) -> String {
        format!("{}://{}/b{backend}/mcp", self.canned.scheme, self.addr)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("static response")
}

/// A standalone stream: open, and silent until the client goes away.
fn standalone() -> Response<Body> {
    let silent = futures::stream::pending::<Result<hyper::body::Frame<Bytes>, Infallible>>();
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(StreamBody::new(silent).boxed())
        .expect("static response")
}

fn result(id: &str, result: &str) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#).into_bytes()
}

async fn handle(canned: Arc<Canned>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.method() == hyper::Method::GET {
        return Ok(standalone());
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(json(StatusCode::BAD_REQUEST, Vec::new())),
    };
    let Ok(env) = Envelope::parse(&body) else {
        return Ok(json(StatusCode::BAD_REQUEST, Vec::new()));
    };
    let Ok(Message::Request { id, method }) = env.classify() else {
        return Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(full(Bytes::new()))
            .expect("static"));
    };
    let id = id.get();
    Ok(match method {
        "initialize" => {
            canned.initialized.fetch_add(1, Ordering::Relaxed);
            let r = result(
                id,
                r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fast","version":"1"}}"#,
            );
            let mut res = json(StatusCode::OK, r);
            let sid = uuid::Uuid::new_v4().simple().to_string();
            res.headers_mut().insert("mcp-session-id", sid.parse().expect("uuid"));
            res
        }
        "tools/list" => json(StatusCode::OK, result(id, &canned.tools_list)),
        "tools/call" => {
            let streaming = env
                .params
                .and_then(|p| RawObject::parse(p.get()).ok())
                .and_then(|p| p.get("name").map(|n| n.get() == r#""stream""#))
                .unwrap_or(false);
            if streaming {
                stream(id, env.params.map(|p| p.get()))
            } else {
                json(
                    StatusCode::OK,
                    result(id, r#"{"content":[{"type":"text","text":"ok"}]}"#),
                )
            }
        }
        _ => json(StatusCode::OK, result(id, "{}")),
    })
}

/// `STREAM_EVENTS` progress notifications, then the result, as one SSE body.
fn stream(id: &str, params: Option<&str>) -> Response<Body> {
    let token = params
        .and_then(|p| RawObject::parse(p).ok())
        .and_then(|p| {
            p.get("_meta")
                .and_then(|m| RawObject::parse(m.get()).ok()?.get("progressToken"))
                .map(|t| t.get().to_owned())
        })
        .unwrap_or_else(|| "0".into());
    let mut out = String::with_capacity(STREAM_EVENTS * 120);
    for i in 1..=STREAM_EVENTS {
        out.push_str(&format!(
            "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progressToken\":{token},\"progress\":{i},\"total\":{STREAM_EVENTS}}}}}\n\n"
        ));
    }
    out.push_str(&format!(
        "event: message\ndata: {}\n\n",
        String::from_utf8(result(id, r#"{"content":[{"type":"text","text":"streamed"}]}"#)).expect("utf8")
    ));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(full(out))
        .expect("static response")
}
