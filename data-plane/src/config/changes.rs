//! `list_changed` for connected clients. When a new config changes what a
//! view (the whole gateway, or one virtual server) lists, every open client
//! stream of that view on this node is told, with the notification of each
//! list that changed. Data planes compare the lists they pre-rendered, so
//! the check costs nothing per request.

use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast;

use super::Snapshot;
use crate::{jsonrpc, routing::RouteTable};

/// Which lists of one view changed.
#[derive(Debug, Clone)]
pub struct ListsChanged {
    /// The virtual server's id; `None` for the whole gateway.
    pub server: Option<Arc<str>>,
    pub notifications: Vec<&'static str>,
}

/// What changed between two views' tables.
fn changed(old: &RouteTable, new: &RouteTable) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.tools.list() != new.tools.list() {
        out.push("notifications/tools/list_changed");
    }
    if old.prompts.list() != new.prompts.list() {
        out.push("notifications/prompts/list_changed");
    }
    if old.resources.list() != new.resources.list() || old.templates.list() != new.templates.list() {
        out.push("notifications/resources/list_changed");
    }
    out
}

/// The list changes from `old` to `new`, per view that still exists.
pub fn between(old: &Snapshot, new: &Snapshot) -> Vec<ListsChanged> {
    let mut views: Vec<Option<Arc<str>>> = vec![None];
    views.extend(new.server_ids().map(|id| Some(Arc::from(id))));
    views
        .into_iter()
        .filter_map(|server| {
            let new_table = new.routes_for(server.as_deref())?;
            let empty = RouteTable::default();
            let old_table = old.routes_for(server.as_deref()).unwrap_or(&empty);
            let notifications = changed(old_table, new_table);
            (!notifications.is_empty()).then_some(ListsChanged { server, notifications })
        })
        .collect()
}

/// What a client that may have missed list changes is told: every list
/// may have changed.
pub fn everything_changed() -> Vec<Vec<u8>> {
    ["tools", "prompts", "resources"]
        .iter()
        .map(|l| jsonrpc::notification(&format!("notifications/{l}/list_changed"), None))
        .collect()
}

/// The `list_changed` notifications for clients of `server`'s view, as they
/// happen, until the node stops.
pub fn for_view(
    changes: broadcast::Receiver<Arc<ListsChanged>>,
    server: Option<Arc<str>>,
) -> impl Stream<Item = Vec<u8>> + Send + 'static {
    let pending: Vec<Vec<u8>> = Vec::new();
    futures::stream::unfold((changes, pending), move |(mut rx, mut pending)| {
        let server = server.clone();
        async move {
            loop {
                if let Some(m) = pending.pop() {
                    return Some((m, (rx, pending)));
                }
                match rx.recv().await {
                    Ok(c) if c.server == server => {
                        pending = c
                            .notifications
                            .iter()
                            .rev()
                            .map(|n| jsonrpc::notification(n, None))
                            .collect();
                    }
                    Ok(_) => {}
                    // Missed some: tell the client everything may have changed.
                    Err(broadcast::error::RecvError::Lagged(_)) => pending = everything_changed(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}
