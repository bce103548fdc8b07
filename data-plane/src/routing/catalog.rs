//! One MCP list (tools, prompts, resources or resource templates) of one
//! config version: exposed key → backend and original key, and the list
//! pre-rendered once so every `*/list` page is a slice of it.

use std::{borrow::Cow, collections::HashMap, ops::Range, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::BackendRoute;
use crate::{
    cache::{
        Caching,
        hint::{CacheHint, ListKind},
    },
    jsonrpc::{RawObject, json_str},
    owned::Owned,
};

/// Where one exposed item goes.
#[derive(Debug, Clone)]
pub struct Route {
    pub backend: Arc<BackendRoute>,
    /// The item's key on its backend (name, uri or uriTemplate).
    pub name: Arc<str>,
    /// Its position in the list.
    pub index: usize,
    /// How its results are cached.
    pub caching: Caching,
    /// What it is made of, if the registry holds it itself.
    pub owned: Option<Arc<Owned>>,
    /// A tool's arguments mirrored in headers, if any.
    pub param_headers: Option<Arc<[super::params::ParamHeader]>>,
    /// A tool whose definition says `execution.taskSupport: "required"`:
    /// it runs only as a task.
    pub task_required: bool,
}

/// One item as the builder sees it, already in list order.
pub struct Entry<'a> {
    pub backend: &'a Arc<BackendRoute>,
    /// The key clients see.
    pub exposed: String,
    /// The key on the backend.
    pub name: &'a str,
    pub definition_json: &'a str,
    pub caching: Caching,
    pub owned: Option<&'a Arc<Owned>>,
}

/// The shape of one list: which it is, the result's array key and the
/// member naming an item.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListShape {
    pub kind: ListKind,
    pub key: &'static str,
    pub field: &'static str,
}

pub const TOOLS: ListShape = ListShape {
    kind: ListKind::Tools,
    key: "tools",
    field: "name",
};
pub const PROMPTS: ListShape = ListShape {
    kind: ListKind::Prompts,
    key: "prompts",
    field: "name",
};
pub const RESOURCES: ListShape = ListShape {
    kind: ListKind::Resources,
    key: "resources",
    field: "uri",
};
pub const TEMPLATES: ListShape = ListShape {
    kind: ListKind::Templates,
    key: "resourceTemplates",
    field: "uriTemplate",
};

#[derive(Debug, Default)]
pub struct Catalog {
    shape: ListShape,
    by_name: HashMap<Box<str>, Route>,
    /// The complete list result object.
    list: Box<str>,
    /// In list order: each item's exposed key and where its definition sits
    /// in `list`, so a page is one slice of it.
    order: Vec<(Box<str>, Range<usize>)>,
    /// The caching hint of every page, as result members
    /// (`,"ttlMs":…,"cacheScope":…`): the shortest TTL of the backends it
    /// lists, private if any of them says so.
    hint: Box<str>,
}

/// Whether a tool's definition says it runs only as a task.
fn task_required(def: &RawObject<'_>) -> bool {
    #[derive(serde::Deserialize)]
    struct Execution<'a> {
        #[serde(rename = "taskSupport", borrow)]
        task_support: Option<std::borrow::Cow<'a, str>>,
    }
    def.get("execution")
        .and_then(|e| serde_json::from_str::<Execution<'_>>(e.get()).ok())
        .is_some_and(|e| e.task_support.as_deref() == Some("required"))
}

/// A list cursor this gateway did not issue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid cursor: pass back the nextCursor of a previous list call, or none to start over")]
pub struct InvalidCursor;

