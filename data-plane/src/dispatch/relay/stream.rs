//! Relaying a backend's answer that is an event stream: each event mapped
//! for the client as it arrives (progress, logs, the backend's requests),
//! until the response. A stream the backend closes early after an event id
//! is resumed with `GET` + `Last-Event-ID` (SEP-1699); one that ends
//! unanswered tells the backend the call is cancelled.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use super::{Relay, Relayed, bridge};
use crate::{
    dispatch::Reply,
    error::{ErrorKind, McpError},
    inputs::{Answered, Call, Ticket, Waiting},
    session::calls::{CallGuard, Cancelled},
    sse::{SseDecoder, SseEvent},
};
use futures::{StreamExt, stream::BoxStream};

struct SseState {
    relay: Relay,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
    queue: VecDeque<Vec<u8>>,
    done: bool,
    /// The backend's answer was relayed: nothing to cancel.
    answered: bool,
    /// Fires when the client cancels the call.
    cancelled: Option<Cancelled>,
    _registered: Option<CallGuard>,
    /// The backend's last event id and retry hint, to resume a stream it
    /// closes before answering (SEP-1699), and the resumptions so far.
    last_event_id: Option<String>,
    retry: Duration,
    resumed: u32,
    /// The backend's requests on the standalone stream of the session the
    /// call leased (see `Relay::side`); `None` once that ends.
    side: Option<tokio::sync::mpsc::Receiver<String>>,
}

/// Most times one call's stream is resumed before the gateway gives up.
const MAX_RESUMES: u32 = 8;
/// The longest retry hint honoured, so a backend cannot stall a call forever.
const MAX_RETRY: Duration = Duration::from_secs(5);

impl SseState {
    fn note_position(&mut self, ev: &SseEvent) -> &mut Self {
        if let Some(id) = &ev.id {
            self.last_event_id = Some(id.clone());
        }
        if let Some(ms) = ev.retry {
            self.retry = Duration::from_millis(ms).min(MAX_RETRY);
        }
        self
    }

    /// The backend closed the stream before answering: if it gave an event
    /// id, wait its retry hint and pick the stream up with `GET` +
    /// `Last-Event-ID` in the same session. True if relaying goes on.
    async fn resume(&mut self) -> bool {
        let (Some(last), Some(p)) = (self.last_event_id.clone(), &self.relay.peers) else {
            return false;
        };
        if self.resumed >= MAX_RESUMES {
            return false;
        }
        self.resumed += 1;
        tokio::time::sleep(self.retry).await;
        match p.session.client.get_stream(&p.session, Some(&last)).await {
            Ok(res) => {
                self.body = res.bytes_stream().boxed();
                self.decoder = SseDecoder::default();
                true
            }
            Err(e) => {
                tracing::debug!(backend = &*self.relay.backend, error = %e, "could not resume the stream");
                false
            }
        }
    }

    fn fail(&mut self, kind: ErrorKind, why: &str) {
        self.queue.push_back(self.relay.failure(kind, why));
        self.done = true;
    }

    /// Takes one message of the backend's (on the call's stream or the
    /// leased session's standalone one); whether the call is done.
    fn take(&mut self, data: &str) -> bool {
        match self.relay.rewrite(data) {
            Some(Relayed::Final(m)) => {
                self.queue.push_back(m);
                self.done = true;
                self.answered = true;
                return true;
            }
            Some(Relayed::Related(m)) => self.queue.push_back(m),
            Some(Relayed::Refuse(m)) => self.relay.tell_backend(m),
            Some(Relayed::Input { msg, id }) => {
                let round = self.relay.bridge.as_mut().expect("asked only when bridging");
                if let Some(reply) = round.ask(&msg, &id) {
                    self.relay.tell_backend(reply);
                }
            }
            // Unanswered: dropping the state tells the backend the call is
            // cancelled.
            Some(Relayed::Fail { client, backend }) => {
                self.relay.tell_backend(backend);
                self.queue.push_back(client);
                self.done = true;
                return true;
            }
            None => {}
        }
        false
    }

