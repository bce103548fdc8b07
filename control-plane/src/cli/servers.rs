//! `mcpgw server …`: virtual servers from the command line. Members are
//! named the way people see them (a tool's exposed name, a resource's URI, a
//! whole backend) and resolved to catalog item ids here.

use mcpgw_proto::v1::{self as pb, server_member::Naming};

use super::verbs::{Client, ClientArgs, connect, failed};

#[derive(Clone, Debug, clap::Args)]
pub struct Members {
    /// Every tool, prompt, resource and template of this backend (name or
    /// id), now and later: what it adds when its catalog changes is served
    /// too.
    #[arg(long = "backend")]
    backends: Vec<String>,
    /// A tool by the name clients see, optionally `NAME=NEW_NAME` to rename it.
    #[arg(long = "tool")]
    tools: Vec<String>,
    /// A prompt by the name clients see, optionally `NAME=NEW_NAME`.
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// A resource by URI.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// A resource template by URI template.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// Serve tools and prompts under their backends' own names (unless renamed).
    #[arg(long)]
    keep_original_names: bool,
}

#[derive(clap::Subcommand)]
pub enum ServerCommand {
    /// Create a virtual server, served at /servers/NAME/mcp (and /sse, /ws, /rpc).
    Create {
        /// A unique name (A-Z a-z 0-9 - _ .), usable in URLs.
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        members: Members,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a virtual server's description and members.
    Update {
        /// The server's name or id.
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        members: Members,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List virtual servers.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a virtual server.
    Delete {
        /// The server's name or id.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

async fn items(c: &mut Client, kind: pb::ItemKind) -> anyhow::Result<Vec<pb::Item>> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let req = pb::ListItemsRequest {
            kind: kind.into(),
            backend: String::new(),
            page_size: 0,
            page_token: token,
        };
        let page = c.list_items(req).await.map_err(failed)?.into_inner();
        all.extend(page.items);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// Resolves the members as given on the command line to item ids; whole
/// backends go as they are named (the control plane resolves them).
async fn resolve(c: &mut Client, m: &Members) -> anyhow::Result<(Vec<pb::ServerMember>, Vec<pb::ServerBackend>)> {
    let kinds = [
        (pb::ItemKind::Tool, &m.tools, "tool"),
        (pb::ItemKind::Prompt, &m.prompts, "prompt"),
        (pb::ItemKind::Resource, &m.resources, "resource"),
        (pb::ItemKind::ResourceTemplate, &m.templates, "resource template"),
    ];
    let backends = m
        .backends
        .iter()
        .map(|b| pb::ServerBackend {
            backend_id: b.clone(),
            keep_original_names: m.keep_original_names,
        })
        .collect();
    let original = m.keep_original_names.then_some(Naming::KeepOriginalName(true));
    let mut out: Vec<pb::ServerMember> = Vec::new();
    for (kind, wanted, what) in kinds {
        if wanted.is_empty() {
            continue;
        }
        let all = items(c, kind).await?;
        for w in wanted {
            let (name, rename) = match w.split_once('=') {
                Some((n, r)) => (n, Some(Naming::Rename(r.into()))),
                None => (w.as_str(), original.clone()),
            };
            let item = all
                .iter()
                .find(|i| i.exposed_name == name || i.id == name)
                .ok_or_else(|| anyhow::anyhow!("no {what} is named {name:?}"))?;
            out.retain(|o| o.item_id != item.id);
            out.push(pb::ServerMember {
                item_id: item.id.clone(),
                naming: rename,
            });
        }
    }
    Ok((out, backends))
}

fn print(s: &pb::Server) {
    println!(
        "server {} ({}) with {} members and {} whole backends at /servers/{}/mcp",
        s.name,
        s.id,
        s.members.len(),
        s.backends.len(),
        s.name
    );
}

pub async fn server(cmd: ServerCommand) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::Create {
            name,
            description,
            members,
            client,
        } => {
            let mut c = connect(&client).await?;
            let (members, backends) = resolve(&mut c, &members).await?;
            let req = pb::CreateServerRequest {
                name,
                description,
                members,
                backends,
            };
            let s = c.create_server(req).await.map_err(failed)?.into_inner();
            print(&s.server.unwrap_or_default());
        }
        ServerCommand::Update {
            name,
            description,
            members,
            client,
        } => {
            let mut c = connect(&client).await?;
            let (members, backends) = resolve(&mut c, &members).await?;
            let req = pb::UpdateServerRequest {
                server: name,
                description,
                members,
                backends,
            };
            let s = c.update_server(req).await.map_err(failed)?.into_inner();
            print(&s.server.unwrap_or_default());
        }
        ServerCommand::List { client } => {
            let mut c = connect(&client).await?;
            let list = c
                .list_servers(pb::ListServersRequest {})
                .await
                .map_err(failed)?
                .into_inner();
            println!("{:<24} {:>8} {:<38} DESCRIPTION", "NAME", "MEMBERS", "ID");
            for s in list.servers {
                println!("{:<24} {:>8} {:<38} {}", s.name, s.members.len(), s.id, s.description);
            }
        }
        ServerCommand::Delete { name, client } => {
            let mut c = connect(&client).await?;
            c.delete_server(pb::DeleteServerRequest { server: name.clone() })
                .await
                .map_err(failed)?;
            println!("deleted server {name}");
        }
    }
    Ok(())
}
