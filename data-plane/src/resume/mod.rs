//! Resumable client streams (SEP-1699; MCP 2025-03-26 and later).
//!
//! A call answered as an event stream is logged. Every event gets an id
//! `c<stream>-<seq>`, and the events stay buffered until the answer is out
//! and the resume window has passed. A client that loses the stream comes
//! back with `GET` + `Last-Event-ID` and gets what it missed, then the rest.
//!
//! Disconnection is not cancellation (2025-11-25, transports l.128): the
//! call keeps running while its client is away. Once it has had no reader
//! for the resume window, it is cancelled upstream, the way a closed stream
//! of a client that cannot resume (2024-11-05) cancels it at once.
//!
//! Standalone (`GET`) streams carry ids too (`g<stream>-<seq>`) but are not
//! logged. What they carry are hints (list changes) and resource updates, so
//! resuming one opens a fresh stream that starts by saying that every list
//! may have changed.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use tokio::sync::Notify;

use crate::{
    error::{ErrorKind, McpError},
    sse::write_event,
};

pub mod remote;

/// Events, and bytes of them, kept per call stream (the oldest go first; the
/// latest always stays); a client further behind cannot resume.
const MAX_BUFFERED: usize = 4096;
const MAX_BUFFERED_BYTES: usize = 8 << 20;
/// How soon a client should reconnect when its stream ends early (the
/// `retry` field of the priming event).
const RETRY_MS: u64 = 1000;

/// The id of one event the gateway sent a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    pub stream: StreamId,
    /// 0 is the priming event; messages count from 1.
    pub seq: u64,
}

/// Which stream an event was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamId {
    /// A request's response stream (logged, resumable).
    Call(u64),
    /// A session's standalone `GET` stream (not logged).
    Standalone(u64),
}

impl EventId {
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_at_checked(1)?;
        let (stream, seq) = rest.split_once('-')?;
        let stream = u64::from_str_radix(stream, 16).ok()?;
        let seq = seq.parse().ok()?;
        let stream = match kind {
            "c" => StreamId::Call(stream),
            "g" => StreamId::Standalone(stream),
            _ => return None,
        };
        Some(Self { stream, seq })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stream {
            StreamId::Call(s) => write!(f, "c{s:016x}-{}", self.seq),
            StreamId::Standalone(s) => write!(f, "g{s:016x}-{}", self.seq),
        }
    }
}

/// One event, framed for the wire.
pub fn frame(id: EventId, message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 48);
    write_event(
        &mut out,
        Some("message"),
        Some(&id.to_string()),
        std::str::from_utf8(message).unwrap_or_default(),
    );
    Bytes::from(out)
}

/// The priming event (2025-11-25): an id to resume from before any message,
/// and how soon to come back.
pub fn priming(stream: StreamId) -> Bytes {
    let id = EventId { stream, seq: 0 };
    Bytes::from(format!("id: {id}\nretry: {RETRY_MS}\ndata: \n\n"))
}

/// The call streams this node is relaying, by stream id.
pub struct Streams {
    logs: Mutex<HashMap<u64, Arc<Log>>>,
    window: Duration,
}

struct Log {
    /// The client session the stream belongs to: only it may resume.
    session: [u8; 16],
    state: Mutex<State>,
    /// Wakes readers when events arrive or the stream ends.
    grew: Notify,
    /// Wakes the pump when a reader comes or goes.
    readers_changed: Notify,
}

struct State {
    frames: VecDeque<Bytes>,
    /// Their total size.
    bytes: usize,
    /// The sequence number of `frames[0]`.
    first: u64,
    finished: bool,
    /// Cancelled for want of a reader: nothing to resume.
    abandoned: bool,
    readers: usize,
}

impl Streams {
    /// `window`: how long a call runs on with no client reading it, and how
    /// long its events stay resumable after its answer.
    pub fn new(window: Duration) -> Arc<Self> {
        Arc::new(Self {
            logs: Mutex::new(HashMap::new()),
            window,
        })
    }

