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
            // Only a task the call created (a tool's own result may carry
            // a member of that name).
            Self::Seal { principal, backend_id } if obj.get("resultType").is_some_and(|t| t.get() == r#""task""#) => {
                ids.seal(backend_id, principal, &own)
            }
            Self::Seal { .. } => return None,
            Self::Echo(id) => id.to_string(),
        };
        Some(obj.to_string_with(&[("taskId", &json_str(&id))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn a_created_task_is_sealed_a_requested_one_echoed_and_nothing_else_touched() {
        let ids = TaskIds::new("secret");
        let seal = Tasks::Seal {
            principal: "alice".into(),
            backend_id: "b-1".into(),
        };
        let created = seal.rewrite(
            &ids,
            &raw(r#"{"resultType":"task","taskId":"own-1","status":"working"}"#),
        );
        let v: serde_json::Value = serde_json::from_str(&created.unwrap()).unwrap();
        let id = v["taskId"].as_str().unwrap();
        assert_eq!(ids.open(id, "alice"), Some(("b-1".into(), "own-1".into())));
        assert_eq!(v["status"], "working");
        // A tool's complete result that happens to carry a taskId is its own.
        let own = raw(r#"{"resultType":"complete","taskId":"x","content":[]}"#);
        assert!(seal.rewrite(&ids, &own).is_none());
        let echo = Tasks::Echo("mcpgw-task-abc".into());
        let got = echo.rewrite(
            &ids,
            &raw(r#"{"resultType":"complete","taskId":"own-1","status":"completed"}"#),
        );
        let v: serde_json::Value = serde_json::from_str(&got.unwrap()).unwrap();
        assert_eq!(v["taskId"], "mcpgw-task-abc");
        assert!(
            echo.rewrite(&ids, &raw(r#"{"resultType":"complete"}"#)).is_none(),
            "a cancel's ack"
        );
    }
}
