//! The routing index of one config version: for each MCP list (tools,
//! prompts, resources, resource templates) exposed key → backend and original
//! key, with the list pre-rendered. Built once per version, read lock-free by
//! every request.

pub mod catalog;
pub mod naming;
pub mod params;
pub mod template;

use std::{borrow::Cow, collections::HashSet, sync::Arc};

pub use catalog::{Catalog, Entry, InvalidCursor, ListShape, Route};
use template::UriTemplate;

use crate::{
    cache::{Caching, hint::ListHints},
    owned::Owned,
    upstream::{Dialect, Endpoints, Link},
};

/// Longest URI matched against templates.
const MAX_MATCHED_URI: usize = 2048;

/// Where calls to one backend go.
#[derive(Debug)]
pub struct BackendRoute {
    pub id: Arc<str>,
    /// The backend's registered name, for messages.
    pub name: Arc<str>,
    pub slug: Arc<str>,
    /// Its endpoints: each a URL and the client configured for it (TLS,
    /// credentials), with this node's circuit breaker.
    pub endpoints: Arc<Endpoints>,
    /// How it is spoken to over HTTP: in sessions, one 2024-11-05
    /// HTTP+SSE session per call, or statelessly.
    pub dialect: Dialect,
    /// How its resource reads are cached, and the version that keys them.
    pub caching: Caching,
    /// The id of the peer gateway it is, if it is one.
    pub peer: Option<Arc<str>>,
    /// How long its lists may be kept, as it said at discovery.
    pub list_hints: ListHints,
}

impl BackendRoute {
    /// The link of its first endpoint: the only one of a stdio, WebSocket
    /// or REST backend, and where subscriptions go.
    pub fn link(&self) -> &Arc<Link> {
        &self.endpoints.primary().link
    }
}

/// One catalog item as the index builder sees it.
pub struct Item<'a> {
    pub backend: &'a Arc<BackendRoute>,
    /// The key on the backend: name, uri or uriTemplate.
    pub name: &'a str,
    pub definition_json: &'a str,
    /// The name to serve a tool or prompt under instead of the usual one
    /// (virtual servers: a rename, or the original name).
    pub rename: Option<&'a str>,
    pub caching: Caching,
    /// What it is made of, if the registry holds it itself.
    pub owned: Option<&'a Arc<Owned>>,
}

/// Where a resource URI goes, and the URI to ask the backend for.
pub struct ResourceRoute<'a> {
    pub backend: Arc<BackendRoute>,
    pub uri: Cow<'a, str>,
    /// A listed resource's own cache TTL.
    pub ttl_secs: Option<u32>,
    /// The registry's own resource or template that answers it, if one does.
    pub owned: Option<Arc<Owned>>,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    pub tools: Catalog,
    pub prompts: Catalog,
    pub resources: Catalog,
    pub templates: Catalog,
    /// Every enabled backend, in slug order.
    backends: Vec<Arc<BackendRoute>>,
    /// The templates compiled, in list order, for `resources/read` of URIs
    /// no backend listed.
    /// Each with whether its exposed form is qualified (`mcpgw://slug/…`),
    /// in which case the prefix is stripped before the URI goes upstream.
    matchers: Vec<Matcher>,
    /// Whether a qualified URI reaches any URI of its backend (the whole
    /// gateway) or only what is listed or matches a template (a virtual
    /// server, which serves only its members).
    any_uri: bool,
}

/// A template compiled for matching: where its URIs go, whether its
/// exposed form is qualified, and the registry's own template if it is one.
#[derive(Debug)]
struct Matcher {
    template: UriTemplate,
    backend: Arc<BackendRoute>,
    qualified: bool,
    owned: Option<Arc<Owned>>,
}

/// The items of each kind, each in list order. Resources and templates come
/// in a second order too: by backend precedence (registered first wins a URI
/// two backends offer).
#[derive(Default)]
pub struct Items<'a> {
    pub tools: Vec<Item<'a>>,
    pub prompts: Vec<Item<'a>>,
    pub resources: Vec<Item<'a>>,
    pub templates: Vec<Item<'a>>,
}

