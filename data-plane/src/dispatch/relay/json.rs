//! Relaying a backend's answer that is one JSON message: read whole, its id
//! mapped back. Until it is read, a cancel, a client that goes away, or a
//! backend that stalls tells the backend, as on a stream.

use super::{Relay, Relayed};
use crate::{
    dispatch::Reply,
    error::{ErrorKind, McpError},
};

/// The client's reply from a backend's JSON answer, read whole.
pub(super) async fn read(mut relay: Relay, res: reqwest::Response) -> Result<Reply, McpError> {
    // A JSON answer is read whole. Until it is, a cancel, or a client that
    // goes away, tells the backend as on a stream.
    let (registered, mut cancelled) = relay.cancel.take().unzip();
    let unread = Unread(Some(&relay));
    let read = tokio::time::timeout(relay.idle, res.bytes());
    let body = tokio::select! {
        read = read => read,
        Some(Ok(())) = async {
            match cancelled.as_mut() {
                Some(c) => Some(c.await),
                None => std::future::pending().await,
            }
        } => return Err(McpError::new(ErrorKind::Cancelled, "Request cancelled by the client")),
    };
    // A backend that stalled is told, as one whose client cancelled.
    if body.is_ok() {
        unread.disarm();
    }
    drop(registered);
    let body = match body {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let why = format!("Backend '{}' closed the connection mid-answer", relay.backend);
            return Err(McpError::new(ErrorKind::BackendUnavailable, why));
        }
        Err(_) => {
            let why = format!(
                "Backend '{}' stopped answering for {} s",
                relay.backend,
                relay.idle.as_secs()
            );
            return Err(McpError::new(ErrorKind::BackendTimeout, why));
        }
    };
    match std::str::from_utf8(&body).ok().and_then(|t| relay.rewrite(t)) {
        Some(Relayed::Final(m)) => Ok(Reply::Message(m)),
        _ => Err(McpError::new(
            ErrorKind::BackendProtocol,
            format!(
                "Backend '{}' answered with something that is not this request's JSON-RPC response",
                relay.backend
            ),
        )),
    }
}

/// Tells the backend its request was cancelled if dropped armed.
struct Unread<'r>(Option<&'r Relay>);

impl Unread<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Unread<'_> {
    fn drop(&mut self) {
        if let Some(relay) = self.0 {
            relay.cancel_upstream();
        }
    }
}
