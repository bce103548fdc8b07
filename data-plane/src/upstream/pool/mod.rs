//! The node's MCP sessions with its backends.
//!
//! Clients that declared they answer nothing (no sampling, elicitation or
//! roots) share one session per backend per node: request ids and progress
//! tokens are rewritten to be unique within it. A client that can be asked
//! gets sessions of its own ([`Owner`]), one per backend it uses, opened on
//! first use by the node that relays the call: everything that arrives on
//! their streams, a call's `POST` or the standalone `GET`, belongs to that
//! one client ([`Outside`]). Such a session costs the backend an
//! `initialize` and a standing `GET` per client session; it ends with the
//! client session, or after [`UpstreamPool::reap_idle`]'s idle time. A node
//! holds at most `max_owned` of them: past that the one idle longest makes
//! room, and when none is idle the call is refused. A 2026-07-28 client
//! has no session to own one: its calls lease pooled sessions instead, one
//! call at a time each ([`lease`]).
//!
//! Every session is created on first use and re-created when the backend
//! forgets it. Calls in flight to one backend are bounded per node, shared
//! by all its sessions, so a slow backend holds a bounded share of the node
//! and never the calls to others.

mod follows;
mod lease;
mod listen;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};

use super::{Link, UpstreamError, UpstreamSession};
use crate::protocol::ClientCaps;

type SessionCell = Arc<OnceCell<Arc<UpstreamSession>>>;

/// The client session a backend session belongs to, and what that client
/// answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The client session's key.
    pub client: [u8; 16],
    pub caps: ClientCaps,
}

impl Owner {
    /// The sessions 2026-07-28 clients that declared `caps` lease, one
    /// call at a time (see [`lease`]): keyed by what changes the session
    /// (the capabilities the backend is told of), never by client.
    pub fn pooled(caps: ClientCaps) -> Self {
        let mut client = *b"stateless-pool\0\0";
        client[15] = caps.to_byte();
        Self { client, caps }
    }

    /// Whether this is one of the [`Owner::pooled`] sessions.
    pub fn is_pooled(&self) -> bool {
        *self == Self::pooled(self.caps)
    }
}

/// What a backend sent on the standalone stream of a client's own session
/// and is for that client: a request to answer, or a log message.
#[derive(Debug)]
pub struct Outside {
    pub owner: Owner,
    pub backend_id: Arc<str>,
    /// The session it came on, where the answer goes.
    pub session: Arc<UpstreamSession>,
    /// The message, raw JSON.
    pub message: String,
}

/// Messages for clients waiting to be passed on; past that a backend's
/// request is refused.
const OUTSIDE_QUEUED: usize = 1024;

struct Slot {
    backend_id: Arc<str>,
    /// Where the backend is and how to reach it; a slot serves one link,
    /// and a changed one (new URL, TLS settings or credentials) gets a new
    /// slot.
    link: Arc<Link>,
    /// Whose session this is; `None` for the node's shared one.
    owner: Option<Owner>,
    /// The current session, replaced (not reset) when the backend loses it,
    /// so callers already waiting on the old one are not disturbed.
    session: Mutex<SessionCell>,
    /// Calls in flight from this node to the backend, shared by all its
    /// slots; past the limit a call is refused at once instead of piling up
    /// connections on a slow backend.
    in_flight: Arc<Semaphore>,
    /// Resource URIs subscribed through this slot's session (the shared
    /// one); a session that replaces it subscribes to them again.
    subscribed: Mutex<HashSet<String>>,
    /// Set when the slot is replaced or ended: its listener stops.
    retired: watch::Sender<bool>,
    /// Calls relayed through the slot now (a retired slot's session ends
    /// once they are done), and when the last one ended (ms since the pool
    /// started), so an idle client's slots end.
    busy: watch::Sender<usize>,
    last_used: AtomicU64,
    /// The calls in flight on a leased session (see [`lease`]).
    lessees: Mutex<lease::Lessees>,
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

    fn live(&self) -> Option<Arc<UpstreamSession>> {
        self.session.lock().expect("poisoned").get().cloned()
    }
}

