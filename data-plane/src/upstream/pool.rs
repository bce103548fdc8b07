//! One MCP session per backend per process, shared by every client session
//! that calls the backend (request ids and progress tokens are rewritten to be
//! unique within it), created on first use and re-created when the backend
//! forgets it. Calls in flight to one backend are bounded, so a slow backend
//! holds a bounded share of the node and never the calls to others.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, broadcast};

use super::{McpHttpClient, UpstreamError, UpstreamSession};

type SessionCell = Arc<OnceCell<Arc<UpstreamSession>>>;

struct Slot {
    url: Arc<str>,
    /// The current session, replaced (not reset) when the backend loses it,
    /// so callers already waiting on the old one are not disturbed.
    session: Mutex<SessionCell>,
    /// Calls in flight from this node; past the limit a call is refused at
    /// once instead of piling up connections on a slow backend.
    in_flight: Arc<Semaphore>,
}

pub struct UpstreamPool {
    client: McpHttpClient,
    max_in_flight: usize,
    slots: Mutex<HashMap<Arc<str>, Arc<Slot>>>,
    /// `notifications/resources/updated` from backends' standalone streams.
    updates: broadcast::Sender<Arc<ResourceUpdated>>,
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

impl UpstreamPool {
    pub fn new(client: McpHttpClient, max_in_flight: usize) -> Self {
        Self {
            client,
            max_in_flight: max_in_flight.max(1),
            slots: Mutex::new(HashMap::new()),
            updates: broadcast::Sender::new(256),
        }
    }

    /// Resource updates from every pooled session, as they arrive.
    pub fn updates(&self) -> broadcast::Receiver<Arc<ResourceUpdated>> {
        self.updates.subscribe()
    }

    /// Listens on a new session's standalone stream for resource updates,
    /// until the stream ends (the session is gone) or the backend offers none.
    fn listen(&self, backend_id: Arc<str>, session: Arc<UpstreamSession>) {
        let (client, updates) = (self.client.clone(), self.updates.clone());
        tokio::spawn(async move {
            let Ok(mut events) = client.listen(&session).await else {
                return;
            };
            while let Ok(Some(ev)) = events.next_event(&session.url).await {
                let Ok(env) = crate::jsonrpc::Envelope::parse(ev.data.as_bytes()) else {
                    continue;
                };
                if env.method.as_deref() != Some("notifications/resources/updated") {
                    continue;
                }
                let uri = env
                    .params
                    .and_then(|p| crate::jsonrpc::RawObject::parse(p.get()).ok())
                    .and_then(|p| p.get("uri").and_then(|u| serde_json::from_str::<String>(u.get()).ok()));
                if let Some(uri) = uri {
                    let _ = updates.send(Arc::new(ResourceUpdated {
                        backend_id: backend_id.clone(),
                        uri,
                    }));
                }
            }
        });
    }

    pub fn client(&self) -> &McpHttpClient {
        &self.client
    }

    fn slot(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Arc<Slot> {
        let mut slots = self.slots.lock().expect("poisoned");
        match slots.get(backend_id) {
            Some(s) if s.url == *url => s.clone(),
            _ => {
                let s = Arc::new(Slot {
                    url: url.clone(),
                    session: Mutex::new(SessionCell::default()),
                    in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
                });
                slots.insert(backend_id.clone(), s.clone());
                s
            }
        }
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

    /// The live session of a slot, initializing it if there is none.
    /// Concurrent callers share one `initialize`.
    async fn session(&self, backend_id: &Arc<str>, slot: &Slot) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let cell = slot.session.lock().expect("poisoned").clone();
        cell.get_or_try_init(|| async {
            let session = Arc::new(self.client.initialize(&slot.url).await?);
            self.listen(backend_id.clone(), session.clone());
            Ok(session)
        })
        .await
        .cloned()
    }

    /// Drops `session` so the next call re-initializes, unless another caller
    /// already replaced it.
    fn forget(slot: &Slot, session: &Arc<UpstreamSession>) {
        let mut cell = slot.session.lock().expect("poisoned");
        if cell.get().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *cell = SessionCell::default();
        }
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
            let session = self.session(backend_id, &slot).await?;
            let id = session.next_id();
            match self
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
                    Self::forget(&slot, &session);
                    if retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e @ UpstreamError::Unreachable { .. }) => {
                    Self::forget(&slot, &session);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
