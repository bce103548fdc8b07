//! A minimal MCP client over Streamable HTTP, shared by forwarding (data plane)
//! and discovery (control plane).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{EventStream, UpstreamError, channel::Pipe, error_chain, link::Authorizer, stateless::Mirror};
use crate::{
    cache::hint::CacheHint,
    jsonrpc::{self, Envelope, Message, RawObject},
    protocol::VIA_HEADER,
    sse::SseDecoder,
};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";

/// What the backend said about itself in its `initialize` result.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    pub protocol_version: String,
    pub name: String,
    pub version: String,
    /// The top-level capability names it declared (`tools`, `prompts`, ...).
    pub capabilities: Vec<String>,
    /// The id of the mcpgw gateway it is, if it is one
    /// ([`crate::protocol::GATEWAY_CAPABILITY`]).
    pub gateway_id: Option<String>,
    /// The peer gateways it says it federates with, if it shares them.
    pub peers: Vec<crate::protocol::OfferedPeer>,
}

impl ServerInfo {
    pub fn offers(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// One MCP session with one backend.
#[derive(Debug)]
pub struct UpstreamSession {
    /// The client the session was opened with (the backend's TLS settings
    /// and credentials), which every request in it uses.
    pub client: McpHttpClient,
    pub url: String,
    /// `url`, parsed once: requests in the session skip URL parsing.
    pub endpoint: reqwest::Url,
    pub session_id: Option<HeaderValue>,
    pub protocol_version: HeaderValue,
    pub server: ServerInfo,
    pub(super) next_id: AtomicU64,
    /// The event stream of a 2024-11-05 HTTP+SSE session, where its answers
    /// arrive (`None` over Streamable HTTP, where each POST answers).
    pub(super) legacy: Option<tokio::sync::Mutex<EventStream>>,
    /// A stdio child's stdin and stdout, which carry everything of the
    /// session instead of HTTP.
    pub pipe: Option<Arc<Pipe>>,
    /// A backend of the stateless era: no session, every request carries
    /// its own `_meta` and mirroring headers (see `upstream::stateless`).
    pub stateless: bool,
}

impl UpstreamSession {
    /// A request id unique within this session.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a message that needs no answer in return (a notification, an
    /// answer to the server's request) in this session.
    /// A stateless backend is told nothing: it asks nothing to answer,
    /// and a call is cancelled by closing its stream.
    pub async fn deliver(&self, body: Vec<u8>) -> Result<(), UpstreamError> {
        if self.stateless {
            return Ok(());
        }
        match &self.pipe {
            Some(pipe) => pipe.send(body).await,
            None => self.client.post(&self.endpoint, Some(self), body).await.map(drop),
        }
    }
}

/// An MCP client over HTTP: a connection pool, its timeout, and (once
/// [`connect`](McpHttpClient::connect)ed for a backend) that backend's TLS
/// settings and credentials. Cheap to clone.
#[derive(Clone, Debug)]
pub struct McpHttpClient {
    pub(super) http: reqwest::Client,
    pub(super) timeout: Duration,
    pub(super) http2: bool,
    pub(super) auth: Option<Arc<Authorizer>>,
    /// The gateway this client lists for, as the chain its list requests
    /// carry: a peer gateway leaves out of its answer what it got from
    /// this one.
    pub(super) via: Option<Lister>,
}

/// A listing gateway's chain: `_meta[VIA]` (JSON) and the [`VIA_HEADER`].
#[derive(Clone, Debug)]
pub(super) struct Lister {
    meta: Arc<str>,
    header: HeaderValue,
}

/// One JSON-RPC message to POST upstream, and the chain of gateways it has
/// passed for the [`VIA_HEADER`] (the same chain its `_meta` holds).
#[derive(Debug)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub via: Option<HeaderValue>,
    /// For a stateless backend: the headers mirroring the body.
    pub mirror: Option<Mirror>,
    /// A client's request forwarded: a JSON-RPC error the backend answers
    /// with a 4xx status (as servers of 2026-07-28 must, for a missing
    /// capability or a header that does not match) is the client's
    /// answer, relayed as any other, not the backend failing.
    pub forwarded: bool,
    /// The trace context the request goes with, in its headers (its body
    /// carries it in `_meta` too).
    pub trace: Option<crate::telemetry::context::Propagated>,
}

impl From<Vec<u8>> for Outgoing {
    fn from(body: Vec<u8>) -> Self {
        Self {
            body,
            via: None,
            mirror: None,
            forwarded: false,
            trace: None,
        }
    }
}

/// The settings every backend's connection pool shares.
pub(super) fn builder(timeout: Duration, http2: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true);
    if http2 { builder } else { builder.http1_only() }
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    #[serde(default)]
    message: String,
}