    /// Waits for the next chunk of the backend's stream, a message on the
    /// leased session's standalone stream, the client's cancel, or the end
    /// of an input round's gathering.
    async fn next_chunk(&mut self) -> Next {
        let gathering = self.relay.bridge.as_ref().and_then(|b| b.gathering_until());
        let (body, idle) = (&mut self.body, self.relay.idle);
        let read = async move {
            match gathering {
                Some(until) => match tokio::time::timeout_at(until.into(), body.next()).await {
                    Ok(c) => Next::Chunk(c),
                    Err(_) => Next::RoundDone,
                },
                None => match tokio::time::timeout(idle, body.next()).await {
                    Ok(c) => Next::Chunk(c),
                    Err(_) => Next::Idle,
                },
            }
        };
        let side = self.side.as_mut();
        let asked = async move {
            match side {
                Some(side) => Next::Side(side.recv().await),
                None => std::future::pending().await,
            }
        };
        let cancelled = self.cancelled.as_mut();
        let cancelled = async move {
            match cancelled {
                Some(cancelled) => match cancelled.await {
                    Ok(()) => Next::Cancelled,
                    // A dropped sender (the registration was replaced)
                    // leaves the call running.
                    Err(_) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            c = read => c,
            a = asked => a,
            c = cancelled => c,
        }
    }

    /// Holds the call for its client's answers to the round asked; the
    /// `input_required` result that says so, or the failure to hold it.
    fn hold(mut self) -> Vec<u8> {
        let Some(p) = &self.relay.peers else {
            return self.relay.failure(ErrorKind::Internal, "asked the client something");
        };
        let (gw, backend_id) = (p.gw.clone(), p.backend_id.clone());
        let round = self.relay.bridge.as_mut().expect("held only when bridging");
        round.close_round();
        let (input_requests, digest, principal) = (round.input_requests(), round.digest, round.principal.clone());
        let client_id = self.relay.client_id.clone();
        let Some(left) = round.time_left(gw.inputs.ttl) else {
            return self.relay.failure(
                ErrorKind::BackendTimeout,
                "kept asking its client for input past the time a call may wait for it (MCPGW_INPUT_TTL_SECS)",
            );
        };
        // Between rounds nobody reads the call: a client's cancel is its
        // retry not coming, and the hold's expiry ends it. It waits on its
        // client, not on the backend: its share of the backend's capacity
        // goes back.
        self.cancelled = None;
        self._registered = None;
        if let Some(f) = self.relay.in_flight.get_mut().expect("poisoned").as_mut() {
            f.waiting_on_client();
        }
        match gw.inputs.hold(Box::new(self), left) {
            Some(pending) => {
                let ticket = Ticket::new(Call::Held(pending), &backend_id, &principal, left.as_secs().max(1));
                let state = gw.inputs.seal(&ticket, &digest);
                bridge::input_required(&client_id, &input_requests, &state)
            }
            None => McpError::new(
                ErrorKind::BackendUnavailable,
                "This gateway node already holds as many calls awaiting their client's input as it may; try again later",
            )
            .with_id(Some(&client_id))
            .body(),
        }
    }
}

/// What waiting on the backend gave.
enum Next {
    Chunk(Option<reqwest::Result<bytes::Bytes>>),
    /// The backend was silent for the relay's idle time.
    Idle,
    /// The client cancelled.
    Cancelled,
    /// The backend asked nothing more for a moment: the round goes out.
    RoundDone,
    /// A message on the leased session's standalone stream (`None`: that
    /// stream is no longer the call's).
    Side(Option<String>),
}

impl Waiting for SseState {
    fn resume(mut self: Box<Self>, answered: Answered) -> BoxStream<'static, Vec<u8>> {
        self.relay.client_id = answered.id;
        self.relay.client_token = answered.progress_token;
        let round = self.relay.bridge.as_mut().expect("held only when bridging");
        for response in round.answer(&answered.answers) {
            self.relay.tell_backend(response);
        }
        run(*self).boxed()
    }
}

impl Drop for SseState {
    fn drop(&mut self) {
        if !self.answered {
            self.relay.cancel_upstream();
        }
    }
}

/// Relays a backend's event stream (`body`, read so far into `decoder`)
/// until the response arrives, then drops it.
pub fn stream(relay: Relay, body: BoxStream<'static, reqwest::Result<bytes::Bytes>>, decoder: SseDecoder) -> Reply {
    Reply::Stream(sse(relay, body, decoder).boxed())
}

fn sse(
    relay: Relay,
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
) -> impl futures::Stream<Item = Vec<u8>> + Send + 'static {
    let mut relay = relay;
    let (registered, cancelled) = relay.cancel.take().unzip();
    let side = relay.side.take();
    run(SseState {
        relay,
        body,
        decoder,
        queue: VecDeque::new(),
        done: false,
        answered: false,
        cancelled,
        _registered: registered,
        last_event_id: None,
        retry: Duration::from_millis(100),
        resumed: 0,
        side,
    })
}

