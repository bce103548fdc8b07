//! Relaying a backend's answer to one request back to the client: the
//! response id and progress tokens are mapped back, every other byte of every
//! message passes through.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::StreamExt;
use serde_json::value::RawValue;

use super::Reply;
use crate::{
    error::{ErrorKind, McpError},
    jsonrpc::{Envelope, Message, RawObject},
    upstream::{InFlight, sse::SseDecoder},
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
    /// ends (answer relayed, or the client went away).
    _in_flight: Option<InFlight>,
}

/// One message from the backend, mapped for the client.
pub enum Relayed {
    /// The response to the request: the last message.
    Final(Vec<u8>),
    /// A message related to the request (progress, log, ...).
    Related(Vec<u8>),
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
            _in_flight: None,
        }
    }

    /// Keeps `in_flight` until the relay ends.
    pub fn holding(mut self, in_flight: InFlight) -> Self {
        self._in_flight = Some(in_flight);
        self
    }

    /// Maps one backend message; `None` when it is not for the client:
    /// progress it did not ask for, a response to another request, or a
    /// request from the backend (server→client requests are not relayed yet,
    /// so the client is never handed an id it cannot answer).
    pub fn rewrite(&self, msg: &str) -> Option<Relayed> {
        let env = Envelope::parse(msg.as_bytes()).ok()?;
        match env.classify().ok()? {
            Message::Response { id } if id.get() == self.upstream_id => {
                let obj = RawObject::parse(msg).ok()?;
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
            Message::Request { method, .. } => {
                tracing::debug!(backend = &*self.backend, method, "dropped a server-to-client request");
                None
            }
            Message::Response { .. } => None,
        }
    }

    fn failure(&self, kind: ErrorKind, why: &str) -> Vec<u8> {
        McpError::new(kind, format!("Backend '{}' {why} before answering", self.backend))
            .with_id(Some(&self.client_id))
            .body()
    }
}

/// The client's reply from a backend's HTTP response (JSON or SSE).
pub async fn response(relay: Relay, res: reqwest::Response) -> Result<Reply, McpError> {
    let is_sse = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if is_sse {
        return Ok(Reply::Stream(sse(relay, res).boxed()));
    }
    let body = match tokio::time::timeout(relay.idle, res.bytes()).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let why = format!("Backend '{}' closed the connection mid-answer", relay.backend);
            return Err(McpError::new(ErrorKind::BackendUnavailable, why));
        }
        Err(_) => {
            let why = format!(
                "Backend '{}' stopped answering for {} s",
                relay.backend,
                relay.idle.as_secs()
            );
            return Err(McpError::new(ErrorKind::BackendTimeout, why));
        }
    };
    match std::str::from_utf8(&body).ok().and_then(|t| relay.rewrite(t)) {
        Some(Relayed::Final(m)) => Ok(Reply::Message(m)),
        _ => Err(McpError::new(
            ErrorKind::BackendProtocol,
            format!(
                "Backend '{}' answered with something that is not this request's JSON-RPC response",
                relay.backend
            ),
        )),
    }
}

struct SseState {
    relay: Relay,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
    queue: VecDeque<Vec<u8>>,
    done: bool,
}

impl SseState {
    fn fail(&mut self, kind: ErrorKind, why: &str) {
        self.queue.push_back(self.relay.failure(kind, why));
        self.done = true;
    }
}

/// Relays events until the response arrives, then drops the backend stream.
fn sse(relay: Relay, res: reqwest::Response) -> impl futures::Stream<Item = Vec<u8>> + Send + 'static {
    let state = SseState {
        relay,
        body: res.bytes_stream().boxed(),
        decoder: SseDecoder::default(),
        queue: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(m) = st.queue.pop_front() {
                return Some((m, st));
            }
            if st.done {
                return None;
            }
            match tokio::time::timeout(st.relay.idle, st.body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    st.decoder.push(&chunk);
                    loop {
                        match st.decoder.next_event() {
                            Ok(Some(ev)) => match st.relay.rewrite(&ev.data) {
                                Some(Relayed::Final(m)) => {
                                    st.queue.push_back(m);
                                    st.done = true;
                                    break;
                                }
                                Some(Relayed::Related(m)) => st.queue.push_back(m),
                                None => {}
                            },
                            Ok(None) => break,
                            Err(e) => {
                                st.fail(ErrorKind::BackendProtocol, &format!("sent {e}"));
                                break;
                            }
                        }
                    }
                }
                Ok(Some(Err(_))) => st.fail(ErrorKind::BackendUnavailable, "broke its event stream"),
                Ok(None) => st.fail(ErrorKind::BackendUnavailable, "ended its event stream"),
                Err(_) => {
                    let why = format!("sent nothing for {} s", st.relay.idle.as_secs());
                    st.fail(ErrorKind::BackendTimeout, &why);
                }
            }
        }
    })
}
