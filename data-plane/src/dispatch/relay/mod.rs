//! Relaying a backend's answer to one request back to the client: the
//! response id and progress tokens are mapped back, the backend's own
//! requests (sampling, elicitation, roots, ping) go to the client under
//! sealed ids, every other byte of every message passes through. A relay that
//! ends before the answer (the client went away or cancelled, the backend
//! stalled) tells the backend with `notifications/cancelled`. A JSON
//! answer is relayed by [`json`], an event stream by [`stream`].

pub mod bridge;
mod json;
pub mod passing;
mod stream;
pub mod tasks;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use serde_json::value::RawValue;

pub use stream::stream;

use super::Reply;
use crate::{
    Gateway,
    cache::Fill,
    error::{ErrorKind, McpError},
    jsonrpc::{self, Envelope, Message, RawObject, json_str},
    session::{
        AskedId, ClientCaps, Session,
        calls::{CallGuard, Cancelled},
    },
    sse::SseDecoder,
    upstream::{InFlight, UpstreamSession},
};

/// The ids of one forwarded request on both sides.
pub struct Relay {
    upstream_id: String,
    client_id: Box<RawValue>,
    client_token: Option<Box<RawValue>>,
    backend: Arc<str>,
    /// Longest silence allowed from the backend while it answers.
    idle: Duration,
    /// The call's share of its backend's capacity, released when the relay
    /// ends (answer relayed, or the client went away), or once the backend
    /// has been told of the cancel: a client's own backend session ends
    /// only after that.
    in_flight: Mutex<Option<InFlight>>,
    /// How to talk back: to the backend (refusals, cancellation) and to the
    /// client (its requests). Without it (benchmarks), a backend's requests
    /// are dropped.
    peers: Option<Peers>,
    /// The call's registration for cancellation, and its signal.
    cancel: Option<(CallGuard, Cancelled)>,
    /// Stores the answer in the response cache.
    fill: Option<Fill>,
    /// A stateless client's call: the backend's requests become input
    /// rounds.
    bridge: Option<bridge::Bridge>,
    /// A stateless backend's call: its own input rounds pass through.
    passing: Option<passing::Passing>,
    /// A stateless backend's call or task request: its task ids are
    /// rewritten.
    tasks: Option<tasks::Tasks>,
    /// What the backend sends during the call on the standalone stream of
    /// the session the call leased (see `upstream::pool::lease`): its
    /// requests are the call's, as if sent on the call's own stream.
    side: Option<tokio::sync::mpsc::Receiver<String>>,
}

/// Sends `body` to a backend in `session`, in the background (also from
/// `Drop`: without a runtime it is skipped).
pub fn tell_backend(session: Arc<UpstreamSession>, body: Vec<u8>) {
    tell_backend_holding(session, body, ());
}

/// [`tell_backend`], keeping `held` (a call's claim on the backend session)
/// until the backend was told, so the session is not ended before.
pub fn tell_backend_holding(session: Arc<UpstreamSession>, body: Vec<u8>, held: impl Send + 'static) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let _held = held;
        if let Err(e) = session.deliver(body).await {
            tracing::debug!(backend = %session.url, error = %e, "could not tell the backend");
        }
    });
}

