//! Items the registry holds itself (`OwnedItem`): prompt templates,
//! resources with their content, resource templates, and REST endpoints as
//! tools. No MCP server is behind them. Each is compiled once, when a config
//! version brings it (the control plane compiles it the same way before it
//! stores it, so what it accepts every node can serve), and answered by the
//! data plane itself.

mod prompt;
mod resource;

use std::sync::Arc;

use mcpgw_proto::v1::{ItemKind, OwnedItem, owned_item::Item as O};
pub use prompt::{Prompt, PromptError};
pub use resource::{MAX_FETCHED, Resource, ResourceTemplate};

use crate::upstream::{link::Api, rest::RestBackend};

/// An owned item, ready to serve.
pub enum Owned {
    Prompt(Prompt),
    Resource(Resource),
    Template(ResourceTemplate),
    /// A REST endpoint, the only tool of its [`RestBackend`], under the
    /// item's name.
    Tool(Api),
}

impl std::fmt::Debug for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Prompt(_) => "Owned::Prompt",
            Self::Resource(_) => "Owned::Resource",
            Self::Template(_) => "Owned::Template",
            Self::Tool(_) => "Owned::Tool",
        })
    }
}

/// How an owned item is listed: its kind, its key (name, uri or
/// uriTemplate), its description, and its MCP definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub kind: ItemKind,
    pub key: String,
    pub description: String,
    pub definition_json: String,
}

impl Owned {
    /// Compiles `item`; the error says what is wrong with it, for a person.
    pub fn compile(item: &OwnedItem) -> Result<Self, String> {
        Ok(
            match item
                .item
                .as_ref()
                .ok_or("the item is empty: give a prompt, resource, resource template or tool")?
            {
                O::Prompt(p) => Self::Prompt(Prompt::compile(p)?),
                O::Resource(r) => Self::Resource(Resource::compile(r)?),
                O::ResourceTemplate(t) => Self::Template(ResourceTemplate::compile(t)?),
                O::Tool(t) => {
                    let rest = RestBackend::compile(&t.url, std::slice::from_ref(t)).map_err(|e| e.0)?;
                    Self::Tool(Api::Rest(Arc::new(rest)))
                }
            },
        )
    }

    /// How `item` is listed (it must compile).
    pub fn listed(item: &OwnedItem) -> Result<Listed, String> {
        Self::compile(item)?;
        let listed = match item.item.as_ref().expect("compiled") {
            O::Prompt(p) => Listed {
                kind: ItemKind::Prompt,
                key: p.name.clone(),
                description: p.description.clone(),
                definition_json: prompt::definition(p)?,
            },
            O::Resource(r) => Listed {
                kind: ItemKind::Resource,
                key: r.uri.clone(),
                description: r.description.clone(),
                definition_json: resource::definition(r),
            },
            O::ResourceTemplate(t) => Listed {
                kind: ItemKind::ResourceTemplate,
                key: t.uri_template.clone(),
                description: t.description.clone(),
                definition_json: resource::template_definition(t),
            },
            O::Tool(t) => Listed {
                kind: ItemKind::Tool,
                key: t.name.clone(),
                description: t.description.clone(),
                definition_json: crate::upstream::rest::definition(t),
            },
        };
        Ok(listed)
    }
}
