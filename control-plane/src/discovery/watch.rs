//! Keeping catalogs current: the control plane holds one listening session
//! per enabled backend (for a backend of the stateless era, one
//! `subscriptions/listen` stream) and, when the backend says a list changed
//! (`notifications/{tools,prompts,resources}/list_changed`), lists it again
//! and publishes the difference to the data planes. A dropped session is
//! re-opened with backoff, and the backend listed again then, in case a
//! change was missed while no one listened; so are all of them when a
//! replica takes the listeners over from one that died.

use std::{collections::HashMap, sync::Arc, time::Duration};

use mcpgw_data_plane::upstream::{
    Dialect, EventStream, McpHttpClient, ServerInfo, UpstreamError, UpstreamSession, link::Connector,
};
use mcpgw_proto::v1::BackendTransport;
use tokio::task::JoinHandle;

use crate::{
    distribute::{Distributor, transport_from_db},
    registry::{BackendRow, BackendUpdate, Registry, leader::Job},
};

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One listener task per enabled backend, reconciled with the registry
/// whenever the config version moves, on the one replica that leads (a
/// backend is listened to once for the whole fleet).
pub fn spawn(registry: Registry, dist: Arc<Distributor>, connector: Arc<Connector>) {
    tokio::spawn(async move {
        registry
            .while_leading(Job::CatalogListeners, |took_over| {
                watch_all(&registry, &dist, &connector, took_over)
            })
            .await;
    });
}

/// A backend's listener task, ended when it is dropped (the backend
/// changed or went, or this replica stopped leading).
struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `took_over`: the listeners were down for a while (another replica held
/// them and died): each backend is listed again when its listener opens.
async fn watch_all(registry: &Registry, dist: &Arc<Distributor>, connector: &Connector, took_over: bool) {
    let mut version = dist.subscribe();
    let mut watching: HashMap<String, (String, Listener)> = HashMap::new();
    loop {
        match enabled_backends(registry, false).await {
            Ok(backends) => {
                watching.retain(|id, (key, _)| backends.iter().any(|b| &b.id == id && &watch_key(b) == key));
                for b in backends {
                    if let std::collections::hash_map::Entry::Vacant(slot) = watching.entry(b.id.clone()) {
                        let client = match super::link_of(connector, &b) {
                            Ok(link) => link.client.clone(),
                            Err(e) => {
                                tracing::warn!(backend = %b.name, error = %e, "cannot watch a backend");
                                continue;
                            }
                        };
                        let key = watch_key(&b);
                        let task = tokio::spawn(watch(registry.clone(), dist.clone(), client, b, took_over));
                        slot.insert((key, Listener(task)));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list backends to watch"),
        }
        if version.changed().await.is_err() {
            return;
        }
    }
}

/// What a listener depends on: a changed URL, transport or connection
/// restarts it.
fn watch_key(b: &BackendRow) -> String {
    let c = &b.connection;
    format!(
        "{} {} {} {} {} {} {}",
        b.transport,
        b.protocol_version,
        b.url,
        c.tls_insecure_skip_verify,
        c.tls_ca_pem,
        c.tls_client_cert_pem,
        c.sealed_secrets
    )
}

/// Every enabled backend; `channels`: with the stdio, WebSocket and REST
/// ones, which are not listened to.
pub(super) async fn enabled_backends(registry: &Registry, channels: bool) -> crate::registry::Result<Vec<BackendRow>> {
    const PAGE: u64 = 500;
    let mut all = Vec::new();
    // The offset counts every backend read, enabled or not.
    let mut offset = 0;
    loop {
        let page = registry.list_backends(offset, PAGE).await?;
        offset += page.len() as u64;
        let done = (page.len() as u64) < PAGE;
        // Channel backends (stdio, WebSocket) are not kept open here to be
        // listened to, and REST and gRPC backends announce nothing.
        all.extend(page.into_iter().filter(|b| {
            b.enabled && (channels || !matches!(b.transport.as_str(), "stdio" | "websocket" | "rest" | "grpc"))
        }));
        if done {
            return Ok(all);
        }
    }
}

/// Listens to `backend`; `took_over`: lists it on opening too (see
/// [`watch_all`]).
async fn watch(
    registry: Registry,
    dist: Arc<Distributor>,
    client: McpHttpClient,
    backend: BackendRow,
    took_over: bool,
) {
    let transport = transport_from_db(&backend.transport);
    let mut backoff = Duration::from_secs(1);
    let mut first = !took_over;
    loop {
        match listen(&client, &backend).await {
            Ok((_session, mut events)) => {
                backoff = Duration::from_secs(1);
                // A change may have happened while no one listened: since
                // the last session, or, on a replica that just took over
                // the listeners, while the one that died held them.
                if !first {
                    relist(&registry, &dist, &client, &backend, transport).await;
                }
                first = false;
                while let Ok(Some(ev)) = events.next_event(&backend.url).await {
                    if ev.data.contains("list_changed\"") {
                        relist(&registry, &dist, &client, &backend, transport).await;
                    }
                }
            }
            Err(e) => tracing::debug!(backend = %backend.name, error = %e, "cannot listen to the backend"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A session whose event stream carries the backend's notifications: the
/// standalone stream of a session, or for a backend of the stateless era
/// a `subscriptions/listen` for every list change.
async fn listen(client: &McpHttpClient, backend: &BackendRow) -> Result<(UpstreamSession, EventStream), UpstreamError> {
    let url = backend.url.as_str();
    match backend.dialect() {
        Dialect::Sse => return client.open_legacy(url, None).await,
        Dialect::Stateless => {
            const EVERY_LIST: &str =
                r#"{"toolsListChanged":true,"promptsListChanged":true,"resourcesListChanged":true}"#;
            let session = UpstreamSession::stateless(client, url, ServerInfo::default())?;
            let events = client.subscribe(&session, EVERY_LIST, "{}").await?;
            return Ok((session, events));
        }
        Dialect::Session => {}
    }
    let session = client.initialize(url).await?;
    match client.listen(&session).await {
        Ok(events) => Ok((session, events)),
        Err(e) => {
            // No stream to listen on: end the session rather than leave it.
            client.terminate(&session).await;
            Err(e)
        }
    }
}

async fn relist(
    registry: &Registry,
    dist: &Distributor,
    client: &McpHttpClient,
    backend: &BackendRow,
    transport: BackendTransport,
) {
    // The backend may have been changed or removed since this listener
    // started: never write back a URL or transport the registry no longer has.
    match registry.get_backend(&backend.id).await {
        Ok(now) if watch_key(&now) == watch_key(backend) => {}
        _ => return,
    }
    let discovery = match super::discover(client, &backend.url, Some(transport)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(backend = %backend.name, error = %e, "cannot re-list a backend that announced a change");
            return;
        }
    };
    let update = BackendUpdate {
        url: Some((backend.url.clone(), discovery)),
        ..BackendUpdate::default()
    };
    match registry.update_backend(&backend.id, &update).await {
        Ok(_) => {
            tracing::info!(backend = %backend.name, "re-listed after list_changed");
            if let Err(e) = dist.refresh().await {
                tracing::warn!(error = %e, "cannot publish a re-listed catalog");
            }
        }
        Err(e) => tracing::warn!(backend = %backend.name, error = %e, "cannot store a re-listed catalog"),
    }
}
