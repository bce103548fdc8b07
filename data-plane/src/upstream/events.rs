//! A server's event stream as the gateway reads it, one event at a time.

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};

use super::{UpstreamError, error_chain};
use crate::{
    jsonrpc::{Envelope, Message},
    sse::{SseDecoder, SseEvent},
};

/// A server's event stream, read one event at a time: a legacy session's
/// stream, or the standalone `GET` stream of a Streamable HTTP session.
pub struct EventStream {
    pub body: BoxStream<'static, reqwest::Result<Bytes>>,
    pub decoder: SseDecoder,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl EventStream {
    /// The next event, `None` when the stream ends.
    pub async fn next_event(&mut self, url: &str) -> Result<Option<SseEvent>, UpstreamError> {
        loop {
            let ev = self.decoder.next_event().map_err(|e| UpstreamError::NotMcp {
                url: url.into(),
                reason: format!("it sent {e}"),
            })?;
            if ev.is_some() {
                return Ok(ev);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                Some(Err(e)) => {
                    return Err(UpstreamError::Unreachable {
                        url: url.into(),
                        reason: error_chain(&e),
                    });
                }
                None => return Ok(None),
            }
        }
    }

    /// The response with id `id` (raw JSON), skipping everything else.
    pub async fn response(&mut self, url: &str, id: &str) -> Result<Vec<u8>, UpstreamError> {
        while let Some(ev) = self.next_event(url).await? {
            if let Ok(env) = Envelope::parse(ev.data.as_bytes())
                && let Ok(Message::Response { id: got }) = env.classify()
                && got.get() == id
            {
                return Ok(ev.data.into_bytes());
            }
        }
        Err(UpstreamError::NotMcp {
            url: url.into(),
            reason: "its event stream ended without a response".into(),
        })
    }
}
