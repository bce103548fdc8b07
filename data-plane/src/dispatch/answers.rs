//! What clients send that is not a request: answers to the requests
//! backends asked them (routed back under the backend's own id, in the
//! backend session that asked, from whichever node receives them), answers
//! to the inputs the gateway asked for a stateless backend's round (to the
//! node waiting on the round), and
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
    inputs::asking::Replied,
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
    if let Some(round) = gw.sessions.open_round(&session.key, &sealed) {
        let replied = Replied {
            key: round.key,
            result: env.result.map(ToOwned::to_owned),
            error: env.error.map(ToOwned::to_owned),
        };
        replied_to(gw, round.round, replied);
        return Ok(Reply::Accepted);
    }
    let asked = gw.sessions.open_asked(&session.key, &sealed).ok_or_else(unknown)?;
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

/// Gives `replied` to round `round`: here if this node waits on it, else to
/// the fleet, whose node that does takes it. (One the round no longer
/// waits for, ended or expired, is dropped: the client is told nothing, as
/// for a late answer to a backend.)
fn replied_to(gw: &Gateway, round: [u8; 16], replied: Replied) {
    let Err(replied) = gw.inputs.asking.deliver(&round, replied) else {
        return;
    };
    if !gw.fleet.is_shared() {
        return;
    }
    let body = serde_json::to_vec(&replied).expect("raw JSON serializes");
    gw.fleet.tell(Notice::Replied {
        session: round,
        body: body.into(),
    });
}

/// On every node: a client's answer to round `round` that reached another
/// node, taken if this one waits on the round.
pub fn replied_from_fleet(gw: &Gateway, round: [u8; 16], body: &[u8]) {
    if let Ok(replied) = serde_json::from_slice::<Replied>(body) {
        // Not waited on here: another node's, or over.
        let _ = gw.inputs.asking.deliver(&round, replied);
    }
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
