//! The config a data plane serves: the resources of one version, and the
//! routing index built from them. Immutable; each update makes a new one.

use std::{collections::HashMap, sync::Arc};

use mcpgw_proto::v1::{
    BackendConfig, ConfigUpdate, GatewaySettings, ResourceError, ResourceKey, ResourceKind, ToolConfig,
    resource::Resource as R,
};

use crate::{
    jsonrpc::RawObject,
    routing::{BackendRoute, RouteTable, ToolEntry, naming},
};

#[derive(Debug, Default)]
pub struct Snapshot {
    pub epoch: String,
    pub version: u64,
    /// False until the first update from a control plane was applied.
    pub applied: bool,
    settings: GatewaySettings,
    backends: HashMap<String, BackendConfig>,
    tools: HashMap<String, ToolConfig>,
    pub routes: RouteTable,
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
    pub fn separator(&self) -> &str {
        if self.settings.tool_name_separator.is_empty() {
            naming::DEFAULT_SEPARATOR
        } else {
            &self.settings.tool_name_separator
        }
    }

    /// The snapshot after `update`, or every reason it cannot be applied (the
    /// caller keeps serving `self` and NACKs).
    pub fn apply(&self, update: &ConfigUpdate) -> Result<Snapshot, Vec<ResourceError>> {
        let (mut settings, mut backends, mut tools) = if update.full_snapshot {
            (GatewaySettings::default(), HashMap::new(), HashMap::new())
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
            (self.settings.clone(), self.backends.clone(), self.tools.clone())
        };
        let mut errors = Vec::new();
        for removal in &update.removals {
            match removal.kind() {
                ResourceKind::Backend => drop(backends.remove(&removal.id)),
                ResourceKind::Tool => drop(tools.remove(&removal.id)),
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
                Some(R::Tool(t)) => drop(tools.insert(t.id.clone(), t.clone())),
                None => errors.push(err(None, "resource without a body")),
            }
        }
        validate(&settings, &backends, &tools, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let routes = build_routes(&settings, &backends, &tools);
        Ok(Snapshot {
            epoch: update.epoch.clone(),
            version: update.version,
            applied: true,
            settings,
            backends,
            tools,
            routes,
        })
    }
}

fn validate(
    settings: &GatewaySettings,
    backends: &HashMap<String, BackendConfig>,
    tools: &HashMap<String, ToolConfig>,
    errors: &mut Vec<ResourceError>,
) {
    if !settings.tool_name_separator.is_empty()
        && let Err(e) = naming::check_separator(&settings.tool_name_separator)
    {
        errors.push(err(key(ResourceKind::Settings, "global"), e));
    }
    for b in backends.values() {
        let bad_url = b
            .url
            .parse::<http::Uri>()
            .ok()
            .is_none_or(|u| !matches!(u.scheme_str(), Some("http" | "https")));
        if bad_url {
            errors.push(err(
                key(ResourceKind::Backend, &b.id),
                format!("backend url {:?} is not an http(s) URL", b.url),
            ));
        }
        if b.slug.is_empty() || naming::slugify(&b.slug) != b.slug {
            errors.push(err(
                key(ResourceKind::Backend, &b.id),
                format!("backend slug {:?} is not a slug", b.slug),
            ));
        }
    }
    for t in tools.values() {
        if !backends.contains_key(&t.backend_id) {
            errors.push(err(
                key(ResourceKind::Tool, &t.id),
                format!("tool refers to unknown backend {}", t.backend_id),
            ));
        }
        let named = RawObject::parse(&t.definition_json)
            .ok()
            .and_then(|o| o.get("name").and_then(|n| serde_json::from_str::<String>(n.get()).ok()));
        if named.as_deref() != Some(t.name.as_str()) {
            errors.push(err(
                key(ResourceKind::Tool, &t.id),
                "tool definition is not a JSON object whose \"name\" is the tool's name",
            ));
        }
    }
}

fn build_routes(
    settings: &GatewaySettings,
    backends: &HashMap<String, BackendConfig>,
    tools: &HashMap<String, ToolConfig>,
) -> RouteTable {
    let routes: HashMap<&str, (Arc<BackendRoute>, &str)> = backends
        .values()
        .filter(|b| b.enabled)
        .map(|b| {
            (
                b.id.as_str(),
                (
                    Arc::new(BackendRoute {
                        id: b.id.as_str().into(),
                        name: b.name.as_str().into(),
                        url: b.url.as_str().into(),
                    }),
                    b.slug.as_str(),
                ),
            )
        })
        .collect();
    let mut listed: Vec<(&str, u32, &ToolConfig, &Arc<BackendRoute>)> = tools
        .values()
        .filter(|t| t.enabled)
        .filter_map(|t| {
            routes
                .get(t.backend_id.as_str())
                .map(|(r, slug)| (*slug, t.position, t, r))
        })
        .collect();
    // Backend order by slug, then the backend's own order: the same on every node.
    listed.sort_unstable_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
    let sep = if settings.tool_name_separator.is_empty() {
        naming::DEFAULT_SEPARATOR
    } else {
        &settings.tool_name_separator
    };
    RouteTable::build(
        sep,
        listed.into_iter().map(|(slug, _, t, backend)| ToolEntry {
            backend,
            slug,
            name: &t.name,
            definition_json: &t.definition_json,
        }),
    )
}

#[cfg(test)]
mod tests;
