//! The 2024-11-05 HTTP+SSE transport: `GET /sse` opens an event stream whose
//! first event names the endpoint to POST to (`/message?session_id=…`);
//! every answer travels on that stream. The stream lives on the node that
//! opened it. A message POSTed to another node of a fleet with Redis is
//! passed to that node (see [`crate::fleet`]); without Redis this transport
//! needs a node-sticky route. Streamable HTTP needs neither.

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
    Transport, connection,
    http::{check_content_type, not_a_message, read_body, via_header},
    scope::Scope,
};
use crate::{
    Gateway, dispatch,
    error::{ErrorKind, McpError},
    fleet::Notice,
    jsonrpc::Envelope,
    sse::{keep_alive, write_event},
};

struct Stream {
    conn: Arc<connection::Conn>,
    out: mpsc::Sender<Vec<u8>>,
}

/// Open legacy streams on this node, by session id.
#[derive(Default)]
pub struct SseStreams(Mutex<HashMap<String, Stream>>);

impl SseStreams {
    /// Forgets every stream: none takes another message, and each ends once
    /// the answers in flight on it are sent.
    pub(super) fn close_all(&self) {
        self.0.lock().expect("poisoned").clear();
    }
}

/// Removes its stream from the registry, and ends the session on this
/// node, when the client goes away.
struct Registered {
    t: Transport,
    id: String,
    key: [u8; 16],
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.t.sse.0.lock().expect("poisoned").remove(&self.id);
        self.t.gw.fleet.release_stream(&self.id);
        crate::dispatch::outside::session_ended(&self.t.gw, self.key);
    }
}

pub async fn open(State(t): State<Transport>, scope: Scope, headers: HeaderMap) -> Response {
    let gw = &t.gw;
    let principal = match gw.auth.authenticate(&headers) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (out, outbox) = mpsc::channel::<Vec<u8>>(64);
    let conn = Arc::new(connection::Conn::new(principal, scope));
    t.sse.0.lock().expect("poisoned").insert(
        id.clone(),
        Stream {
            conn: conn.clone(),
            out,
        },
    );
    gw.fleet.hold_stream(&id, gw.limits.session_ttl);
    let mut first = Vec::new();
    write_event(
        &mut first,
        Some("endpoint"),
        None,
        &format!("{}/message?session_id={id}", t.root),
    );
    let registered = Registered {
        t: t.clone(),
        id,
        key: conn.session().key,
    };
    // Answers, and what the session hears outside its requests.
    let messages = futures::stream::select(
        tokio_stream::wrappers::ReceiverStream::new(outbox),
        dispatch::session_events(gw, conn.session()),
    );
    let open = gw.metrics.stream(crate::metrics::StreamKind::Sse);
    let events = futures::stream::once(async move { Bytes::from(first) }).chain(messages.map(move |m| {
        let _alive = (&registered, &open);
        let mut frame = Vec::with_capacity(m.len() + 24);
        write_event(
            &mut frame,
            Some("message"),
            None,
            std::str::from_utf8(&m).unwrap_or_default(),
        );
        Bytes::from(frame)
    }));
    let events = keep_alive(events.boxed(), gw.limits.sse_keepalive).map(Ok::<_, Infallible>);
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
    State(t): State<Transport>,
    Query(target): Query<Target>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    accept(&t, &target.session_id, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Checks the message and hands it to a task that answers on the stream
/// (on this node, or on the node of the fleet that holds it); the POST
/// itself is answered 202 at once.
async fn accept(
    t: &Transport,
    session: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, McpError> {
    let gw = &t.gw;
    let body = read_body(gw, body)?;
    check_content_type(headers)?;
    let principal = gw.auth.authenticate(headers)?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_a_message(
            &body,
            "POST /message takes one JSON-RPC message (a JSON object)",
        ));
    }
    Envelope::parse(&body).map_err(|e| not_a_message(&body, &format!("Invalid JSON-RPC message: {e}")))?;
    // Kept for a stream of this node; a message for another node's stream
    // goes there with its `_meta` chain only.
    let via = via_header(headers)?.map(Box::<str>::from);
    let here = t
        .sse
        .0
        .lock()
        .expect("poisoned")
        .get(session)
        .map(|s| (s.conn.clone(), s.out.clone()));
    match here {
        Some((conn, out)) => {
            if *conn.principal() != principal {
                return Err(other_user());
            }
            answer(gw.clone(), conn, out, body, via);
        }
        None => {
            let key = uuid::Uuid::try_parse(session).ok().map(|u| *u.as_bytes());
            match key {
                Some(key) if gw.fleet.holds_stream(session).await => gw.fleet.tell(Notice::Message {
                    session: key,
                    principal: principal.0.as_ref().into(),
                    body,
                }),
                _ => {
                    return Err(McpError::new(
                        ErrorKind::SessionNotFound,
                        "Unknown SSE session: open GET /sse again and use the endpoint it sends",
                    ));
                }
            }
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

fn other_user() -> McpError {
    McpError::new(ErrorKind::Unauthorized, "This SSE session was opened by another user")
}

/// Answers one checked message on its stream, in the background.
fn answer(
    gw: Arc<Gateway>,
    conn: Arc<connection::Conn>,
    out: mpsc::Sender<Vec<u8>>,
    body: Bytes,
    via: Option<Box<str>>,
) {
    tokio::spawn(async move {
        let Ok(mut env) = Envelope::parse(&body) else {
            return;
        };
        env.via = via.as_deref();
        let answering = async { connection::deliver(conn.answer(&gw, &env).await, &out).await };
        // When the client's stream closes, the call ends with it (its relay
        // tells the backend), instead of running on for no one.
        tokio::select! {
            () = answering => {}
            () = out.closed() => {}
        }
    });
}

/// A message another node received for stream `key` (its id's bytes),
/// POSTed by `principal`: answered here if this node holds the stream and it
/// is that user's.
pub(super) fn deliver_forwarded(t: &Transport, key: [u8; 16], principal: &str, body: Bytes) {
    let gw = &t.gw;
    {
        let id = uuid::Uuid::from_bytes(key).simple().to_string();
        let here = t
            .sse
            .0
            .lock()
            .expect("poisoned")
            .get(&id)
            .map(|s| (s.conn.clone(), s.out.clone()));
        match here {
            Some((conn, out)) if *conn.principal().0 == *principal => answer(gw.clone(), conn, out, body, None),
            Some(_) => tracing::warn!("a message forwarded for another user's SSE session was dropped"),
            None => {}
        }
    }
}
