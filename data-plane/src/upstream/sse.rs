//! Incremental decoder for `text/event-stream` bodies (the WHATWG event-stream
//! format), fed with chunks as they arrive from a backend.

use bytes::{Buf, BytesMut};

/// One dispatched event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

#[derive(Default)]
pub struct SseDecoder {
    buf: BytesMut,
    pending: SseEvent,
    has_data: bool,
}

impl SseDecoder {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if the buffered bytes hold one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
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
        let pos = self.buf.iter().position(|&b| b == b'\n' || b == b'\r')?;
        let skip = match (self.buf[pos], self.buf.get(pos + 1)) {
            (b'\r', Some(b'\n')) => 2,
            // A trailing CR may be half of a CRLF still in flight.
            (b'\r', None) => return None,
            _ => 1,
        };
        let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
        self.buf.advance(pos + skip);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_events_split_across_chunks_and_line_endings() {
        let mut d = SseDecoder::default();
        d.push(b": keep-alive\r\nevent: message\r\nid: 7\r");
        assert_eq!(d.next_event(), None);
        d.push(b"\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: x\n");
        let e = d.next_event().unwrap();
        assert_eq!(e.event.as_deref(), Some("message"));
        assert_eq!(e.id.as_deref(), Some("7"));
        assert_eq!(e.data, "{\"a\":\n1}");
        assert_eq!(d.next_event(), None);
        d.push(b"\n");
        assert_eq!(d.next_event().unwrap().data, "x");
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let mut d = SseDecoder::default();
        d.push(b"id: 1\nretry: 5\n\n");
        assert_eq!(d.next_event(), None);
    }

    #[test]
    fn writes_multiline_data_as_several_lines() {
        let mut out = Vec::new();
        write_event(&mut out, Some("message"), None, "a\nb");
        assert_eq!(out, b"event: message\ndata: a\ndata: b\n\n");
    }
}
