//! One MCP conversation over a channel that carries whole messages both
//! ways (a child's stdin and stdout, a WebSocket): messages out through a
//! queue the channel's writer drains, and what comes back routed to the
//! call it belongs to. Many calls share the pipe, each under a request id
//! unique in it, as in the pooled HTTP session.
//!
//! What comes back is routed by id (responses) or by progress token (which
//! forwarding sets to the request id). What names no call (logs, the
//! server's own requests) goes to the one call in flight when there is
//! exactly one, which is what a server that asks in the middle of a tool
//! call means; with several in flight a request is refused, since guessing
//! would hand one client's question to another.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    error::{ErrorKind, McpError},
    jsonrpc::{Envelope, Message},
    sse::SseDecoder,
    upstream::{EventStream, UpstreamError},
};

/// Messages waiting for one call before the pipe gives up on it.
const PER_CALL: usize = 1024;
/// Longest line read from the server.
pub const MAX_LINE: usize = 16 << 20;

/// The sending half and the routing table of one pipe; shared by the
/// session and the task that reads.
#[derive(Debug)]
pub struct Pipe {
    /// Where the backend is, for messages.
    pub url: Arc<str>,
    writer: mpsc::Sender<Vec<u8>>,
    routes: Mutex<HashMap<String, mpsc::Sender<reqwest::Result<Bytes>>>>,
    closed: AtomicBool,
    /// How the other side going away is said ("it exited").
    ended: &'static str,
    /// The last lines the server wrote to stderr, for errors.
    pub stderr: Mutex<VecDeque<String>>,
    /// Told what the server says of its session (not of a call).
    session_notes: std::sync::OnceLock<NoteHook>,
}

/// What a server says of its session, outside any call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionNote<'a> {
    /// Its tools, prompts or resources changed.
    ListChanged,
    /// A resource it serves changed (`notifications/resources/updated`).
    ResourceUpdated(&'a str),
}

/// What a channel does with its backend's [`SessionNote`]s.
#[derive(Clone)]
pub struct NoteHook(pub Arc<dyn Fn(SessionNote<'_>) + Send + Sync>);

impl std::fmt::Debug for NoteHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoteHook")
    }
}

#[derive(Deserialize)]
struct Updated<'a> {
    #[serde(borrow)]
    uri: crate::jsonrpc::CowStr<'a>,
}

#[derive(Deserialize)]
struct Progress<'a> {
    #[serde(rename = "progressToken", borrow)]
    progress_token: &'a RawValue,
}

impl Pipe {
    /// Tells `hook` what the server says of its session.
    pub fn on_session_note(&self, hook: NoteHook) {
        let _ = self.session_notes.set(hook);
    }

    /// A pipe, and the queue of messages to send that the channel's
    /// writer drains; the channel's reader hands what arrives to
    /// [`Pipe::receive`] and calls [`Pipe::close`] when it ends.
    pub fn new(url: Arc<str>, ended: &'static str) -> (Arc<Pipe>, mpsc::Receiver<Vec<u8>>) {
        let (writer, queued) = mpsc::channel::<Vec<u8>>(256);
        let pipe = Arc::new(Pipe {
            url,
            writer,
            routes: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            ended,
            stderr: Mutex::new(VecDeque::new()),
            session_notes: std::sync::OnceLock::new(),
        });
        (pipe, queued)
    }

    /// A pipe over newline-delimited JSON-RPC: writing to `to`, reading
    /// from `from` (a child's stdin and stdout).
    pub fn over_lines(
        url: Arc<str>,
        mut to: impl AsyncWrite + Unpin + Send + 'static,
        mut from: impl AsyncBufRead + Unpin + Send + 'static,
    ) -> Arc<Pipe> {
        let (pipe, mut queued) = Pipe::new(url, "it exited");
        tokio::spawn(async move {
            while let Some(mut line) = queued.recv().await {
                line.push(b'\n');
                if to.write_all(&line).await.is_err() || to.flush().await.is_err() {
                    break;
                }
            }
        });
        let reading = pipe.clone();
        tokio::spawn(async move {
            let mut line = Vec::new();
            loop {
                line.clear();
                match read_line(&mut from, &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => reading.receive(&line),
                }
            }
            reading.close();
        });
        pipe
    }

