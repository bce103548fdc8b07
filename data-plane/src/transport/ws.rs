//! MCP over WebSocket at `/ws`: one JSON-RPC message per text frame, both
//! ways. The connection is the session: `initialize` opens it, every other
//! request needs it. Requests are handled concurrently, so a slow tool call
//! does not hold up the ones after it; a call's progress and log messages
//! arrive as frames before its response.

use std::sync::Arc;

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{Message as Frame, Utf8Bytes, WebSocket},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::{connection, scope::Scope};
use crate::{
    Gateway, dispatch,
    error::{ErrorKind, McpError},
    jsonrpc::{Envelope, Message},
};

/// Upgrades after checking the caller (Origin was checked by the router).
pub async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    scope: Scope,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    match gw.auth.authenticate(&headers) {
        Ok(principal) => ws
            .protocols(["mcp"])
            .on_upgrade(move |socket| serve(gw, connection::Conn::new(principal, scope), socket)),
        Err(e) => e.into_response(),
    }
}

async fn serve(gw: Arc<Gateway>, conn: connection::Conn, socket: WebSocket) {
    let _open = gw.metrics.stream(crate::metrics::StreamKind::WebSocket);
    let (mut sink, frames) = socket.split();
    let (out, mut outbox) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = outbox.recv().await {
            let text = Utf8Bytes::from(String::from_utf8(m).unwrap_or_default());
            if sink.send(Frame::Text(text)).await.is_err() {
                return;
            }
        }
        // Nothing more to say: 1001, the server is going away (or the
        // client already went).
        let bye = axum::extract::ws::CloseFrame {
            code: 1001,
            reason: "the gateway node is stopping or the connection ended".into(),
        };
        let _ = sink.send(Frame::Close(Some(bye))).await;
    });
    let conn = Arc::new(conn);
    let mut forwarding_changes = false;
    let mut calls = tokio::task::JoinSet::new();
    // A node that stops reads no more frames.
    let frames = frames.take_until(gw.drained());
    tokio::pin!(frames);
    while let Some(Ok(frame)) = frames.next().await {
        // Reap finished calls so a long-lived connection does not keep them.
        while calls.try_join_next().is_some() {}
        let body = match frame {
            Frame::Text(t) => t,
            Frame::Close(_) => break,
            _ => continue,
        };
        let Ok(env) = Envelope::parse(body.as_bytes()) else {
            let e = McpError::new(
                ErrorKind::Parse,
                "Parse error: a frame must hold one JSON-RPC message (a JSON object)",
            );
            let _ = out.send(e.body()).await;
            continue;
        };
        if env.method.as_deref() == Some("initialize") {
            let answer = match env.classify() {
                Ok(Message::Request { .. }) => conn.answer(&gw, &env).await,
                _ => Err(
                    McpError::new(ErrorKind::InvalidRequest, "initialize must be a request with an id").with_id(env.id),
                ),
            };
            let first = answer.is_ok() && !forwarding_changes;
            connection::deliver(answer, &out).await;
            if first {
                // The session exists: from now on it hears of list changes.
                forwarding_changes = true;
                let mut events = dispatch::session_events(&gw, conn.session());
                let out = out.clone();
                calls.spawn(async move {
                    while let Some(m) = events.next().await {
                        if out.send(m).await.is_err() {
                            break;
                        }
                    }
                });
            }
            continue;
        }
        if !conn.initialized() {
            let e = McpError::new(ErrorKind::BadRequest, "Send initialize first on this connection").with_id(env.id);
            let _ = out.send(e.body()).await;
            continue;
        }
        drop(env);
        let (gw, out, conn) = (gw.clone(), out.clone(), conn.clone());
        calls.spawn(async move {
            let env = Envelope::parse(body.as_bytes()).expect("parsed above");
            connection::deliver(conn.answer(&gw, &env).await, &out).await;
        });
    }
    if frames.is_stopped() {
        // Draining: the calls in flight finish and are answered, then the
        // connection closes and the client reconnects, to another node.
        while calls.join_next().await.is_some() {}
    } else {
        // The client went away: its calls end with it (their upstream
        // requests are dropped), then the writer.
        calls.shutdown().await;
    }
    crate::dispatch::outside::session_ended(&gw, conn.session().key);
    drop(out);
    let _ = writer.await;
}