/// Most pages one listing may take; a backend that never ends its cursor
/// chain is refused rather than looped on forever.
const MAX_PAGES: usize = 10_000;

impl McpHttpClient {
    /// `timeout` bounds connecting and waiting for response headers; streamed
    /// bodies may run longer.
    ///
    /// Over TLS the client offers HTTP/1.1 only unless `http2`: many small
    /// calls on a pool of kept-alive HTTP/1.1 connections cost the gateway
    /// about 1.05× a plain-HTTP call, one multiplexed HTTP/2 connection
    /// 1.3× (BENCHMARKS.md, `tls` scenario). Plain `http://` is HTTP/1.1
    /// either way.
    pub fn new(timeout: Duration, http2: bool) -> Self {
        let http = builder(timeout, http2)
            .build()
            .expect("the HTTP client's TLS setup is static");
        Self {
            http,
            timeout,
            http2,
            auth: None,
            via: None,
        }
    }

    /// This client, listing on behalf of gateway `id` (its list requests
    /// carry `_meta["io.mcpgw/via"] = [id]`).
    pub fn listing_for(mut self, id: &str) -> Self {
        self.via = HeaderValue::from_str(id).ok().map(|header| Lister {
            meta: format!("[{}]", jsonrpc::json_str(id)).into(),
            header,
        });
        self
    }

    /// POSTs one JSON-RPC body, in `session` if given. Maps transport failures;
    /// returns any 2xx response for the caller to read.
    pub async fn post(
        &self,
        endpoint: &reqwest::Url,
        session: Option<&UpstreamSession>,
        msg: impl Into<Outgoing>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let session_id = session.and_then(|s| s.session_id.as_ref());
        self.post_in(endpoint, session_id, session.map(|s| &s.protocol_version), msg)
            .await
    }

