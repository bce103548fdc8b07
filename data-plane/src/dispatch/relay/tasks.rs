//! A stateless backend's task ids on their way to the client (see
//! `crate::tasks`): the task a `tools/call` created goes out under a
//! sealed id of the gateway's, and a `tasks/*` answer names the task by
//! the id the client sent.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::{
    jsonrpc::{CowStr, RawObject, json_str},
    tasks::TaskIds,
};

/// How the task ids in a backend's answer are rewritten.
pub enum Tasks {
    /// A call's: a task it created is named by a fresh sealed id.
    Seal { principal: Arc<str>, backend_id: Arc<str> },
    /// A `tasks/*` request's: its task is named as the client named it.
    Echo(Arc<str>),
}

impl Tasks {
    /// `result` (raw) with its `taskId` rewritten; `None` when it names no
    /// task (most results: checked cheaply first).
    pub fn rewrite(&self, ids: &TaskIds, result: &RawValue) -> Option<String> {
        if !result.get().contains("\"taskId\"") {
            return None;
        }
        let obj = RawObject::parse(result.get()).ok()?;
        let own: CowStr<'_> = serde_json::from_str(obj.get("taskId")?.get()).ok()?;
        let id = match self {
            Self::Seal { principal, backend_id } => ids.seal(backend_id, principal, &own),
            Self::Echo(id) => id.to_string(),
        };
        Some(obj.to_string_with(&[("taskId", &json_str(&id))]))
    }
}
