//! The config a data plane serves: the resources of one version, and the
//! routing index built from them. Immutable; each update makes a new one.

use std::{collections::HashMap, sync::Arc};

use mcpgw_proto::v1::{
    BackendConfig, BackendTransport, CatalogItem, ConfigUpdate, GatewaySettings, ItemKind, ResourceError, ResourceKey,
    ResourceKind, VirtualServer, resource::Resource as R, server_member::Naming,
};

use crate::{
    cache::{Caching, hint::ListHints},
    jsonrpc::RawObject,
    owned::Owned,
    routing::{BackendRoute, Item, Items, RouteTable, naming},
    upstream::{Dialect, Endpoints, Link, TlsSettings, channel::StdioCommand, link::Connector},
};

#[derive(Debug, Default)]
pub struct Snapshot {
    pub epoch: String,
    pub version: u64,
    /// False until the first update from a control plane was applied.
    pub applied: bool,
    settings: GatewaySettings,
    backends: HashMap<String, BackendConfig>,
    items: HashMap<String, CatalogItem>,
    servers: HashMap<String, VirtualServer>,
    /// How each enabled backend is reached; kept from one snapshot to the
    /// next while a backend's URLs, TLS settings and credentials stay the
    /// same, so its connections, tokens and circuit breakers live on.
    links: HashMap<String, Arc<Endpoints>>,
    /// The registry's own items compiled, by item id, with the version each
    /// was compiled at: kept while an item does not change.
    owned: HashMap<String, (u64, Arc<Owned>)>,
    /// Everything enabled, as served at `/mcp`.
    pub routes: RouteTable,
    /// Each virtual server's members, by server id.
    server_routes: HashMap<String, RouteTable>,
}

fn key(kind: ResourceKind, id: &str) -> Option<ResourceKey> {
    Some(ResourceKey {
        kind: kind.into(),
        id: id.into(),
    })
}

fn err(key: Option<ResourceKey>, message: impl Into<String>) -> ResourceError {
    ResourceError {
        key,
        message: message.into(),
    }
}

impl Snapshot {
    /// The config version backend `id` last changed at, if the registry
    /// holds it.
    pub fn backend_version(&self, id: &str) -> Option<u64> {
        self.backends.get(id).map(|b| b.config_version)
    }

    /// Whether backend `id` is served through `link` (one of its endpoints).
    pub fn serves(&self, id: &str, link: &Arc<Link>) -> bool {
        self.links
            .get(id)
            .is_some_and(|e| e.all().iter().any(|ep| Arc::ptr_eq(&ep.link, link)))
    }

    /// Whether the registry holds backend `id` (enabled or not).
    pub fn has_backend(&self, id: &str) -> bool {
        self.backends.contains_key(id)
    }

    /// The id of the virtual server with this id or name.
    pub fn server_id(&self, key: &str) -> Option<&str> {
        if let Some((id, _)) = self.servers.get_key_value(key) {
            return Some(id);
        }
        self.servers.values().find(|s| s.name == key).map(|s| s.id.as_str())
    }

