//! `tasks/get`, `tasks/update` and `tasks/cancel` (the Tasks extension,
//! 2026-07-28 clients): routed by the sealed task id to the backend that
//! runs the task, which gets its own id back (see `crate::tasks`), or to
//! the task the gateway holds itself (see `held`).

use std::sync::Arc;

use serde_json::value::RawValue;

use super::{Reply, forward::Forward, routed::Target};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::json_str,
    routing::{BackendRoute, RouteTable},
    session::Session,
    tasks::EXTENSION,
    upstream::Dialect,
};

/// The backend of `view` that runs a task the gateway sealed for
/// `backend_id`: `None` once it left the view (deleted, disabled) or is no
/// longer called statelessly.
pub(super) fn runner<'v>(view: &'v RouteTable, backend_id: &str) -> Option<&'v Arc<BackendRoute>> {
    view.backends()
        .iter()
        .find(|b| *b.id == *backend_id && b.dialect == Dialect::Stateless)
}

/// The refusal of what needs the extension (`why`) to a request that did
/// not declare it.
pub(super) fn undeclared(why: &str) -> McpError {
    McpError::new(
        ErrorKind::MissingCapability,
        format!(
            "{why}: declare it in _meta[\"{}\"].extensions",
            crate::protocol::CAPABILITIES_KEY
        ),
    )
    .with_data(&serde_json::json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}))
}

/// One `tasks/*` request: refused unless it declares the extension, then
/// sent to the backend the sealed id names, with the backend's own id.
pub async fn task(
    gw: &Arc<Gateway>,
    session: &Session,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    via: Option<&str>,
) -> Result<Reply, McpError> {
    let req = Forward::parse(method, params, via)?.of(session);
    if !req.declares_tasks() {
        return Err(undeclared(&format!("{method} belongs to the {EXTENSION} extension")));
    }
    let task_id = req.str_param("taskId", "the taskId a tools/call answered with")?;
    let unknown = || {
        McpError::new(
            ErrorKind::InvalidParams,
            format!(
                "Unknown task: {:?} is not the id of a task this gateway gave this caller",
                &*task_id
            ),
        )
    };
    if let Some(key) = gw.tasks.open_held(&task_id, &session.principal.0) {
        return super::held::task(gw, id, method, &task_id, key, &req).await;
    }
    let (backend_id, own) = gw.tasks.open(&task_id, &session.principal.0).ok_or_else(unknown)?;
    let backend = runner(super::view(&gw.snapshot.load(), session)?, &backend_id)
        .cloned()
        .ok_or_else(unknown)?;
    let target = Target("task", &task_id);
    req.echoing_task(task_id.to_string().into())
        .send(gw, session, id, &backend, &[("taskId", &json_str(&own))], &target)
        .await
}