    /// Logs a call's messages (`source`, which ends the call upstream when
    /// dropped) and returns the client's stream of them, primed if
    /// `priming`.
    pub fn call(
        self: &Arc<Self>,
        session: [u8; 16],
        priming_event: bool,
        source: BoxStream<'static, Vec<u8>>,
    ) -> BoxStream<'static, Bytes> {
        let id: u64 = rand::random();
        let log = Arc::new(Log {
            session,
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                first: 1,
                finished: false,
                abandoned: false,
                readers: 0,
            }),
            grew: Notify::new(),
            readers_changed: Notify::new(),
        });
        self.logs.lock().expect("poisoned").insert(id, log.clone());
        // The first reader is counted before the pump looks for readers.
        let reader = read(log.clone(), 1);
        tokio::spawn(pump(self.clone(), id, log, source));
        let first = priming_event.then(|| priming(StreamId::Call(id)));
        futures::stream::iter(first).chain(reader).boxed()
    }

    /// The events of call stream `stream` after `last`, then the rest as
    /// they come, for `session`; `None` if this node holds no such stream.
    pub fn resume(
        &self,
        session: [u8; 16],
        stream: u64,
        last: u64,
    ) -> Result<Option<BoxStream<'static, Bytes>>, McpError> {
        Ok(self.open(session, stream, last)?.map(|log| read(log, last + 1).boxed()))
    }

    /// The log of `stream` if this node holds it, checked for a resume by
    /// `session` after event `last`.
    fn open(&self, session: [u8; 16], stream: u64, last: u64) -> Result<Option<Arc<Log>>, McpError> {
        let Some(log) = self.logs.lock().expect("poisoned").get(&stream).cloned() else {
            return Ok(None);
        };
        if log.session != session {
            return Err(Self::unknown());
        }
        let state = log.state.lock().expect("poisoned");
        if state.abandoned {
            return Err(Self::unknown());
        }
        let sent = state.first + state.frames.len() as u64;
        if last >= sent {
            return Err(McpError::new(
                ErrorKind::BadRequest,
                format!("Last-Event-ID names event {last}, which this stream has not sent"),
            ));
        }
        if last + 1 < state.first {
            return Err(McpError::new(
                ErrorKind::BadRequest,
                format!("Cannot resume after event {last}: too many events came since, and the oldest are gone"),
            ));
        }
        drop(state);
        Ok(Some(log))
    }

    /// The error for a stream no node can resume.
    pub fn unknown() -> McpError {
        McpError::new(
            ErrorKind::BadRequest,
            "Last-Event-ID names no stream this gateway can resume: it ended longer ago than the resume window, \
             or its call was cancelled for want of a reader",
        )
    }
}

/// Moves a call's messages into its log, until the call ends or has had no
/// reader for the resume window (then dropping `source` cancels it).
async fn pump(streams: Arc<Streams>, id: u64, log: Arc<Log>, mut source: BoxStream<'static, Vec<u8>>) {
    let lapsed = unread_for(log.clone(), streams.window);
    tokio::pin!(lapsed);
    let answered = loop {
        tokio::select! {
            m = source.next() => match m {
                Some(m) => log.push(id, &m),
                None => break true,
            },
            () = &mut lapsed => break false,
        }
    };
    drop(source);
    log.finish(!answered);
    if answered {
        // A client that lost the last events can still fetch them for a while.
        tokio::time::sleep(streams.window).await;
    } else {
        tracing::debug!(stream = id, "no client resumed the call; cancelled");
    }
    streams.logs.lock().expect("poisoned").remove(&id);
}

/// Resolves once `log` has had no reader for `window` at a stretch.
async fn unread_for(log: Arc<Log>, window: Duration) {
    loop {
        let changed = log.readers_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if log.state.lock().expect("poisoned").readers > 0 {
            changed.await;
            continue;
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep(window) => return,
        }
    }
}

impl Log {
    fn push(&self, stream: u64, message: &[u8]) {
        let mut state = self.state.lock().expect("poisoned");
        let seq = state.first + state.frames.len() as u64;
        let event = frame(
            EventId {
                stream: StreamId::Call(stream),
                seq,
            },
            message,
        );
        state.bytes += event.len();
        state.frames.push_back(event);
        while state.frames.len() > MAX_BUFFERED || (state.bytes > MAX_BUFFERED_BYTES && state.frames.len() > 1) {
            let gone = state.frames.pop_front().map_or(0, |f| f.len());
            state.bytes -= gone.min(state.bytes);
            state.first += 1;
        }
        drop(state);
        self.grew.notify_waiters();
    }