    /// POSTs one JSON-RPC body in the session with id `session_id` (which
    /// may have been opened by another node).
    pub async fn post_in(
        &self,
        endpoint: &reqwest::Url,
        session_id: Option<&HeaderValue>,
        protocol_version: Option<&HeaderValue>,
        msg: impl Into<Outgoing>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = endpoint.as_str();
        let Outgoing {
            body,
            via,
            mirror,
            forwarded,
            trace,
        } = msg.into();
        let mut req = self
            .http
            .post(endpoint.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(body);
        if let Some(via) = via.or_else(|| self.via.as_ref().map(|l| l.header.clone())) {
            req = req.header(VIA_HEADER, via);
        }
        if let Some(id) = session_id {
            req = req.header(SESSION_HEADER, id.clone());
        }
        if let Some(trace) = trace {
            req = crate::telemetry::context::headers(req, trace);
        }
        if let Some(v) = protocol_version {
            req = req.header(VERSION_HEADER, v.clone());
        }
        if let Some(m) = mirror {
            req = req.header(METHOD_HEADER, m.method);
            if let Some(name) = m.name {
                req = req.header(NAME_HEADER, name);
            }
            for (k, v) in m.params {
                req = req.header(k, v);
            }
        }
        let req = self.authorize(req, url).await?;
        let res = match tokio::time::timeout(self.timeout, req.send()).await {
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    url: url.into(),
                    secs: self.timeout.as_secs(),
                });
            }
            Ok(Err(e)) => {
                return Err(UpstreamError::Unreachable {
                    url: url.into(),
                    reason: error_chain(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED {
            self.rejected();
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(UpstreamError::SessionExpired { url: url.into() });
        }
        if !status.is_success() {
            if forwarded && status.is_client_error() && status != StatusCode::UNAUTHORIZED && is_json(res.headers()) {
                return rpc_error_answer(url, res).await;
            }
            let body = res.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(UpstreamError::Http {
                url: url.into(),
                status: status.as_u16(),
                body,
            });
        }
        Ok(res)
    }

    /// A session's event stream by `GET`: the standalone stream, or with
    /// `last_event_id` the rest of a stream the server closed before it was
    /// done (SEP-1699). An error if the server offers none.
    pub async fn get_stream(
        &self,
        session: &UpstreamSession,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = session.url.as_str();
        let mut req = self
            .http
            .get(session.endpoint.clone())
            .header(header::ACCEPT, "text/event-stream")
            .header(VERSION_HEADER, session.protocol_version.clone());
        if let Some(id) = &session.session_id {
            req = req.header(SESSION_HEADER, id.clone());
        }
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        let req = self.authorize(req, url).await?;
        let res = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(|_| UpstreamError::Timeout {
                url: url.into(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(|e| UpstreamError::Unreachable {
                url: url.into(),
                reason: error_chain(&e),
            })?;
        if !res.status().is_success() || !crate::sse::is_event_stream(res.headers()) {
            return Err(UpstreamError::Http {
                url: url.into(),
                status: res.status().as_u16(),
                body: "no event stream to GET".into(),
            });
        }
        Ok(res)
    }

    /// The standalone event stream of a Streamable HTTP session (`GET`),
    /// where a server sends what belongs to no request: `list_changed`,
    /// `resources/updated`. An error if the server offers none.
    pub async fn listen(&self, session: &UpstreamSession) -> Result<EventStream, UpstreamError> {
        let res = self.get_stream(session, None).await?;
        Ok(EventStream {
            body: res.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
        })
    }

    /// Ends a session (HTTP DELETE), as a polite client does when done; a
    /// server that does not support it (405) or is gone changes nothing.
    pub async fn terminate(&self, session: &UpstreamSession) {
        if let Some(id) = &session.session_id {
            let req = self
                .http
                .delete(session.endpoint.clone())
                .header(SESSION_HEADER, id.clone())
                .header(VERSION_HEADER, session.protocol_version.clone());
            if let Ok(req) = self.authorize(req, &session.url).await {
                let _ = tokio::time::timeout(self.timeout, req.send()).await;
            }
        }
    }

    /// The text at `url` (an API description), at most `max` bytes.
    pub async fn fetch_text(&self, url: &str, max: usize) -> Result<String, UpstreamError> {
        let unreachable = |e: reqwest::Error| UpstreamError::Unreachable {
            url: url.into(),
            reason: error_chain(&e),
        };
        let req = self.authorize(self.http.get(url), url).await?;
        let mut res = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(|_| UpstreamError::Timeout {
                url: url.into(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(unreachable)?;
        if !res.status().is_success() {
            return Err(UpstreamError::Http {
                url: url.into(),
                status: res.status().as_u16(),
                body: String::new(),
            });
        }
        let body = super::read_capped(&mut res, max)
            .await
            .map_err(unreachable)?
            .ok_or_else(|| UpstreamError::NotMcp {
                url: url.into(),
                reason: format!("the document is over {max} bytes"),
            })?;
        String::from_utf8(body).map_err(|_| UpstreamError::NotMcp {
            url: url.into(),
            reason: "the document is not UTF-8 text".into(),
        })
    }

    /// Calls `method` and returns its raw result.
    pub async fn call(
        &self,
        session: &UpstreamSession,
        method: &str,
        params: Option<&str>,
    ) -> Result<Box<RawValue>, UpstreamError> {
        let next = session.next_id();
        let id = next.to_string();
        if session.stateless {
            let msg = self.call_stateless(session, &id, method, params).await?;
            return rpc_result(&session.url, &msg);
        }
        if let Some(pipe) = &session.pipe {
            let msg = pipe
                .ask(next, jsonrpc::request(&id, method, params), self.timeout)
                .await?;
            return rpc_result(&session.url, &msg);
        }
        let res = self
            .post(&session.endpoint, Some(session), jsonrpc::request(&id, method, params))
            .await?;
        let msg = match &session.legacy {
            // Over HTTP+SSE the POST is only accepted; the answer comes on the stream.
            Some(stream) => {
                let mut stream = stream.lock().await;
                tokio::time::timeout(self.timeout, stream.response(&session.url, &id))
                    .await
                    .unwrap_or_else(|_| {
                        Err(UpstreamError::Timeout {
                            url: session.url.clone(),
                            secs: self.timeout.as_secs(),
                        })
                    })?
            }
            None => self.read_response(&session.url, res, &id).await?,
        };
        rpc_result(&session.url, &msg)
    }

    /// Every entry of a list method (`tools/list` lists under `tools`, ...),
    /// following `nextCursor` through all pages, and the caching hint that
    /// holds for all of them (a backend of the stateless era gives one per
    /// page).
    pub async fn list_all(
        &self,
        session: &UpstreamSession,
        method: &str,
        key: &str,
    ) -> Result<(Vec<Box<RawValue>>, CacheHint), UpstreamError> {
        let not_mcp = |reason: String| UpstreamError::NotMcp {
            url: session.url.clone(),
            reason,
        };
        let mut all = Vec::new();
        let mut hint = CacheHint::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut members = Vec::new();
            if let Some(c) = cursor.as_deref() {
                members.push(format!(r#""cursor":{}"#, jsonrpc::json_str(c)));
            }
            if let Some(via) = &self.via {
                members.push(format!(r#""_meta":{{"{}":{}}}"#, crate::protocol::VIA, via.meta));
            }
            let params = (!members.is_empty()).then(|| format!("{{{}}}", members.join(",")));
            let result = self.call(session, method, params.as_deref()).await?;
            let bad = |why: String| not_mcp(format!("its {method} result {why}"));
            let page = RawObject::parse(result.get()).map_err(|e| bad(format!("is not an object: {e}")))?;
            let entries = page.get(key).ok_or_else(|| bad(format!("has no {key:?} array")))?;
            let entries: Vec<Box<RawValue>> = serde_json::from_str(entries.get())
                .map_err(|e| bad(format!("has a {key:?} that is not an array: {e}")))?;
            all.extend(entries);
            hint = hint.and(CacheHint::of(&page));
            let next: Option<String> = match page.get("nextCursor") {
                None => None,
                Some(c) => {
                    serde_json::from_str(c.get()).map_err(|_| bad("has a nextCursor that is not a string".into()))?
                }
            };
            match next {
                Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
                Some(_) => return Err(bad("returned the same nextCursor twice".into())),
                None => return Ok((all, hint)),
            }
        }
        Err(not_mcp(format!("{method} did not end within {MAX_PAGES} pages")))
    }
}

impl McpHttpClient {
    /// The JSON-RPC response with id `id` from a JSON or SSE response body,
    /// within the client's timeout.
    pub(super) async fn read_response(
        &self,
        url: &str,
        res: reqwest::Response,
        id: &str,
    ) -> Result<Vec<u8>, UpstreamError> {
        tokio::time::timeout(self.timeout, read_response(url, res, id))
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout {
                    url: url.into(),
                    secs: self.timeout.as_secs(),
                })
            })
    }
}

async fn read_response(url: &str, mut res: reqwest::Response, id: &str) -> Result<Vec<u8>, UpstreamError> {
    let unreachable = |e: reqwest::Error| UpstreamError::Unreachable {
        url: url.into(),
        reason: error_chain(&e),
    };
    let not_mcp = |reason: String| UpstreamError::NotMcp {
        url: url.into(),
        reason,
    };
    let is_sse = crate::sse::is_event_stream(res.headers());
    if !is_sse {
        return Ok(res.bytes().await.map_err(unreachable)?.to_vec());
    }
    let mut decoder = SseDecoder::default();
    while let Some(chunk) = res.chunk().await.map_err(unreachable)? {
        decoder.push(&chunk);
        while let Some(ev) = decoder.next_event().map_err(|e| not_mcp(format!("it sent {e}")))? {
            if let Ok(env) = Envelope::parse(ev.data.as_bytes())
                && let Ok(Message::Response { id: got }) = env.classify()
                && got.get() == id
            {
                return Ok(ev.data.into_bytes());
            }
        }
    }
    Err(not_mcp("its event stream ended without a response".into()))
}

pub(super) fn rpc_result(url: &str, msg: &[u8]) -> Result<Box<RawValue>, UpstreamError> {
    let not_mcp = |reason: String| UpstreamError::NotMcp {
        url: url.into(),
        reason,
    };
    let env =
        Envelope::parse(msg).map_err(|e| not_mcp(format!("it answered with something that is not JSON-RPC ({e})")))?;
    if let Some(err) = env.error {
        let e: RpcError =
            serde_json::from_str(err.get()).map_err(|e| not_mcp(format!("malformed JSON-RPC error: {e}")))?;
        return Err(UpstreamError::Rpc {
            url: url.into(),
            code: e.code,
            message: e.message,
        });
    }
    env.result
        .map(ToOwned::to_owned)
        .ok_or_else(|| not_mcp("its response has no result".into()))
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// A 4xx answer to a forwarded request whose JSON body is a JSON-RPC error
/// response: the same, for the relay to read; anything else the failure it
/// is.
async fn rpc_error_answer(url: &str, mut res: reqwest::Response) -> Result<reqwest::Response, UpstreamError> {
    /// An error answer is small; a bigger body is not one.
    const MAX: usize = 64 * 1024;
    let status = res.status();
    let headers = res.headers().clone();
    let failed = |body: &[u8]| UpstreamError::Http {
        url: url.into(),
        status: status.as_u16(),
        body: String::from_utf8_lossy(body).chars().take(300).collect(),
    };
    let body = match super::read_capped(&mut res, MAX).await {
        Ok(Some(body)) => body,
        _ => return Err(failed(b"")),
    };
    let is_error = crate::jsonrpc::Envelope::parse(&body).is_ok_and(|e| e.error.is_some() && e.id.is_some());
    if !is_error {
        return Err(failed(&body));
    }
    let mut answer = http::Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer.into())
}