/// A backend endpoint's slots are keyed by the backend's id and the
/// endpoint's URL: a backend with several endpoints (replicas) has a
/// session with each.
type SlotKey = (Arc<str>, Arc<str>);
/// A client's own slot: its session key, and the endpoint.
type OwnedKey = ([u8; 16], SlotKey);

fn key_of(backend_id: &Arc<str>, link: &Link) -> SlotKey {
    (backend_id.clone(), link.url.clone())
}

/// What the pool's background tasks share with it.
struct Core {
    /// `notifications/resources/updated` from backends' standalone streams.
    updates: broadcast::Sender<Arc<ResourceUpdated>>,
    /// What clients' own sessions hear for their client.
    outside: mpsc::Sender<Outside>,
    /// The node's shared slots, by backend id and endpoint.
    slots: Mutex<HashMap<SlotKey, Arc<Slot>>>,
    /// Clients' own slots, by client session key, backend id and endpoint.
    owned: Mutex<HashMap<OwnedKey, Arc<Slot>>>,
    /// The sessions 2026-07-28 clients' calls lease.
    leases: lease::Leases,
    started: Instant,
}

impl Core {
    /// Whether `session` is still the live session of a slot in use.
    fn serves(&self, slot: &Arc<Slot>, session: &Arc<UpstreamSession>) -> bool {
        if slot.owner.is_some_and(|o| o.is_pooled()) {
            return self.leases.holds(slot) && slot.holds(session);
        }
        let current = self.current(slot.owner.map(|o| o.client), key_of(&slot.backend_id, &slot.link));
        current.is_some_and(|s| Arc::ptr_eq(&s, slot)) && slot.holds(session)
    }

    /// The slot the calls of client `owner` (`None`: clients that share)
    /// to a backend endpoint use now.
    fn current(&self, owner: Option<[u8; 16]>, key: SlotKey) -> Option<Arc<Slot>> {
        match owner {
            None => self.slots.lock().expect("poisoned").get(&key).cloned(),
            Some(client) => self.owned.lock().expect("poisoned").get(&(client, key)).cloned(),
        }
    }

    /// Takes the clients' own slots that `gone` picks out of the pool and
    /// retires them; how many.
    fn end_owned(&self, mut gone: impl FnMut(&OwnedKey, &Slot) -> bool) -> usize {
        let mut ended = Vec::new();
        self.owned.lock().expect("poisoned").retain(|key, slot| {
            let end = gone(key, slot);
            if end {
                ended.push(slot.clone());
            }
            !end
        });
        for slot in &ended {
            self.retire(slot);
        }
        ended.len()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Ends a slot taken out of the pool: its listener stops, and a
    /// client's own session is ended at the backend too, once the calls
    /// still relayed through it are done (a call cut short tells the
    /// backend first, in the session).
    fn retire(&self, slot: &Slot) {
        slot.retired.send_replace(true);
        if slot.owner.is_some()
            && let Some(session) = slot.live()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let mut busy = slot.busy.subscribe();
            rt.spawn(async move {
                let _ = busy.wait_for(|n| *n == 0).await;
                session.client.terminate(&session).await;
            });
        }
    }
}

pub struct UpstreamPool {
    core: Arc<Core>,
    outside: Mutex<Option<mpsc::Receiver<Outside>>>,
    max_in_flight: usize,
    /// Most backend sessions of clients' own this node holds.
    max_owned: usize,
    /// Resources of stateless backends followed on listen streams.
    follows: follows::Follows,
}

/// A backend said one of its resources changed.
#[derive(Debug)]
pub struct ResourceUpdated {
    pub backend_id: Arc<str>,
    /// The URI as the backend names it.
    pub uri: String,
}

/// A forwarded call's claim on its backend's capacity, held until the answer
/// has been relayed; it keeps a client's own session in use meanwhile.
pub struct InFlight {
    permit: Option<OwnedSemaphorePermit>,
    _using: Option<Using>,
}

