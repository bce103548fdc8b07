//! Backends that speak the 2024-11-05 HTTP+SSE transport: `GET` opens an
//! event stream whose first event names the URL to POST messages to; POSTs
//! are only accepted (202) and every answer arrives on the stream.
//!
//! The gateway opens one such session per forwarded call (as Context Forge
//! does), so everything on the stream belongs to that call: progress, logs
//! and the backend's own requests are attributed without guessing, and the
//! session ends with the call. Discovery uses one session for all its lists.

use futures::StreamExt;
use http::header;

use super::{
    EventStream, McpHttpClient, UpstreamError, UpstreamSession, error_chain,
    handshake::{initialize_request, initialized_note},
};
use crate::{protocol::ClientCaps, sse::SseDecoder};

impl McpHttpClient {
    /// Opens a legacy session at `url` (its SSE endpoint) and runs
    /// `initialize` over it. The stream is returned apart, for a caller that
    /// relays it; [`McpHttpClient::open_legacy_session`] keeps it inside.
    pub async fn open_legacy(
        &self,
        url: &str,
        caps: Option<ClientCaps>,
    ) -> Result<(UpstreamSession, EventStream), UpstreamError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.open_legacy_inner(url, caps))
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout {
                    url: url.into(),
                    secs: timeout.as_secs(),
                })
            })
    }

    /// A legacy session that reads its own answers, for sequential calls
    /// (discovery).
    pub async fn open_legacy_session(&self, url: &str) -> Result<UpstreamSession, UpstreamError> {
        let (mut session, stream) = self.open_legacy(url, None).await?;
        session.legacy = Some(tokio::sync::Mutex::new(stream));
        Ok(session)
    }

    async fn open_legacy_inner(
        &self,
        url: &str,
        caps: Option<ClientCaps>,
    ) -> Result<(UpstreamSession, EventStream), UpstreamError> {
        let not_mcp = |reason: String| UpstreamError::NotMcp {
            url: url.into(),
            reason,
        };
        let base = reqwest::Url::parse(url).map_err(|e| not_mcp(format!("its URL is invalid ({e})")))?;
        let req = self.http.get(base.clone()).header(header::ACCEPT, "text/event-stream");
        let res = self
            .authorize(req, url)
            .await?
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                url: url.into(),
                reason: error_chain(&e),
            })?;
        let is_sse = crate::sse::is_event_stream(res.headers());
        if !res.status().is_success() || !is_sse {
            return Err(not_mcp(format!(
                "GET for its event stream was answered HTTP {} without an event stream",
                res.status().as_u16()
            )));
        }
        let mut stream = EventStream {
            body: res.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
        };
        let endpoint = loop {
            match stream.next_event(url).await? {
                Some(ev) if ev.event.as_deref() == Some("endpoint") => break ev.data,
                Some(_) => continue,
                None => return Err(not_mcp("its event stream ended before naming an endpoint".into())),
            }
        };
        let endpoint = base
            .join(endpoint.trim())
            .map_err(|e| not_mcp(format!("its endpoint event is not a URL ({e})")))?;
        // The gateway posts requests and clients' answers there: it must be
        // the backend itself, not a host the backend names.
        if endpoint.origin() != base.origin() {
            return Err(not_mcp(format!(
                "its endpoint event names another origin ({}); refused",
                endpoint.origin().ascii_serialization()
            )));
        }
        self.post_in(&endpoint, None, None, initialize_request(caps)).await?;
        let msg = stream.response(url, "0").await?;
        let session = UpstreamSession::from_initialize(self, url, endpoint, None, &msg, None)?;
        self.post(&session.endpoint, Some(&session), initialized_note()).await?;
        Ok((session, stream))
    }
}
