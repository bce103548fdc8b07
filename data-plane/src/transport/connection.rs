//! What the transports without an HTTP session share (WebSocket, legacy
//! SSE, `/rpc`): `initialize` answered without minting a session id (the
//! connection or the token is the session), and answers pushed into an
//! outgoing channel as they come.

use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{
    Gateway,
    auth::Principal,
    dispatch::{self, Reply},
    error::McpError,
    jsonrpc::{Envelope, Message},
    session::Session,
};

use super::scope::Scope;

/// One client of a transport whose connection is the session: the caller,
/// and the session its `initialize` started (until then, or on `/rpc`, a
/// stateless one that can answer no server requests).
pub struct Conn {
    stateless: Session,
    session: OnceLock<Session>,
}

impl Conn {
    pub fn new(principal: Principal, scope: Scope) -> Self {
        Self {
            stateless: Session::stateless(principal, scope.0),
            session: OnceLock::new(),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.stateless.principal
    }

    pub fn initialized(&self) -> bool {
        self.session.get().is_some()
    }

    pub fn session(&self) -> &Session {
        self.session.get().unwrap_or(&self.stateless)
    }

    /// The reply to one message; `initialize` starts the connection's
    /// session (a second one is answered but keeps the first session).
    pub async fn answer(&self, gw: &Arc<Gateway>, env: &Envelope<'_>) -> Result<Reply, McpError> {
        if env.method.as_deref() == Some("initialize")
            && let Ok(Message::Request { id, .. }) = env.classify()
        {
            let server = self.stateless.server.clone();
            let (m, mut session, _) = dispatch::initialize(gw, self.principal().clone(), server, id, env.params)?;
            // The connection keeps one key from the start, so what is
            // registered under it (subscriptions) and the streams opened
            // before the handshake agree.
            session.key = self.stateless.key;
            let _ = self.session.set(session);
            return Ok(Reply::Message(m));
        }
        dispatch::handle(gw, self.session(), env).await
    }
}

/// Pushes a reply's messages (or its error) to `out`, stopping when the
/// receiver is gone.
pub async fn deliver(reply: Result<Reply, McpError>, out: &mpsc::Sender<Vec<u8>>) {
    match reply {
        Ok(Reply::Message(m)) => drop(out.send(m).await),
        Ok(Reply::Accepted) => {}
        Ok(Reply::Stream(mut messages)) => {
            while let Some(m) = messages.next().await {
                if out.send(m).await.is_err() {
                    break;
                }
            }
        }
        Err(e) => drop(out.send(e.body()).await),
    }
}