impl InFlight {
    /// Gives the call's share of the backend's capacity back while the
    /// call waits on its client, not on the backend (held for a stateless
    /// client's input), keeping its backend session in use.
    pub fn waiting_on_client(&mut self) {
        self.permit = None;
    }
}

/// Marks an owned or leased slot busy until dropped (with the lease's
/// number for a leased one).
struct Using(Arc<Slot>, Arc<Core>, Option<u64>);

impl Drop for Using {
    fn drop(&mut self) {
        let now = self.1.now_ms();
        if let Some(number) = self.2 {
            return self.1.leases.release(&self.0, number, now);
        }
        self.0.last_used.store(now, Ordering::Relaxed);
        self.0.busy.send_modify(|n| *n -= 1);
    }
}

/// Keeps a client's own backend session from being ended until dropped
/// (nothing for the shared session, which is never ended for a client).
pub struct Held {
    _using: Option<Using>,
}

/// A request on its way: its id in the backend session, the backend's
/// response (headers read, body streaming), and the session it went in.
pub struct Sent {
    pub id: u64,
    pub response: reqwest::Response,
    pub in_flight: InFlight,
    pub session: Arc<UpstreamSession>,
    /// What the backend sends on a leased session's standalone stream
    /// during the call (see [`lease`]).
    pub side: Option<mpsc::Receiver<String>>,
}

impl UpstreamPool {
    pub fn new(max_in_flight: usize, max_owned: usize) -> Self {
        let (outside, heard) = mpsc::channel(OUTSIDE_QUEUED);
        Self {
            core: Arc::new(Core {
                updates: broadcast::Sender::new(256),
                outside,
                slots: Mutex::new(HashMap::new()),
                owned: Mutex::new(HashMap::new()),
                leases: Default::default(),
                started: Instant::now(),
            }),
            outside: Mutex::new(Some(heard)),
            max_in_flight: max_in_flight.max(1),
            max_owned: max_owned.max(1),
            follows: Default::default(),
        }
    }

    /// Where resource updates are told, for backends whose sessions are
    /// not pooled here (stdio, WebSocket) to tell theirs too.
    pub fn updates_sender(&self) -> broadcast::Sender<Arc<ResourceUpdated>> {
        self.core.updates.clone()
    }

    /// Resource updates from every pooled session, as they arrive.
    pub fn updates(&self) -> broadcast::Receiver<Arc<ResourceUpdated>> {
        self.core.updates.subscribe()
    }

    /// What clients' own sessions hear for their clients outside a call's
    /// stream; for the one task that passes it on (`None` after the first
    /// call).
    pub fn take_outside(&self) -> Option<mpsc::Receiver<Outside>> {
        self.outside.lock().expect("poisoned").take()
    }

    /// Notes that the node's session with a backend subscribed to `uri`,
    /// so a session that replaces it subscribes again.
    pub fn note_subscription(&self, backend_id: &Arc<str>, link: &Arc<Link>, uri: &str) {
        let slot = self.slot(backend_id, link);
        slot.subscribed.lock().expect("poisoned").insert(uri.to_owned());
    }

    /// Forgets that the node's session with a backend (at whichever
    /// endpoint) is subscribed to `uri`; that session, if live, to
    /// unsubscribe.
    pub fn forget_subscription(&self, backend_id: &Arc<str>, uri: &str) -> Option<Arc<UpstreamSession>> {
        let slot = self
            .core
            .slots
            .lock()
            .expect("poisoned")
            .iter()
            .find(|((id, _), s)| id == backend_id && s.subscribed.lock().expect("poisoned").contains(uri))
            .map(|(_, s)| s.clone())?;
        slot.subscribed.lock().expect("poisoned").remove(uri);
        slot.live()
    }

    /// Unsubscribes this node's session with a backend from `uri` (nobody
    /// here wants it any more), in the background.
    pub fn unsubscribe(&self, backend_id: &Arc<str>, uri: &str) {
        if let Some(session) = self.forget_subscription(backend_id, uri) {
            listen::on_resources(session, "resources/unsubscribe", vec![uri.to_owned()]);
        }
        self.follows.remove(&self.core, backend_id, uri);
    }

