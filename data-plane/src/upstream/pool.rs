//! One MCP session per backend per process, shared by every client session
//! that calls the backend (request ids and progress tokens are rewritten to be
//! unique within it), created on first use and re-created when the backend
//! forgets it. Calls in flight to one backend are bounded, so a slow backend
//! holds a bounded share of the node and never the calls to others.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, broadcast, watch};

use super::{McpHttpClient, UpstreamError, UpstreamSession};
use crate::jsonrpc::{self, Envelope, RawObject};

type SessionCell = Arc<OnceCell<Arc<UpstreamSession>>>;

/// Longest pause between attempts to listen on a backend again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

struct Slot {
    backend_id: Arc<str>,
    url: Arc<str>,
    /// The current session, replaced (not reset) when the backend loses it,
    /// so callers already waiting on the old one are not disturbed.
    session: Mutex<SessionCell>,
    /// Calls in flight from this node; past the limit a call is refused at
    /// once instead of piling up connections on a slow backend.
    in_flight: Arc<Semaphore>,
    /// Resource URIs subscribed through this slot's session; a session that
    /// replaces it subscribes to them again.
    subscribed: Mutex<HashSet<String>>,
    /// Set when the slot is replaced or its backend removed: its listener
    /// stops.
    retired: watch::Sender<bool>,
}

impl Slot {
    /// Whether `session` is still the slot's current one.
    fn holds(&self, session: &Arc<UpstreamSession>) -> bool {
        let cell = self.session.lock().expect("poisoned");
        cell.get().is_some_and(|s| Arc::ptr_eq(s, session))
    }

    /// Drops `session` so the next call re-initializes, unless another caller
    /// already replaced it.
    fn forget(&self, session: &Arc<UpstreamSession>) {
        let mut cell = self.session.lock().expect("poisoned");
        if cell.get().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *cell = SessionCell::default();
        }
    }
}

/// What the pool's background tasks share with it.
struct Core {
    client: McpHttpClient,
    /// `notifications/resources/updated` from backends' standalone streams.
    updates: broadcast::Sender<Arc<ResourceUpdated>>,
    slots: Mutex<HashMap<Arc<str>, Arc<Slot>>>,
}

impl Core {
    /// Whether `session` is still the live session of a slot in use.
    fn serves(&self, slot: &Arc<Slot>, session: &Arc<UpstreamSession>) -> bool {
        let current = self.slots.lock().expect("poisoned").get(&slot.backend_id).cloned();
        current.is_some_and(|s| Arc::ptr_eq(&s, slot)) && slot.holds(session)
    }
}

pub struct UpstreamPool {
    core: Arc<Core>,
    max_in_flight: usize,
}

/// A backend said one of its resources changed.
#[derive(Debug)]
pub struct ResourceUpdated {
    pub backend_id: Arc<str>,
    /// The URI as the backend names it.
    pub uri: String,
}

/// A forwarded call's claim on its backend's capacity, held until the answer
/// has been relayed.
pub type InFlight = OwnedSemaphorePermit;

/// A request on its way: its id in the backend session, the backend's
/// response (headers read, body streaming), and the session it went in.
pub struct Sent {
    pub id: u64,
    pub response: reqwest::Response,
    pub in_flight: InFlight,
    pub session: Arc<UpstreamSession>,
}

/// The live session of a slot, initializing it if there is none.
/// Concurrent callers share one `initialize`. A new session subscribes to
/// what the one it replaces was subscribed to, and is listened on.
async fn session_of(core: &Arc<Core>, slot: &Arc<Slot>) -> Result<Arc<UpstreamSession>, UpstreamError> {
    let cell = slot.session.lock().expect("poisoned").clone();
    cell.get_or_try_init(|| async {
        let session = Arc::new(core.client.initialize(&slot.url).await?);
        resubscribe(core, slot, &session);
        listen(core.clone(), slot.clone(), session.clone());
        Ok(session)
    })
    .await
    .cloned()
}

/// Subscribes a new session to the slot's resources, in the background.
fn resubscribe(core: &Arc<Core>, slot: &Slot, session: &Arc<UpstreamSession>) {
    let uris: Vec<String> = slot.subscribed.lock().expect("poisoned").iter().cloned().collect();
    if !uris.is_empty() {
        on_resources(core, session.clone(), "resources/subscribe", uris);
    }
}

