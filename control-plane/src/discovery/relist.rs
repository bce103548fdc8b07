//! Re-listing backends, writing the registry only where the catalog
//! changed: every backend on an interval (`MCPGW_RELIST_INTERVAL_SECS`), so
//! one whose tools changed without a `list_changed` (many servers never send
//! one), or while nobody listened, is caught up within one interval; and a
//! stdio or WebSocket backend at once when a data plane heard it say its
//! lists changed (the control plane holds no channel of its own to those).
//! REST and gRPC backends list nothing.

use std::{collections::HashSet, sync::Arc, time::Duration};

use mcpgw_data_plane::upstream::link::Connector;
use mcpgw_proto::v1::ItemKind;
use tokio::sync::mpsc;

use crate::{
    distribute::{Distributor, transport_from_db},
    registry::{BackendRow, BackendUpdate, DiscoveredItem, Registry},
};

/// Re-lists every enabled backend every `every` (if set), one at a time,
/// and each backend the nodes heard change as the notices come.
pub fn spawn(registry: Registry, dist: Arc<Distributor>, connector: Arc<Connector>, every: Option<Duration>) {
    let Some(mut heard) = dist.take_changed() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = every.map(|every| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        loop {
            let due = async {
                match &mut tick {
                    Some(t) => drop(t.tick().await),
                    None => std::future::pending().await,
                }
            };
            let backends = tokio::select! {
                () = due => match super::watch::enabled_backends(&registry, true).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list backends to re-list");
                        continue;
                    }
                },
                Some(first) = heard.recv() => match changed(&registry, first, &mut heard).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a backend to re-list");
                        continue;
                    }
                },
            };
            for b in backends {
                match relist(&registry, &connector, &b).await {
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
    });
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
    let client = connector
        .base()
        .connect(&Default::default(), &secrets)
        .map_err(|e| e.to_string())?;
    let (set, listed) = super::grpc::reflect(&b.url, &b.connection.tls(), &secrets, &client)
        .await
        .map_err(|e| e.to_string())?;
    super::grpc::offer(set, asked, Some(listed)).map_err(|e| e.to_string())
}

/// The enabled channel backends among `first` and the other ids queued
/// meanwhile, each once however many nodes told of it.
async fn changed(
    registry: &Registry,
    first: String,
    heard: &mut mpsc::Receiver<String>,
) -> crate::registry::Result<Vec<BackendRow>> {
    let mut ids = HashSet::from([first]);
    while let Ok(id) = heard.try_recv() {
        ids.insert(id);
    }
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
    if stored_items(registry, &b.id).await.map_err(|e| e.to_string())? == listed(&discovery.items) {
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