    /// Follows resource `uri` of a stateless backend (at `endpoint`) for
    /// this node's subscribers, on the listen stream the node holds with it
    /// (see [`follows`]); whether the backend acknowledged it.
    pub async fn follow(&self, backend_id: &Arc<str>, endpoint: &super::Endpoint, uri: &str) -> bool {
        match endpoint.stateless_session() {
            Ok(session) => self.follows.add(&self.core, backend_id, session, uri).await,
            Err(_) => false,
        }
    }

    fn new_slot(
        &self,
        backend_id: &Arc<str>,
        link: &Arc<Link>,
        owner: Option<Owner>,
        in_flight: Arc<Semaphore>,
    ) -> Arc<Slot> {
        Arc::new(Slot {
            backend_id: backend_id.clone(),
            link: link.clone(),
            owner,
            session: Mutex::new(SessionCell::default()),
            in_flight,
            subscribed: Mutex::new(HashSet::new()),
            retired: watch::Sender::new(false),
            busy: watch::Sender::new(0),
            last_used: AtomicU64::new(self.core.now_ms()),
            lessees: Default::default(),
        })
    }

    /// The node's shared slot for a backend endpoint reached by `link`.
    fn slot(&self, backend_id: &Arc<str>, link: &Arc<Link>) -> Arc<Slot> {
        let mut slots = self.core.slots.lock().expect("poisoned");
        let key = key_of(backend_id, link);
        match slots.get(&key) {
            Some(s) if Arc::ptr_eq(&s.link, link) => s.clone(),
            _ => {
                let s = self.new_slot(backend_id, link, None, Arc::new(Semaphore::new(self.max_in_flight)));
                if let Some(old) = slots.insert(key, s.clone()) {
                    self.core.retire(&old);
                }
                s
            }
        }
    }

    /// The slot `owner`'s calls to a backend use: the shared one, or the
    /// client's own (making room for it, see the module doc).
    fn slot_for(
        &self,
        backend_id: &Arc<str>,
        link: &Arc<Link>,
        owner: Option<Owner>,
    ) -> Result<Arc<Slot>, UpstreamError> {
        let shared = self.slot(backend_id, link);
        let Some(owner) = owner else {
            return Ok(shared);
        };
        let mut owned = self.core.owned.lock().expect("poisoned");
        let key = (owner.client, key_of(backend_id, link));
        if let Some(s) = owned.get(&key).filter(|s| Arc::ptr_eq(&s.link, link)) {
            return Ok(s.clone());
        }
        if owned.len() >= self.max_owned && !owned.contains_key(&key) {
            let idlest = owned
                .iter()
                .filter(|(_, s)| *s.busy.borrow() == 0)
                .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            let Some(idlest) = idlest else {
                return Err(UpstreamError::TooManyOwned { limit: self.max_owned });
            };
            if let Some(old) = owned.remove(&idlest) {
                self.core.retire(&old);
            }
        }
        let s = self.new_slot(backend_id, link, Some(owner), shared.in_flight.clone());
        if let Some(old) = owned.insert(key, s.clone()) {
            self.core.retire(&old);
        }
        Ok(s)
    }

    /// Drops the sessions of backend endpoints no longer served (`keep`
    /// says which are, by backend id and link): their listeners stop,
    /// clients' own sessions end.
    pub fn retain(&self, keep: impl Fn(&str, &Arc<Link>) -> bool) {
        let mut gone = Vec::new();
        self.core.slots.lock().expect("poisoned").retain(|(id, _), slot| {
            let kept = keep(id, &slot.link);
            if !kept {
                gone.push(slot.clone());
            }
            kept
        });
        for slot in gone {
            self.core.retire(&slot);
        }
        self.core.end_owned(|(_, (id, _)), slot| !keep(id, &slot.link));
        self.core
            .leases
            .end(&self.core, false, |slot| !keep(&slot.backend_id, &slot.link));
    }

