//! Forwarding one client request to the backend that owns what it names:
//! rewrite the few routed fields (a tool's name, a resource's URI, the
//! progress token), send it in the backend's pooled session, relay what comes
//! back. Every other byte of the params passes through untouched.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::value::RawValue;
use tracing::Instrument;

mod asking;
mod errors;
mod outbound;
mod tasks;

pub use errors::backend_error;

use outbound::{Outbound, send_channel, send_legacy, send_stateless};

use super::{Reply, relay, relay::bridge::Bridge};
use http::HeaderValue;

use crate::protocol::{MAX_GATEWAY_ID, MAX_HOPS, VIA, VIA_HEADER, valid_gateway_id, via_ids};
use crate::{
    Gateway,
    cache::Fill,
    error::{ErrorKind, McpError},
    inputs::{Call, Retry},
    jsonrpc::{self, CowStr, RawObject},
    protocol::{CAPABILITIES_KEY, LOG_LEVEL_KEY},
    routing::{BackendRoute, params, params::ParamHeader},
    session::{Session, calls::CallGuard},
    telemetry::{self, context::Propagated},
    upstream::{Dialect, Held, Link, Outgoing, Owner, UpstreamSession, endpoints::says_down, stateless::Mirror},
};

/// A parsed request to forward: the fields routing needs, everything else raw.
pub struct Forward<'a> {
    method: &'a str,
    params: RawObject<'a>,
    meta: Option<RawObject<'a>>,
    /// The chain its HTTP request names in the [`VIA_HEADER`].
    via_header: Option<&'a str>,
    pub progress_token: Option<&'a RawValue>,
    /// Stores the answer in the response cache.
    fill: Option<Fill>,
    /// Sent by a 2026-07-28 client: it may carry input rounds' answers.
    stateless: bool,
    /// A tool's arguments mirrored in headers, for a stateless backend.
    mirrored: Option<Arc<[ParamHeader]>>,
    /// What a round's `requestState` is bound to, computed once when a
    /// round needs it (see [`Forward::digest`]).
    digest: OnceLock<[u8; 32]>,
    /// The task a `tasks/*` request names, as the client named it.
    task: Option<Arc<str>>,
}

/// What a request must say for the era of the backend it goes to.
#[derive(Clone, Copy)]
pub enum Era<'a> {
    /// A backend in sessions (of an earlier era).
    Session,
    /// A stateless backend: the client's capabilities (a JSON object) go
    /// in `_meta`, and `state` (JSON; `""` drops the member) is the
    /// `requestState` of a retry of its own input round; `responses` the
    /// `inputResponses` of one the gateway answered (a client of an earlier
    /// era sends neither member itself).
    Stateless {
        caps: &'a str,
        state: Option<&'a str>,
        responses: Option<&'a str>,
    },
}

/// The chain of gateways a forwarded request goes upstream with, in both
/// of its forms.
pub struct Chain {
    /// `_meta[VIA]`: a JSON array of the ids.
    meta: String,
    /// The [`VIA_HEADER`].
    header: HeaderValue,
}

impl<'a> Forward<'a> {
    /// `via_header` is the chain the carrying HTTP request names, if any.
    pub fn parse(method: &'a str, params: Option<&'a RawValue>, via_header: Option<&'a str>) -> Result<Self, McpError> {
        let invalid = |m: String| McpError::new(ErrorKind::InvalidParams, m);
        let params = params.ok_or_else(|| invalid(format!("{method} needs params")))?;
        let params =
            RawObject::parse(params.get()).map_err(|_| invalid(format!("{method} params must be a JSON object")))?;
        let meta = params.get("_meta").and_then(|m| RawObject::parse(m.get()).ok());
        let progress_token = meta.as_ref().and_then(|m| m.get("progressToken"));
        Ok(Self {
            method,
            params,
            meta,
            via_header,
            progress_token,
            fill: None,
            stateless: false,
            mirrored: None,
            digest: OnceLock::new(),
            task: None,
        })
    }

