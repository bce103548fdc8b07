//! MCP servers run as child processes, as MCP clients run them: newline-
//! delimited JSON-RPC on stdin and stdout, logs on stderr (to the node's
//! log). The child gets only the environment it was registered with (plus
//! `PATH` and `HOME`), never the gateway's secrets. It is killed when its
//! backend goes, and its stdin closes when the node exits, which ends an
//! SDK server. Running commands is opt-in per process
//! (`MCPGW_ALLOW_STDIO_BACKENDS`).

use std::{process::Stdio, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    task::JoinHandle,
};

use super::Pipe;
use crate::upstream::UpstreamError;

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

/// Starts `command`: the pipe over its stdio, the process (killed when
/// dropped), and the task logging its stderr (done when stderr closes).
pub(super) fn spawn(
    name: &Arc<str>,
    url: &Arc<str>,
    command: &StdioCommand,
    env: &[(String, String)],
) -> Result<(Arc<Pipe>, tokio::process::Child, JoinHandle<()>), UpstreamError> {
    let mut cmd = tokio::process::Command::new(&command.command);
    cmd.args(&command.args)
        .env_clear()
        .envs(
            ["PATH", "HOME"]
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
        )
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !command.cwd.is_empty() {
        cmd.current_dir(&command.cwd);
    }
    let mut process = cmd.spawn().map_err(|e| UpstreamError::Unreachable {
        url: url.to_string(),
        reason: format!("cannot run {:?}: {e}", command.command),
    })?;
    let (stdin, stdout, stderr) = (
        process.stdin.take().expect("piped stdin"),
        process.stdout.take().expect("piped stdout"),
        process.stderr.take().expect("piped stderr"),
    );
    let pipe = Pipe::over_lines(url.clone(), stdin, BufReader::with_capacity(64 * 1024, stdout));
    tracing::info!(backend = %name, pid = process.id(), "started stdio backend");
    let logging = log_stderr(name.clone(), pipe.clone(), stderr);
    Ok((pipe, process, logging))
}

/// Logs a child's stderr line by line, keeping the last few for errors.
fn log_stderr(name: Arc<str>, pipe: Arc<Pipe>, stderr: tokio::process::ChildStderr) -> JoinHandle<()> {
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