    /// Whether the other side is gone.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn gone(&self) -> UpstreamError {
        let said: Vec<String> = self.stderr.lock().expect("poisoned").iter().cloned().collect();
        let reason = if said.is_empty() {
            self.ended.to_owned()
        } else {
            format!("{}; its stderr ended with: {}", self.ended, said.join(" | "))
        };
        UpstreamError::Unreachable {
            url: self.url.to_string(),
            reason,
        }
    }

    /// Sends one message.
    pub async fn send(&self, body: Vec<u8>) -> Result<(), UpstreamError> {
        if self.is_closed() {
            return Err(self.gone());
        }
        self.writer.send(body).await.map_err(|_| self.gone())
    }

    /// What comes back for request `id`, as an event stream (the form every
    /// relayed answer takes); it ends after the response, or when the
    /// server goes away.
    pub fn expect(&self, id: u64) -> EventStream {
        let (tx, rx) = mpsc::channel(PER_CALL);
        if !self.is_closed() {
            self.routes.lock().expect("poisoned").insert(id.to_string(), tx);
        }
        EventStream {
            body: ReceiverStream::new(rx).boxed(),
            decoder: SseDecoder::default(),
        }
    }

    /// Sends request `body` (with id `id`) and waits for its response, for
    /// the gateway's own requests (handshake, discovery).
    pub async fn ask(&self, id: u64, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, UpstreamError> {
        let mut answers = self.expect(id);
        self.send(body).await?;
        match tokio::time::timeout(timeout, answers.response(&self.url, &id.to_string())).await {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(_)) if self.is_closed() => Err(self.gone()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(UpstreamError::Timeout {
                url: self.url.to_string(),
                secs: timeout.as_secs(),
            }),
        }
    }

    /// Routes one message (or batch) that arrived.
    pub fn receive(&self, msg: &[u8]) {
        let text = msg.trim_ascii();
        if text.is_empty() {
            return;
        }
        if text.starts_with(b"[") {
            // A batch: each message routed on its own.
            match serde_json::from_slice::<Vec<&RawValue>>(text) {
                Ok(batch) => batch.iter().for_each(|m| self.route(m.get().as_bytes())),
                Err(e) => tracing::debug!(backend = %self.url, error = %e, "a batch that is not JSON"),
            }
        } else {
            self.route(text);
        }
    }

    /// The other side is gone: every call waiting ends, its stream closed
    /// unanswered.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.routes.lock().expect("poisoned").clear();
    }

    fn route(&self, msg: &[u8]) {
        let Ok(env) = Envelope::parse(msg) else {
            tracing::debug!(backend = %self.url, "a line that is not JSON-RPC");
            return;
        };
        let mut routes = self.routes.lock().expect("poisoned");
        let (key, last) = match env.classify() {
            Ok(Message::Response { id }) => (Some(id.get().to_owned()), true),
            Ok(Message::Notification {
                method: "notifications/progress",
            }) => {
                let token = env
                    .params
                    .and_then(|p| serde_json::from_str::<Progress<'_>>(p.get()).ok())
                    .map(|p| p.progress_token.get().to_owned());
                (token, false)
            }
            Ok(Message::Notification { method })
                if method.ends_with("/list_changed") || method == "notifications/resources/updated" =>
            {
                // The session's, not a call's: told on (the control plane
                // re-lists the backend; subscribers hear of the resource).
                tracing::debug!(backend = %self.url, %method, "a channel backend's session notification");
                drop(routes);
                let Some(hook) = self.session_notes.get() else { return };
                if method.ends_with("/list_changed") {
                    (hook.0)(SessionNote::ListChanged);
                } else if let Some(u) = env
                    .params
                    .and_then(|p| serde_json::from_str::<Updated<'_>>(p.get()).ok())
                {
                    (hook.0)(SessionNote::ResourceUpdated(&u.uri));
                }
                return;
            }
            Ok(Message::Request { .. } | Message::Notification { .. }) => {
                // Names no call: the one in flight, if only one is.
                let only = (routes.len() == 1).then(|| routes.keys().next().cloned()).flatten();
                if only.is_none() && matches!(env.classify(), Ok(Message::Request { .. })) {
                    drop(routes);
                    self.refuse(&env);
                    return;
                }
                (only, false)
            }
            Err(_) => (None, false),
        };
        let Some(key) = key else { return };
        let event = Bytes::from([b"data: ", msg, b"\n\n"].concat());
        let delivered = routes.get(&key).is_some_and(|tx| tx.try_send(Ok(event)).is_ok());
        if last || !delivered {
            // Answered, or the call is not reading: it ends here.
            routes.remove(&key);
        }
    }

    /// Answers a request of the server's that no call can take.
    fn refuse(&self, env: &Envelope<'_>) {
        let Some(id) = env.id else { return };
        let why =
            "mcpgw cannot tell which client this request is for: several calls to this stdio backend are in flight";
        let body = McpError::new(ErrorKind::Internal, why).with_id(Some(id)).body();
        let _ = self.writer.try_send(body);
    }
}

/// Reads one line into `line`, refusing lines over [`MAX_LINE`].
async fn read_line(from: &mut (impl AsyncBufRead + Unpin), line: &mut Vec<u8>) -> std::io::Result<usize> {
    loop {
        let buf = from.fill_buf().await?;
        if buf.is_empty() {
            return Ok(line.len());
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        from.consume(take);
        if line.len() > MAX_LINE {
            return Err(std::io::Error::other("a line over the limit"));
        }
        if done {
            return Ok(line.len());
        }
    }
}
