//! A 2026-07-28 client's retry of a call held for its input (see
//! `inputs` and `relay::bridge`): its `requestState` opened and checked
//! (this request, this caller, this backend, in time), and the held call
//! resumed with its answers, on this node or on the one holding it (through
//! the fleet's Redis, [`Notice::Answer`]).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::value::RawValue;

use super::{Forward, Reply};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    fleet::{Notice, Received},
    inputs::{Answered, Call, Retry},
    routing::BackendRoute,
    session::Session,
};

fn invalid(m: String) -> McpError {
    McpError::new(ErrorKind::InvalidParams, m)
}

/// The call `state` names, if it was issued for this request (`req`,
/// routed to `backend`) to this caller (of `session`) and is still valid.
pub fn open(
    gw: &Gateway,
    session: &Session,
    req: &Forward<'_>,
    backend: &BackendRoute,
    state: &str,
) -> Result<Call, McpError> {
    let ticket = gw
        .inputs
        .open(state, &req.digest())
        .map_err(|e| invalid(e.to_string()))?;
    if *ticket.principal != *session.principal.0 {
        return Err(invalid(
            "params.requestState was issued to another caller: only the caller that made the call may answer its input requests".into(),
        ));
    }
    if *ticket.backend != *backend.id {
        return Err(invalid(format!(
            "params.requestState names a call of another backend than '{}', which this request now routes to; send the request again without requestState",
            backend.name
        )));
    }
    ticket.check_expiry().map_err(|e| invalid(e.to_string()))?;
    Ok(ticket.call)
}

/// Resumes the call held as `pending` with the answers of `retry`, the
/// request `client_id` (`req`).
pub async fn resume(
    gw: &Arc<Gateway>,
    client_id: &RawValue,
    req: &Forward<'_>,
    retry: &Retry<'_>,
    pending: [u8; 16],
) -> Result<Reply, McpError> {
    let answered = Answered {
        id: client_id.to_owned(),
        progress_token: req.progress_token.map(ToOwned::to_owned),
        answers: retry.answers(),
    };
    if let Some(call) = gw.inputs.take(&pending) {
        return Ok(Reply::Stream(call.resume(answered)));
    }
    if gw.fleet.is_shared() {
        let ticket_no: u64 = rand::random();
        let body = Bytes::from(serde_json::to_vec(&answered).expect("raw JSON serializes"));
        let notice = Notice::Answer {
            session: pending,
            ticket: ticket_no,
            body,
        };
        match gw.fleet.receive_pipe(ticket_no, gw.limits.resume_window, notice).await {
            Ok(Received::Frames(frames)) => return Ok(Reply::Stream(frames.map(|f| f.to_vec()).boxed())),
            Ok(Received::Refused(why)) => return Err(invalid(why)),
            Ok(Received::Nobody) => {}
            Err(e) => {
                return Err(McpError::new(
                    ErrorKind::BackendUnavailable,
                    format!("Cannot reach the gateway node holding this call through the fleet's Redis: {e}"),
                ));
            }
        }
    }
    Err(invalid(
        "The call params.requestState names is no longer held: its input was answered already, or it ended, or the gateway node holding it stopped; send the request again without requestState and inputResponses".into(),
    ))
}

/// On the node holding call `pending`: goes on with its client's answers
/// (`body`), which reached another node, sending the rest there through
/// the pipe `ticket`, if that node still waits for it (else the call stays
/// held, for a retry that does). A node not holding it does nothing.
pub fn answer_from_fleet(gw: &Arc<Gateway>, pending: [u8; 16], ticket: u64, body: &[u8]) {
    if !gw.inputs.holds(&pending) {
        return;
    }
    let answered = match serde_json::from_slice::<Answered>(body) {
        Ok(answered) => answered,
        Err(e) => {
            let why = format!("The gateway node holding this call could not read its answers: {e}");
            gw.fleet.send_pipe(ticket, gw.limits.resume_window, Err(why));
            return;
        }
    };
    let gw = gw.clone();
    tokio::spawn(async move {
        if !gw.fleet.pipe_awaited(ticket).await {
            return;
        }
        let Some(call) = gw.inputs.take(&pending) else {
            return;
        };
        let frames = call.resume(answered).map(Bytes::from).boxed();
        gw.fleet.send_pipe(ticket, gw.limits.resume_window, Ok(frames));
    });
}
