//! What forwarding needs of the Tasks extension (see `crate::tasks`).

use std::sync::Arc;

use super::Forward;
use crate::{dispatch::relay::tasks::Tasks, routing::BackendRoute, session::Session, upstream::Dialect};

impl Forward<'_> {
    /// Whether the request (a 2026-07-28 client's) declares the Tasks
    /// extension in its `_meta` capabilities.
    pub fn declares_tasks(&self) -> bool {
        self.stateless && crate::tasks::declared_in(self.meta.as_ref())
    }

    /// Whether the request is a 2026-07-28 client's that did not declare
    /// the extension.
    pub fn undeclares_tasks(&self) -> bool {
        self.stateless && !crate::tasks::declared_in(self.meta.as_ref())
    }

    /// A `tasks/*` request about the task the client names `id`: the
    /// backend's answer names it so too.
    pub fn echoing_task(mut self, id: Arc<str>) -> Self {
        self.task = Some(id);
        self
    }

    /// How the task ids in the backend's answer reach the client: only a
    /// stateless backend's, to a client that declared the extension (the
    /// backend creates tasks for no one else).
    pub(super) fn tasks(&self, session: &Session, backend: &BackendRoute) -> Option<Tasks> {
        if backend.dialect != Dialect::Stateless || !self.stateless {
            return None;
        }
        match &self.task {
            Some(id) => Some(Tasks::Echo(id.clone())),
            None if self.method == "tools/call" && self.declares_tasks() => Some(Tasks::Seal {
                principal: session.principal.0.clone(),
                backend_id: backend.id.clone(),
            }),
            None => None,
        }
    }
}
