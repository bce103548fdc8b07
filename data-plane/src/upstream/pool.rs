//! One MCP session per backend per process, shared by every client session
//! that calls the backend (request ids and progress tokens are rewritten to be
//! unique within it), created on first use and re-created when the backend
//! forgets it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;

use super::{McpHttpClient, UpstreamError, UpstreamSession};

struct Slot {
    url: Arc<str>,
    session: OnceCell<Arc<UpstreamSession>>,
}

pub struct UpstreamPool {
    client: McpHttpClient,
    slots: Mutex<HashMap<Arc<str>, Arc<Slot>>>,
}

impl UpstreamPool {
    pub fn new(client: McpHttpClient) -> Self {
        Self {
            client,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn client(&self) -> &McpHttpClient {
        &self.client
    }

    fn slot(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Arc<Slot> {
        let mut slots = self.slots.lock().expect("poisoned");
        match slots.get(backend_id) {
            Some(s) if s.url == *url => s.clone(),
            _ => {
                let s = Arc::new(Slot {
                    url: url.clone(),
                    session: OnceCell::new(),
                });
                slots.insert(backend_id.clone(), s.clone());
                s
            }
        }
    }

    /// The live session with a backend, initializing it if there is none.
    /// Concurrent callers share one `initialize`.
    pub async fn session(&self, backend_id: &Arc<str>, url: &Arc<str>) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let slot = self.slot(backend_id, url);
        slot.session
            .get_or_try_init(|| async { self.client.initialize(url).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Drops `session` so the next call re-initializes, unless another caller
    /// already replaced it.
    pub fn forget(&self, backend_id: &Arc<str>, session: &Arc<UpstreamSession>) {
        let mut slots = self.slots.lock().expect("poisoned");
        if slots
            .get(backend_id)
            .and_then(|s| s.session.get())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            slots.remove(backend_id);
        }
    }

    /// Sends a body built around a request id unique in the backend's session. If the backend lost the
    /// session (404: it restarted or expired it), re-initializes once and
    /// retries, so client sessions survive backend restarts. A failed
    /// connection drops the session too, but is not retried: the request may
    /// have reached the backend.
    pub async fn send(
        &self,
        backend_id: &Arc<str>,
        url: &Arc<str>,
        build: impl Fn(u64) -> Vec<u8>,
    ) -> Result<(u64, reqwest::Response), UpstreamError> {
        let mut retried = false;
        loop {
            let session = self.session(backend_id, url).await?;
            let id = session.next_id();
            match self.client.post(&session.endpoint, Some(&session), build(id)).await {
                Ok(res) => return Ok((id, res)),
                Err(e @ UpstreamError::SessionExpired { .. }) => {
                    self.forget(backend_id, &session);
                    if retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e @ UpstreamError::Unreachable { .. }) => {
                    self.forget(backend_id, &session);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