impl Catalog {
    /// Builds one list. Definitions must be JSON objects (checked when the
    /// config was applied); an exposed key seen twice keeps its first item.
    pub fn build<'a>(shape: ListShape, entries: impl IntoIterator<Item = Entry<'a>>) -> Self {
        let mut by_name = HashMap::new();
        let mut order = Vec::new();
        let mut hint = CacheHint::default();
        let mut list = format!(r#"{{"{}":["#, shape.key);
        for e in entries {
            if by_name.contains_key(e.exposed.as_str()) {
                tracing::warn!(exposed = %e.exposed, list = shape.key, "two items share an exposed key; the later one is hidden");
                continue;
            }
            let def = RawObject::parse(e.definition_json).expect("definitions are validated on apply");
            hint = hint.and(e.backend.list_hints.of(shape.kind));
            if !order.is_empty() {
                list.push(',');
            }
            let start = list.len();
            list.push_str(&def.to_string_with(&[(shape.field, &json_str(&e.exposed))]));
            order.push((e.exposed.clone().into_boxed_str(), start..list.len()));
            by_name.insert(
                e.exposed.into_boxed_str(),
                Route {
                    backend: e.backend.clone(),
                    name: Arc::from(e.name),
                    index: order.len() - 1,
                    caching: e.caching,
                    owned: e.owned.cloned(),
                    // Discovery drops a tool whose annotations are invalid; one
                    // already registered is served, mirroring nothing.
                    param_headers: super::params::of_definition(e.definition_json).ok().flatten(),
                    task_required: task_required(&def),
                },
            );
        }
        // Every page says how long it may be kept (a client of an earlier
        // era ignores what it does not know).
        let hint = hint.members();
        list.push(']');
        list.push_str(&hint);
        list.push('}');
        Self {
            shape,
            by_name,
            list: list.into_boxed_str(),
            order,
            hint: hint.into_boxed_str(),
        }
    }

    pub fn get(&self, exposed: &str) -> Option<&Route> {
        self.by_name.get(exposed)
    }

    /// Routes in list order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Route)> {
        self.order.iter().map(|(k, _)| (&**k, &self.by_name[k]))
    }

    pub fn list(&self) -> &str {
        &self.list
    }

    /// The whole list (one page) without the items whose backend `skip`
    /// names: a list asked for through a peer gateway leaves out what came
    /// from that peer.
    pub fn list_without(&self, skip: impl Fn(&BackendRoute) -> bool) -> String {
        let mut out = format!(r#"{{"{}":["#, self.shape.key);
        let mut first = true;
        for (key, range) in &self.order {
            if skip(&self.by_name[key].backend) {
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            out.push_str(&self.list[range.clone()]);
        }
        out.push(']');
        out.push_str(&self.hint);
        out.push('}');
        out
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// One page: `page_size` items (0: all) from `cursor`. A cursor names the
    /// next item to list (and its position, used when that item is gone after
    /// a config change), so pages stay in order across versions; it is opaque
    /// to clients.
    pub fn page(&self, cursor: Option<&str>, page_size: usize) -> Result<Cow<'_, str>, InvalidCursor> {
        let len = self.order.len();
        let start = match cursor {
            None if page_size == 0 || len <= page_size => return Ok(Cow::Borrowed(&self.list)),
            None => 0,
            Some(c) => self.cursor_position(c)?,
        };
        let end = if page_size == 0 {
            len
        } else {
            start.saturating_add(page_size).min(len)
        };
        let mut page = String::with_capacity(
            64 + self.hint.len()
                + self
                    .order
                    .get(start..end)
                    .map_or(0, |o| o.iter().map(|(_, r)| r.len() + 1).sum()),
        );
        page.push_str(r#"{""#);
        page.push_str(self.shape.key);
        page.push_str(r#"":["#);
        if start < end {
            page.push_str(&self.list[self.order[start].1.start..self.order[end - 1].1.end]);
        }
        page.push(']');
        if end < len {
            let next = URL_SAFE_NO_PAD.encode(format!("{end}:{}", self.order[end].0));
            page.push_str(r#","nextCursor":""#);
            page.push_str(&next);
            page.push('"');
        }
        page.push_str(&self.hint);
        page.push('}');
        Ok(Cow::Owned(page))
    }

    fn cursor_position(&self, cursor: &str) -> Result<usize, InvalidCursor> {
        let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        let decoded = std::str::from_utf8(&decoded).map_err(|_| InvalidCursor)?;
        let (index, name) = decoded.split_once(':').ok_or(InvalidCursor)?;
        let index: usize = index.parse().map_err(|_| InvalidCursor)?;
        Ok(match self.by_name.get(name) {
            Some(route) => route.index,
            None => index.min(self.order.len()),
        })
    }
}