    /// Marks the request as a 2026-07-28 client's, which may answer input
    /// rounds.
    pub fn of(mut self, session: &Session) -> Self {
        self.stateless = session.protocol_version.is_stateless();
        self
    }

    /// Whether it retries a call with input responses (its answer is then
    /// never served from, or stored in, the response cache).
    pub fn is_retry(&self) -> bool {
        self.stateless && (self.params.get("inputResponses").is_some() || self.params.get("requestState").is_some())
    }

    /// Mirrors a tool's arguments in headers when the backend is stateless.
    pub fn mirroring(mut self, mirrored: Option<Arc<[ParamHeader]>>) -> Self {
        self.mirrored = mirrored;
        self
    }

    /// Stores the answer with `fill` (if any) when it comes.
    pub fn filling(mut self, fill: Option<Fill>) -> Self {
        self.fill = fill;
        self
    }

    /// A string member of the params; `what` says in the error what it is.
    pub fn str_param(&self, key: &str, what: &str) -> Result<CowStr<'a>, McpError> {
        self.params
            .get(key)
            .and_then(|n| serde_json::from_str(n.get()).ok())
            .ok_or_else(|| {
                McpError::new(
                    ErrorKind::InvalidParams,
                    format!("{} needs params.{key}, {what}", self.method),
                )
            })
    }

    /// A raw member of the params.
    pub fn param(&self, key: &str) -> Option<&'a RawValue> {
        self.params.get(key)
    }

    /// The chain of gateways this request has passed (`_meta[VIA]`, and the
    /// [`VIA_HEADER`] of its HTTP request: the gateways of either, in
    /// order), with this one (`own`) added: what it goes upstream with, so
    /// the next gateway can tell. A request whose chain already holds `own`
    /// went round a federation loop and is refused at once, never sent
    /// round again; so is one past [`MAX_HOPS`].
    pub fn via(&self, own: &str) -> Result<Chain, McpError> {
        let invalid = || {
            McpError::new(
                ErrorKind::InvalidParams,
                format!(
                    "_meta[\"{VIA}\"] must be an array of gateway ids (and the {VIA_HEADER} header a comma-separated list of them), each 1 to {MAX_GATEWAY_ID} visible ASCII characters without a comma"
                ),
            )
        };
        let mut chain: Vec<CowStr<'_>> = match self.meta.as_ref().and_then(|m| m.get(VIA)) {
            None => Vec::new(),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| invalid())?,
        };
        for id in self.via_header.into_iter().flat_map(via_ids) {
            if chain.len() >= MAX_HOPS {
                break;
            }
            if !chain.iter().any(|g| &**g == id) {
                chain.push(CowStr(std::borrow::Cow::Borrowed(id)));
            }
        }
        if !chain.iter().all(|g| valid_gateway_id(g)) {
            return Err(invalid());
        }
        if chain.iter().any(|g| &**g == own) || chain.len() >= MAX_HOPS {
            let path: Vec<&str> = chain.iter().map(|g| &**g).collect();
            return Err(McpError::new(
                ErrorKind::FederationLoop,
                format!(
                    "Federation loop: this request has already passed gateway {own} (its path: {}); it is refused instead of being sent round again",
                    path.join(" -> ")
                ),
            ));
        }
        let mut meta = String::with_capacity(4 + (chain.len() + 1) * (own.len() + 3));
        let mut header = String::with_capacity((chain.len() + 1) * (own.len() + 2));
        meta.push('[');
        for g in chain.iter().map(|g| &**g).chain([own]) {
            if header.is_empty() {
                header.push_str(g);
            } else {
                meta.push(',');
                header.push_str(", ");
                header.push_str(g);
            }
            meta.push_str(&jsonrpc::json_str(g));
        }
        meta.push(']');
        let header = HeaderValue::try_from(header).map_err(|_| invalid())?;
        Ok(Chain { meta, header })
    }

    /// The request to send upstream as id `up_id`, with `replace` (member,
    /// raw JSON) applied to the params, the chain of gateways `via` in its
    /// `_meta`, and, if the client asked for progress, the upstream id as
    /// the progress token: unique in the pooled backend session and mapped
    /// back on the way out.
    /// While tracing is on, the current span's context (the upstream
    /// span's) goes with it, in `_meta` and in HTTP headers.
    pub fn upstream_request(&self, replace: &[(&str, &str)], up_id: u64, via: &Chain, era: Era<'_>) -> Outgoing {
        let trace = telemetry::context::outgoing();
        let body = self.upstream_body(replace, up_id, &via.meta, era, trace.as_ref());
        Outgoing {
            body,
            via: Some(via.header.clone()),
            mirror: matches!(era, Era::Stateless { .. }).then(|| self.mirror(replace)),
            forwarded: true,
            trace,
        }
    }

    fn upstream_body(
        &self,
        replace: &[(&str, &str)],
        up_id: u64,
        via: &str,
        era: Era<'_>,
        trace: Option<&Propagated>,
    ) -> Vec<u8> {
        let up_id = up_id.to_string();
        let mut in_meta: Vec<(&str, &str)> = Vec::with_capacity(7);
        in_meta.push((VIA, via));
        let traced = trace.map(|t| {
            let state = (!t.tracestate.is_empty()).then(|| jsonrpc::json_str(&t.tracestate));
            (jsonrpc::json_str(&t.traceparent), state)
        });
        if let Some((parent, state)) = &traced {
            in_meta.push(("traceparent", parent));
            if let Some(state) = state {
                in_meta.push(("tracestate", state));
            }
        }
        if self.progress_token.is_some() {
            in_meta.push(("progressToken", up_id.as_str()));
        }
        let stateless_meta;
        if let Era::Stateless { caps, .. } = era {
            stateless_meta = crate::upstream::stateless::meta_members(self.meta.as_ref(), caps);
            in_meta.extend(stateless_meta.iter().map(|(k, v)| (*k, v.as_str())));
            // A client of an earlier era hears a server's logs unless it
            // asks otherwise; a stateless backend logs only when asked,
            // and a session's level (`logging/setLevel`) is not known on
            // every node: such a client's requests ask for `info`.
            if !self.stateless {
                in_meta.push((LOG_LEVEL_KEY, r#""info""#));
            }
        }
        let meta = self.meta.as_ref().map_or_else(
            || RawObject::default().to_string_with(&in_meta),
            |m| m.to_string_with(&in_meta),
        );
        let mut all = Vec::with_capacity(replace.len() + 3);
        all.extend_from_slice(replace);
        all.push(("_meta", meta.as_str()));
        match era {
            // The gateway's own rounds: the backend of an earlier era
            // never asked for them.
            Era::Session if self.stateless => all.extend([("inputResponses", ""), ("requestState", "")]),
            Era::Stateless { state, responses, .. } => {
                if let Some(state) = state {
                    all.push(("requestState", state));
                }
                if !self.stateless {
                    all.push(("inputResponses", responses.unwrap_or_default()));
                    if state.is_none() {
                        all.push(("requestState", ""));
                    }
                }
            }
            Era::Session => {}
        }
        let params = self.params.to_string_with(&all);
        jsonrpc::request(&up_id, self.method, Some(&params))
    }

    /// The headers mirroring the request for a stateless backend: its
    /// method, the name or URI as the backend knows it (after renaming),
    /// and a tool's mirrored arguments.
    pub fn mirror(&self, replace: &[(&str, &str)]) -> Mirror {
        let mut mirror = Mirror::of(self.method);
        let key = match self.method {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
            _ => None,
        };
        if let Some(key) = key {
            let raw = replace
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .or_else(|| self.params.get(key).map(RawValue::get));
            mirror.name = raw
                .and_then(|r| serde_json::from_str::<CowStr<'_>>(r).ok())
                .map(|n| params::encode(&n));
        }
        if let (Some(mirrored), Some(args)) = (&self.mirrored, self.params.get("arguments"))
            && let Ok(args) = RawObject::parse(args.get())
        {
            mirror.params = mirrored
                .iter()
                .filter_map(|p| Some((p.header.clone(), ParamHeader::header_value(p.value_in(&args)?)?)))
                .collect();
        }
        mirror
    }

    /// The client's capabilities as a stateless backend is told them: a
    /// 2026-07-28 client's own declaration, else what its session declared.
    fn caps_json(&self, session: &Session) -> String {
        match self.meta.as_ref().and_then(|m| m.get(CAPABILITIES_KEY)) {
            Some(own) if self.stateless => own.get().to_owned(),
            _ => session.caps.to_json(),
        }
    }

    /// Whose backend session the request goes in: the client's own when it
    /// can be asked something (so whatever the backend asks on that
    /// session's streams is the client's); for a 2026-07-28 client, one
    /// leased for the request's duration (see `upstream::pool::lease`)
    /// when it can be asked or the request may ask it (what the backend
    /// asks on the call's stream or the leased session's standalone one is
    /// that call's); else the node's shared one. Subscriptions always live
    /// on the shared session, which hears the updates for every client of
    /// the node.
    fn owner(&self, session: &Session) -> Option<Owner> {
        if matches!(self.method, "resources/subscribe" | "resources/unsubscribe") {
            return None;
        }
        match self.stateless {
            true if session.caps.any() || self.may_ask() => Some(Owner::pooled(session.caps)),
            false if session.caps.any() => Some(Owner {
                client: session.key,
                caps: session.caps,
            }),
            _ => None,
        }
    }

    /// What a stateless client's call may be asked in input rounds (see
    /// `relay::bridge`): a call, a prompt or a read by a client that
    /// declared it answers something; with the answers it gave up front.
    fn bridge(&self, gw: &Gateway, session: &Session, retry: Option<&Retry<'_>>) -> Option<Bridge> {
        (self.stateless && self.may_ask() && session.caps.any()).then(|| {
            Bridge::new(
                self.digest(),
                session.principal.0.clone(),
                retry.map(Retry::answers).unwrap_or_default(),
                gw.limits.input_gather,
            )
        })
    }

    /// What a stateless backend's own input rounds need to pass through.
    fn passing(&self, session: &Session, backend: &BackendRoute) -> Option<relay::passing::Passing> {
        use relay::passing::Rounds;
        (self.may_ask() && backend.dialect == Dialect::Stateless).then(|| relay::passing::Passing {
            // A client of the stateless era answers a round itself; the
            // gateway asks one of an earlier era that can be asked.
            rounds: match (self.stateless, session.caps.any()) {
                (true, _) => Rounds::Sealed(self.digest()),
                (false, true) => Rounds::Asked,
                (false, false) => Rounds::Refused,
            },
            principal: session.principal.0.clone(),
            backend_id: backend.id.clone(),
            backend_name: backend.name.clone(),
        })
    }

    /// Whether the request is one a backend may answer with input rounds:
    /// a call, a prompt or a read.
    fn may_ask(&self) -> bool {
        matches!(self.method, "tools/call" | "prompts/get" | "resources/read")
    }

    /// What a round's `requestState` is bound to: the method, the name or
    /// URI, the arguments. Computed once per request (a retry opens a
    /// state with it and may seal the next round's with it).
    pub fn digest(&self) -> [u8; 32] {
        *self.digest.get_or_init(|| {
            let target = self.params.get("name").or_else(|| self.params.get("uri"));
            crate::inputs::state::digest(
                self.method,
                target.map_or("", RawValue::get),
                self.params.get("arguments"),
            )
        })
    }

    /// Whether the request may be sent again after an endpoint failed it:
    /// reads change nothing; a tool call may have done its work before the
    /// failure, so it is never repeated.
    fn retry_safe(&self) -> bool {
        matches!(self.method, "resources/read" | "prompts/get" | "completion/complete")
    }

    /// Sends the request to `backend` with `replace` applied and relays the
    /// answer to the client of `session`; `what` names the target in errors
    /// (formatted only when one is written)
    /// ("tool 'x'"). A stateless backend's input rounds for a client of an
    /// earlier era are asked of it by the gateway (see [`asking`]).
    pub async fn send(
        &self,
        gw: &Arc<Gateway>,
        session: &Session,
        client_id: &RawValue,
        backend: &Arc<BackendRoute>,
        replace: &[(&str, &str)],
        what: &(dyn std::fmt::Display + Sync),
    ) -> Result<Reply, McpError> {
        let reply = self
            .send_round(gw, session, client_id, backend, replace, what, None)
            .await?;
        let gateway_asks =
            backend.dialect == Dialect::Stateless && !self.stateless && self.may_ask() && session.caps.any();
        Ok(match gateway_asks {
            true => asking::rounds(
                reply,
                asking::Again::new(self, gw, session, client_id, backend, replace, what),
            ),
            false => reply,
        })
    }

    /// [`Forward::send`], one round: with `answered`, the round the gateway
    /// answered for a client of an earlier era.
    #[allow(clippy::too_many_arguments)]
    async fn send_round(
        &self,
        gw: &Arc<Gateway>,
        session: &Session,
        client_id: &RawValue,
        backend: &BackendRoute,
        replace: &[(&str, &str)],
        what: &(dyn std::fmt::Display + Sync),
        answered: Option<asking::Answered<'_>>,
    ) -> Result<Reply, McpError> {
        let retry = match self.stateless {
            true => Retry::parse(&self.params)?,
            false => None,
        };
        // A stateless backend's own round goes on with its own state.
        let mut passed: Option<String> = None;
        if let Some((retry, state)) = retry.as_ref().and_then(|r| Some((r, r.state.as_deref()?))) {
            match super::inputs::open(gw, session, self, backend, state)? {
                Call::Held(pending) => return super::inputs::resume(gw, client_id, self, retry, pending).await,
                Call::Passed(own) => passed = Some(own.as_deref().map(jsonrpc::json_str).unwrap_or_default()),
            }
        }
        let stateless_backend = backend.dialect == Dialect::Stateless;
        let caps = match stateless_backend {
            true => self.caps_json(session),
            false => String::new(),
        };
        // Registered before sending, so a cancel that comes before the
        // backend's first byte is not lost.
        let via = self.via(&gw.snapshot.load().epoch)?;
        let via = &via;
        let (registered, mut cancelled) = CallGuard::register(&gw.calls, session.key, client_id.get());
        let unanswered = Unanswered { sent: Mutex::new(None) };
        // A stateless backend asks nothing mid-call: no client needs a
        // session of its own.
        let owner = self.owner(session).filter(|_| !stateless_backend);
        let (state, responses) = match &answered {
            Some(a) => (a.state, Some(a.responses)),
            None => (passed.as_deref(), None),
        };
        let caps = caps.as_str();
        let build = |link: &Arc<Link>| {
            let (unanswered, link) = (&unanswered, link.clone());
            move |s: &Arc<UpstreamSession>, up_id| {
                let own = owner.filter(|o| !o.is_pooled()).map(|o| o.client);
                let held = gw.upstream.hold(own, &backend.id, &link);
                *unanswered.sent.lock().expect("poisoned") = Some((s.clone(), up_id, held));
                let era = match s.stateless {
                    true => Era::Stateless { caps, state, responses },
                    false => Era::Session,
                };
                self.upstream_request(replace, up_id, via, era)
            }
        };
        let sending = async {
            if let Some(channel) = &backend.link().channel {
                return send_channel(gw, backend, channel, build(backend.link())).await;
            }
            // Subscriptions live on the first endpoint's session, which
            // hears the updates; everything else is balanced.
            let mut endpoint = match self.method {
                "resources/subscribe" | "resources/unsubscribe" => backend.endpoints.primary(),
                _ => backend.endpoints.pick(),
            };
            let mut retried = false;
            loop {
                let sent = match backend.dialect {
                    Dialect::Sse => send_legacy(gw, backend, &endpoint.link, owner, build(&endpoint.link)).await,
                    Dialect::Stateless => send_stateless(gw, backend, endpoint, build(&endpoint.link)).await,
                    Dialect::Session => gw
                        .upstream
                        .send(&backend.id, &endpoint.link, owner, build(&endpoint.link))
                        .await
                        .map(Outbound::Pooled),
                };
                match &sent {
                    Ok(_) => endpoint.succeeded(),
                    Err(e) => endpoint.failed(e),
                }
                // A request that may be repeated goes once more, to another
                // endpoint, when the first one is down; a tool call never.
                match sent {
                    Err(e) if !retried && self.retry_safe() && says_down(&e) => {
                        match backend.endpoints.other_than(endpoint) {
                            Some(other) => {
                                tracing::debug!(method = self.method, backend = &*backend.name, error = %e, "retrying on another endpoint");
                                endpoint = other;
                                retried = true;
                            }
                            None => return Err(e),
                        }
                    }
                    sent => return sent,
                }
            }
        };
        // The backend's part of the call, from sending to the answer read
        // (or, streamed, begun).
        let upstream_span = telemetry::spans::upstream(&backend.name, self.method);
        let sending = sending.instrument(upstream_span.clone());
        let sent = tokio::select! {
            sent = sending => sent.map_err(|e| {
                tracing::warn!(method = self.method, backend = &*backend.name, error = %e, "forwarding failed upstream");
                backend_error(&backend.name, what, e)
            })?,
            Ok(()) = &mut cancelled => {
                return Err(McpError::new(ErrorKind::Cancelled, "Request cancelled by the client"));
            }
        };
        // From here the relay tells the backend if the call ends unanswered.
        unanswered.sent.lock().expect("poisoned").take();
        let (id, upstream) = match &sent {
            Outbound::Pooled(s) => (s.id, &s.session),
            Outbound::Legacy { id, session, .. } => (*id, session),
        };
        let relay = relay::Relay::new(
            id,
            client_id,
            self.progress_token,
            backend.name.clone(),
            gw.limits.upstream_timeout,
        )
        .between(gw, backend.id.clone(), upstream.clone(), session)
        .cancellable(registered, cancelled)
        .bridging(self.bridge(gw, session, retry.as_ref()))
        .passing(self.passing(session, backend))
        .tasks(self.tasks(session, backend))
        // What a session of a client that can be asked answers may hold
        // what that client was asked for (a sampled reply, an elicited
        // answer, its roots): never stored for others. It may still be
        // served what a session of clients that answer nothing answered,
        // which holds no client's data.
        .filling(self.fill.clone().filter(|_| owner.is_none_or(|o| !o.caps.any())));
        match sent {
            Outbound::Pooled(s) => {
                relay::response(relay.holding(s.in_flight).side(s.side), s.response)
                    .instrument(upstream_span)
                    .await
            }
            Outbound::Legacy { in_flight, stream, .. } => {
                Ok(relay::stream(relay.holding(in_flight), stream.body, stream.decoder))
            }
        }
    }
}

/// Tells the backend `notifications/cancelled` if dropped while a request
/// is out and the relay has not taken over: the client cancelled, or went
/// away (its HTTP request dropped), before the backend's first byte.
/// The session stays held until the backend was told, so a client's own
/// session ended meanwhile is terminated after the cancellation, not before.
struct Unanswered {
    sent: Mutex<Option<(Arc<UpstreamSession>, u64, Held)>>,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((session, up_id, held)) = self.sent.get_mut().expect("poisoned").take() {
            relay::tell_backend_holding(session, relay::cancelled_note(&up_id.to_string()), held);
        }
    }
}
