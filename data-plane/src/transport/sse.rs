//! The 2024-11-05 HTTP+SSE transport: `GET /sse` opens an event stream whose
//! first event names the endpoint to POST to (`/message?session_id=…`);
//! every answer travels on that stream. The stream lives on the node that
//! opened it, so this transport needs a node-sticky route (or, later,
//! node-to-node forwarding); Streamable HTTP does not.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{
    connection,
    http::{check_content_type, not_a_message, read_body},
    scope::Scope,
};
use crate::{
    Gateway, dispatch,
    error::{ErrorKind, McpError},
    jsonrpc::Envelope,
    upstream::sse::write_event,
};

struct Stream {
    conn: Arc<connection::Conn>,
    out: mpsc::Sender<Vec<u8>>,
}

/// Open legacy streams on this node, by session id.
#[derive(Default)]
pub struct SseStreams(Mutex<HashMap<String, Stream>>);

/// Removes its stream from the registry, and the session's subscriptions,
/// when the client goes away.
struct Registered {
    gw: Arc<Gateway>,
    id: String,
    key: [u8; 16],
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.gw.sse_streams.0.lock().expect("poisoned").remove(&self.id);
        crate::dispatch::subscriptions::end(&self.gw, self.key);
    }
}

pub async fn open(State(gw): State<Arc<Gateway>>, scope: Scope, headers: HeaderMap) -> Response {
    let principal = match gw.auth.authenticate(&headers) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (out, outbox) = mpsc::channel::<Vec<u8>>(64);
    let conn = Arc::new(connection::Conn::new(principal, scope));
    gw.sse_streams.0.lock().expect("poisoned").insert(
        id.clone(),
        Stream {
            conn: conn.clone(),
            out,
        },
    );
    let mut first = Vec::new();
    write_event(&mut first, Some("endpoint"), None, &format!("/message?session_id={id}"));
    let registered = Registered {
        gw: Arc::clone(&gw),
        id,
        key: conn.session().key,
    };
    // Answers, and what the session hears outside its requests.
    let messages = futures::stream::select(
        tokio_stream::wrappers::ReceiverStream::new(outbox),
        dispatch::session_events(&gw, conn.session()),
    );
    let events =
        futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(first)) }).chain(messages.map(move |m| {
            let _alive = &registered;
            let mut frame = Vec::with_capacity(m.len() + 24);
            write_event(
                &mut frame,
                Some("message"),
                None,
                std::str::from_utf8(&m).unwrap_or_default(),
            );
            Ok(Bytes::from(frame))
        }));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
pub struct Target {
    session_id: String,
}

pub async fn message(
    State(gw): State<Arc<Gateway>>,
    Query(target): Query<Target>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    accept(&gw, &target.session_id, &headers, body).unwrap_or_else(IntoResponse::into_response)
}

/// Checks the message and hands it to a task that answers on the stream;
/// the POST itself is answered 202 at once.
fn accept(
    gw: &Arc<Gateway>,
    session: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, McpError> {
    let body = read_body(gw, body)?;
    check_content_type(headers)?;
    let principal = gw.auth.authenticate(headers)?;
    let (conn, out) = {
        let streams = gw.sse_streams.0.lock().expect("poisoned");
        let stream = streams.get(session).ok_or_else(|| {
            McpError::new(
                ErrorKind::SessionNotFound,
                "Unknown SSE session: open GET /sse again and use the endpoint it sends",
            )
        })?;
        if *stream.conn.principal() != principal {
            return Err(McpError::new(
                ErrorKind::Unauthorized,
                "This SSE session was opened by another user",
            ));
        }
        (stream.conn.clone(), stream.out.clone())
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_a_message(
            &body,
            "POST /message takes one JSON-RPC message (a JSON object)",
        ));
    }
    Envelope::parse(&body).map_err(|e| not_a_message(&body, &format!("Invalid JSON-RPC message: {e}")))?;
    let gw = Arc::clone(gw);
    tokio::spawn(async move {
        let env = Envelope::parse(&body).expect("parsed above");
        let answering = async { connection::deliver(conn.answer(&gw, &env).await, &out).await };
        // When the client's stream closes, the call ends with it (its relay
        // tells the backend), instead of running on for no one.
        tokio::select! {
            () = answering => {}
            () = out.closed() => {}
        }
    });
    Ok(StatusCode::ACCEPTED.into_response())
}
