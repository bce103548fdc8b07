//! Resource subscriptions of client sessions, kept by the node that relayed
//! the `resources/subscribe`, and the `notifications/resources/updated` each
//! session's streams receive. A backend's update arrives on the standalone
//! stream of the node's pooled session with it (see `upstream::pool`); it is
//! passed to the sessions that subscribed to that URI, under the URI they
//! used.
//!
//! The node that relayed the subscribe hears the updates; it tells the
//! fleet, and the node holding the session's stream sends them (see
//! [`crate::fleet`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;

use crate::{jsonrpc, upstream::ResourceUpdated};

struct Subscription {
    backend_id: Arc<str>,
    backend_uri: String,
    client_uri: String,
}

/// What removing a subscription left.
pub enum Removed {
    /// The session had no such subscription through this node.
    NotHere,
    /// Another session here still wants the backend resource.
    Kept,
    /// Nobody here wants it: the backend session should unsubscribe.
    Released { backend_id: Arc<str>, uri: String },
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

    /// Drops a session's subscription to `client_uri`.
    pub fn remove(&self, session: [u8; 16], client_uri: &str) -> Removed {
        let mut all = self.0.lock().expect("poisoned");
        let Some(mine) = all.get_mut(&session) else {
            return Removed::NotHere;
        };
        let Some(at) = mine.iter().position(|s| s.client_uri == client_uri) else {
            return Removed::NotHere;
        };
        let gone = mine.swap_remove(at);
        if mine.is_empty() {
            all.remove(&session);
        }
        Self::released(&all, gone)
    }

    /// Forgets an ended session; what no session here wants any more.
    pub fn end(&self, session: [u8; 16]) -> Vec<(Arc<str>, String)> {
        let mut all = self.0.lock().expect("poisoned");
        let gone = all.remove(&session).unwrap_or_default();
        gone.into_iter()
            .filter_map(|s| match Self::released(&all, s) {
                Removed::Released { backend_id, uri } => Some((backend_id, uri)),
                _ => None,
            })
            .collect()
    }

    /// Whether a backend resource `gone` was subscribed for is still wanted
    /// by another session here. Backend sessions are shared per node, so
    /// the backend keeps a subscription while any session wants it.
    fn released(all: &HashMap<[u8; 16], Vec<Subscription>>, gone: Subscription) -> Removed {
        let wanted = all
            .values()
            .flatten()
            .any(|s| s.backend_id == gone.backend_id && s.backend_uri == gone.backend_uri);
        if wanted {
            Removed::Kept
        } else {
            Removed::Released {
                backend_id: gone.backend_id,
                uri: gone.backend_uri,
            }
        }
    }

    /// The `notifications/resources/updated` each session that subscribed
    /// through this node is owed for `update`, under the URI it used.
    pub fn notify(&self, update: &ResourceUpdated) -> Vec<([u8; 16], Bytes)> {
        let all = self.0.lock().expect("poisoned");
        all.iter()
            .filter_map(|(session, subs)| {
                let s = subs
                    .iter()
                    .find(|s| s.backend_id == update.backend_id && s.backend_uri == update.uri)?;
                let params = format!(r#"{{"uri":{}}}"#, jsonrpc::json_str(&s.client_uri));
                let note = jsonrpc::notification("notifications/resources/updated", Some(&params));
                Some((*session, Bytes::from(note)))
            })
            .collect()
    }
}