impl RouteTable {
    /// Builds the index. `by_precedence` orders backends for URI ownership:
    /// it returns a sort key, lowest first.
    pub fn build<K: Ord>(
        separator: &str,
        backends: Vec<Arc<BackendRoute>>,
        items: Items<'_>,
        by_precedence: impl Fn(&BackendRoute) -> K,
    ) -> Self {
        let named = |items: Vec<Item<'_>>, shape| {
            let mut taken = HashSet::new();
            let entries: Vec<Entry<'_>> = items
                .into_iter()
                .map(|t| {
                    let mut exposed = match t.rename {
                        Some(r) => r.to_string(),
                        None => naming::exposed_tool_name(&t.backend.slug, separator, t.name),
                    };
                    if !taken.insert(exposed.clone()) {
                        let was = exposed.clone();
                        exposed = naming::disambiguated(exposed, &t.backend.slug, t.name);
                        tracing::warn!(%was, %exposed, "two items share an exposed name; the later one is suffixed");
                        taken.insert(exposed.clone());
                    }
                    Entry {
                        backend: t.backend,
                        exposed,
                        name: t.name,
                        definition_json: t.definition_json,
                        caching: t.caching,
                        owned: t.owned,
                    }
                })
                .collect();
            Catalog::build(shape, entries)
        };
        let by_uri = |items: Vec<Item<'_>>, shape| {
            let exposed = naming::resource_uris(&items, |i| by_precedence(i.backend));
            Catalog::build(
                shape,
                items.into_iter().zip(exposed).map(|(t, exposed)| Entry {
                    backend: t.backend,
                    exposed,
                    name: t.name,
                    definition_json: t.definition_json,
                    caching: t.caching,
                    owned: t.owned,
                }),
            )
        };
        let templates = by_uri(items.templates, catalog::TEMPLATES);
        let matchers = templates
            .routes()
            .filter_map(|(exposed, r)| {
                Some(Matcher {
                    template: UriTemplate::parse(exposed)?,
                    backend: r.backend.clone(),
                    qualified: exposed != &*r.name,
                    owned: r.owned.clone(),
                })
            })
            .collect();
        Self {
            tools: named(items.tools, catalog::TOOLS),
            prompts: named(items.prompts, catalog::PROMPTS),
            resources: by_uri(items.resources, catalog::RESOURCES),
            templates,
            backends,
            matchers,
            any_uri: true,
        }
    }

    /// A virtual server's table: only the backends of its members, and no
    /// URI beyond what it lists or its templates match.
    pub fn members_only(mut self) -> Self {
        let members: HashSet<&str> = [&self.tools, &self.prompts, &self.resources, &self.templates]
            .iter()
            .flat_map(|c| c.routes().map(|(_, r)| &*r.backend.id))
            .collect();
        let backends = self
            .backends
            .iter()
            .filter(|b| members.contains(&*b.id))
            .cloned()
            .collect();
        self.backends = backends;
        self.any_uri = false;
        self
    }

    pub fn backends(&self) -> &[Arc<BackendRoute>] {
        &self.backends
    }

    /// Where `resources/read` (or subscribe) of `uri` goes: a listed
    /// resource, a URI qualified with a backend's slug, or the first
    /// template that could have produced it.
    pub fn resource<'a>(&'a self, uri: &'a str) -> Option<ResourceRoute<'a>> {
        if let Some(r) = self.resources.get(uri) {
            return Some(ResourceRoute {
                backend: r.backend.clone(),
                uri: Cow::Borrowed(&r.name),
                ttl_secs: r.caching.ttl_secs,
                owned: r.owned.clone(),
            });
        }
        if self.any_uri
            && let Some((slug, inner)) = naming::split_qualified_uri(uri)
            && let Some(b) = self.backends.iter().find(|b| &*b.slug == slug)
        {
            return Some(ResourceRoute {
                backend: b.clone(),
                uri: Cow::Borrowed(inner),
                ttl_secs: None,
                owned: None,
            });
        }
        // Matching backtracks; a URI longer than any real one is not tried.
        if uri.len() > MAX_MATCHED_URI {
            return None;
        }
        let m = self.matchers.iter().find(|m| m.template.matches(uri))?;
        let uri = match m.qualified {
            true => naming::split_qualified_uri(uri).map_or(uri, |(_, inner)| inner),
            false => uri,
        };
        Some(ResourceRoute {
            backend: m.backend.clone(),
            uri: Cow::Borrowed(uri),
            ttl_secs: None,
            owned: m.owned.clone(),
        })
    }

    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: &str) -> Arc<BackendRoute> {
        Arc::new(BackendRoute {
            id: id.into(),
            name: id.into(),
            slug: id.into(),
            endpoints: Arc::new(Endpoints::single(Arc::new(Link {
                url: format!("http://127.0.0.1:1/{id}").into(),
                client: crate::upstream::McpHttpClient::new(std::time::Duration::from_secs(1), false),
                channel: None,
                api: None,
            }))),
            dialect: Dialect::Session,
            caching: Caching::default(),
            peer: None,
            list_hints: ListHints::default(),
        })
    }

    #[test]
    fn a_qualified_template_of_a_virtual_server_reaches_its_backend_unqualified() {
        let (a, b) = (backend("a"), backend("b"));
        let def = r#"{"uriTemplate":"test://t/{id}","name":"t"}"#;
        let items = Items {
            templates: vec![
                Item {
                    backend: &a,
                    name: "test://t/{id}",
                    definition_json: def,
                    rename: None,
                    caching: Caching::default(),
                    owned: None,
                },
                Item {
                    backend: &b,
                    name: "test://t/{id}",
                    definition_json: def,
                    rename: None,
                    caching: Caching::default(),
                    owned: None,
                },
            ],
            ..Default::default()
        };
        let table = RouteTable::build("-", vec![a.clone(), b.clone()], items, |r| r.id.clone()).members_only();
        let r = table.resource("mcpgw://b/test://t/7").unwrap();
        assert_eq!((&*r.backend.id, &*r.uri), ("b", "test://t/7"));
        let r = table.resource("test://t/7").unwrap();
        assert_eq!((&*r.backend.id, &*r.uri), ("a", "test://t/7"));
        // Past the length bound nothing is matched.
        assert!(
            table
                .resource(&format!("test://t/{}", "x".repeat(MAX_MATCHED_URI)))
                .is_none()
        );
    }
}
