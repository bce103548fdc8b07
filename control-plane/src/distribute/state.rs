//! The config as data planes receive it: one small resource per registry
//! object, each stamped with the version it last changed at, plus an index by
//! version so the delta for a node at version V is the resources changed after
//! V (upserted if still present, removed if not).

use std::collections::{BTreeSet, HashMap};

use mcpgw_proto::v1::{
    BackendConfig, BackendTransport, CatalogItem, ConfigUpdate, GatewaySettings, Resource, ResourceKey, ResourceKind,
    ServerMember, VirtualServer, resource::Resource as R, server_member::Naming,
};

use crate::registry::{Changes, catalog::kind_from_db};

type Key = (i32, String);

#[derive(Debug, Default)]
pub struct ConfigState {
    pub epoch: String,
    pub version: u64,
    /// FEDERATION_DISCOVERY: nodes name this gateway's peers to the
    /// gateways that register it (a setting of the process, kept across
    /// epochs).
    pub share_peers: bool,
    resources: HashMap<Key, Resource>,
    changed_at: HashMap<Key, u64>,
    by_version: BTreeSet<(u64, Key)>,
}

pub fn transport_from_db(s: &str) -> BackendTransport {
    match s {
        "streamable_http" => BackendTransport::StreamableHttp,
        "sse" => BackendTransport::Sse,
        "stdio" => BackendTransport::Stdio,
        "websocket" => BackendTransport::Websocket,
        "rest" => BackendTransport::Rest,
        "grpc" => BackendTransport::Grpc,
        "registry" => BackendTransport::Registry,
        _ => BackendTransport::Unspecified,
    }
}

/// A stored member backend as the admin API and data planes see it.
pub fn backend_member_pb(b: crate::registry::BackendMemberRow) -> mcpgw_proto::v1::ServerBackend {
    mcpgw_proto::v1::ServerBackend {
        backend_id: b.backend_id,
        keep_original_names: b.keep_original_names,
    }
}

/// A stored member as the admin API and data planes see it.
pub fn member_pb(m: crate::registry::MemberRow) -> ServerMember {
    let naming = match (m.keep_original_name, m.rename) {
        (true, _) => Some(Naming::KeepOriginalName(true)),
        (false, Some(r)) => Some(Naming::Rename(r)),
        (false, None) => None,
    };
    ServerMember {
        item_id: m.item_id,
        naming,
    }
}

impl ConfigState {
    /// An empty state; `share_peers` as [`ConfigState::share_peers`].
    pub fn sharing_peers(share_peers: bool) -> Self {
        Self {
            share_peers,
            ..Self::default()
        }
    }

    fn touch(&mut self, key: Key, version: u64, resource: Option<Resource>) {
        if let Some(old) = self.changed_at.insert(key.clone(), version) {
            self.by_version.remove(&(old, key.clone()));
        }
        self.by_version.insert((version, key.clone()));
        match resource {
            Some(r) => drop(self.resources.insert(key, r)),
            None => drop(self.resources.remove(&key)),
        }
    }

