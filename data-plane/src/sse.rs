//! The `text/event-stream` format (WHATWG), both ways: an incremental
//! decoder fed with chunks as they arrive from a backend (or a gateway, for
//! the stdio bridge), the writer of the events the gateway sends its
//! clients, and keep-alive comments for quiet streams.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt, stream::BoxStream};
use tokio::time::{Instant, Sleep};

/// One dispatched event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

/// Largest line or event accepted; a peer that sends more without ending it
/// is cut off rather than buffered without bound.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an event-stream line or event is larger than {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

#[derive(Default)]
pub struct SseDecoder {
    buf: BytesMut,
    /// How much of `buf` is known to hold no line ending, so a long line
    /// arriving in many chunks is scanned once, not once per chunk.
    scanned: usize,
    pending: SseEvent,
    has_data: bool,
}

impl SseDecoder {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if the buffered bytes hold one.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, EventTooLarge> {
        let event = self.decode();
        if event.is_none() && (self.buf.len() > MAX_EVENT_BYTES || self.pending.data.len() > MAX_EVENT_BYTES) {
            return Err(EventTooLarge);
        }
        Ok(event)
    }

    fn decode(&mut self) -> Option<SseEvent> {
        while let Some(line) = self.next_line() {
            if line.is_empty() {
                if self.has_data {
                    self.has_data = false;
                    let mut ev = std::mem::take(&mut self.pending);
                    if ev.data.ends_with('\n') {
                        ev.data.pop();
                    }
                    return Some(ev);
                }
                self.pending = SseEvent::default();
                continue;
            }
            let (field, value) = match line.find(':') {
                Some(0) => continue, // a comment
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (line.as_str(), ""),
            };
            match field {
                "data" => {
                    self.pending.data.push_str(value);
                    self.pending.data.push('\n');
                    self.has_data = true;
                }
                "event" => self.pending.event = Some(value.to_owned()),
                "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
                "retry" => self.pending.retry = value.parse().ok(),
                _ => {}
            }
        }
        None
    }

    fn next_line(&mut self) -> Option<String> {
        let Some(pos) = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|p| p + self.scanned)
        else {
            self.scanned = self.buf.len();
            return None;
        };
        let skip = match (self.buf[pos], self.buf.get(pos + 1)) {
            (b'\r', Some(b'\n')) => 2,
            // A trailing CR may be half of a CRLF still in flight.
            (b'\r', None) => {
                self.scanned = pos;
                return None;
            }
            _ => 1,
        };
        let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
        self.buf.advance(pos + skip);
        self.scanned = 0;
        Some(line)
    }
}

/// Writes one event in wire form; multi-line data becomes several `data:` lines.
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, id: Option<&str>, data: &str) {
    if let Some(e) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Whether a response's body is an event stream.
pub fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"))
}

/// A comment, which every event-stream reader skips: it keeps a quiet
/// stream's connection busy so that proxies and load balancers do not cut it.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// `events` with a [`KEEP_ALIVE`] comment whenever it has been silent for
/// `every`. Its one timer wakes at most once per `every`, however busy the
/// stream: an event costs a clock read, nothing more.
pub fn keep_alive(events: BoxStream<'static, Bytes>, every: Duration) -> BoxStream<'static, Bytes> {
    KeepAlive {
        events,
        every,
        timer: Box::pin(tokio::time::sleep(every)),
        last: Instant::now(),
    }
    .boxed()
}

struct KeepAlive {
    events: BoxStream<'static, Bytes>,
    every: Duration,
    timer: Pin<Box<Sleep>>,
    /// When the stream last sent something.
    last: Instant,
}

impl Stream for KeepAlive {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        match this.events.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => {
                this.last = Instant::now();
                return Poll::Ready(Some(event));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        loop {
            ready!(this.timer.as_mut().poll(cx));
            let now = Instant::now();
            let due = this.last + this.every;
            if now >= due {
                this.last = now;
                this.timer.as_mut().reset(now + this.every);
                return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
            }
            this.timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_events_split_across_chunks_and_line_endings() {
        let mut d = SseDecoder::default();
        d.push(b": keep-alive\r\nevent: message\r\nid: 7\r");
        assert_eq!(d.next_event(), Ok(None));
        d.push(b"\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: x\n");
        let e = d.next_event().unwrap().unwrap();
        assert_eq!(e.event.as_deref(), Some("message"));
        assert_eq!(e.id.as_deref(), Some("7"));
        assert_eq!(e.data, "{\"a\":\n1}");
        assert_eq!(d.next_event(), Ok(None));
        d.push(b"\n");
        assert_eq!(d.next_event().unwrap().unwrap().data, "x");
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let mut d = SseDecoder::default();
        d.push(b"id: 1\nretry: 5\n\n");
        assert_eq!(d.next_event(), Ok(None));
    }

    #[test]
    fn a_line_that_never_ends_is_cut_off() {
        let mut d = SseDecoder::default();
        d.push(b"data: ");
        let chunk = vec![b'x'; 1 << 20];
        let mut result = Ok(None);
        for _ in 0..=16 {
            d.push(&chunk);
            result = d.next_event();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventTooLarge));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_gets_keep_alive_comments_and_a_busy_one_none() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let every = Duration::from_secs(15);
        let mut events = keep_alive(tokio_stream::wrappers::ReceiverStream::new(rx).boxed(), every);
        // Silent: a comment once the interval has passed, and again after it.
        let started = Instant::now();
        assert_eq!(events.next().await.unwrap(), KEEP_ALIVE);
        assert_eq!(started.elapsed(), every);
        assert_eq!(events.next().await.unwrap(), KEEP_ALIVE);
        assert_eq!(started.elapsed(), every * 2);
        // An event resets the silence: the next comment comes a full
        // interval after it.
        tokio::time::advance(Duration::from_secs(10)).await;
        tx.send(Bytes::from_static(b"data: x\n\n")).await.unwrap();
        assert_eq!(events.next().await.unwrap(), &b"data: x\n\n"[..]);
        let sent = Instant::now();
        assert_eq!(events.next().await.unwrap(), KEEP_ALIVE);
        assert_eq!(sent.elapsed(), every);
        drop(tx);
        assert!(events.next().await.is_none(), "ends with its events");
    }

    #[test]
    fn writes_multiline_data_as_several_lines() {
        let mut out = Vec::new();
        write_event(&mut out, Some("message"), None, "a\nb");
        assert_eq!(out, b"event: message\ndata: a\ndata: b\n\n");
    }
}
