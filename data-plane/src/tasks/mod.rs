//! The Tasks extension (`io.modelcontextprotocol/tasks`, MCP 2026-07-28)
//! passed through: a stateless backend's task reaches the client under an
//! id the gateway seals (the backend, the caller, and the backend's own
//! id), so `tasks/get`, `tasks/update` and `tasks/cancel` sent to any node
//! reach the backend that runs the task with its own id, and no caller can
//! name another's task or make one up. Nothing is stored: the id is the
//! whole route.
//!
//! A backend of an earlier era runs no tasks: the gateway holds such a
//! call as a task of its own ([`held`]), under a sealed id of another kind.

pub mod held;

use crate::{jsonrpc::RawObject, seal::Sealer};

/// The extension's id, as capabilities declare it.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// What the gateway's ids of backends' tasks start with.
const PREFIX: &str = "mcpgw-task-";
const AAD: &[u8] = b"task\0";
/// What the ids of the tasks the gateway holds itself start with.
const HELD_PREFIX: &str = "mcpgw-held-";
const HELD_AAD: &[u8] = b"held\0";

/// Seals and opens the task ids clients see.
pub struct TaskIds {
    sealer: Sealer,
}

impl TaskIds {
    pub fn new(secret: &str) -> Self {
        Self {
            sealer: Sealer::new(secret, b"mcpgw task id v1\0"),
        }
    }

    /// The id a client of `principal` knows backend `backend_id`'s task
    /// `own` by.
    pub fn seal(&self, backend_id: &str, principal: &str, own: &str) -> String {
        let mut plain = Vec::with_capacity(2 + backend_id.len() + own.len());
        plain.extend_from_slice(&u16::try_from(backend_id.len()).unwrap_or(u16::MAX).to_be_bytes());
        plain.extend_from_slice(backend_id.as_bytes());
        plain.extend_from_slice(own.as_bytes());
        let mut id = String::from(PREFIX);
        id.push_str(&self.sealer.seal(&plain, &aad(principal)));
        id
    }

    /// The backend and the backend's own id of the task a client of
    /// `principal` names `id`; `None` for an id this fleet did not give
    /// that caller (another caller's, altered, made up).
    pub fn open(&self, id: &str, principal: &str) -> Option<(String, String)> {
        let plain = self.sealer.open(id.strip_prefix(PREFIX)?, &aad(principal))?;
        let (len, rest) = plain.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let backend = std::str::from_utf8(rest.get(..len)?).ok()?;
        let own = std::str::from_utf8(rest.get(len..)?).ok()?;
        Some((backend.to_owned(), own.to_owned()))
    }
}

impl TaskIds {
    /// The id a client of `principal` knows the task the gateway holds
    /// under `key` by.
    pub fn seal_held(&self, principal: &str, key: &held::Key) -> String {
        let mut id = String::from(HELD_PREFIX);
        id.push_str(&self.sealer.seal(key, &held_aad(principal)));
        id
    }

    /// The key of the task the gateway holds that a client of `principal`
    /// names `id`; `None` for any other id.
    pub fn open_held(&self, id: &str, principal: &str) -> Option<held::Key> {
        let plain = self.sealer.open(id.strip_prefix(HELD_PREFIX)?, &held_aad(principal))?;
        plain.try_into().ok()
    }
}

fn aad(principal: &str) -> Vec<u8> {
    [AAD, principal.as_bytes()].concat()
}

fn held_aad(principal: &str) -> Vec<u8> {
    [HELD_AAD, principal.as_bytes()].concat()
}

/// Whether a request's `_meta` declares the extension among the client's
/// capabilities.
pub fn declared_in(meta: Option<&RawObject<'_>>) -> bool {
    meta.and_then(|m| m.get(crate::protocol::CAPABILITIES_KEY))
        .is_some_and(|c| declared(c.get()))
}

/// Whether a capabilities object (raw JSON) declares the extension.
pub fn declared(capabilities: &str) -> bool {
    RawObject::parse(capabilities)
        .ok()
        .and_then(|c| c.get("extensions").and_then(|e| RawObject::parse(e.get()).ok()))
        .is_some_and(|e| e.get(EXTENSION).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_opens_for_its_caller_only_and_gives_back_the_backends_own() {
        let ids = TaskIds::new("secret");
        let id = ids.seal("b-1", "alice", "task-42");
        assert!(id.starts_with(PREFIX));
        assert_eq!(ids.open(&id, "alice"), Some(("b-1".into(), "task-42".into())));
        assert_eq!(ids.open(&id, "bob"), None, "another caller's");
        assert_eq!(TaskIds::new("other").open(&id, "alice"), None, "another fleet's");
        let mut altered = id.clone();
        altered.push('A');
        assert_eq!(ids.open(&altered, "alice"), None);
        assert_eq!(ids.open("task-42", "alice"), None, "the backend's own id");
    }

    #[test]
    fn a_held_tasks_id_is_of_its_own_kind_and_opens_for_its_caller_only() {
        let ids = TaskIds::new("secret");
        let key = [7u8; 16];
        let id = ids.seal_held("alice", &key);
        assert!(id.starts_with(HELD_PREFIX));
        assert_eq!(ids.open_held(&id, "alice"), Some(key));
        assert_eq!(ids.open_held(&id, "bob"), None, "another caller's");
        assert_eq!(ids.open(&id, "alice"), None, "not a backend's task");
        let backends = ids.seal("b-1", "alice", "own");
        assert_eq!(ids.open_held(&backends, "alice"), None, "a backend's task is not held");
        assert_eq!(ids.open_held(&backends.replace(PREFIX, HELD_PREFIX), "alice"), None);
    }

    #[test]
    fn the_extension_is_declared_under_extensions() {
        assert!(declared(r#"{"extensions":{"io.modelcontextprotocol/tasks":{}}}"#));
        assert!(!declared(r#"{"sampling":{}}"#));
        assert!(!declared(r#"{"extensions":{"other":{}}}"#));
        assert!(!declared("not json"));
    }
}