/// Calls `method` (`resources/subscribe` or `unsubscribe`) for each of
/// `uris` in `session`, in the background.
fn on_resources(core: &Arc<Core>, session: Arc<UpstreamSession>, method: &'static str, uris: Vec<String>) {
    let core = core.clone();
    tokio::spawn(async move {
        for uri in uris {
            let params = format!(r#"{{"uri":{}}}"#, jsonrpc::json_str(&uri));
            if let Err(e) = core.client.call(&session, method, Some(&params)).await {
                tracing::warn!(backend = %session.url, %uri, error = %e, "{method} in a backend session failed");
            }
        }
    });
}

/// Listens on a session's standalone stream for resource updates while it
/// is the live session of a slot in use: a stream that ends or fails is
/// opened again (with backoff), and a backend that forgot the session gets
/// a new one, which takes over. Ends for a backend that offers no
/// standalone stream, and when the session or its slot is replaced.
fn listen(core: Arc<Core>, slot: Arc<Slot>, session: Arc<UpstreamSession>) {
    tokio::spawn(async move {
        let mut retired = slot.retired.subscribe();
        let mut backoff = Duration::from_millis(250);
        loop {
            let listening = async {
                match core.client.listen(&session).await {
                    Ok(mut events) => {
                        while let Ok(Some(ev)) = events.next_event(&session.url).await {
                            backoff = Duration::from_millis(250);
                            heard(&core, &slot, &session, ev.data.as_bytes()).await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            let outcome = tokio::select! {
                outcome = listening => outcome,
                _ = retired.wait_for(|r| *r) => return,
            };
            match outcome {
                // A 404 is a forgotten session, or no standalone stream at
                // this URL: a ping in the session tells which.
                Err(UpstreamError::Http { status: 404, .. }) => {
                    if let Err(UpstreamError::SessionExpired { .. }) = core.client.call(&session, "ping", None).await {
                        slot.forget(&session);
                        renew(&core, &slot, backoff).await;
                    }
                    return;
                }
                Err(UpstreamError::Http { status: 405, .. }) => return,
                Ok(()) | Err(_) => {}
            }
            if !core.serves(&slot, &session) {
                return;
            }
            back_off(&mut backoff).await;
        }
    });
}

/// One message from a backend's standalone stream: a resource update goes
/// to the node's sessions; a request is answered (see
/// [`answer_outside_a_call`]).
async fn heard(core: &Core, slot: &Slot, session: &UpstreamSession, data: &[u8]) {
    if let Some(uri) = updated_uri(data) {
        let _ = core.updates.send(Arc::new(ResourceUpdated {
            backend_id: slot.backend_id.clone(),
            uri,
        }));
    } else if let Some(answer) = answer_outside_a_call(data)
        && let Err(e) = core.client.post(&session.endpoint, Some(session), answer).await
    {
        tracing::debug!(backend = %session.url, error = %e, "could not answer the backend");
    }
}

/// Waits `backoff`, and doubles it for next time (up to [`MAX_BACKOFF`]).
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

/// Makes the slot a new session (which listens on its own), retrying while
/// the backend is down and nobody else has made one.
async fn renew(core: &Arc<Core>, slot: &Arc<Slot>, mut backoff: Duration) {
    loop {
        match session_of(core, slot).await {
            Ok(_) => return,
            Err(e) => tracing::debug!(backend = %slot.url, error = %e, "backend session not renewed yet"),
        }
        back_off(&mut backoff).await;
        if *slot.retired.borrow() || slot.session.lock().expect("poisoned").initialized() {
            return;
        }
    }
}

/// The answer to a request a backend sends on its standalone stream. Its
/// session is shared by every client of the node, so no client can be
/// asked: a `ping` is answered, anything else refused (backends ask within
/// a call, whose client answers).
fn answer_outside_a_call(data: &[u8]) -> Option<Vec<u8>> {
    let env = Envelope::parse(data).ok()?;
    let jsonrpc::Message::Request { id, method } = env.classify().ok()? else {
        return None;
    };
    Some(match method {
        "ping" => jsonrpc::result_response(id, "{}"),
        _ => crate::error::McpError::new(
            crate::error::ErrorKind::MethodNotFound,
            format!("mcpgw relays {method} to a client only within a call (this session is shared by many clients)"),
        )
        .with_id(Some(id))
        .body(),
    })
}

/// The URI of a `notifications/resources/updated` message.
fn updated_uri(data: &[u8]) -> Option<String> {
    let env = Envelope::parse(data).ok()?;
    if env.method.as_deref() != Some("notifications/resources/updated") {
        return None;
    }
    let params = RawObject::parse(env.params?.get()).ok()?;
    serde_json::from_str(params.get("uri")?.get()).ok()
}

impl UpstreamPool {
    pub fn new(client: McpHttpClient, max_in_flight: usize) -> Self {
        Self {
            core: Arc::new(Core {
                client,
                updates: broadcast::Sender::new(256),
                slots: Mutex::new(HashMap::new()),
            }),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// Resource updates from every pooled session, as they arrive.
    pub fn updates(&self) -> broadcast::Receiver<Arc<ResourceUpdated>> {
        self.core.updates.subscribe()
    }

    pub fn client(&self) -> &McpHttpClient {
        &self.core.client
    }

    /// Notes that the node's session with a backend subscribed to `uri`,
    /// so a session that replaces it subscribes again.
    pub fn note_subscription(&self, backend_id: &Arc<str>, url: &Arc<str>, uri: &str) {
        let slot = self.slot(backend_id, url);
        slot.subscribed.lock().expect("poisoned").insert(uri.to_owned());
    }

    /// Forgets that the node's session with a backend is subscribed to
    /// `uri`; that session, if live, to unsubscribe.
    pub fn forget_subscription(&self, backend_id: &Arc<str>, uri: &str) -> Option<Arc<UpstreamSession>> {
        let slot = self.core.slots.lock().expect("poisoned").get(backend_id).cloned()?;
        slot.subscribed.lock().expect("poisoned").remove(uri);
        slot.session.lock().expect("poisoned").get().cloned()
    }

    /// Unsubscribes this node's session with a backend from `uri` (nobody
    /// here wants it any more), in the background.
    pub fn unsubscribe(&self, backend_id: &Arc<str>, uri: &str) {
        if let Some(session) = self.forget_subscription(backend_id, uri) {
            on_resources(&self.core, session, "resources/unsubscribe", vec![uri.to_owned()]);
        }
    }

    /// This node's live session with the backend, if it has one.
    pub fn live(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Option<Arc<UpstreamSession>> {
        let slots = self.core.slots.lock().expect("poisoned");
        let slot = slots.get(backend_id).filter(|s| s.url == *url)?;
        slot.session.lock().expect("poisoned").get().cloned()
    }

    fn slot(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Arc<Slot> {
        let mut slots = self.core.slots.lock().expect("poisoned");
        match slots.get(backend_id) {
            Some(s) if s.url == *url => s.clone(),
            _ => {
                let s = Arc::new(Slot {
                    backend_id: backend_id.clone(),
                    url: url.clone(),
                    session: Mutex::new(SessionCell::default()),
                    in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
                    subscribed: Mutex::new(HashSet::new()),
                    retired: watch::Sender::new(false),
                });
                if let Some(old) = slots.insert(backend_id.clone(), s.clone()) {
                    old.retired.send_replace(true);
                }
                s
            }
        }
    }

    /// Drops the sessions of backends no longer served (`keep` says which
    /// are): their listeners stop.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.core.slots.lock().expect("poisoned").retain(|id, slot| {
            let kept = keep(id);
            if !kept {
                slot.retired.send_replace(true);
            }
            kept
        });
    }

    /// A claim on one call's share of a backend's capacity, for calls that
    /// do not go through the pooled session (2024-11-05 HTTP+SSE backends).
    pub fn claim(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Result<InFlight, UpstreamError> {
        self.slot(backend_id, url)
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| UpstreamError::Saturated {
                url: url.to_string(),
                limit: self.max_in_flight,
            })
    }

    /// Sends a body built around a request id unique in the backend's
    /// session (`build` learns the session and the id).
    /// If the backend lost the session (404: it restarted or expired it),
    /// re-initializes once and retries, so client sessions survive backend
    /// restarts. A failed connection drops the session too, but is not
    /// retried: the request may have reached the backend.
    pub async fn send(
        &self,
        backend_id: &Arc<str>,
        url: &Arc<str>,
        build: impl Fn(&Arc<UpstreamSession>, u64) -> Vec<u8>,
    ) -> Result<Sent, UpstreamError> {
        let slot = self.slot(backend_id, url);
        let permit = self.claim(backend_id, url)?;
        let mut retried = false;
        loop {
            let session = session_of(&self.core, &slot).await?;
            let id = session.next_id();
            match self
                .core
                .client
                .post(&session.endpoint, Some(&session), build(&session, id))
                .await
            {
                Ok(res) => {
                    return Ok(Sent {
                        id,
                        response: res,
                        in_flight: permit,
                        session,
                    });
                }
                Err(e @ UpstreamError::SessionExpired { .. }) => {
                    slot.forget(&session);
                    if retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e @ UpstreamError::Unreachable { .. }) => {
                    slot.forget(&session);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_outside_a_call_are_answered_or_refused_and_updates_read() {
        let ping = answer_outside_a_call(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).unwrap();
        assert_eq!(ping, br#"{"jsonrpc":"2.0","id":3,"result":{}}"#);
        let refused: serde_json::Value = serde_json::from_slice(
            &answer_outside_a_call(br#"{"jsonrpc":"2.0","id":"s","method":"sampling/createMessage"}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(refused["id"], "s");
        assert_eq!(refused["error"]["code"], -32601);
        assert!(answer_outside_a_call(br#"{"jsonrpc":"2.0","method":"notifications/message"}"#).is_none());
        assert_eq!(
            updated_uri(br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://b"}}"#)
                .as_deref(),
            Some("a://b")
        );
        assert_eq!(
            updated_uri(br#"{"jsonrpc":"2.0","method":"other","params":{"uri":"a://b"}}"#),
            None
        );
    }
}
