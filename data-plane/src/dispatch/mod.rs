//! MCP methods, independent of transport: every transport parses a message
//! envelope, resolves the session, and calls [`handle`].

mod lifecycle;
pub mod relay;
pub mod tools;

use std::sync::Arc;

use futures::stream::BoxStream;

pub use lifecycle::initialize;

use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, Envelope, Message},
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

#[derive(serde::Deserialize)]
struct ListParams<'a> {
    #[serde(borrow, default)]
    cursor: Option<jsonrpc::CowStr<'a>>,
}

/// `tools/list`, from the snapshot (never by asking backends), in pages of
/// `MCPGW_LIST_PAGE_SIZE` when set.
fn list_tools(
    gw: &Gateway,
    id: &serde_json::value::RawValue,
    params: Option<&serde_json::value::RawValue>,
) -> Result<Reply, McpError> {
    let params: ListParams<'_> = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|_| {
            McpError::new(
                ErrorKind::InvalidParams,
                "tools/list params must be an object whose cursor is a string",
            )
        })?,
        None => ListParams { cursor: None },
    };
    let snapshot = gw.snapshot.load();
    let page = snapshot
        .routes
        .tools_page(params.cursor.as_deref(), gw.limits.list_page_size)
        .map_err(|e| McpError::new(ErrorKind::InvalidParams, e.to_string()))?;
    Ok(Reply::Message(jsonrpc::result_response(id, &page)))
}

/// Handles one message of an initialized session (the transport has checked
/// the session and the caller).
pub async fn handle(gw: &Arc<Gateway>, env: &Envelope<'_>) -> Result<Reply, McpError> {
    let msg = env.classify().map_err(|e| {
        // An id that is not a valid id is not echoed: the error names null.
        let id = if e == jsonrpc::EnvelopeError::Id { None } else { env.id };
        McpError::new(ErrorKind::InvalidRequest, format!("Invalid JSON-RPC message: {e}")).with_id(id)
    })?;
    match msg {
        Message::Request { id, method } => {
            let reply = match method {
                "ping" => Ok(Reply::Message(jsonrpc::result_response(id, "{}"))),
                "tools/list" => list_tools(gw, id, env.params),
                "tools/call" => tools::call(gw, id, env.params).await,
                "initialize" => Err(McpError::new(
                    ErrorKind::InvalidRequest,
                    "This session is already initialized; to start over, send initialize without an Mcp-Session-Id header",
                )),
                other => Err(McpError::new(
                    ErrorKind::MethodNotFound,
                    format!("Method not found: {other}"),
                )),
            };
            reply.map_err(|e| e.with_id(Some(id)))
        }
        Message::Notification { .. } | Message::Response { .. } => Ok(Reply::Accepted),
    }
}
