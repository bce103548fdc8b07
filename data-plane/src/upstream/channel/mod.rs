//! Backends the gateway holds one standing channel to, instead of a request
//! per message: MCP servers run as child processes and spoken to over stdio
//! ([`stdio`]), and MCP servers reached over a WebSocket ([`websocket`]).
//! Each node opens one channel per such backend, on first use and again
//! after it ends (with backoff), and multiplexes every call to the backend
//! on it ([`pipe`]), as it does with the pooled HTTP session.

pub mod pipe;
pub mod stdio;
pub mod websocket;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub use pipe::Pipe;
pub use stdio::StdioCommand;

use super::{McpHttpClient, UpstreamError, UpstreamSession, handshake};

/// Pauses between openings of a channel that keeps ending.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How a channel is opened.
#[derive(Debug)]
pub enum Opener {
    /// Run a command; `allowed` says whether this process may.
    Stdio {
        command: StdioCommand,
        env: Vec<(String, String)>,
        allowed: bool,
    },
    /// Connect to a `ws://` or `wss://` URL with the client's credentials
    /// and, for `wss://`, these TLS settings.
    WebSocket {
        url: String,
        tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    },
}

/// A backend reached over a standing channel, on this node.
pub struct ChannelBackend {
    /// `stdio:<command>` or the WebSocket URL, for messages.
    pub url: Arc<str>,
    name: Arc<str>,
    opener: Opener,
    client: McpHttpClient,
    current: Mutex<Option<Open>>,
    opening: tokio::sync::Mutex<()>,
    /// When the channel was last opened, and the pause before the next.
    backoff: Mutex<(Option<Instant>, Duration)>,
    /// Told what the backend says of its session.
    session_notes: std::sync::OnceLock<pipe::NoteHook>,
}

impl std::fmt::Debug for ChannelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBackend")
            .field("url", &self.url)
            .field("opener", &self.opener)
            .finish_non_exhaustive()
    }
}

/// An open channel: its session (whose pipe carries everything) and what
/// keeps it open (a child process, killed when this is dropped).
struct Open {
    session: Arc<UpstreamSession>,
    /// The child process (dropping it kills it), or the WebSocket
    /// connection's tasks (dropping them ends it).
    _keep: Box<dyn Send>,
}

impl ChannelBackend {
    /// `client` holds the backend's credentials (WebSocket) and the timeout.
    pub fn new(name: &str, url: Arc<str>, opener: Opener, client: McpHttpClient) -> Self {
        Self {
            url,
            name: name.into(),
            opener,
            client,
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            backoff: Mutex::new((None, FIRST_BACKOFF)),
            session_notes: std::sync::OnceLock::new(),
        }
    }

    /// Tells `hook` what the backend says of its session (its lists or a
    /// resource changed), on every channel it opens from now on.
    pub fn on_session_note(&self, hook: pipe::NoteHook) {
        let _ = self.session_notes.set(hook);
    }

    fn live(&self) -> Option<Arc<UpstreamSession>> {
        let current = self.current.lock().expect("poisoned");
        current
            .as_ref()
            .filter(|o| !o.session.pipe.as_ref().is_some_and(|p| p.is_closed()))
            .map(|o| o.session.clone())
    }

    /// The session over the open channel, opening one if none is.
    /// Concurrent callers share one opening.
    pub async fn session(&self) -> Result<Arc<UpstreamSession>, UpstreamError> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        if let Opener::Stdio { allowed: false, .. } = self.opener {
            return Err(UpstreamError::Unreachable {
                url: self.url.to_string(),
                reason: "this process does not run stdio backends; set MCPGW_ALLOW_STDIO_BACKENDS=true to allow it"
                    .into(),
            });
        }
        let _opening = self.opening.lock().await;
        if let Some(s) = self.live() {
            return Ok(s);
        }
        self.may_open()?;
        let open = self.open().await?;
        let session = open.session.clone();
        *self.current.lock().expect("poisoned") = Some(open);
        self.backoff.lock().expect("poisoned").1 = FIRST_BACKOFF;
        Ok(session)
    }

    /// Refuses to open again sooner than the backoff allows; each refusal
    /// of a channel that keeps ending doubles the pause.
    fn may_open(&self) -> Result<(), UpstreamError> {
        let mut backoff = self.backoff.lock().expect("poisoned");
        if let (Some(last), pause) = *backoff
            && last.elapsed() < pause
        {
            return Err(UpstreamError::Unreachable {
                url: self.url.to_string(),
                reason: format!(
                    "its channel ended; opening it again in {} ms",
                    (pause - last.elapsed()).as_millis()
                ),
            });
        }
        let pause = if backoff.0.is_some() {
            (backoff.1 * 2).min(MAX_BACKOFF)
        } else {
            backoff.1
        };
        *backoff = (Some(Instant::now()), pause);
        Ok(())
    }

    async fn open(&self) -> Result<Open, UpstreamError> {
        let (pipe, keep, stderr) = match &self.opener {
            Opener::Stdio { command, env, .. } => {
                let (pipe, child, stderr) = stdio::spawn(&self.name, &self.url, command, env)?;
                (pipe, Box::new(child) as Box<dyn Send>, Some(stderr))
            }
            Opener::WebSocket { url, tls } => {
                let (pipe, tasks) = websocket::connect(&self.client, url, tls.clone()).await?;
                (pipe, Box::new(tasks) as Box<dyn Send>, None)
            }
        };
        if let Some(hook) = self.session_notes.get() {
            pipe.on_session_note(hook.clone());
        }
        let session = match handshake::over_pipe(&self.client, pipe.clone()).await {
            Ok(s) => s,
            Err(_) if pipe.is_closed() => {
                // It went away: what it said on stderr (read to its end) says why.
                if let Some(stderr) = stderr {
                    let _ = tokio::time::timeout(Duration::from_secs(1), stderr).await;
                }
                return Err(pipe.gone());
            }
            Err(e) => return Err(e),
        };
        tracing::info!(backend = %self.name, url = %self.url, "opened the backend's channel");
        Ok(Open {
            session: Arc::new(session),
            _keep: keep,
        })
    }

    /// Sends a message on the open channel (an answer, a notification).
    pub async fn deliver(&self, body: Vec<u8>) -> Result<(), UpstreamError> {
        match self.live() {
            Some(s) => s.deliver(body).await,
            None => Err(UpstreamError::Unreachable {
                url: self.url.to_string(),
                reason: "its channel is not open".into(),
            }),
        }
    }
}
