//! Resource subscriptions of client sessions, kept by the node that relayed
//! the `resources/subscribe`, and the `notifications/resources/updated` each
//! session's streams receive. A backend's update arrives on the standalone
//! stream of the node's pooled session with it (see `upstream::pool`); it is
//! passed to the sessions that subscribed to that URI, under the URI they
//! used.
//!
//! Subscriptions are node-local: a client whose subscribe and stream land on
//! different nodes gets no updates (documented; fleet-wide delivery needs a
//! shared bus).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::Stream;
use tokio::sync::broadcast;

use crate::{jsonrpc, upstream::ResourceUpdated};

struct Subscription {
    backend_id: Arc<str>,
    backend_uri: String,
    client_uri: String,
}

#[derive(Default)]
pub struct Subscriptions(Mutex<HashMap<[u8; 16], Vec<Subscription>>>);

impl Subscriptions {
    pub fn add(&self, session: [u8; 16], backend_id: Arc<str>, backend_uri: &str, client_uri: &str) {
        let mut all = self.0.lock().expect("poisoned");
        let mine = all.entry(session).or_default();
        if !mine.iter().any(|s| s.client_uri == client_uri) {
            mine.push(Subscription {
                backend_id,
                backend_uri: backend_uri.into(),
                client_uri: client_uri.into(),
            });
        }
    }

    /// Drops a session's subscription; true if another session on this node
    /// still wants that backend resource. Backend sessions are shared per
    /// node, so the backend must then keep its subscription.
    pub fn remove(&self, session: [u8; 16], client_uri: &str) -> bool {
        let mut all = self.0.lock().expect("poisoned");
        let Some(mine) = all.get_mut(&session) else {
            return false;
        };
        let Some(at) = mine.iter().position(|s| s.client_uri == client_uri) else {
            return false;
        };
        let gone = mine.swap_remove(at);
        if mine.is_empty() {
            all.remove(&session);
        }
        all.values()
            .flatten()
            .any(|s| s.backend_id == gone.backend_id && s.backend_uri == gone.backend_uri)
    }

    /// Forgets an ended session.
    pub fn end(&self, session: [u8; 16]) {
        self.0.lock().expect("poisoned").remove(&session);
    }

    /// The URI `session` subscribed to that the update is about, if any.
    fn client_uri(&self, session: &[u8; 16], update: &ResourceUpdated) -> Option<String> {
        let all = self.0.lock().expect("poisoned");
        all.get(session)?
            .iter()
            .find(|s| s.backend_id == update.backend_id && s.backend_uri == update.uri)
            .map(|s| s.client_uri.clone())
    }
}

/// The `notifications/resources/updated` for one session, as they arrive.
pub fn for_session(
    updates: broadcast::Receiver<Arc<ResourceUpdated>>,
    gw: Arc<crate::Gateway>,
    session: [u8; 16],
) -> impl Stream<Item = Vec<u8>> + Send + 'static {
    futures::stream::unfold(updates, move |mut rx| {
        let gw = gw.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(update) => {
                        if let Some(uri) = gw.subscriptions.client_uri(&session, &update) {
                            let params = format!(r#"{{"uri":{}}}"#, jsonrpc::json_str(&uri));
                            let note = jsonrpc::notification("notifications/resources/updated", Some(&params));
                            return Some((note, rx));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}
