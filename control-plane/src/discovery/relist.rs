//! Re-listing backends, writing the registry only where the catalog
//! changed: every backend on an interval (`MCPGW_RELIST_INTERVAL_SECS`), so
//! one whose tools changed without a `list_changed` (many servers never send
//! one), or while nobody listened, is caught up within one interval; and a
//! stdio or WebSocket backend at once when a data plane heard it say its
//! lists changed (the control plane holds no channel of its own to those).
//! REST and gRPC backends list nothing.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use mcpgw_data_plane::upstream::link::Connector;
use mcpgw_proto::v1::ItemKind;
use tokio::time::Instant;

use crate::{
    distribute::{Distributor, transport_from_db},
    registry::{BackendRow, BackendUpdate, DiscoveredItem, Registry, leader::Job},
};

/// The shortest time between two re-listings of one backend on its
/// notices: a backend that says its lists changed many times a second is
/// listed at most once a second, and once more after its last notice.
const MIN_GAP: Duration = Duration::from_secs(1);

/// Re-lists every enabled backend every `every` (if set), one at a time,
/// on the one replica that leads; and, on every replica, each backend the
/// nodes connected to it heard change, as the notices come (at most once
/// per [`MIN_GAP`] each).
pub fn spawn(registry: Registry, dist: Arc<Distributor>, connector: Arc<Connector>, every: Option<Duration>) {
    let Some(mut heard) = dist.take_changed() else {
        return;
    };
    if let Some(every) = every {
        let (registry, dist, connector) = (registry.clone(), dist.clone(), connector.clone());
        tokio::spawn(async move {
            registry
                .while_leading(Job::Relisting, |_| async {
                    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        match super::watch::enabled_backends(&registry, true).await {
                            Ok(b) => relist_all(&registry, &dist, &connector, b).await,
                            Err(e) => tracing::warn!(error = %e, "cannot list backends to re-list"),
                        }
                    }
                })
                .await;
        });
    }
    tokio::spawn(async move {
        let mut debounce = Debounce::default();
        loop {
            let trailing = async {
                match debounce.next_due() {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let ids = tokio::select! {
                () = trailing => debounce.due(Instant::now()),
                Some(first) = heard.recv() => {
                    let mut ids = HashSet::from([first]);
                    while let Ok(id) = heard.try_recv() {
                        ids.insert(id);
                    }
                    debounce.heard(ids, Instant::now())
                }
            };
            match changed(&registry, ids).await {
                Ok(backends) => {
                    for b in &backends {
                        debounce.ran(&b.id, Instant::now());
                    }
                    relist_all(&registry, &dist, &connector, backends).await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read a backend to re-list"),
            }
        }
    });
}

/// Re-lists `backends` one at a time, publishing each change.
async fn relist_all(registry: &Registry, dist: &Distributor, connector: &Connector, backends: Vec<BackendRow>) {
    for b in backends {
        match relist(registry, connector, &b).await {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(backend = %b.name, "re-listed: its catalog changed");
                if let Err(e) = dist.refresh().await {
                    tracing::warn!(error = %e, "cannot publish a re-listed catalog");
                }
            }
            Err(e) => tracing::debug!(backend = %b.name, error = %e, "cannot re-list a backend"),
        }
    }
}

/// When each backend heard of was last re-listed, and those waiting for
/// [`MIN_GAP`] to pass.
#[derive(Default)]
struct Debounce {
    last: HashMap<String, Instant>,
    pending: HashMap<String, Instant>,
}

impl Debounce {
    /// Of the backends heard of at `now`, those to re-list at once; the
    /// others wait for their gap to pass (one re-listing however many
    /// notices come meanwhile).
    fn heard(&mut self, ids: HashSet<String>, now: Instant) -> HashSet<String> {
        self.last.retain(|_, at| now.duration_since(*at) < MIN_GAP);
        let mut at_once = HashSet::new();
        for id in ids {
            match self.last.get(&id) {
                Some(at) => {
                    self.pending.entry(id).or_insert(*at + MIN_GAP);
                }
                None if !self.pending.contains_key(&id) => {
                    at_once.insert(id);
                }
                None => {}
            }
        }
        at_once
    }

    /// The soonest a waiting backend is due.
    fn next_due(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    /// The waiting backends due at `now`, no longer waiting.
    fn due(&mut self, now: Instant) -> HashSet<String> {
        let due: HashSet<String> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        self.pending.retain(|id, _| !due.contains(id));
        due
    }

    /// Backend `id` was re-listed at `now`.
    fn ran(&mut self, id: &str, now: Instant) {
        self.last.insert(id.to_owned(), now);
    }
}

/// A reflected gRPC backend read through its reflection again, offering
/// the services `asked` (or all it lists).
async fn reflect_again(
    connector: &Connector,
    b: &BackendRow,
    asked: Vec<String>,
) -> Result<mcpgw_proto::v1::GrpcServices, String> {
    let secrets = connector
        .secrets()
        .open(&b.id, &b.connection.sealed_secrets)
        .map_err(|e| e.to_string())?;
    let client = connector.credentials_client(&secrets).map_err(|e| e.to_string())?;
    let (set, listed) = super::grpc::reflect(&b.url, &b.connection.tls(), &secrets, &client)
        .await
        .map_err(|e| e.to_string())?;
    super::grpc::offer(set, asked, Some(listed)).map_err(|e| e.to_string())
}

/// The enabled channel backends of `ids`.
async fn changed(registry: &Registry, ids: HashSet<String>) -> crate::registry::Result<Vec<BackendRow>> {
    let mut out = Vec::new();
    for id in ids {
        match registry.get_backend(&id).await {
            Ok(b) if b.enabled && matches!(b.transport.as_str(), "stdio" | "websocket") => out.push(b),
            Ok(_) | Err(crate::registry::RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Lists `b` again; whether that changed the registry.
async fn relist(registry: &Registry, connector: &Connector, b: &BackendRow) -> Result<bool, String> {
    let mut grpc = None;
    let discovery = match b.transport.as_str() {
        // Its tools are what was registered (or imported): nothing to list.
        "rest" => return Ok(false),
        // Read through its reflection: read again; uploaded: as given.
        "grpc" => match b.grpc() {
            Some(stored) if stored.reflected => {
                let again = reflect_again(connector, b, stored.services).await?;
                let items = super::grpc::items(&again).map_err(|e| e.to_string())?;
                grpc = Some(again);
                Ok(crate::registry::Discovery {
                    transport: "grpc".into(),
                    server_name: "grpc".into(),
                    items,
                    ..Default::default()
                })
            }
            _ => return Ok(false),
        },
        "stdio" if !connector.allows_stdio() => return Ok(false),
        "stdio" | "websocket" => {
            let link = super::channel_link_of(connector, b).map_err(|e| e.to_string())?;
            super::discover_channel(&link, &b.transport).await
        }
        _ => {
            let link = super::link_of(connector, b).map_err(|e| e.to_string())?;
            super::discover(&link.client, &b.url, Some(transport_from_db(&b.transport))).await
        }
    }
    .map_err(|e| e.to_string())?;
    // A reflected gRPC backend can change what the wire carries (a field's
    // number or type) without changing a schema: its descriptors count too.
    let descriptors_changed = grpc.is_some() && grpc != b.grpc();
    // A peer gateway's own peers, offered with FEDERATION_DISCOVERY, too.
    let peers_changed = discovery.offered_peers != b.offered_peers;
    // And how long its lists may be kept, which the merged lists take.
    let hints_changed = discovery.list_hints != b.list_hints;
    if !descriptors_changed
        && !peers_changed
        && !hints_changed
        && stored_items(registry, &b.id).await.map_err(|e| e.to_string())? == listed(&discovery.items)
    {
        return Ok(false);
    }
    // Nothing is written back if the backend was changed meanwhile.
    match registry.get_backend(&b.id).await {
        Ok(now) if now.url == b.url && now.connection == b.connection => {}
        _ => return Ok(false),
    }
    let update = BackendUpdate {
        url: Some((b.url.clone(), discovery)),
        grpc,
        ..BackendUpdate::default()
    };
    registry
        .update_backend(&b.id, &update)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

type Listed = Vec<(i32, String, String)>;

const KINDS: [ItemKind; 4] = [
    ItemKind::Tool,
    ItemKind::Prompt,
    ItemKind::Resource,
    ItemKind::ResourceTemplate,
];

/// What is stored of a backend's catalog, kind by kind in list order.
async fn stored_items(registry: &Registry, id: &str) -> crate::registry::Result<Listed> {
    let mut all = Vec::new();
    for kind in KINDS {
        for t in registry.list_items(kind, Some(id), 0, u32::MAX.into()).await? {
            all.push((kind as i32, t.name, t.definition_json));
        }
    }
    Ok(all)
}

fn listed(items: &[DiscoveredItem]) -> Listed {
    let mut all = Vec::new();
    for kind in KINDS {
        let of_kind = items.iter().filter(|t| t.kind == kind);
        all.extend(of_kind.map(|t| (kind as i32, t.name.clone(), t.definition_json.clone())));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(of: &[&str]) -> HashSet<String> {
        of.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_backend_is_re_listed_at_once_then_at_most_once_per_gap() {
        let mut d = Debounce::default();
        let t0 = Instant::now();
        assert_eq!(d.heard(ids(&["a"]), t0), ids(&["a"]));
        d.ran("a", t0);
        // A burst of notices within the gap: nothing at once, one trailing.
        let soon = t0 + Duration::from_millis(100);
        assert!(d.heard(ids(&["a"]), soon).is_empty());
        assert!(d.heard(ids(&["a"]), soon + Duration::from_millis(100)).is_empty());
        assert_eq!(d.next_due(), Some(t0 + MIN_GAP));
        assert!(d.due(soon).is_empty(), "not yet");
        assert_eq!(d.due(t0 + MIN_GAP), ids(&["a"]));
        assert_eq!(d.next_due(), None);
        // Another backend is not held back by the first.
        assert_eq!(d.heard(ids(&["b", "a"]), soon), ids(&["b"]));
    }

    #[test]
    fn backends_long_quiet_are_forgotten() {
        let mut d = Debounce::default();
        let t0 = Instant::now();
        for i in 0..100 {
            d.ran(&format!("b{i}"), t0);
        }
        assert_eq!(d.heard(ids(&["x"]), t0 + MIN_GAP * 2), ids(&["x"]));
        assert!(d.last.is_empty(), "entries past the gap are dropped");
    }
}
