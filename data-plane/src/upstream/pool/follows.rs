//! Resources of stateless backends followed for this node's subscribers.
//! Such a backend has no session to subscribe in: the node holds one
//! `subscriptions/listen` stream per backend whose filter names every URI
//! subscribed through the node, and opens it again with the new set when
//! the set changes (the old stream closes once the new one is
//! acknowledged, so no update falls between them). Its updates go where a
//! session's standalone stream's do (the pool's updates, then each
//! subscriber, see `session::subscriptions`); a stream that ends or fails
//! is opened again with backoff.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, task::AbortHandle};

use super::{Core, ResourceUpdated, listen::updated_uri};
use crate::{
    jsonrpc::{Envelope, json_str},
    upstream::UpstreamSession,
};

/// Longest pause between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a subscriber waits for the backend to acknowledge its URI.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// What the node follows, by backend id.
#[derive(Default)]
pub(super) struct Follows(Mutex<HashMap<Arc<str>, Follow>>);

struct Follow {
    uris: BTreeSet<String>,
    session: Arc<UpstreamSession>,
    task: AbortHandle,
    /// What the current stream's backend acknowledged (`None` until it
    /// did).
    acked: watch::Receiver<Option<BTreeSet<String>>>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follows {
    /// Follows `uri` of the backend `backend_id` (whose stateless session
    /// is `session`) too; whether the backend acknowledged it.
    pub(super) async fn add(
        &self,
        core: &Arc<Core>,
        backend_id: &Arc<str>,
        session: Arc<UpstreamSession>,
        uri: &str,
    ) -> bool {
        let mut acked = {
            let mut all = self.0.lock().expect("poisoned");
            match all.remove(backend_id) {
                Some(old) if old.uris.contains(uri) => {
                    let acked = old.acked.clone();
                    all.insert(backend_id.clone(), old);
                    acked
                }
                old => {
                    let mut uris = old.as_ref().map(|f| f.uris.clone()).unwrap_or_default();
                    uris.insert(uri.to_owned());
                    let follow = open(core, backend_id, session, uris, old);
                    let acked = follow.acked.clone();
                    all.insert(backend_id.clone(), follow);
                    acked
                }
            }
        };
        let said = tokio::time::timeout(ACK_WAIT, acked.wait_for(Option::is_some)).await;
        matches!(said, Ok(Ok(set)) if set.as_ref().is_some_and(|s| s.contains(uri)))
    }

    /// Stops following `uri` of `backend_id` (nobody here wants it).
    pub(super) fn remove(&self, core: &Arc<Core>, backend_id: &Arc<str>, uri: &str) {
        let mut all = self.0.lock().expect("poisoned");
        let Some(old) = all.remove(backend_id) else { return };
        let mut uris = old.uris.clone();
        if !uris.remove(uri) {
            all.insert(backend_id.clone(), old);
            return;
        }
        if !uris.is_empty() {
            let session = old.session.clone();
            all.insert(backend_id.clone(), open(core, backend_id, session, uris, Some(old)));
        }
    }
}

/// A stream following `uris`, replacing `old` once acknowledged.
fn open(
    core: &Arc<Core>,
    backend_id: &Arc<str>,
    session: Arc<UpstreamSession>,
    uris: BTreeSet<String>,
    old: Option<Follow>,
) -> Follow {
    let (ack, acked) = watch::channel(None);
    let filter = format!(
        r#"{{"resourceSubscriptions":[{}]}}"#,
        uris.iter().map(|u| json_str(u)).collect::<Vec<_>>().join(",")
    );
    let (core, backend_id, listening) = (core.clone(), backend_id.clone(), session.clone());
    let task = tokio::spawn(async move {
        let session = listening;
        let mut old = old;
        let mut backoff = Duration::from_millis(250);
        loop {
            match session.client.subscribe(&session, &filter, "{}").await {
                Ok(mut events) => {
                    while let Ok(Some(ev)) = events.next_event(&session.url).await {
                        backoff = Duration::from_millis(250);
                        if let Some(set) = acknowledged(ev.data.as_bytes()) {
                            ack.send_replace(Some(set));
                            // The new stream hears from now on.
                            drop(old.take());
                        } else if let Some(uri) = updated_uri(ev.data.as_bytes()) {
                            let _ = core.updates.send(Arc::new(ResourceUpdated {
                                backend_id: backend_id.clone(),
                                uri,
                            }));
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(backend = %session.url, error = %e, "could not listen for resource updates");
                    // Whoever waits is told nothing was acknowledged.
                    if ack.borrow().is_none() {
                        ack.send_replace(Some(BTreeSet::new()));
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    Follow {
        uris,
        session,
        task: task.abort_handle(),
        acked,
    }
}

/// The URIs an acknowledgement says the backend follows; `None` for
/// another message.
fn acknowledged(data: &[u8]) -> Option<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Params {
        notifications: Filter,
    }
    #[derive(serde::Deserialize)]
    struct Filter {
        #[serde(rename = "resourceSubscriptions", default)]
        uris: BTreeSet<String>,
    }
    let env = Envelope::parse(data).ok()?;
    if env.method.as_deref() != Some("notifications/subscriptions/acknowledged") {
        return None;
    }
    let params: Params = serde_json::from_str(env.params?.get()).ok()?;
    Some(params.notifications.uris)
}
