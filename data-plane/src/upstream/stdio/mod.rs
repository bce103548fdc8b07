//! MCP servers run as child processes and spoken to over stdio, as MCP
//! clients run them: each node runs one child per stdio backend, started on
//! first use and again after it exits (with backoff), every call to it
//! multiplexed on its one stdin/stdout ([`pipe`]). Its stderr goes to the
//! node's log. The child gets only the environment it was registered with
//! (plus `PATH` and `HOME`), never the gateway's secrets, and ends with the
//! node: it is killed when its backend goes, and its stdin closes when the
//! node exits, which ends an SDK server.
//!
//! Running commands is opt-in per process (`MCPGW_ALLOW_STDIO_BACKENDS`).

pub mod pipe;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::io::{AsyncBufReadExt, BufReader};

pub use pipe::Pipe;

use super::{McpHttpClient, UpstreamError, UpstreamSession, handshake};

/// What to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StdioCommand {
    pub command: String,
    pub args: Vec<String>,
    /// Working directory; empty for the gateway's.
    pub cwd: String,
}

/// Lines of a child's stderr kept for error messages.
const STDERR_KEPT: usize = 5;
/// The longest stderr line logged.
const STDERR_LINE: usize = 2000;
/// Pauses between starts of a child that keeps exiting.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A stdio backend on this node.
pub struct StdioBackend {
    /// `stdio:<command>`, for messages.
    pub url: Arc<str>,
    name: Arc<str>,
    command: StdioCommand,
    env: Vec<(String, String)>,
    allowed: bool,
    client: McpHttpClient,
    current: Mutex<Option<Running>>,
    starting: tokio::sync::Mutex<()>,
    backoff: Mutex<(Option<Instant>, Duration)>,
}

impl std::fmt::Debug for StdioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioBackend")
            .field("url", &self.url)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// A started child: its session (whose pipe is its stdio) and the process,
/// killed when this is dropped.
struct Running {
    session: Arc<UpstreamSession>,
    _process: Arc<tokio::process::Child>,
}

impl StdioBackend {
    /// `env` holds the child's environment (it was sealed with the
    /// backend's credentials); `allowed` whether this process may run
    /// commands at all.
    pub fn new(
        name: &str,
        command: StdioCommand,
        env: Vec<(String, String)>,
        allowed: bool,
        client: McpHttpClient,
    ) -> Self {
        Self {
            url: format!("stdio:{}", command.command).into(),
            name: name.into(),
            command,
            env,
            allowed,
            client,
            current: Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
            backoff: Mutex::new((None, FIRST_BACKOFF)),
        }
    }

    fn live(&self) -> Option<Arc<UpstreamSession>> {
        let current = self.current.lock().expect("poisoned");
        current
            .as_ref()
            .filter(|r| !r.session.pipe.as_ref().is_some_and(|p| p.is_closed()))
            .map(|r| r.session.clone())
    }

    /// The session with the running child, starting one if none runs.
    pub async fn session(&self) -> Result<Arc<UpstreamSession>, UpstreamError> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        if !self.allowed {
            return Err(UpstreamError::NotMcp {
                url: self.url.to_string(),
                reason: "this process does not run stdio backends; set MCPGW_ALLOW_STDIO_BACKENDS=true to allow it"
                    .into(),
            });
        }
        let _starting = self.starting.lock().await;
        if let Some(s) = self.live() {
            return Ok(s);
        }
        {
            let mut backoff = self.backoff.lock().expect("poisoned");
            if let (Some(last), pause) = *backoff
                && last.elapsed() < pause
            {
                return Err(UpstreamError::Unreachable {
                    url: self.url.to_string(),
                    reason: format!(
                        "it exited; starting it again in {} ms",
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
        }
        let running = self.start().await?;
        let session = running.session.clone();
        *self.current.lock().expect("poisoned") = Some(running);
        Ok(session)
    }

    /// Writes a message to the running child (an answer, a notification);
    /// nothing if none runs.
    pub async fn deliver(&self, body: Vec<u8>) -> Result<(), UpstreamError> {
        match self.live() {
            Some(s) => s.deliver(body).await,
            None => Err(UpstreamError::Unreachable {
                url: self.url.to_string(),
                reason: "it is not running".into(),
            }),
        }
    }

    async fn start(&self) -> Result<Running, UpstreamError> {
        let unreachable = |reason: String| UpstreamError::Unreachable {
            url: self.url.to_string(),
            reason,
        };
        let mut cmd = tokio::process::Command::new(&self.command.command);
        cmd.args(&self.command.args)
            .env_clear()
            .envs(
                ["PATH", "HOME"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if !self.command.cwd.is_empty() {
            cmd.current_dir(&self.command.cwd);
        }
        let mut process = cmd
            .spawn()
            .map_err(|e| unreachable(format!("cannot run {:?}: {e}", self.command.command)))?;
        let (stdin, stdout, stderr) = (
            process.stdin.take().expect("piped stdin"),
            process.stdout.take().expect("piped stdout"),
            process.stderr.take().expect("piped stderr"),
        );
        let pipe = Pipe::open(self.url.clone(), stdin, BufReader::with_capacity(64 * 1024, stdout));
        let logging = log_stderr(self.name.clone(), pipe.clone(), stderr);
        let session = match handshake::over_pipe(&self.client, pipe.clone()).await {
            Ok(s) => s,
            Err(_) if pipe.is_closed() => {
                // It exited: what it said on stderr (read to its end) says why.
                let _ = tokio::time::timeout(Duration::from_secs(1), logging).await;
                return Err(pipe.gone());
            }
            Err(e) => return Err(e),
        };
        tracing::info!(backend = %self.name, pid = process.id(), "started stdio backend");
        self.backoff.lock().expect("poisoned").1 = FIRST_BACKOFF;
        Ok(Running {
            session: Arc::new(session),
            _process: Arc::new(process),
        })
    }
}

/// Logs a child's stderr line by line, keeping the last few for errors.
fn log_stderr(name: Arc<str>, pipe: Arc<Pipe>, stderr: tokio::process::ChildStderr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line: String = line.chars().take(STDERR_LINE).collect();
            tracing::info!(backend = %name, "stderr: {line}");
            let mut kept = pipe.stderr.lock().expect("poisoned");
            if kept.len() == STDERR_KEPT {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    })
}
