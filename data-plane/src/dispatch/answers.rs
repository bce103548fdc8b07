//! What clients send that is not a request: answers to the requests
//! backends asked them (routed back under the backend's own id, in the
//! backend session that asked, from whichever node receives them), and
//! notifications (`notifications/cancelled` stops a relayed call,
//! `notifications/roots/list_changed` reaches the backends).

use std::sync::Arc;

use http::HeaderValue;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Reply, forward::backend_error};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    fleet::Notice,
    jsonrpc::{self, CowStr, Envelope},
    session::Session,
};

/// Routes a client's response to the backend that asked.
pub async fn response(
    gw: &Arc<Gateway>,
    session: &Session,
    env: &Envelope<'_>,
    id: &RawValue,
) -> Result<Reply, McpError> {
    let unknown = || {
        McpError::new(
            ErrorKind::InvalidRequest,
            format!(
                "Unknown request id {}: this gateway sent this session no request with that id (answer only the requests it sent, with their ids unchanged)",
                id.get()
            ),
        )
    };
    let sealed: CowStr<'_> = serde_json::from_str(id.get()).map_err(|_| unknown())?;
    let asked = gw.sessions.open_asked(&session.key, &sealed).ok_or_else(unknown)?;
    let outcome = match (env.result, env.error) {
        (Some(r), None) => ("result", r.get()),
        (None, Some(e)) => ("error", e.get()),
        _ => {
            return Err(McpError::new(
                ErrorKind::InvalidRequest,
                "A JSON-RPC response needs exactly one of result and error",
            ));
        }
    };
    let snapshot = gw.snapshot.load();
    let backend = snapshot
        .routes
        .backends()
        .iter()
        .find(|b| *b.id == asked.backend_id)
        .cloned()
        .ok_or_else(|| {
            McpError::new(
                ErrorKind::BackendUnavailable,
                "The backend that sent this request is no longer served by this gateway",
            )
        })?;
    let endpoint = reqwest::Url::parse(&asked.endpoint)
        .map_err(|_| McpError::new(ErrorKind::Internal, "The backend's endpoint is not a URL"))?;
    let header = |v: Option<&str>| v.and_then(|v| HeaderValue::from_str(v).ok());
    let body = jsonrpc::response(asked.id.get(), outcome);
    let sent = match &backend.link().channel {
        Some(channel) => channel.deliver(body).await,
        None => backend
            .link()
            .client
            .post_in(
                &endpoint,
                header(asked.upstream_session.as_deref()).as_ref(),
                header(Some(&asked.protocol_version)).as_ref(),
                body,
            )
            .await
            .map(drop),
    };
    sent.map_err(|e| backend_error(&backend.name, &"the request it sent", e))?;
    Ok(Reply::Accepted)
}

#[derive(Deserialize)]
struct Cancelled<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: &'a RawValue,
}

/// A client notification: a cancel stops the relayed call it names; a
/// change of the client's roots reaches the backend sessions it has of its
/// own, on whichever nodes opened them (a backend it has none with asked
/// it nothing yet; the shared sessions serve clients that declared no
/// roots); the rest need no action from the gateway.
pub fn notification(gw: &Arc<Gateway>, session: &Session, method: &str, params: Option<&RawValue>) -> Reply {
    if method == "notifications/roots/list_changed" && session.caps.any() {
        gw.fleet.tell(Notice::Notify {
            session: session.key,
            method: method.into(),
        });
    }
    if method == "notifications/cancelled"
        && let Some(c) = params.and_then(|p| serde_json::from_str::<Cancelled<'_>>(p.get()).ok())
        && !gw.calls.cancel(session.key, c.request_id.get())
        && gw.fleet.is_shared()
    {
        // Another node may be relaying it.
        gw.fleet.tell(Notice::Cancel {
            session: session.key,
            id: c.request_id.get().into(),
        });
    }
    Reply::Accepted
}
