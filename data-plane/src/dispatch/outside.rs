//! What a backend sends a client outside any call's stream: requests
//! (`sampling/createMessage`, `elicitation/create`, `roots/list`, `ping`)
//! and log messages on the standalone stream of the client's own backend
//! session (see `upstream::pool`). They reach the client on its standalone
//! stream (`GET /mcp`, WebSocket, legacy SSE, the stdio bridge), on
//! whichever node holds it; a request goes under a sealed id, so the answer
//! may come to any node. A request the client did not declare it answers is
//! refused to the backend, as within a call. The other way, what a client
//! tells its own backend sessions outside a call (its roots changed)
//! reaches them on the nodes that hold them.

use std::sync::Arc;

use bytes::Bytes;

use super::relay;
use crate::{
    Gateway,
    fleet::Notice,
    jsonrpc::{self, Envelope, Message},
    upstream::Outside,
};

/// Passes one message on to its client, or refuses it to the backend.
pub fn pass_on(gw: &Arc<Gateway>, outside: Outside) {
    let Ok(env) = Envelope::parse(outside.message.as_bytes()) else {
        return;
    };
    let message = match env.classify() {
        Ok(Message::Request { id, method }) => {
            if !outside.owner.caps.answers(method) {
                relay::tell_backend(outside.session, relay::unsupported(id, method));
                return;
            }
            match relay::ask(
                gw,
                outside.owner.client,
                &outside.backend_id,
                &outside.session,
                &outside.message,
                id,
            ) {
                Some(m) => m,
                None => return,
            }
        }
        Ok(Message::Notification { .. }) => outside.message.into_bytes(),
        _ => return,
    };
    gw.fleet.tell(Notice::Event {
        session: outside.owner.client,
        message: Bytes::from(message),
    });
}

/// Passes notification `method` of client session `client` on to the
/// backend sessions it has of its own on this node.
pub fn notify_own(gw: &Arc<Gateway>, client: [u8; 16], method: &str) {
    for upstream in gw.upstream.client_sessions(client) {
        relay::tell_backend(upstream, jsonrpc::notification(method, None));
    }
}

/// What a node does when one of its client sessions ends (deleted, its
/// connection closed): its subscriptions here go, and so do its own
/// backend sessions.
pub fn session_ended(gw: &Arc<Gateway>, session: [u8; 16]) {
    for (backend_id, uri) in gw.subscriptions.end(session) {
        gw.upstream.unsubscribe(&backend_id, &uri);
    }
    gw.upstream.end_client(session);
}