/// Relays from `state` on: until the answer, or until an input round goes
/// to the client (the call is then held, and this stream ends).
fn run(state: SseState) -> impl futures::Stream<Item = Vec<u8>> + Send + 'static {
    futures::stream::unfold(Some(state), |st| async move {
        let mut st = st?;
        loop {
            if let Some(m) = st.queue.pop_front() {
                return Some((m, Some(st)));
            }
            if st.done {
                return None;
            }
            let round_due = st
                .relay
                .bridge
                .as_ref()
                .and_then(|b| b.gathering_until())
                .is_some_and(|until| until <= Instant::now());
            if round_due {
                return Some((st.hold(), None));
            }
            match st.next_chunk().await {
                // The client cancelled: it expects no answer.
                Next::Cancelled => return None,
                Next::RoundDone => return Some((st.hold(), None)),
                Next::Chunk(Some(Ok(chunk))) => {
                    st.decoder.push(&chunk);
                    loop {
                        match st.decoder.next_event() {
                            Ok(Some(ev)) => {
                                if st.note_position(&ev).take(&ev.data) {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                st.fail(ErrorKind::BackendProtocol, &format!("sent {e}"));
                                break;
                            }
                        }
                    }
                }
                Next::Side(Some(msg)) => {
                    st.take(&msg);
                }
                Next::Side(None) => st.side = None,
                Next::Chunk(Some(Err(_))) => st.fail(ErrorKind::BackendUnavailable, "broke its event stream"),
                Next::Chunk(None) => {
                    if !st.resume().await {
                        st.fail(ErrorKind::BackendUnavailable, "ended its event stream");
                    }
                }
                Next::Idle => {
                    let why = format!("sent nothing for {} s", st.relay.idle.as_secs());
                    st.fail(ErrorKind::BackendTimeout, &why);
                }
            }
        }
    })
}

/// A backend's JSON answer as one event of a stream (see
/// `relay::response`): line breaks in JSON are whitespace between tokens
/// (a string holds them escaped), so they become spaces.
pub(super) fn as_event(json: bytes::Bytes) -> bytes::Bytes {
    let mut event = Vec::with_capacity(json.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend(json.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
    event.extend_from_slice(b"\n\n");
    event.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_answer_becomes_one_event_of_the_same_message() {
        let json = "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 1,\n  \"result\": {\"text\": \"a\\nb\"}\n}";
        let mut decoder = SseDecoder::default();
        decoder.push(&as_event(bytes::Bytes::from(json)));
        let ev = decoder.next_event().unwrap().expect("one event");
        let got: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(got, serde_json::from_str::<serde_json::Value>(json).unwrap());
        assert_eq!(got["result"]["text"], "a\nb", "escaped line breaks are kept");
        assert!(decoder.next_event().unwrap().is_none());
    }
}