/// `notifications/cancelled` for the backend's request `upstream_id`.
pub fn cancelled_note(upstream_id: &str) -> Vec<u8> {
    let params = format!(r#"{{"requestId":{upstream_id},"reason":"The client went away or cancelled"}}"#);
    jsonrpc::notification("notifications/cancelled", Some(&params))
}

/// The backend's request `msg` (with id `id`, in `session`) as the client
/// of session `client_key` gets it: under a sealed id that says where its
/// answer goes (see `session::asked`).
pub fn ask(
    gw: &Gateway,
    client_key: [u8; 16],
    backend_id: &str,
    session: &UpstreamSession,
    msg: &str,
    id: &RawValue,
) -> Option<Vec<u8>> {
    let asked = AskedId {
        backend_id: backend_id.to_owned(),
        endpoint: session.endpoint.to_string(),
        upstream_session: session
            .session_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        protocol_version: session.protocol_version.to_str().unwrap_or_default().to_string(),
        id: id.to_owned(),
    };
    let sealed = gw.sessions.seal_asked(&client_key, &asked);
    let obj = RawObject::parse(msg).ok()?;
    Some(obj.to_string_with(&[("id", &json_str(&sealed))]).into_bytes())
}

/// The refusal of a backend's request `method` (id `id`) that the client
/// did not declare it answers.
pub fn unsupported(id: &RawValue, method: &str) -> Vec<u8> {
    McpError::new(
        ErrorKind::MethodNotFound,
        format!("The client behind this gateway does not support {method}"),
    )
    .with_id(Some(id))
    .body()
}

/// The two ends of a forwarded call, for the messages that are not the
/// answer.
struct Peers {
    gw: Arc<Gateway>,
    session: Arc<UpstreamSession>,
    backend_id: Arc<str>,
    client_key: [u8; 16],
    client_caps: ClientCaps,
    /// A request of the stateless era: what it cannot be asked fails it,
    /// and what it can is asked in input rounds (when `bridge` is set: the
    /// methods that may answer `input_required`) or refused.
    stateless: bool,
}

/// One message from the backend, mapped for the client.
pub enum Relayed {
    /// The response to the request: the last message.
    Final(Vec<u8>),
    /// A message related to the request (progress, log, a request the
    /// client is asked).
    Related(Vec<u8>),
    /// Not for the client but for the backend: the refusal of a request the
    /// client cannot answer (or the gateway's own answer to a ping).
    Refuse(Vec<u8>),
    /// The call fails with this answer to the client; the backend is told
    /// it was refused what it asked and that the call is cancelled. (A
    /// stateless request that did not declare what the backend asks for.)
    Fail { client: Vec<u8>, backend: Vec<u8> },
    /// A request for a stateless client's next input round (the raw
    /// request, and its id).
    Input { msg: String, id: Box<RawValue> },
}

impl Relay {
    pub fn new(
        upstream_id: u64,
        client_id: &RawValue,
        client_token: Option<&RawValue>,
        backend: Arc<str>,
        idle: Duration,
    ) -> Self {
        Self {
            upstream_id: upstream_id.to_string(),
            client_id: client_id.to_owned(),
            client_token: client_token.map(ToOwned::to_owned),
            backend,
            idle,
            in_flight: Mutex::new(None),
            peers: None,
            cancel: None,
            fill: None,
            bridge: None,
            passing: None,
            tasks: None,
            side: None,
        }
    }

    /// Takes the backend's requests on the leased session's standalone
    /// stream as the call's own.
    pub fn side(mut self, side: Option<tokio::sync::mpsc::Receiver<String>>) -> Self {
        self.side = side;
        self
    }

    /// Lets the backend's requests become input rounds of a stateless
    /// client (see [`bridge`]).
    pub fn bridging(mut self, bridge: Option<bridge::Bridge>) -> Self {
        self.bridge = bridge;
        self
    }

    /// Lets a stateless backend's input rounds through (see [`passing`]).
    pub fn passing(mut self, passing: Option<passing::Passing>) -> Self {
        self.passing = passing;
        self
    }

    /// Rewrites the task ids of the backend's answer (see [`tasks`]).
    pub fn tasks(mut self, tasks: Option<tasks::Tasks>) -> Self {
        self.tasks = tasks;
        self
    }

    /// Lets the relay pass the backend's requests to the client of
    /// `session`, and talk back to the backend in `upstream`.
    pub fn between(
        mut self,
        gw: &Arc<Gateway>,
        backend_id: Arc<str>,
        upstream: Arc<UpstreamSession>,
        client: &Session,
    ) -> Self {
        self.peers = Some(Peers {
            gw: gw.clone(),
            session: upstream,
            backend_id,
            client_key: client.key,
            client_caps: client.caps,
            stateless: client.protocol_version.is_stateless(),
        });
        self
    }

    /// Sends `body` to the backend in the call's session, in the background.
    fn tell_backend(&self, body: Vec<u8>) {
        if let Some(p) = &self.peers {
            tell_backend(p.session.clone(), body);
        }
    }

    /// Tells the backend the call ends unanswered, in the background; the
    /// call's claim on the backend is released once it was told.
    fn cancel_upstream(&self) {
        if let Some(p) = &self.peers {
            let in_flight = self.in_flight.lock().expect("poisoned").take();
            tell_backend_holding(p.session.clone(), cancelled_note(&self.upstream_id), in_flight);
        }
    }

    /// Lets the client's `notifications/cancelled` end the relay.
    pub fn cancellable(mut self, registered: CallGuard, cancelled: Cancelled) -> Self {
        self.cancel = Some((registered, cancelled));
        self
    }

    /// The backend's request `id`/`method` as the client gets it, or its
    /// refusal when the client cannot answer it.
    fn ask_client(&self, msg: &str, id: &RawValue, method: &str) -> Option<Relayed> {
        let Some(p) = &self.peers else {
            tracing::debug!(backend = &*self.backend, method, "dropped a server-to-client request");
            return None;
        };
        if !p.client_caps.answers(method) {
            if p.stateless
                && let Some(cap) = ClientCaps::needed_by(method)
            {
                let e = McpError::new(
                    ErrorKind::MissingCapability,
                    format!(
                        "Backend '{}' asks the client for {method} during this call, and the request did not declare {cap:?} in _meta[{:?}]",
                        self.backend,
                        crate::stateless::CAPABILITIES_KEY
                    ),
                )
                .with_data(&serde_json::json!({"requiredCapabilities": {cap: {}}}))
                .with_id(Some(&self.client_id));
                return Some(Relayed::Fail {
                    client: e.body(),
                    backend: unsupported(id, method),
                });
            }
            return Some(Relayed::Refuse(unsupported(id, method)));
        }
        if p.stateless {
            // A stateless client is never pinged: the gateway answers for it.
            if method == "ping" {
                return Some(Relayed::Refuse(jsonrpc::response(id.get(), ("result", "{}"))));
            }
            return Some(match self.bridge.is_some() {
                true => Relayed::Input {
                    msg: msg.to_owned(),
                    id: id.to_owned(),
                },
                // Only a call, a prompt or a read may answer with an input
                // round.
                false => Relayed::Refuse(unsupported(id, method)),
            });
        }
        let sealed = ask(&p.gw, p.client_key, &p.backend_id, &p.session, msg, id)?;
        Some(Relayed::Related(sealed))
    }

    /// Stores the answer with `fill` (if any) when it comes.
    pub fn filling(mut self, fill: Option<Fill>) -> Self {
        self.fill = fill;
        self
    }

    /// Keeps `in_flight` until the relay ends.
    pub fn holding(mut self, in_flight: InFlight) -> Self {
        *self.in_flight.get_mut().expect("poisoned") = Some(in_flight);
        self
    }

    /// Maps one backend message; `None` when it is not for the client:
    /// progress it did not ask for, or a response to another request.
    pub fn rewrite(&self, msg: &str) -> Option<Relayed> {
        let env = Envelope::parse(msg.as_bytes()).ok()?;
        match env.classify().ok()? {
            Message::Response { id } if id.get() == self.upstream_id => {
                let obj = RawObject::parse(msg).ok()?;
                // A round is never cached.
                if let (Some(p), Some(peers), Some(result)) = (&self.passing, &self.peers, obj.get("result"))
                    && passing::asks_input(result)
                {
                    return Some(Relayed::Final(match p.rewrite(&peers.gw, result) {
                        Ok(r) => obj
                            .to_string_with(&[("id", self.client_id.get()), ("result", &r)])
                            .into_bytes(),
                        Err(e) => e.with_id(Some(&self.client_id)).body(),
                    }));
                }
                // Nor is a task, or what a task request answers.
                if let (Some(t), Some(peers), Some(result)) = (&self.tasks, &self.peers, obj.get("result"))
                    && let Some(r) = t.rewrite(&peers.gw.tasks, result)
                {
                    return Some(Relayed::Final(
                        obj.to_string_with(&[("id", self.client_id.get()), ("result", &r)])
                            .into_bytes(),
                    ));
                }
                if let Some(fill) = &self.fill {
                    fill.response(&obj);
                }
                Some(Relayed::Final(
                    obj.to_string_with(&[("id", self.client_id.get())]).into_bytes(),
                ))
            }
            Message::Notification {
                method: "notifications/progress",
            } => {
                let token = self.client_token.as_ref()?;
                let params = RawObject::parse(env.params?.get()).ok()?;
                if params.get("progressToken")?.get() != self.upstream_id {
                    return None;
                }
                let params = params.to_string_with(&[("progressToken", token.get())]);
                let obj = RawObject::parse(msg).ok()?;
                Some(Relayed::Related(
                    obj.to_string_with(&[("params", &params)]).into_bytes(),
                ))
            }
            Message::Notification { .. } => Some(Relayed::Related(msg.as_bytes().to_vec())),
            Message::Request { id, method } => self.ask_client(msg, id, method),
            Message::Response { .. } => None,
        }
    }

    fn failure(&self, kind: ErrorKind, why: &str) -> Vec<u8> {
        McpError::new(kind, format!("Backend '{}' {why} before answering", self.backend))
            .with_id(Some(&self.client_id))
            .body()
    }
}

/// The client's reply from a backend's HTTP response (JSON or SSE). A JSON
/// answer is relayed as a stream of one event where the backend may ask on
/// the standalone stream meanwhile (the call leased its session): the
/// stream relay reads both.
pub async fn response(relay: Relay, res: reqwest::Response) -> Result<Reply, McpError> {
    if crate::sse::is_event_stream(res.headers()) {
        return Ok(stream(relay, res.bytes_stream().boxed(), SseDecoder::default()));
    }
    if relay.side.is_some() {
        let body = futures::stream::once(async move { res.bytes().await.map(stream::as_event) });
        return Ok(stream(relay, body.boxed(), SseDecoder::default()));
    }
    json::read(relay, res).await
}
