//! `mcpgw stdio --url URL [--token T]`: a bridge for desktop clients that
//! only spawn commands. JSON-RPC messages read from stdin, one per line, are
//! POSTed to a gateway's Streamable HTTP endpoint; everything the gateway
//! answers (JSON, or each message of an event stream: progress, logs, the
//! backend's own requests, the response) is written to stdout, one per line.
//! The `Mcp-Session-Id` the gateway hands out is kept and sent back; messages
//! are sent concurrently, so a slow call does not hold up the next.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::StreamExt;
use mcpgw_data_plane::{
    jsonrpc::Envelope,
    upstream::sse::{SseDecoder, is_event_stream},
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
            bridge.send(line).await;
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
    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, self.url.clone())
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = self.session.lock().expect("poisoned").as_deref() {
            req = req.header("mcp-session-id", s);
        }
        req
    }

    /// POSTs one message; writes what comes back to stdout.
    async fn send(&self, line: String) {
        let sent = self
            .request(reqwest::Method::POST)
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
        if is_event_stream(res.headers()) {
            let mut body = res.bytes_stream();
            let mut decoder = SseDecoder::default();
            while let Some(Ok(chunk)) = body.next().await {
                decoder.push(&chunk);
                while let Ok(Some(ev)) = decoder.next_event() {
                    if !ev.data.trim().is_empty() && self.out.send(ev.data).await.is_err() {
                        return;
                    }
                }
            }
        } else if let Ok(text) = res.text().await
            && !text.trim().is_empty()
        {
            // A JSON answer, or a JSON-RPC error for a refused message.
            let _ = self.out.send(text).await;
        }
    }

    /// Ends the gateway session, as a polite client does.
    async fn end(&self) {
        if self.session.lock().expect("poisoned").is_some() {
            let _ = self.request(reqwest::Method::DELETE).send().await;
        }
    }
}
