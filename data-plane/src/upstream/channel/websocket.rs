//! MCP servers reached over a WebSocket (`ws://`, `wss://`): one JSON-RPC
//! message per text frame both ways, under the `mcp` subprotocol the
//! TypeScript SDK's WebSocket transport asks for. The backend's credentials
//! go on the upgrade request; `wss://` uses its TLS settings. One
//! connection per backend per node, every call multiplexed on it.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::HeaderValue;
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, protocol::WebSocketConfig};

use super::{Pipe, pipe::MAX_LINE};
use crate::upstream::{McpHttpClient, UpstreamError, error_chain};

/// Aborts the connection's tasks when the channel is let go.
pub(super) struct Tasks(Vec<tokio::task::AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Connects to `url`: the pipe over the connection, and its tasks.
pub(super) async fn connect(
    client: &McpHttpClient,
    url: &str,
    tls: Option<Arc<ClientConfig>>,
) -> Result<(Arc<Pipe>, Tasks), UpstreamError> {
    let unreachable = |reason: String| UpstreamError::Unreachable {
        url: url.into(),
        reason,
    };
    let mut req = url
        .into_client_request()
        .map_err(|e| unreachable(format!("not a WebSocket URL: {e}")))?;
    req.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mcp"));
    req.headers_mut().extend(client.credential_headers(url).await?);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_LINE))
        .max_frame_size(Some(MAX_LINE));
    let connector = tls.map(tokio_tungstenite::Connector::Rustls);
    let connecting = tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, connector);
    let (ws, _) = tokio::time::timeout(client.timeout, connecting)
        .await
        .map_err(|_| UpstreamError::Timeout {
            url: url.into(),
            secs: client.timeout.as_secs(),
        })?
        .map_err(|e| match e {
            tungstenite::Error::Http(res) if res.status() == http::StatusCode::UNAUTHORIZED => UpstreamError::NotMcp {
                url: url.into(),
                reason: "the WebSocket upgrade was answered with HTTP 401: the backend wants credentials, or refused the ones it was registered with".into(),
            },
            tungstenite::Error::Http(res) => UpstreamError::Http {
                url: url.into(),
                status: res.status().as_u16(),
                body: "the WebSocket upgrade was refused".into(),
            },
            e => unreachable(error_chain(&e)),
        })?;
    let (mut sink, mut frames) = ws.split();
    let (pipe, mut queued) = Pipe::new(url.into(), "it closed the connection");
    let writer = tokio::spawn(async move {
        while let Some(msg) = queued.recv().await {
            let Ok(text) = String::from_utf8(msg) else { continue };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let reading = pipe.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = frames.next().await {
            match frame {
                Message::Text(t) => reading.receive(t.as_bytes()),
                Message::Binary(b) => reading.receive(&b),
                Message::Close(_) => break,
                _ => {}
            }
        }
        reading.close();
    });
    Ok((pipe, Tasks(vec![writer.abort_handle(), reader.abort_handle()])))
}
