//! `mcpgw prompt …`, `mcpgw resource …` and `mcpgw tool add|remove`: the
//! registry's own items (CreateItem, DeleteItem) from the command line.

use anyhow::Context;
use mcpgw_proto::v1::{self as pb, owned_item::Item as O, owned_resource::Content};

use super::verbs::{ClientArgs, connect, failed};

#[derive(clap::Subcommand)]
pub enum PromptCommand {
    /// Add a prompt template (Jinja2: `Hello, {{ user }}!`).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        template: String,
        #[arg(long, default_value = "")]
        description: String,
        /// An argument, `NAME` or `NAME:required` (repeat); none: every
        /// variable of the template, each required.
        #[arg(long = "argument", value_name = "NAME[:required]")]
        arguments: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List prompts with the names clients see.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a prompt the registry holds (by name or id).
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(clap::Subcommand)]
pub enum ResourceCommand {
    /// Add a resource with its content (or, with `{var}` in the URI, a
    /// resource template whose text is rendered with the URI's variables).
    Add {
        #[arg(long)]
        uri: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        mime_type: String,
        /// The content, as text.
        #[arg(long, group = "content")]
        text: Option<String>,
        /// The content, read from this file (text, or a blob if not UTF-8).
        #[arg(long, group = "content")]
        file: Option<std::path::PathBuf>,
        /// Fetched at each read.
        #[arg(long, group = "content")]
        url: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List resources.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a resource (or template) the registry holds (by URI or id).
    Remove {
        uri: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `mcpgw tool add`: a REST endpoint as a tool the registry holds.
#[derive(clap::Args)]
pub struct AddTool {
    #[arg(long)]
    name: String,
    /// The endpoint, absolute; `{arg}` in its path is filled from the arguments.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "POST")]
    method: String,
    #[arg(long, default_value = "")]
    description: String,
    /// The tool's inputSchema (JSON).
    #[arg(long)]
    input_schema: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

async fn create(client: &ClientArgs, item: O) -> anyhow::Result<pb::Item> {
    let mut c = connect(client).await?;
    let req = pb::CreateItemRequest {
        item: Some(pb::OwnedItem { item: Some(item) }),
        enabled: None,
    };
    let item = c.create_item(req).await.map_err(failed)?.into_inner().item;
    item.context("the API answered no item")
}

async fn remove(client: &ClientArgs, key: &str) -> anyhow::Result<()> {
    let mut c = connect(client).await?;
    c.delete_item(pb::DeleteItemRequest { item: key.into() })
        .await
        .map_err(failed)?;
    println!("removed {key}");
    Ok(())
}

async fn list(client: &ClientArgs, kinds: &[pb::ItemKind]) -> anyhow::Result<()> {
    let mut c = connect(client).await?;
    println!("{:<48} {:<8} BACKEND", "NAME", "ENABLED");
    for kind in kinds {
        let mut token = String::new();
        loop {
            let req = pb::ListItemsRequest {
                kind: (*kind).into(),
                page_size: 0,
                page_token: token,
                ..Default::default()
            };
            let page = c.list_items(req).await.map_err(failed)?.into_inner();
            for i in page.items {
                let from = if i.owned.is_some() {
                    "(registry)"
                } else {
                    i.backend_id.as_str()
                };
                println!("{:<48} {:<8} {from}", i.exposed_name, i.enabled);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
    }
    Ok(())
}

pub async fn prompt(cmd: PromptCommand) -> anyhow::Result<()> {
    match cmd {
        PromptCommand::Add {
            name,
            template,
            description,
            arguments,
            client,
        } => {
            let arguments = arguments
                .iter()
                .map(|a| {
                    let (name, required) = match a.split_once(':') {
                        Some((n, "required")) => (n, true),
                        Some((_, other)) => anyhow::bail!("argument {a:?}: say NAME or NAME:required, not :{other}"),
                        None => (a.as_str(), false),
                    };
                    Ok(pb::PromptArgument {
                        name: name.into(),
                        description: String::new(),
                        required,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let p = pb::OwnedPrompt {
                name,
                description,
                template,
                arguments,
            };
            let item = create(&client, O::Prompt(p)).await?;
            println!("added prompt {} ({})", item.exposed_name, item.id);
            Ok(())
        }
        PromptCommand::List { client } => list(&client, &[pb::ItemKind::Prompt]).await,
        PromptCommand::Remove { name, client } => remove(&client, &name).await,
    }
}

pub async fn resource(cmd: ResourceCommand) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Add {
            uri,
            name,
            description,
            mime_type,
            text,
            file,
            url,
            client,
        } => {
            let content = match (text, file, url) {
                (Some(t), None, None) => Content::Text(t),
                (None, Some(f), None) => {
                    let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
                    match String::from_utf8(bytes) {
                        Ok(t) => Content::Text(t),
                        Err(e) => Content::Blob(e.into_bytes()),
                    }
                }
                (None, None, Some(u)) => Content::Url(u),
                _ => anyhow::bail!("give the content: one of --text, --file or --url"),
            };
            let item = if uri.contains('{') {
                let Content::Text(text) = content else {
                    anyhow::bail!("a resource template's content is text (--text or a text --file)");
                };
                O::ResourceTemplate(pb::OwnedResourceTemplate {
                    uri_template: uri,
                    name,
                    description,
                    mime_type,
                    text,
                })
            } else {
                O::Resource(pb::OwnedResource {
                    uri,
                    name,
                    description,
                    mime_type,
                    content: Some(content),
                })
            };
            let item = create(&client, item).await?;
            println!("added {} ({})", item.exposed_name, item.id);
            Ok(())
        }
        ResourceCommand::List { client } => {
            list(&client, &[pb::ItemKind::Resource, pb::ItemKind::ResourceTemplate]).await
        }
        ResourceCommand::Remove { uri, client } => remove(&client, &uri).await,
    }
}

impl AddTool {
    pub async fn run(self) -> anyhow::Result<()> {
        if let Some(s) = &self.input_schema {
            serde_json::from_str::<serde_json::Value>(s).context("--input-schema is not JSON")?;
        }
        let tool = pb::RestTool {
            name: self.name,
            description: self.description,
            method: self.method.to_ascii_uppercase(),
            url: self.url,
            input_schema_json: self.input_schema.unwrap_or_default(),
            ..Default::default()
        };
        let item = create(&self.client, O::Tool(tool)).await?;
        println!("added tool {} ({})", item.exposed_name, item.id);
        Ok(())
    }
}

/// `mcpgw tool remove`.
pub async fn remove_tool(name: &str, client: &ClientArgs) -> anyhow::Result<()> {
    remove(client, name).await
}
