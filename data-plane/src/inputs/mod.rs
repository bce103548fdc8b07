//! Multi-round-trip requests (MRTR) for 2026-07-28 clients of backends of
//! an earlier era: such a backend asks its client mid-call (sampling,
//! elicitation, roots) on the call's stream, and a stateless client cannot
//! be asked. The gateway answers the client with an `input_required`
//! result naming what the backend asked, and holds the backend's call
//! ([`Waiting`]) on the node that relays it, under a random id. The
//! `requestState` the client must echo is that id sealed with the fleet
//! secret ([`state`]), bound to the request (method, target, arguments),
//! the caller and the backend, with an expiry. The retry with
//! `inputResponses` ([`retry`]) answers the backend's requests and the
//! call goes on, on whichever node holds it: a retry landing on another
//! node reaches it through the fleet (see `dispatch::inputs`).
//!
//! Nothing held outlives its expiry, and a node holds at most the limit
//! it is given (`MCPGW_INPUT_MAX`): past that a call that asks fails
//! instead of growing memory.

pub mod asking;
pub mod retry;
pub mod state;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::stream::BoxStream;
use serde_json::value::RawValue;

pub use retry::Retry;
pub use state::{Call, Ticket, TicketError};

use crate::seal::Sealer;

/// A backend call held between rounds: what goes on once the client
/// answers.
pub trait Waiting: Send + 'static {
    /// Answers the backend's requests with `answered` and relays the rest
    /// of the call to the client's retry: its messages, ending with the
    /// result or with another `input_required` round (which holds the call
    /// again).
    fn resume(self: Box<Self>, answered: Answered) -> BoxStream<'static, Vec<u8>>;
}

/// Key → the client's result for that input request, raw.
pub type Answers = std::collections::BTreeMap<String, Box<RawValue>>;

/// A client's retry of a held call, as the node holding it needs it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Answered {
    /// The retry's JSON-RPC id: the rest of the call answers it.
    pub id: Box<RawValue>,
    /// The retry's progress token, if it asked for progress.
    #[serde(rename = "progressToken", skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<Box<RawValue>>,
    /// Key → the client's result for that input request (keys not asked
    /// are ignored).
    #[serde(rename = "inputResponses")]
    pub answers: Answers,
}

/// The calls this node holds, by id.
pub struct Inputs {
    sealer: Sealer,
    /// How long a call is held for its client's answers.
    pub ttl: Duration,
    max: usize,
    held: Arc<Held>,
    /// Rounds of stateless backends asked of clients of an earlier era.
    pub asking: asking::Asking,
}

/// The held calls by id.
type Held = Mutex<HashMap<[u8; 16], Box<dyn Waiting>>>;

impl Inputs {
    pub fn new(secret: &str, ttl: Duration, max: usize) -> Self {
        Self {
            sealer: Sealer::new(secret, b"mcpgw request state v1\0"),
            ttl,
            max,
            held: Default::default(),
            asking: asking::Asking::new(max),
        }
    }

    /// Holds `call` until its client answers or `ttl` passes (then it is
    /// dropped, which cancels it at the backend); the id it is held under,
    /// or `None` when the node holds as many as it may. (`self.ttl` is
    /// what all rounds of one call may wait together.)
    pub fn hold(&self, call: Box<dyn Waiting>, ttl: Duration) -> Option<[u8; 16]> {
        let id: [u8; 16] = rand::random();
        {
            let mut held = self.held.lock().expect("poisoned");
            if held.len() >= self.max {
                return None;
            }
            held.insert(id, call);
        }
        let held = Arc::downgrade(&self.held);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(ttl).await;
                // Dropped outside the lock: dropping tells the backend.
                let expired = held.upgrade().and_then(|h| h.lock().expect("poisoned").remove(&id));
                drop(expired);
            });
        }
        Some(id)
    }

    /// The call held under `id`, taken (a second retry with the same state
    /// finds nothing).
    pub fn take(&self, id: &[u8; 16]) -> Option<Box<dyn Waiting>> {
        self.held.lock().expect("poisoned").remove(id)
    }

    /// Whether this node holds the call `id`.
    pub fn holds(&self, id: &[u8; 16]) -> bool {
        self.held.lock().expect("poisoned").contains_key(id)
    }

    /// How many calls this node holds.
    pub fn len(&self) -> usize {
        self.held.lock().expect("poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `requestState` naming `ticket`, for a request with `digest`.
    pub fn seal(&self, ticket: &Ticket, digest: &[u8; 32]) -> String {
        ticket.seal(&self.sealer, digest)
    }

    /// The ticket `state` names, if this fleet sealed it for a request with
    /// `digest` (its expiry is checked apart, [`Ticket::check_expiry`]).
    pub fn open(&self, state: &str, digest: &[u8; 32]) -> Result<Ticket, TicketError> {
        Ticket::open(&self.sealer, state, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    struct Call(Arc<std::sync::atomic::AtomicBool>);

    impl Waiting for Call {
        fn resume(self: Box<Self>, _: Answered) -> BoxStream<'static, Vec<u8>> {
            futures::stream::empty().boxed()
        }
    }

    impl Drop for Call {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_call_is_taken_once_and_dropped_at_its_expiry() {
        let inputs = Inputs::new("s", Duration::from_secs(5), 2);
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let a = inputs.hold(Box::new(Call(dropped.clone())), inputs.ttl).unwrap();
        let b = inputs.hold(Box::new(Call(Default::default())), inputs.ttl).unwrap();
        assert!(
            inputs.hold(Box::new(Call(Default::default())), inputs.ttl).is_none(),
            "past the limit nothing more is held"
        );
        assert!(inputs.take(&b).is_some());
        assert!(inputs.take(&b).is_none(), "taken once");
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(inputs.take(&a).is_none(), "expired");
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        assert!(inputs.is_empty());
    }
}
