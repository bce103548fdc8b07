//! The routing index of one config version: exposed tool name → backend and
//! original name, and the pre-rendered `tools/list` result. Built once per
//! version, read lock-free by every request.

pub mod naming;

use std::{collections::HashMap, sync::Arc};

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
}

impl RouteTable {
    /// Builds the index from tools already in list order. Definitions must be
    /// JSON objects (checked when the config was applied).
    pub fn build<'a>(separator: &str, entries: impl IntoIterator<Item = ToolEntry<'a>>) -> Self {
        let mut tools = HashMap::new();
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
            list.push_str(&def.to_string_with(&[("name", &json_str(&exposed))]));
            tools.insert(
                exposed.into_boxed_str(),
                ToolRoute {
                    backend: t.backend.clone(),
                    name: Arc::from(t.name),
                },
            );
        }
        list.push_str("]}");
        Self {
            tools,
            tools_list: list.into_boxed_str(),
        }
    }

    pub fn tool(&self, exposed: &str) -> Option<&ToolRoute> {
        self.tools.get(exposed)
    }

    pub fn tools_list(&self) -> &str {
        &self.tools_list
    }

    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}
