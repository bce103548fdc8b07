//! `mcpgw stdio --url URL [--token T]`: a bridge for desktop clients that
//! only spawn commands. JSON-RPC messages read from stdin, one per line, are
//! POSTed to a gateway's Streamable HTTP endpoint; everything the gateway
//! answers (JSON, or each message of an event stream: progress, logs, the
//! backend's own requests, the response) is written to stdout, one per line.
//! The `Mcp-Session-Id` the gateway hands out is kept and sent back; messages
//! are sent concurrently, so a slow call does not hold up the next. Once the
//! session exists the bridge also holds its standalone stream open (what
//! belongs to no request: list changes, resource updates). A stream that
//! ends early, a call's before its answer or the standalone one, is resumed
//! with `Last-Event-ID`, as the gateway's `retry` hint says.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use futures::StreamExt;
use mcpgw_data_plane::{
    jsonrpc::Envelope,
    sse::{SseDecoder, is_event_stream},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::mpsc,
};

#[derive(clap::Args)]
pub struct StdioArgs {
    /// The gateway's MCP endpoint, e.g. https://gw.example.com/mcp or
    /// http://127.0.0.1:4444/servers/NAME/mcp.
    #[arg(long)]
    url: String,
    /// A bearer token for the gateway.
    #[arg(long, env = "MCPGW_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// How often a call's stream is resumed before the bridge gives up on it.
const RESUMES: usize = 5;

/// Where a stream is, to resume it.
struct Resumable {
    last: Option<String>,
    retry: Duration,
}

impl Default for Resumable {
    fn default() -> Self {
        Self {
            last: None,
            retry: Duration::from_secs(1),
        }
    }
}

struct Bridge {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    session: Mutex<Option<String>>,
    /// Serializes the `initialize` exchange, so no message is sent before the
    /// session id it needs exists.
    initializing: tokio::sync::Mutex<()>,
    out: mpsc::Sender<String>,
}

pub async fn run(args: StdioArgs) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(&args.url).with_context(|| format!("--url {:?} is not a URL", args.url))?;
    let (out, mut outbox) = mpsc::channel::<String>(256);
    let bridge = Arc::new(Bridge {
        http: reqwest::Client::new(),
        url,
        token: args.token,
        session: Mutex::new(None),
        initializing: tokio::sync::Mutex::new(()),
        out,
    });
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = outbox.recv().await {
            let line = line.replace(['\n', '\r'], " ");
            if stdout.write_all(format!("{line}\n").as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut sends = tokio::task::JoinSet::new();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let bridge = bridge.clone();
        let is_initialize = Envelope::parse(line.as_bytes()).is_ok_and(|e| e.method.as_deref() == Some("initialize"));
        if is_initialize {
            // The handshake goes first and alone.
            let _guard = bridge.initializing.lock().await;
            let listening = bridge.session.lock().expect("poisoned").is_some();
            bridge.send(line).await;
            if !listening && bridge.session.lock().expect("poisoned").is_some() {
                tokio::spawn(bridge.clone().listen());
            }
        } else {
            sends.spawn(async move {
                drop(bridge.initializing.lock().await);
                bridge.send(line).await;
            });
        }
    }
    // stdin closed: finish what is in flight, end the session, stop.
    while sends.join_next().await.is_some() {}
    bridge.end().await;
    drop(bridge);
    let _ = writer.await;
    Ok(())
}

impl Bridge {
    fn request(&self, method: reqwest::Method, accept: &'static str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url.clone()).header("accept", accept);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = self.session.lock().expect("poisoned").as_deref() {
            req = req.header("mcp-session-id", s);
        }
        req
    }

    /// POSTs one message; writes what comes back to stdout, resuming a
    /// stream that ends before the answer.
    async fn send(&self, line: String) {
        let request_id = Envelope::parse(line.as_bytes())
            .ok()
            .filter(|e| e.method.is_some())
            .and_then(|e| e.id.map(|id| id.get().to_owned()));
        let sent = self
            .request(reqwest::Method::POST, "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(line)
            .send()
            .await;
        let res = match sent {
            Ok(r) => r,
            Err(e) => {
                eprintln!("mcpgw stdio: cannot reach {}: {e}", self.url);
                return;
            }
        };
        if let Some(sid) = res.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            *self.session.lock().expect("poisoned") = Some(sid.to_owned());
        }
        if !is_event_stream(res.headers()) {
            if let Ok(text) = res.text().await
                && !text.trim().is_empty()
            {
                // A JSON answer, or a JSON-RPC error for a refused message.
                let _ = self.out.send(text).await;
            }
            return;
        }
        let mut stream = Resumable::default();
        let mut answered = self.relay(res, request_id.as_deref(), &mut stream).await;
        for _ in 0..RESUMES {
            if answered != Some(false) || request_id.is_none() || stream.last.is_none() {
                return;
            }
            tokio::time::sleep(stream.retry).await;
            let Some(res) = self.get(stream.last.as_deref()).await else {
                return;
            };
            answered = self.relay(res, request_id.as_deref(), &mut stream).await;
        }
    }

    /// Holds the session's standalone stream open, resuming it when it
    /// ends, until the gateway says it offers none or the bridge stops.
    async fn listen(self: Arc<Self>) {
        let mut stream = Resumable::default();
        loop {
            match self.get(stream.last.as_deref()).await {
                Some(res) => {
                    if self.relay(res, None, &mut stream).await.is_none() {
                        return;
                    }
                }
                // The gateway refused (no such stream, session gone): start over once.
                None if stream.last.take().is_some() => {}
                None => return,
            }
            tokio::time::sleep(stream.retry).await;
        }
    }

    /// `GET`: the session's standalone stream, or with `Last-Event-ID` the
    /// rest of a stream; `None` if the gateway offers none.
    async fn get(&self, last: Option<&str>) -> Option<reqwest::Response> {
        let mut req = self.request(reqwest::Method::GET, "text/event-stream");
        if let Some(last) = last {
            req = req.header("last-event-id", last);
        }
        let res = req.send().await.ok()?;
        (res.status().is_success() && is_event_stream(res.headers())).then_some(res)
    }

    /// Writes an event stream's messages to stdout, noting where it is for a
    /// resume. Whether it carried the response to `request_id` (`None` once
    /// stdout is gone).
    async fn relay(&self, res: reqwest::Response, request_id: Option<&str>, stream: &mut Resumable) -> Option<bool> {
        let mut body = res.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut answered = false;
        while let Some(Ok(chunk)) = body.next().await {
            decoder.push(&chunk);
            while let Ok(Some(ev)) = decoder.next_event() {
                if ev.id.is_some() {
                    stream.last = ev.id;
                }
                if let Some(ms) = ev.retry {
                    stream.retry = Duration::from_millis(ms);
                }
                if ev.data.trim().is_empty() {
                    continue;
                }
                answered |= request_id.is_some_and(|id| {
                    Envelope::parse(ev.data.as_bytes())
                        .is_ok_and(|e| e.method.is_none() && e.id.is_some_and(|i| i.get() == id))
                });
                self.out.send(ev.data).await.ok()?;
            }
        }
        Some(answered)
    }

    /// Ends the gateway session, as a polite client does.
    async fn end(&self) {
        if self.session.lock().expect("poisoned").is_some() {
            let _ = self
                .request(reqwest::Method::DELETE, "application/json, text/event-stream")
                .send()
                .await;
        }
    }
}
