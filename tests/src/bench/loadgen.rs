//! The load generator: real MCP sessions over Streamable HTTP (`initialize`
//! once per session, then `tools/call`), driven closed-loop (each session
//! sends its next call when the last one returns: maximum throughput at a
//! concurrency) or open-loop (calls start at fixed intervals whatever the
//! server does, and latency counts from the *intended* start, so a server
//! that falls behind shows its queueing instead of hiding it: no
//! coordinated omission).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Request, header};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4096)
        .build(connector)
}

/// Where to send calls and which tool to call.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    /// The tool to call; empty for `ping`.
    pub tool: String,
    pub arguments: String,
    /// The client capabilities its sessions declare (raw JSON): `{}` for a
    /// client that answers nothing, which shares the gateway's pooled
    /// backend session; with `sampling` it gets backend sessions of its own.
    pub capabilities: &'static str,
    /// A 2026-07-28 client: no session, `_meta` and headers on each call.
    pub stateless: bool,
}

/// One initialized MCP session.
#[derive(Clone)]
pub struct Session {
    pub id: Option<String>,
    next: Arc<AtomicU64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct RunResult {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Microseconds; for open loop from the intended start.
    pub latency: Histogram<u64>,
}

impl RunResult {
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    pub fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

fn post(target: &Target, session: Option<&str>, body: String) -> Request<Full<Bytes>> {
    let mut req = Request::post(&target.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    req = if target.stateless {
        req.header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", &target.tool)
    } else {
        req.header("mcp-protocol-version", "2025-06-18")
    };
    if let Some(t) = &target.token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.body(Full::new(Bytes::from(body))).expect("valid request")
}

/// Sends one message and reads the whole answer; `Err` on a non-2xx status
/// or an answer that is not a result.
pub async fn send(
    client: &HttpClient,
    target: &Target,
    session: Option<&str>,
    body: String,
) -> Result<(hyper::HeaderMap, Bytes), String> {
    let res = client
        .request(post(target, session, body))
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    Ok((headers, bytes))
}

impl Session {
    pub async fn open(client: &HttpClient, target: &Target) -> Result<Self, String> {
        if target.stateless {
            return Ok(Self {
                id: None,
                next: Arc::new(AtomicU64::new(1)),
            });
        }
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{{"name":"mcpgw-bench","version":"1"}}}}}}"#,
            target.capabilities
        );
        let (headers, _) = send(client, target, None, init).await?;
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let s = Self {
            id,
            next: Arc::new(AtomicU64::new(1)),
        };
        send(
            client,
            target,
            s.id.as_deref(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        )
        .await?;
        Ok(s)
    }

    pub async fn open_many(client: &HttpClient, target: &Target, n: usize) -> Result<Vec<Self>, String> {
        let mut out = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            let opened = futures::future::join_all(chunk.iter().map(|_| Self::open(client, target))).await;
            for s in opened {
                out.push(s?);
            }
        }
        Ok(out)
    }

    /// One `tools/call`; `Ok` when a result came back.
    pub async fn call(&self, client: &HttpClient, target: &Target) -> Result<(), String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // An empty tool name means `ping`: the gateway's own handling, nothing forwarded.
        let body = if target.tool.is_empty() {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#)
        } else if target.stateless {
            format!(
                concat!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{}","arguments":{},"#,
                    r#""_meta":{{"progressToken":{id},"io.modelcontextprotocol/protocolVersion":"2026-07-28","#,
                    r#""io.modelcontextprotocol/clientCapabilities":{}}}}}}}"#
                ),
                target.tool,
                target.arguments,
                target.capabilities,
                id = id
            )
        } else {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{}","arguments":{},"_meta":{{"progressToken":{id}}}}}}}"#,
                target.tool, target.arguments
            )
        };
        let session = if target.stateless { None } else { self.id.as_deref() };
        let (_, bytes) = send(client, target, session, body).await?;
        if memchr_result(&bytes) {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// Prints the first failed call of the process, so a failing run says why
/// without flooding the terminal.
fn report_first_failure(e: &str) {
    static SEEN: std::sync::Once = std::sync::Once::new();
    SEEN.call_once(|| eprintln!("first failed call: {}", &e[..e.floor_char_boundary(300.min(e.len()))]));
}

fn memchr_result(b: &[u8]) -> bool {
    b.windows(9).any(|w| w == br#""result":"#)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// Every session calls back-to-back for `duration` (after `warmup`).
pub async fn closed_loop(
    client: &HttpClient,
    target: &Target,
    sessions: &[Session],
    warmup: Duration,
    duration: Duration,
) -> RunResult {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let tasks = sessions.iter().cloned().map(|s| {
        let (client, target) = (client.clone(), target.clone());
        tokio::spawn(async move {
            let mut h = histogram();
            let (mut calls, mut errors) = (0u64, 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let r = s.call(&client, &target).await;
                if let Err(e) = &r {
                    report_first_failure(e);
                }
                let ok = r.is_ok();
                if t0 >= measure_from {
                    if ok {
                        calls += 1;
                        h.saturating_record(t0.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
            }
            (calls, errors, h)
        })
    });
    let mut total = RunResult {
        calls: 0,
        errors: 0,
        elapsed: duration,
        latency: histogram(),
    };
    for t in futures::future::join_all(tasks).await {
        let (c, e, h) = t.expect("load task");
        total.calls += c;
        total.errors += e;
        total.latency.add(h).expect("same bounds");
    }
    total
}

/// Calls start every `1/rate` seconds for `duration` (after `warmup` at the
/// same rate), round-robin over the sessions, each on its own task.
/// Scheduling runs on an OS thread with `nanosleep`, whose precision (tens of
/// µs) is far finer than the async timer's millisecond.
pub async fn open_loop(
    client: &HttpClient,
    target: &Target,
    sessions: &[Session],
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> RunResult {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let warm_n = (warmup.as_secs_f64() * rate) as u64;
    let n = (duration.as_secs_f64() * rate) as u64;
    let shared = Arc::new(Mutex::new((0u64, 0u64, histogram())));
    let handle = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (client, target, sessions) = (client.clone(), target.clone(), sessions.to_vec());
    let shared2 = shared.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity((warm_n + n) as usize);
        for i in 0..warm_n + n {
            let intended = start + interval * i as u32;
            if let Some(wait) = intended.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (client, target, s, shared) = (
                client.clone(),
                target.clone(),
                sessions[i as usize % sessions.len()].clone(),
                shared2.clone(),
            );
            let measured = i >= warm_n;
            tasks.push(handle.spawn(async move {
                let r = s.call(&client, &target).await;
                if let Err(e) = &r {
                    report_first_failure(e);
                }
                let ok = r.is_ok();
                if measured {
                    let mut g = shared.lock().expect("poisoned");
                    if ok {
                        g.0 += 1;
                        g.2.saturating_record(intended.elapsed().as_micros() as u64);
                    } else {
                        g.1 += 1;
                    }
                }
            }));
        }
        let _ = done_tx.send(tasks);
    });
    let tasks = done_rx.await.expect("scheduler thread");
    futures::future::join_all(tasks).await;
    let (calls, errors, latency) = std::mem::replace(&mut *shared.lock().expect("poisoned"), (0, 0, histogram()));
    RunResult {
        calls,
        errors,
        elapsed: duration,
        latency,
    }
}