    /// Holds the backend session that `owner`'s calls to a backend
    /// endpoint (at `link`) use now: what a call still has to tell the
    /// backend (its cancellation) goes out before a session ended with its
    /// client is terminated.
    pub fn hold(&self, owner: Option<[u8; 16]>, backend_id: &Arc<str>, link: &Link) -> Held {
        let using = owner.and_then(|client| {
            let slot = self.core.current(Some(client), key_of(backend_id, link))?;
            slot.busy.send_modify(|n| *n += 1);
            Some(Using(slot, self.core.clone(), None))
        });
        Held { _using: using }
    }

    /// The live backend sessions of client session `client`'s own on this
    /// node.
    pub fn client_sessions(&self, client: [u8; 16]) -> Vec<Arc<UpstreamSession>> {
        let owned = self.core.owned.lock().expect("poisoned");
        owned
            .iter()
            .filter(|((c, _), _)| *c == client)
            .filter_map(|(_, slot)| slot.live())
            .collect()
    }

    /// Ends the backend sessions of client session `client` on this node
    /// (the client session ended).
    pub fn end_client(&self, client: [u8; 16]) {
        self.core.end_owned(|(c, _), _| *c == client);
    }

    /// Ends clients' own sessions, and leased ones, that relayed no call
    /// for `idle`; returns how many.
    pub fn reap_idle(&self, idle: Duration) -> usize {
        let now = self.core.now_ms();
        let idle = idle.as_millis() as u64;
        let unused = |slot: &Slot| now.saturating_sub(slot.last_used.load(Ordering::Relaxed)) >= idle;
        let owned = self.core.end_owned(|_, slot| *slot.busy.borrow() == 0 && unused(slot));
        owned + self.core.leases.end(&self.core, true, unused)
    }

    /// A claim on one call's share of a backend's capacity, for calls that
    /// do not go through a pooled session (2024-11-05 HTTP+SSE backends).
    pub fn claim(&self, backend_id: &Arc<str>, link: &Arc<Link>) -> Result<InFlight, UpstreamError> {
        self.claim_in(&self.slot(backend_id, link), None)
    }

    fn claim_in(&self, slot: &Arc<Slot>, using: Option<Using>) -> Result<InFlight, UpstreamError> {
        let permit = slot
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| UpstreamError::Saturated {
                url: slot.link.url.to_string(),
                limit: self.max_in_flight,
            })?;
        Ok(InFlight {
            permit: Some(permit),
            _using: using,
        })
    }

    /// Sends a body built around a request id unique in the backend
    /// session `owner`'s calls use (`build` learns the session and the id).
    /// If the backend lost the session (404: it restarted or expired it),
    /// re-initializes once and retries, so client sessions survive backend
    /// restarts. A failed connection drops the session too, but is not
    /// retried: the request may have reached the backend.
    pub async fn send(
        &self,
        backend_id: &Arc<str>,
        link: &Arc<Link>,
        owner: Option<Owner>,
        build: impl Fn(&Arc<UpstreamSession>, u64) -> super::Outgoing,
    ) -> Result<Sent, UpstreamError> {
        let (slot, lease, side) = match owner {
            Some(o) if o.is_pooled() => {
                // A new leased session shares the backend's in-flight
                // bound with its other sessions (the shared slot holds it).
                let make = || {
                    let in_flight = self.slot(backend_id, link).in_flight.clone();
                    self.new_slot(backend_id, link, Some(o), in_flight)
                };
                let leased = self
                    .core
                    .leases
                    .take(&self.core, o, backend_id, link, self.max_in_flight, make)
                    .await;
                (leased.slot, Some(leased.number), Some(leased.side))
            }
            _ => {
                let slot = self.slot_for(backend_id, link, owner)?;
                if slot.owner.is_some() {
                    slot.busy.send_modify(|n| *n += 1);
                }
                (slot, None, None)
            }
        };
        let using = slot.owner.map(|_| Using(slot.clone(), self.core.clone(), lease));
        let permit = self.claim_in(&slot, using)?;
        let mut retried = false;
        loop {
            let session = listen::session_of(&self.core, &slot).await?;
            let id = session.next_id();
            match session
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
                        side,
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
