//! MCP methods, independent of transport: every transport parses a message
//! envelope, resolves the session, and calls [`handle`].

pub mod answers;
mod api;
mod forward;
pub mod held;
pub mod inputs;
mod lifecycle;
mod listen;
mod lists;
pub mod outside;
mod recorder;
pub mod relay;
mod routed;
mod task_status;
mod tasks;

use std::sync::Arc;

use futures::stream::BoxStream;
use tracing::Instrument;

pub use forward::{Era, Forward};
pub use lifecycle::initialize;

use crate::{
    Gateway,
    config::Snapshot,
    error::{ErrorKind, McpError},
    jsonrpc::{self, Envelope, Message},
    routing::RouteTable,
    session::Session,
};

/// What a transport sends back for one client message.
pub enum Reply {
    /// One complete JSON-RPC message.
    Message(Vec<u8>),
    /// Nothing to answer (a notification or a client's response).
    Accepted,
    /// Messages related to the request (progress, logs), ending with its response.
    Stream(BoxStream<'static, Vec<u8>>),
}

/// Everything a session hears outside its requests: list changes of its
/// view, and what the fleet has for it (updates of the resources it
/// subscribed to, through whichever node). Ends when the session is
/// deleted, on any node, or when this node drains.
pub fn session_events(gw: &Arc<Gateway>, session: &Session) -> BoxStream<'static, Vec<u8>> {
    use futures::StreamExt;
    let fleet = gw.listeners.listen(session.key).map(Some);
    futures::stream::select(
        crate::config::changes::for_view(gw.list_changes.subscribe(), session.server.clone()).map(Some),
        // `None` marks the session's end.
        fleet.chain(futures::stream::once(async { None })),
    )
    .take_while(|m| std::future::ready(m.is_some()))
    .filter_map(std::future::ready)
    // A node that stops ends it; the client reconnects, to another node.
    .take_until(gw.drained())
    .boxed()
}

/// What `session` sees of `snapshot`: everything, or its virtual server's
/// members; an error once that server was deleted.
fn view<'s>(snapshot: &'s Snapshot, session: &Session) -> Result<&'s RouteTable, McpError> {
    snapshot.routes_for(session.server.as_deref()).ok_or_else(|| {
        McpError::new(
            ErrorKind::SessionNotFound,
            "The virtual server of this session was deleted; initialize a new session",
        )
    })
}

/// Handles one message of an initialized session (the transport has checked
/// the session and the caller).
pub async fn handle(gw: &Arc<Gateway>, session: &Session, env: &Envelope<'_>) -> Result<Reply, McpError> {
    let msg = env.classify().map_err(|e| {
        // An id that is not a valid id is not echoed: the error names null.
        let id = if e == jsonrpc::EnvelopeError::Id { None } else { env.id };
        McpError::new(ErrorKind::InvalidRequest, format!("Invalid JSON-RPC message: {e}")).with_id(id)
    })?;
    match msg {
        Message::Request { id, method } => {
            let rec = recorder::Recorder::start(&gw.metrics, method, session, env);
            let reply = async { match method {
                "ping" => Ok(Reply::Message(jsonrpc::result_response(id, "{}"))),
                "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                    lists::list(gw, session, id, method, env.params, env.via)
                }
                "tools/call" | "prompts/get" => {
                    routed::by_name(gw, session, &rec, id, method, env.params, env.via).await
                }
                "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                    routed::by_uri(gw, session, &rec, id, method, env.params, env.via).await
                }
                "completion/complete" => routed::complete(gw, session, &rec, id, env.params, env.via).await,
                "subscriptions/listen" if session.protocol_version.is_stateless() => {
                    listen::listen(gw, session, id, env.params).await
                }
                "tasks/get" | "tasks/update" | "tasks/cancel" if session.protocol_version.is_stateless() => {
                    tasks::task(gw, session, id, method, env.params, env.via).await
                }
                "logging/setLevel" => lists::set_level(gw, session, id, env.params, env.via).await,
                "initialize" => Err(McpError::new(
                    ErrorKind::InvalidRequest,
                    "This session is already initialized; to start over, send initialize without an Mcp-Session-Id header",
                )),
                other => Err(McpError::new(
                    ErrorKind::MethodNotFound,
                    format!("Method not found: {other}"),
                )),
            } }
            .instrument(rec.span().clone())
            .await;
            rec.finish(reply.map_err(|e| e.with_id(Some(id))))
        }
        Message::Response { id } => answers::response(gw, session, env, id).await,
        Message::Notification { method } => Ok(answers::notification(gw, session, method, env.params)),
    }
}