    /// The ids of the virtual servers.
    pub fn server_ids(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    /// What a session sees: everything, or one virtual server's members
    /// (`None` once that server is gone).
    pub fn routes_for(&self, server: Option<&str>) -> Option<&RouteTable> {
        match server {
            None => Some(&self.routes),
            Some(id) => self.server_routes.get(id),
        }
    }

    /// The peer gateways this one federates with, as its `initialize`
    /// result names them when the fleet shares them (FEDERATION_DISCOVERY;
    /// `None` when it does not): each enabled peer that is up, by name,
    /// its registered URL without credentials.
    pub fn shared_peers(&self) -> Option<Vec<crate::protocol::OfferedPeer>> {
        if !self.settings.share_peers {
            return None;
        }
        let mut peers: Vec<crate::protocol::OfferedPeer> = self
            .backends
            .values()
            .filter(|b| b.enabled && !b.down && !b.peer_gateway_id.is_empty())
            .filter_map(|b| {
                let mut url = reqwest::Url::parse(&b.url).ok()?;
                url.set_username("").ok()?;
                url.set_password(None).ok()?;
                Some(crate::protocol::OfferedPeer {
                    name: b.name.clone(),
                    url: url.into(),
                    id: b.peer_gateway_id.clone(),
                })
            })
            .collect();
        peers.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Some(peers)
    }

    pub fn separator(&self) -> &str {
        if self.settings.tool_name_separator.is_empty() {
            naming::DEFAULT_SEPARATOR
        } else {
            &self.settings.tool_name_separator
        }
    }

    /// This snapshot as one full update: what a node saves to disk and
    /// applies again when it starts without a control plane. Backend
    /// credentials stay sealed in it, as the control plane sent them.
    pub fn as_full_update(&self) -> ConfigUpdate {
        use mcpgw_proto::v1::Resource;
        let at = |resource: R| Resource {
            version: self.version,
            resource: Some(resource),
        };
        let mut upserts = vec![at(R::Settings(self.settings.clone()))];
        upserts.extend(self.backends.values().cloned().map(|b| at(R::Backend(b))));
        upserts.extend(self.items.values().cloned().map(|t| at(R::Item(t))));
        upserts.extend(self.servers.values().cloned().map(|s| at(R::Server(s))));
        ConfigUpdate {
            epoch: self.epoch.clone(),
            version: self.version,
            base_version: 0,
            full_snapshot: true,
            upserts,
            removals: Vec::new(),
        }
    }

    /// The snapshot after `update`, or every reason it cannot be applied (the
    /// caller keeps serving `self` and NACKs). `connector` links backends
    /// that are new or changed.
    pub fn apply(&self, update: &ConfigUpdate, connector: &Connector) -> Result<Snapshot, Vec<ResourceError>> {
        let (mut settings, mut backends, mut items, mut servers) = if update.full_snapshot {
            (
                GatewaySettings::default(),
                HashMap::new(),
                HashMap::new(),
                HashMap::new(),
            )
        } else {
            if update.epoch != self.epoch || update.base_version != self.version {
                return Err(vec![err(
                    None,
                    format!(
                        "delta from {}@{} does not apply to held {}@{}",
                        update.epoch, update.base_version, self.epoch, self.version
                    ),
                )]);
            }
            (
                self.settings.clone(),
                self.backends.clone(),
                self.items.clone(),
                self.servers.clone(),
            )
        };
        let mut errors = Vec::new();
        for removal in &update.removals {
            match removal.kind() {
                ResourceKind::Backend => drop(backends.remove(&removal.id)),
                ResourceKind::Item => drop(items.remove(&removal.id)),
                ResourceKind::Server => drop(servers.remove(&removal.id)),
                ResourceKind::Settings => settings = GatewaySettings::default(),
                ResourceKind::Unspecified => {
                    errors.push(err(Some(removal.clone()), "removal of unknown resource kind"))
                }
            }
        }
        for upsert in &update.upserts {
            match &upsert.resource {
                Some(R::Settings(s)) => settings = s.clone(),
                Some(R::Backend(b)) => drop(backends.insert(b.id.clone(), b.clone())),
                Some(R::Item(t)) => drop(items.insert(t.id.clone(), t.clone())),
                Some(R::Server(s)) => drop(servers.insert(s.id.clone(), s.clone())),
                None => errors.push(err(None, "resource without a body")),
            }
        }
        validate(&settings, &backends, &items, &mut errors);
        let links = self.link(&backends, connector, update.version, &mut errors);
        let owned = self.compile_owned(&items, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let (routes, server_routes) = build_routes(&settings, &backends, &links, &items, &owned, &servers);
        Ok(Snapshot {
            epoch: update.epoch.clone(),
            version: update.version,
            applied: true,
            settings,
            backends,
            items,
            servers,
            links,
            owned,
            routes,
            server_routes,
        })
    }

    /// The items that carry what they are made of (the registry's own),
    /// compiled: this snapshot's where the item did not change.
    fn compile_owned(
        &self,
        items: &HashMap<String, CatalogItem>,
        errors: &mut Vec<ResourceError>,
    ) -> HashMap<String, (u64, Arc<Owned>)> {
        let mut out = HashMap::new();
        for t in items.values() {
            let Some(item) = &t.owned else { continue };
            let kept = self.owned.get(&t.id).filter(|(v, _)| *v == t.config_version);
            let compiled = match kept {
                Some((_, o)) => Ok(o.clone()),
                None => Owned::compile(item).map(Arc::new),
            };
            match compiled {
                Ok(o) => drop(out.insert(t.id.clone(), (t.config_version, o))),
                Err(e) => errors.push(err(key(ResourceKind::Item, &t.id), format!("item {:?}: {e}", t.name))),
            }
        }
        out
    }

    /// The links of the enabled `backends`: this snapshot's where nothing
    /// that shapes them changed, new ones otherwise.
    fn link(
        &self,
        backends: &HashMap<String, BackendConfig>,
        connector: &Connector,
        version: u64,
        errors: &mut Vec<ResourceError>,
    ) -> HashMap<String, Arc<Endpoints>> {
        let mut links = HashMap::new();
        for b in backends.values().filter(|b| b.enabled) {
            let tls = b.tls.clone().unwrap_or_default();
            if tls.insecure_skip_verify {
                tracing::warn!(
                    backend = %b.name,
                    version,
                    "TLS certificate verification is off for this backend (insecure_skip_verify): for development only"
                );
            }
            let same = |old: &BackendConfig| {
                old.url == b.url
                    && old.transport == b.transport
                    && old.tls == b.tls
                    && old.stdio == b.stdio
                    && old.rest_tools == b.rest_tools
                    && old.sealed_secrets == b.sealed_secrets
                    && old.endpoints == b.endpoints
                    && old.grpc == b.grpc
            };
            let kept = self
                .backends
                .get(&b.id)
                .filter(|old| same(old))
                .and_then(|_| self.links.get(&b.id));
            let endpoints = match kept {
                Some(kept) => Ok(kept.clone()),
                None => {
                    let dialect = Dialect::of(b.transport() == BackendTransport::Sse, &b.protocol_version);
                    primary_link(connector, b, tls)
                        .map(|primary| Arc::new(connector.endpoints(primary, &b.endpoints, dialect)))
                }
            };
            match endpoints {
                Ok(endpoints) => drop(links.insert(b.id.clone(), endpoints)),
                Err(e) => errors.push(err(
                    key(ResourceKind::Backend, &b.id),
                    format!("backend {:?} cannot be reached as configured: {e}", b.name),
                )),
            }
        }
        links
    }
}

/// The link to a backend's first endpoint, built for its kind.
fn primary_link(
    connector: &Connector,
    b: &BackendConfig,
    tls: mcpgw_proto::v1::BackendTls,
) -> Result<Arc<Link>, crate::upstream::LinkError> {
    if b.transport() == BackendTransport::Registry {
        return Ok(connector.registry_link());
    }
    if b.transport() == BackendTransport::Stdio {
        let s = b.stdio.clone().unwrap_or_default();
        let command = StdioCommand {
            command: s.command,
            args: s.args,
            cwd: s.cwd,
        };
        return connector.stdio_link(&b.id, &b.name, command, &b.sealed_secrets);
    }
    let tls = TlsSettings {
        ca_pem: tls.ca_pem,
        client_cert_pem: tls.client_cert_pem,
        insecure_skip_verify: tls.insecure_skip_verify,
    };
    match b.transport() {
        BackendTransport::Websocket => connector.websocket_link(&b.id, &b.name, &b.url, &tls, &b.sealed_secrets),
        BackendTransport::Rest => connector.rest_link(&b.id, &b.url, &tls, &b.sealed_secrets, &b.rest_tools),
        BackendTransport::Grpc => {
            let grpc = b.grpc.clone().unwrap_or_default();
            connector.grpc_link(&b.id, &b.url, &tls, &b.sealed_secrets, &grpc)
        }
        _ => connector.link(&b.id, &b.url, &tls, &b.sealed_secrets),
    }
}

fn validate(
    settings: &GatewaySettings,
    backends: &HashMap<String, BackendConfig>,
    items: &HashMap<String, CatalogItem>,
    errors: &mut Vec<ResourceError>,
) {
    if !settings.tool_name_separator.is_empty()
        && let Err(e) = naming::check_separator(&settings.tool_name_separator)
    {
        errors.push(err(key(ResourceKind::Settings, "global"), e));
    }
    for b in backends.values() {
        if b.transport() == BackendTransport::Registry {
            continue;
        }
        if b.transport() == BackendTransport::Stdio {
            if b.stdio.as_ref().is_none_or(|s| s.command.is_empty()) {
                errors.push(err(
                    key(ResourceKind::Backend, &b.id),
                    "stdio backend without a command",
                ));
            }
            continue;
        }
        let (schemes, what) = match b.transport() {
            BackendTransport::Websocket => (["ws", "wss"], "ws(s)"),
            _ => (["http", "https"], "http(s)"),
        };
        let bad_url = b
            .url
            .parse::<http::Uri>()
            .ok()
            .is_none_or(|u| !u.scheme_str().is_some_and(|s| schemes.contains(&s)));
        if bad_url {
            errors.push(err(
                key(ResourceKind::Backend, &b.id),
                format!("backend url {:?} is not an {what} URL", b.url),
            ));
        }
        let http = matches!(
            b.transport(),
            BackendTransport::StreamableHttp | BackendTransport::Sse | BackendTransport::Unspecified
        );
        for e in &b.endpoints {
            let ok = e
                .parse::<http::Uri>()
                .ok()
                .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")));
            if !http || !ok {
                errors.push(err(
                    key(ResourceKind::Backend, &b.id),
                    format!("backend endpoint {e:?} is not an http(s) URL of a Streamable HTTP or HTTP+SSE backend"),
                ));
            }
        }
        if b.slug.is_empty() || naming::slugify(&b.slug) != b.slug {
            errors.push(err(
                key(ResourceKind::Backend, &b.id),
                format!("backend slug {:?} is not a slug", b.slug),
            ));
        }
    }
    for t in items.values() {
        match backends.get(&t.backend_id) {
            None => errors.push(err(
                key(ResourceKind::Item, &t.id),
                format!("catalog item refers to unknown backend {}", t.backend_id),
            )),
            Some(b) if (b.transport() == BackendTransport::Registry) != t.owned.is_some() => errors.push(err(
                key(ResourceKind::Item, &t.id),
                "an item of the registry's own backend must say what it is made of, and only such an item may",
            )),
            Some(_) => {}
        }
        let field = match t.kind() {
            ItemKind::Tool | ItemKind::Prompt => "name",
            ItemKind::Resource => "uri",
            ItemKind::ResourceTemplate => "uriTemplate",
            ItemKind::Unspecified => {
                errors.push(err(key(ResourceKind::Item, &t.id), "catalog item of unknown kind"));
                continue;
            }
        };
        let named = RawObject::parse(&t.definition_json)
            .ok()
            .and_then(|o| o.get(field).and_then(|n| serde_json::from_str::<String>(n.get()).ok()));
        if named.as_deref() != Some(t.name.as_str()) {
            errors.push(err(
                key(ResourceKind::Item, &t.id),
                format!("catalog item definition is not a JSON object whose {field:?} is the item's key"),
            ));
        }
    }
}

fn build_routes(
    settings: &GatewaySettings,
    backends: &HashMap<String, BackendConfig>,
    links: &HashMap<String, Arc<Endpoints>>,
    items: &HashMap<String, CatalogItem>,
    owned: &HashMap<String, (u64, Arc<Owned>)>,
    servers: &HashMap<String, VirtualServer>,
) -> (RouteTable, HashMap<String, RouteTable>) {
    // A backend the health checks find down is served as if disabled, until
    // it answers again.
    let mut enabled: Vec<(&BackendConfig, Arc<BackendRoute>)> = backends
        .values()
        .filter(|b| b.enabled && !b.down)
        .filter_map(|b| {
            let route = BackendRoute {
                id: b.id.as_str().into(),
                name: b.name.as_str().into(),
                slug: b.slug.as_str().into(),
                endpoints: links.get(&b.id)?.clone(),
                dialect: Dialect::of(b.transport() == BackendTransport::Sse, &b.protocol_version),
                caching: Caching {
                    ttl_secs: b.cache_ttl_seconds,
                    version: b.config_version,
                },
                peer: (!b.peer_gateway_id.is_empty()).then(|| b.peer_gateway_id.as_str().into()),
                list_hints: ListHints::from_proto(&b.list_hints),
            };
            Some((b, Arc::new(route)))
        })
        .collect();
    enabled.sort_unstable_by(|a, b| a.0.slug.cmp(&b.0.slug));
    let routes: HashMap<&str, &Arc<BackendRoute>> = enabled.iter().map(|(b, r)| (b.id.as_str(), r)).collect();
    let mut listed: Vec<(&CatalogItem, &Arc<BackendRoute>)> = items
        .values()
        .filter(|t| t.enabled)
        .filter_map(|t| routes.get(t.backend_id.as_str()).map(|r| (t, *r)))
        .collect();
    // Backend order by slug, then the backend's own order: the same on every node.
    listed.sort_unstable_by(|a, b| (&a.1.slug, a.0.position, &a.0.name).cmp(&(&b.1.slug, b.0.position, &b.0.name)));
    let sep = if settings.tool_name_separator.is_empty() {
        naming::DEFAULT_SEPARATOR
    } else {
        &settings.tool_name_separator
    };
    // The backend registered first keeps a URI two backends offer.
    let registered: HashMap<&str, (i64, &str)> = enabled
        .iter()
        .map(|(b, _)| (b.id.as_str(), (b.created_at_ms, b.id.as_str())))
        .collect();
    let precedence = |b: &BackendRoute| registered.get(&*b.id).copied().unwrap_or((i64::MAX, ""));
    // The registry's own backend is not one to send MCP to (logging, a
    // qualified URI): its items answer for themselves.
    let backend_routes: Vec<Arc<BackendRoute>> = enabled
        .iter()
        .filter(|(b, _)| b.transport() != BackendTransport::Registry)
        .map(|(_, r)| r.clone())
        .collect();
    let all = RouteTable::build(
        sep,
        backend_routes.clone(),
        items_of(&listed, owned, |_| Some(NameAs::Usual)),
        precedence,
    );
    let per_server = servers
        .values()
        .map(|s| {
            let members: HashMap<&str, NameAs<'_>> = s
                .members
                .iter()
                .map(|m| {
                    let name_as = match &m.naming {
                        Some(Naming::Rename(r)) => NameAs::Renamed(r.as_str()),
                        Some(Naming::KeepOriginalName(_)) => NameAs::Original,
                        None => NameAs::Usual,
                    };
                    (m.item_id.as_str(), name_as)
                })
                .collect();
            // A whole backend's items: every one it has now (an item also
            // named on its own is served as that says).
            let backends: HashMap<&str, NameAs<'_>> = s
                .backends
                .iter()
                .map(|b| {
                    let name_as = if b.keep_original_names {
                        NameAs::Original
                    } else {
                        NameAs::Usual
                    };
                    (b.backend_id.as_str(), name_as)
                })
                .collect();
            let members = items_of(&listed, owned, |t| {
                members
                    .get(t.id.as_str())
                    .or_else(|| backends.get(t.backend_id.as_str()))
                    .copied()
            });
            let table = RouteTable::build(sep, backend_routes.clone(), members, precedence).members_only();
            (s.id.clone(), table)
        })
        .collect();
    (all, per_server)
}

/// The name a tool or prompt is served under.
#[derive(Clone, Copy)]
enum NameAs<'a> {
    /// `<slug><separator><name>`.
    Usual,
    /// The backend's own name.
    Original,
    Renamed(&'a str),
}

/// The items `pick` keeps (with how to name them), by kind, in list order.
fn items_of<'a>(
    listed: &[(&'a CatalogItem, &'a Arc<BackendRoute>)],
    owned: &'a HashMap<String, (u64, Arc<Owned>)>,
    pick: impl Fn(&CatalogItem) -> Option<NameAs<'a>>,
) -> Items<'a> {
    let mut by_kind = Items::default();
    for &(t, backend) in listed {
        let Some(name_as) = pick(t) else { continue };
        let list = match t.kind() {
            ItemKind::Tool => &mut by_kind.tools,
            ItemKind::Prompt => &mut by_kind.prompts,
            ItemKind::Resource => &mut by_kind.resources,
            ItemKind::ResourceTemplate => &mut by_kind.templates,
            ItemKind::Unspecified => continue,
        };
        list.push(Item {
            backend,
            name: &t.name,
            definition_json: &t.definition_json,
            caching: Caching {
                ttl_secs: t.cache_ttl_seconds,
                version: t.config_version,
            },
            rename: match name_as {
                NameAs::Usual => None,
                NameAs::Original => Some(&t.name),
                NameAs::Renamed(r) => Some(r),
            },
            owned: owned.get(&t.id).map(|(_, o)| o),
        });
    }
    by_kind
}

#[cfg(test)]
mod tests;
