//! The methods answered from the snapshot or fanned out to every backend:
//! the four `*/list` methods and `logging/setLevel`.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::value::RawValue;

use super::{Reply, forward::Forward};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr},
    protocol::via_ids,
    session::Session,
};

#[derive(serde::Deserialize)]
struct ListParams<'a> {
    #[serde(borrow, default)]
    cursor: Option<CowStr<'a>>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<ListMeta<'a>>,
}

#[derive(serde::Deserialize)]
struct ListMeta<'a> {
    /// The gateways the request passed ([`crate::protocol::VIA`]).
    #[serde(borrow, default, rename = "io.mcpgw/via")]
    via: Vec<CowStr<'a>>,
}

/// `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`:
/// from the snapshot (never by asking backends), in pages of
/// `MCPGW_LIST_PAGE_SIZE` when set.
pub fn list(
    gw: &Gateway,
    session: &Session,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    via_header: Option<&str>,
) -> Result<Reply, McpError> {
    let params: ListParams<'_> = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|_| {
            McpError::new(
                ErrorKind::InvalidParams,
                format!("{method} params must be an object whose cursor is a string"),
            )
        })?,
        None => ListParams {
            cursor: None,
            meta: None,
        },
    };
    let snapshot = gw.snapshot.load();
    let routes = super::view(&snapshot, session)?;
    let catalog = match method {
        "tools/list" => &routes.tools,
        "prompts/list" => &routes.prompts,
        "resources/list" => &routes.resources,
        _ => &routes.templates,
    };
    // Asked through peer gateways: what came from them is left out, so two
    // gateways that register each other never list each other's items back.
    // The chain is in `_meta`, the header, or both.
    let via = params.meta.as_ref().map_or(&[][..], |m| &m.via[..]);
    let asked_by = |p: &str| via.iter().any(|v| &**v == p) || via_header.into_iter().flat_map(via_ids).any(|v| v == p);
    let from_askers = |b: &crate::routing::BackendRoute| b.peer.as_deref().is_some_and(asked_by);
    let asked_through_gateways = !via.is_empty() || via_header.is_some();
    if asked_through_gateways && routes.backends().iter().any(|b| from_askers(b)) {
        let list = catalog.list_without(from_askers);
        return Ok(Reply::Message(jsonrpc::result_response(id, &list)));
    }
    let page = catalog
        .page(params.cursor.as_deref(), gw.limits.list_page_size)
        .map_err(|e| McpError::new(ErrorKind::InvalidParams, e.to_string()))?;
    Ok(Reply::Message(jsonrpc::result_response(id, &page)))
}

/// `logging/setLevel`: sent to every enabled backend at once. Backends that
/// do not log (or fail) are skipped; the level is a wish, not a contract.
pub async fn set_level(
    gw: &Arc<Gateway>,
    session: &Session,
    id: &RawValue,
    params: Option<&RawValue>,
    via: Option<&str>,
) -> Result<Reply, McpError> {
    let req = Forward::parse("logging/setLevel", params, via)?;
    req.str_param("level", "a syslog level such as \"info\"")?;
    let snapshot = gw.snapshot.load();
    // The stateless era has no log level to set: a client asks for logs
    // per request.
    let backends = super::view(&snapshot, session)?.backends();
    let sessioned = backends
        .iter()
        .filter(|b| b.dialect != crate::upstream::Dialect::Stateless);
    let sends = sessioned.map(|b| {
        let req = &req;
        async move {
            match req.send(gw, session, id, b, &[], &"logging").await {
                Ok(Reply::Stream(s)) => drop(s.collect::<Vec<_>>().await),
                Ok(_) => {}
                Err(e) => tracing::debug!(backend = &*b.name, error = %e, "logging/setLevel not applied"),
            }
        }
    });
    futures::future::join_all(sends).await;
    Ok(Reply::Message(jsonrpc::result_response(id, "{}")))
}
