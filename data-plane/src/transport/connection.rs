//! What the transports without an HTTP session share (WebSocket, legacy
//! SSE, `/rpc`): `initialize` answered without minting a session id (the
//! connection or the token is the session), and answers pushed into an
//! outgoing channel as they come.

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{
    Gateway,
    auth::Principal,
    dispatch::{self, Reply},
    error::McpError,
    jsonrpc::{Envelope, Message},
};

/// The reply to one message of a session-less transport.
pub async fn answer(gw: &std::sync::Arc<Gateway>, principal: Principal, env: &Envelope<'_>) -> Result<Reply, McpError> {
    if env.method.as_deref() == Some("initialize")
        && let Ok(Message::Request { id, .. }) = env.classify()
    {
        return dispatch::initialize(gw, principal, id, env.params).map(|(m, _)| Reply::Message(m));
    }
    dispatch::handle(gw, env).await
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