    fn finish(&self, abandoned: bool) {
        let mut state = self.state.lock().expect("poisoned");
        state.finished = true;
        state.abandoned = abandoned;
        drop(state);
        self.grew.notify_waiters();
    }

    fn readers(&self, delta: isize) {
        let mut state = self.state.lock().expect("poisoned");
        state.readers = state.readers.saturating_add_signed(delta);
        drop(state);
        self.readers_changed.notify_waiters();
    }
}

/// Counts a reader of a log while alive.
struct Reader(Arc<Log>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.readers(-1);
    }
}

/// What a reader finds in the log.
enum Next {
    /// Events, and the sequence number after them.
    Ready(Bytes, u64),
    Wait,
    End,
}

impl Log {
    fn next_from(&self, next: u64) -> Next {
        let state = self.state.lock().expect("poisoned");
        if next < state.first {
            return Next::End;
        }
        let skip = (next - state.first) as usize;
        if skip < state.frames.len() {
            let ready = state.frames.range(skip..);
            let out = if ready.len() == 1 {
                state.frames[skip].clone()
            } else {
                let mut joined = Vec::with_capacity(ready.clone().map(Bytes::len).sum());
                ready.for_each(|f| joined.extend_from_slice(f));
                Bytes::from(joined)
            };
            return Next::Ready(out, state.first + state.frames.len() as u64);
        }
        if state.finished { Next::End } else { Next::Wait }
    }
}

/// The log's events from sequence number `next` on, until it finishes. A
/// reader that falls further behind than the buffer ends (and may resume,
/// and be told what it lost).
fn read(log: Arc<Log>, next: u64) -> impl Stream<Item = Bytes> + Send + 'static {
    log.readers(1);
    futures::stream::unfold((Reader(log), next), |(reader, next)| async move {
        loop {
            let step = {
                let grew = reader.0.grew.notified();
                tokio::pin!(grew);
                grew.as_mut().enable();
                match reader.0.next_from(next) {
                    Next::Wait => {
                        grew.await;
                        continue;
                    }
                    step => step,
                }
            };
            return match step {
                Next::Ready(events, next) => Some((events, (reader, next))),
                Next::Wait | Next::End => None,
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_reject_junk() {
        for id in [
            EventId {
                stream: StreamId::Call(0xabc),
                seq: 7,
            },
            EventId {
                stream: StreamId::Standalone(u64::MAX),
                seq: 0,
            },
        ] {
            assert_eq!(EventId::parse(&id.to_string()), Some(id));
        }
        for junk in ["", "c", "c12", "x12-3", "c12-", "c-3", "czz-1", "c12-x", "é12-1"] {
            assert_eq!(EventId::parse(junk), None, "{junk}");
        }
    }

    #[tokio::test]
    async fn a_reader_that_left_resumes_where_it_was() {
        let streams = Streams::new(Duration::from_secs(60));
        let (tx, rx) = futures::channel::mpsc::unbounded::<Vec<u8>>();
        let mut first = streams.call([1; 16], true, rx.boxed());
        let primed = first.next().await.unwrap();
        let id = std::str::from_utf8(&primed).unwrap().lines().next().unwrap()[4..].to_owned();
        let Some(EventId {
            stream: StreamId::Call(stream),
            seq: 0,
        }) = EventId::parse(&id)
        else {
            panic!("{id}")
        };
        tx.unbounded_send(b"{\"a\":1}".to_vec()).unwrap();
        assert!(
            std::str::from_utf8(&first.next().await.unwrap())
                .unwrap()
                .contains("-1\n")
        );
        drop(first);
        tx.unbounded_send(b"{\"a\":2}".to_vec()).unwrap();
        tx.unbounded_send(b"{\"a\":3}".to_vec()).unwrap();
        drop(tx);
        assert!(streams.resume([2; 16], stream, 1).is_err(), "another session");
        assert!(streams.resume([1; 16], stream + 1, 1).unwrap().is_none(), "not here");
        let again: Vec<Bytes> = streams.resume([1; 16], stream, 1).unwrap().unwrap().collect().await;
        let text: String = again.iter().map(|b| std::str::from_utf8(b).unwrap()).collect();
        assert!(!text.contains("\"a\":1"), "{text}");
        assert!(text.contains("\"a\":2") && text.contains("\"a\":3"), "{text}");
    }
}
