//! A data-plane node's wiring: the background tasks that connect its
//! parts, started once with [`run`], and the config stream that keeps it
//! current ([`config_stream`]). Which part handles which fleet notice, where
//! backends' resource updates and requests outside a call go, when idle
//! client-owned backend sessions end: all of it is here, so the parts below
//! need not know each other.

pub mod config_stream;
pub mod saved;

use std::{sync::Arc, time::Duration};

use tokio::sync::broadcast::error::RecvError;

use crate::{dispatch, fleet::Notice, session::subscriptions::Removed, transport::Transport};

/// Starts the node's tasks; they run until the process stops.
pub fn run(transport: &Transport) {
    let gw = &transport.gw;
    let Some(mut inbox) = gw.fleet.take_inbox() else {
        return;
    };
    for &(session, until) in gw.fleet.revoked_before() {
        gw.sessions.revoke(session, until);
    }
    let applying = transport.clone();
    tokio::spawn(async move {
        while let Some(notice) = inbox.recv().await {
            apply(&applying, notice);
        }
    });
    // A node that stops takes no more messages for its legacy SSE streams:
    // each ends once the answers in flight on it (each holds a sender) are
    // sent, and its client opens a new session, on another node.
    let closing = transport.clone();
    tokio::spawn(async move {
        closing.gw.drained().await;
        closing.close_sse_streams();
    });
    // Resource updates the node's backend sessions hear: the cached read
    // is dropped first (so a client told of the change reads it anew),
    // then the sessions that subscribed are told (on whichever node their
    // stream is).
    let updating = gw.clone();
    let mut updates = gw.upstream.updates();
    tokio::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(update) => {
                    let version = updating.snapshot.load().backend_version(&update.backend_id);
                    if let Some(version) = version {
                        let cache = &updating.cache;
                        cache
                            .invalidate_resource(&update.backend_id, version, &update.uri)
                            .await;
                    }
                    for (session, message) in updating.subscriptions.notify(&update) {
                        updating.fleet.tell(Notice::Event { session, message });
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "resource updates came faster than they could be passed on");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    // What clients' own backend sessions hear for them outside a call.
    if let Some(mut outside) = gw.upstream.take_outside() {
        let passing = gw.clone();
        tokio::spawn(async move {
            while let Some(o) = outside.recv().await {
                dispatch::outside::pass_on(&passing, o);
            }
        });
    }
    dispatch::held::keep_alive(gw);
    // Clients' own backend sessions that relay nothing for a while end.
    let idle = gw.limits.client_upstream_idle;
    let reaping = Arc::downgrade(gw);
    tokio::spawn(async move {
        let mut every = tokio::time::interval((idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)));
        loop {
            every.tick().await;
            let Some(gw) = reaping.upgrade() else {
                return;
            };
            let ended = gw.upstream.reap_idle(idle);
            if ended > 0 {
                tracing::debug!(ended, "ended idle client-owned backend sessions");
            }
        }
    });
}

/// Applies one notice from the fleet (this node's own included).
fn apply(transport: &Transport, notice: Notice) {
    let gw = &transport.gw;
    match notice {
        Notice::Cancel { session, id } => {
            gw.calls.cancel(session, &id);
        }
        Notice::Event { session, message } => gw.listeners.deliver(session, &message),
        Notice::Revoke { session, until } => {
            gw.sessions.revoke(session, until);
            dispatch::outside::session_ended(gw, session);
            gw.listeners.close(session);
        }
        Notice::Message {
            session,
            principal,
            body,
        } => transport.deliver_forwarded(session, &principal, body),
        Notice::Notify { session, method } => dispatch::outside::notify_own(gw, session, &method),
        Notice::Unsubscribe { session, uri } => {
            if let Removed::Released { backend_id, uri } = gw.subscriptions.remove(session, &uri) {
                gw.upstream.unsubscribe(&backend_id, &uri);
            }
        }
        Notice::Resume {
            session,
            stream,
            after,
            ticket,
        } => {
            crate::resume::remote::mirror(&transport.resumable, &gw.fleet, session, stream, after, ticket);
        }
        Notice::Answer { session, ticket, body } => dispatch::inputs::answer_from_fleet(gw, session, ticket, &body),
        Notice::Replied { session, body } => dispatch::answers::replied_from_fleet(gw, session, &body),
        held @ (Notice::TaskCancel { .. } | Notice::TaskUpdate { .. } | Notice::TaskStatus { .. }) => {
            dispatch::held::from_fleet(gw, held)
        }
    }
}
