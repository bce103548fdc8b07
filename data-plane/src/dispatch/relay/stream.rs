//! Relaying a backend's answer that is an event stream: each event mapped
//! for the client as it arrives (progress, logs, the backend's requests),
//! until the response. A stream the backend closes early after an event id
//! is resumed with `GET` + `Last-Event-ID` (SEP-1699); one that ends
//! unanswered tells the backend the call is cancelled.

use std::{collections::VecDeque, time::Duration};

use futures::{StreamExt, stream::BoxStream};

use super::{Relay, Relayed};
use crate::{
    dispatch::Reply,
    error::ErrorKind,
    session::calls::{CallGuard, Cancelled},
    sse::{SseDecoder, SseEvent},
};

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

    /// Waits for the next chunk of the backend's stream, or the client's cancel.
    async fn next_chunk(
        &mut self,
    ) -> Option<Result<Option<reqwest::Result<bytes::Bytes>>, tokio::time::error::Elapsed>> {
        let chunk = tokio::time::timeout(self.relay.idle, self.body.next());
        match &mut self.cancelled {
            Some(cancelled) => tokio::select! {
                c = chunk => Some(c),
                // Only a cancel counts; a dropped sender (the registration
                // was replaced) leaves the call running.
                Ok(()) = cancelled => None,
            },
            None => Some(chunk.await),
        }
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
    let state = SseState {
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
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(m) = st.queue.pop_front() {
                return Some((m, st));
            }
            if st.done {
                return None;
            }
            let Some(next) = st.next_chunk().await else {
                // The client cancelled: it expects no answer.
                return None;
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    st.decoder.push(&chunk);
                    loop {
                        match st.decoder.next_event() {
                            Ok(Some(ev)) => match st.note_position(&ev).relay.rewrite(&ev.data) {
                                Some(Relayed::Final(m)) => {
                                    st.queue.push_back(m);
                                    st.done = true;
                                    st.answered = true;
                                    break;
                                }
                                Some(Relayed::Related(m)) => st.queue.push_back(m),
                                Some(Relayed::Refuse(m)) => st.relay.tell_backend(m),
                                // Unanswered: dropping the state tells the
                                // backend the call is cancelled.
                                Some(Relayed::Fail { client, backend }) => {
                                    st.relay.tell_backend(backend);
                                    st.queue.push_back(client);
                                    st.done = true;
                                    break;
                                }
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
                Ok(None) => {
                    if !st.resume().await {
                        st.fail(ErrorKind::BackendUnavailable, "ended its event stream");
                    }
                }
                Err(_) => {
                    let why = format!("sent nothing for {} s", st.relay.idle.as_secs());
                    st.fail(ErrorKind::BackendTimeout, &why);
                }
            }
        }
    })
}
