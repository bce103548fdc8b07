//! Calls being relayed on this node, by client session and client request
//! id, so the client's `notifications/cancelled` can stop one. Stopping a
//! relay before its answer is what tells the backend (see `relay`), so a
//! cancel and a client that went away end a call the same way.
//!
//! A cancel is applied on the node relaying the call. One that lands on
//! another node finds nothing here and is told to the fleet (see
//! `crate::fleet`), whose node relaying the call applies it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{FutureExt, future::Fuse};
use tokio::sync::oneshot;

type Key = ([u8; 16], Box<str>);

type Registry = Arc<Mutex<HashMap<Key, oneshot::Sender<()>>>>;

#[derive(Default)]
pub struct Calls(Registry);

impl Calls {
    /// Stops the call `client_id` (raw JSON) of the session with `key`;
    /// false if no such call is relayed here.
    pub fn cancel(&self, key: [u8; 16], client_id: &str) -> bool {
        let stop = self.0.lock().expect("poisoned").remove(&(key, client_id.into()));
        stop.is_some_and(|s| s.send(()).is_ok())
    }
}

/// Resolves `Ok` when the client cancels the call, `Err` if the
/// registration was replaced (the client reused the id); fused, so a relay
/// may keep polling it after either.
pub type Cancelled = Fuse<oneshot::Receiver<()>>;

/// Keeps a call registered until dropped.
pub struct CallGuard {
    calls: Registry,
    key: Key,
}

impl CallGuard {
    /// Registers a call; the receiver fires if the client cancels it.
    pub fn register(calls: &Calls, session_key: [u8; 16], client_id: &str) -> (Self, Cancelled) {
        let (stop, stopped) = oneshot::channel();
        let key: Key = (session_key, client_id.into());
        calls.0.lock().expect("poisoned").insert(key.clone(), stop);
        (
            Self {
                calls: calls.0.clone(),
                key,
            },
            stopped.fuse(),
        )
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.calls.lock().expect("poisoned").remove(&self.key);
    }
}
