//! The routing index of one config version: exposed tool name → backend and
//! original name, and the pre-rendered `tools/list` result. Built once per
//! version, read lock-free by every request.

pub mod naming;

use std::{borrow::Cow, collections::HashMap, ops::Range, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::jsonrpc::{RawObject, json_str};

/// Where calls to one backend go.
#[derive(Debug)]
pub struct BackendRoute {
    pub id: Arc<str>,
    /// The backend's registered name, for messages.
    pub name: Arc<str>,
    pub url: Arc<str>,
}

/// Where one exposed tool goes.
#[derive(Debug, Clone)]
pub struct ToolRoute {
    pub backend: Arc<BackendRoute>,
    /// The tool's name on its backend.
    pub name: Arc<str>,
    /// Its position in `tools/list`.
    pub index: usize,
}

/// One tool as the index builder sees it.
pub struct ToolEntry<'a> {
    pub backend: &'a Arc<BackendRoute>,
    pub slug: &'a str,
    pub name: &'a str,
    pub definition_json: &'a str,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    tools: HashMap<Box<str>, ToolRoute>,
    /// The complete `tools/list` result object.
    tools_list: Box<str>,
    /// In list order: each tool's exposed name and where its definition
    /// sits in `tools_list`, so a page is one slice of it.
    order: Vec<(Box<str>, Range<usize>)>,
}

/// A `tools/list` cursor this gateway did not issue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid cursor: pass back the nextCursor of a previous tools/list, or none to start over")]
pub struct InvalidCursor;

impl RouteTable {
    /// Builds the index from tools already in list order. Definitions must be
    /// JSON objects (checked when the config was applied).
    pub fn build<'a>(separator: &str, entries: impl IntoIterator<Item = ToolEntry<'a>>) -> Self {
        let mut tools = HashMap::new();
        let mut order = Vec::new();
        let mut list = String::from(r#"{"tools":["#);
        for (i, t) in entries.into_iter().enumerate() {
            let mut exposed = naming::exposed_tool_name(t.slug, separator, t.name);
            if tools.contains_key(exposed.as_str()) {
                let taken = exposed.clone();
                exposed = naming::disambiguated(exposed, t.slug, t.name);
                tracing::warn!(%taken, %exposed, "two tools share an exposed name; the later one is suffixed");
            }
            let def = RawObject::parse(t.definition_json).expect("tool definitions are validated on apply");
            if i > 0 {
                list.push(',');
            }
            let start = list.len();
            list.push_str(&def.to_string_with(&[("name", &json_str(&exposed))]));
            order.push((exposed.clone().into_boxed_str(), start..list.len()));
            tools.insert(
                exposed.into_boxed_str(),
                ToolRoute {
                    backend: t.backend.clone(),
                    name: Arc::from(t.name),
                    index: order.len() - 1,
                },
            );
        }
        list.push_str("]}");
        Self {
            tools,
            tools_list: list.into_boxed_str(),
            order,
        }
    }

    pub fn tool(&self, exposed: &str) -> Option<&ToolRoute> {
        self.tools.get(exposed)
    }

    pub fn tools_list(&self) -> &str {
        &self.tools_list
    }

    /// One page of `tools/list`: `page_size` tools (0: all) from `cursor`.
    /// A cursor names the next tool to list (and its position, used when that
    /// tool is gone after a config change), so pages stay in order across
    /// versions; it is opaque to clients.
    pub fn tools_page(&self, cursor: Option<&str>, page_size: usize) -> Result<Cow<'_, str>, InvalidCursor> {
        let len = self.order.len();
        let start = match cursor {
            None if page_size == 0 || len <= page_size => return Ok(Cow::Borrowed(&self.tools_list)),
            None => 0,
            Some(c) => self.cursor_position(c)?,
        };
        let end = if page_size == 0 {
            len
        } else {
            start.saturating_add(page_size).min(len)
        };
        let mut page = String::with_capacity(
            64 + self
                .order
                .get(start..end)
                .map_or(0, |o| o.iter().map(|(_, r)| r.len() + 1).sum()),
        );
        page.push_str(r#"{"tools":["#);
        if start < end {
            page.push_str(&self.tools_list[self.order[start].1.start..self.order[end - 1].1.end]);
        }
        page.push(']');
        if end < len {
            let next = URL_SAFE_NO_PAD.encode(format!("{end}:{}", self.order[end].0));
            page.push_str(r#","nextCursor":""#);
            page.push_str(&next);
            page.push('"');
        }
        page.push('}');
        Ok(Cow::Owned(page))
    }

    fn cursor_position(&self, cursor: &str) -> Result<usize, InvalidCursor> {
        let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        let decoded = std::str::from_utf8(&decoded).map_err(|_| InvalidCursor)?;
        let (index, name) = decoded.split_once(':').ok_or(InvalidCursor)?;
        let index: usize = index.parse().map_err(|_| InvalidCursor)?;
        Ok(match self.tools.get(name) {
            Some(route) => route.index,
            None => index.min(self.order.len()),
        })
    }

    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}