    /// Folds in what the registry says changed.
    pub fn apply(&mut self, c: Changes) {
        if c.epoch != self.epoch {
            *self = ConfigState {
                epoch: c.epoch.clone(),
                share_peers: self.share_peers,
                ..Default::default()
            };
        }
        if let Some((sep, v)) = c.separator {
            let r = Resource {
                version: v,
                resource: Some(R::Settings(GatewaySettings {
                    tool_name_separator: sep,
                    share_peers: self.share_peers,
                })),
            };
            self.touch((ResourceKind::Settings as i32, "global".into()), v, Some(r));
        }
        for b in c.backends {
            let v = b.config_version as u64;
            let down = b.health().status == crate::registry::health::HealthStatus::Unhealthy;
            let list_hints = b.list_hints().to_proto();
            let r = Resource {
                version: v,
                resource: Some(R::Backend(BackendConfig {
                    endpoints: b.endpoints(),
                    grpc: b.grpc(),
                    transport: transport_from_db(&b.transport).into(),
                    id: b.id.clone(),
                    name: b.name,
                    slug: b.slug,
                    url: b.url,
                    enabled: b.enabled,
                    protocol_version: b.protocol_version,
                    created_at_ms: b.created_at_ms,
                    rest_tools: b.connection.rest_tools(),
                    stdio: b.connection.stdio().map(|s| mcpgw_proto::v1::StdioCommand {
                        command: s.command,
                        args: s.args,
                        cwd: s.cwd,
                        ..Default::default()
                    }),
                    tls: Some(mcpgw_proto::v1::BackendTls {
                        ca_pem: b.connection.tls_ca_pem,
                        client_cert_pem: b.connection.tls_client_cert_pem,
                        insecure_skip_verify: b.connection.tls_insecure_skip_verify,
                    }),
                    sealed_secrets: b.connection.sealed_secrets,
                    cache_ttl_seconds: b.cache_ttl_secs.map(|s| s as u32),
                    config_version: v,
                    down,
                    peer_gateway_id: b.peer_gateway_id,
                    list_hints,
                })),
            };
            self.touch((ResourceKind::Backend as i32, b.id), v, Some(r));
        }
        for t in c.items {
            let v = t.config_version as u64;
            let owned = t.owned();
            let r = Resource {
                version: v,
                resource: Some(R::Item(CatalogItem {
                    kind: kind_from_db(&t.kind).into(),
                    id: t.id.clone(),
                    backend_id: t.backend_id,
                    name: t.name,
                    enabled: t.enabled,
                    definition_json: t.definition_json,
                    position: t.position as u32,
                    cache_ttl_seconds: t.cache_ttl_secs.map(|s| s as u32),
                    config_version: v,
                    owned,
                })),
            };
            self.touch((ResourceKind::Item as i32, t.id), v, Some(r));
        }
        for s in c.servers {
            let v = s.config_version as u64;
            // A disabled server leaves the nodes' config, as if removed.
            let enabled = s.enabled;
            let members = s.members.into_iter().map(member_pb).collect();
            let r = Resource {
                version: v,
                resource: Some(R::Server(VirtualServer {
                    id: s.id.clone(),
                    name: s.name,
                    members,
                    backends: s.backends.into_iter().map(backend_member_pb).collect(),
                })),
            };
            self.touch((ResourceKind::Server as i32, s.id), v, enabled.then_some(r));
        }
        for tomb in c.tombstones {
            let kind = match tomb.kind.as_str() {
                "backend" => ResourceKind::Backend,
                "item" => ResourceKind::Item,
                "server" => ResourceKind::Server,
                _ => continue,
            };
            self.touch((kind as i32, tomb.id), tomb.config_version as u64, None);
        }
        self.version = self.version.max(c.version);
    }

    /// Every resource of the config.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values()
    }

    /// What a node holding `epoch`@`held` needs, if anything: a delta when it
    /// holds an earlier version of this epoch, else a full snapshot.
    pub fn update_for(&self, epoch: &str, held: u64) -> Option<ConfigUpdate> {
        if epoch == self.epoch && held == self.version {
            return None;
        }
        if epoch != self.epoch || held > self.version {
            return Some(ConfigUpdate {
                epoch: self.epoch.clone(),
                version: self.version,
                base_version: 0,
                full_snapshot: true,
                upserts: self.resources.values().cloned().collect(),
                removals: vec![],
            });
        }
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for (_, key) in self.by_version.range((held + 1, (i32::MIN, String::new()))..) {
            match self.resources.get(key) {
                Some(r) => upserts.push(r.clone()),
                None => removals.push(ResourceKey {
                    kind: key.0,
                    id: key.1.clone(),
                }),
            }
        }
        Some(ConfigUpdate {
            epoch: self.epoch.clone(),
            version: self.version,
            base_version: held,
            full_snapshot: false,
            upserts,
            removals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ItemRow, Tombstone};

    fn tool(id: &str, v: i64) -> ItemRow {
        ItemRow {
            id: id.into(),
            backend_id: "b".into(),
            backend_slug: "b".into(),
            kind: "tool".into(),
            name: id.into(),
            position: 0,
            description: String::new(),
            definition_json: format!(r#"{{"name":"{id}"}}"#),
            enabled: true,
            config_version: v,
            cache_ttl_secs: None,
            owned: String::new(),
        }
    }

    #[test]
    fn deltas_carry_only_what_changed_after_the_held_version() {
        let mut s = ConfigState::default();
        s.apply(Changes {
            epoch: "e".into(),
            version: 2,
            items: vec![tool("t1", 1), tool("t2", 2)],
            ..Default::default()
        });
        let full = s.update_for("", 0).unwrap();
        assert!(full.full_snapshot);
        assert_eq!(full.upserts.len(), 2);
        assert!(s.update_for("e", 2).is_none());

        s.apply(Changes {
            epoch: "e".into(),
            version: 3,
            tombstones: vec![Tombstone {
                kind: "item".into(),
                id: "t1".into(),
                config_version: 3,
            }],
            ..Default::default()
        });
        let d = s.update_for("e", 2).unwrap();
        assert!(!d.full_snapshot);
        assert_eq!((d.base_version, d.version), (2, 3));
        assert!(d.upserts.is_empty());
        assert_eq!(d.removals[0].id, "t1");

        // A node that missed several versions gets one delta covering them all.
        let d = s.update_for("e", 1).unwrap();
        assert_eq!(d.upserts.len(), 1);
        assert_eq!(d.removals.len(), 1);
        // Another epoch, or a version from the future, means a full snapshot.
        assert!(s.update_for("other", 3).unwrap().full_snapshot);
        assert!(s.update_for("e", 9).unwrap().full_snapshot);
    }
}
