//! Admin verbs: thin gRPC clients of the `RegistryService`.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use mcpgw_proto::v1::{self as pb, registry_service_client::RegistryServiceClient};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// Where the admin API is and how to authenticate to it.
#[derive(Clone, Debug, clap::Args)]
pub struct ClientArgs {
    /// The admin gRPC URL: `mcpgw serve`'s port, or a control plane's.
    #[arg(long, env = "MCPGW_SERVER", default_value = "http://127.0.0.1:4444")]
    server: String,
    /// A JWT to authenticate with (instead of Basic).
    #[arg(long, env = "MCPGW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Basic auth username.
    #[arg(long, env = "BASIC_AUTH_USER", default_value = "admin")]
    user: String,
    /// Basic auth password.
    #[arg(
        long,
        env = "BASIC_AUTH_PASSWORD",
        default_value = "changeme",
        hide_env_values = true
    )]
    password: String,
}

#[derive(clap::Subcommand)]
pub enum BackendCommand {
    /// Register an MCP server; its tools, prompts and resources are discovered at once.
    Add(Box<super::backend_add::AddBackend>),
    /// List registered backends.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the gateways registered peers federate with that are not
    /// registered here (FEDERATION_DISCOVERY=true), to register with `add`.
    Offers {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a backend (by name or id) and its tools.
    Remove {
        /// The backend's name or id.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(clap::Subcommand)]
pub enum ToolCommand {
    /// List tools with the names clients see.
    List {
        /// Only this backend's tools (name or id).
        #[arg(long)]
        backend: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a REST endpoint as a tool the registry holds (no backend).
    Add(Box<super::items::AddTool>),
    /// Remove a tool the registry holds (by name or id).
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cache a tool's results in the data planes (only a tool annotated
    /// read-only); without --ttl, stop caching them.
    Cache {
        /// The tool's name as clients see it, or its id.
        name: String,
        /// Seconds a result is kept.
        #[arg(long, value_name = "SECS")]
        ttl: Option<u32>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Clone)]
pub(super) struct Credentials(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Credentials {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

pub(super) type Client = RegistryServiceClient<InterceptedService<Channel, Credentials>>;

pub(super) async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let header = match &args.token {
        Some(t) => format!("Bearer {t}"),
        None => format!("Basic {}", STANDARD.encode(format!("{}:{}", args.user, args.password))),
    };
    let value = MetadataValue::try_from(header).context("credentials are not a valid header value")?;
    let channel = Endpoint::from_shared(args.server.clone())
        .with_context(|| format!("{:?} is not a URL", args.server))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to the admin API at {}", args.server))?;
    Ok(RegistryServiceClient::with_interceptor(channel, Credentials(value))
        .max_decoding_message_size(crate::admin::transfer::MAX_DOCUMENT)
        .max_encoding_message_size(crate::admin::transfer::MAX_DOCUMENT))
}

/// A gRPC failure as the person at the terminal should read it.
pub(super) fn failed(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{} ({:?})", s.message(), s.code())
}

pub async fn backend(cmd: BackendCommand) -> anyhow::Result<()> {
    match cmd {
        BackendCommand::Add(add) => add.run().await?,
        BackendCommand::List { client } => {
            let mut c = connect(&client).await?;
            let mut token = String::new();
            println!(
                "{:<24} {:<15} {:<8} {:<10} {:>6} {:<12} {:<26} URL",
                "NAME", "KIND", "ENABLED", "HEALTH", "TOOLS", "PROTOCOL", "AUTH"
            );
            loop {
                let page = c
                    .list_backends(pb::ListBackendsRequest {
                        page_size: 0,
                        page_token: token,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                for b in page.backends {
                    let health = match b.health.as_ref().map(|h| h.status()) {
                        Some(pb::HealthStatus::Healthy) => "healthy",
                        Some(pb::HealthStatus::Degraded) => "degraded",
                        Some(pb::HealthStatus::Unhealthy) => "unhealthy",
                        _ => "unknown",
                    };
                    let more = match b.endpoints.len() {
                        0 => String::new(),
                        n => format!(" (+{n} endpoints)"),
                    };
                    let kind = match b.transport() {
                        _ if !b.peer_gateway_id.is_empty() => "gateway",
                        pb::BackendTransport::StreamableHttp => "streamable-http",
                        pb::BackendTransport::Sse => "sse",
                        pb::BackendTransport::Stdio => "stdio",
                        pb::BackendTransport::Websocket => "websocket",
                        pb::BackendTransport::Rest => "rest",
                        pb::BackendTransport::Grpc => "grpc",
                        pb::BackendTransport::Registry => "registry",
                        pb::BackendTransport::Unspecified => "-",
                    };
                    println!(
                        "{:<24} {:<15} {:<8} {:<10} {:>6} {:<12} {:<26} {}{more}",
                        b.name,
                        kind,
                        b.enabled,
                        health,
                        b.tool_count,
                        b.protocol_version,
                        auth_column(b.credentials.as_ref()),
                        b.url
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
        BackendCommand::Offers { client } => {
            let offers = connect(&client)
                .await?
                .list_peer_offers(pb::ListPeerOffersRequest {})
                .await
                .map_err(failed)?
                .into_inner()
                .offers;
            println!("{:<24} {:<24} {:<36} URL", "NAME", "OFFERED BY", "GATEWAY ID");
            for o in offers {
                println!(
                    "{:<24} {:<24} {:<36} {}",
                    o.name,
                    o.offered_by.join(","),
                    o.gateway_id,
                    o.url
                );
            }
        }
        BackendCommand::Remove { name, client } => {
            let mut c = connect(&client).await?;
            c.delete_backend(pb::DeleteBackendRequest { backend: name.clone() })
                .await
                .map_err(failed)?;
            println!("removed backend {name}");
        }
    }
    Ok(())
}

/// What `backend list` shows of a backend's credentials: the scheme and
/// how many static headers, never a value.
fn auth_column(info: Option<&pb::CredentialsInfo>) -> String {
    let Some(info) = info else { return "-".into() };
    let mut parts = Vec::new();
    if !info.auth_scheme.is_empty() {
        parts.push(info.auth_scheme.clone());
    }
    if !info.header_names.is_empty() {
        parts.push(format!("{} header(s)", info.header_names.len()));
    }
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

pub async fn tool(cmd: ToolCommand) -> anyhow::Result<()> {
    let (backend, client) = match cmd {
        ToolCommand::List { backend, client } => (backend, client),
        ToolCommand::Cache { name, ttl, client } => return cache_tool(&name, ttl, &client).await,
        ToolCommand::Add(add) => return add.run().await,
        ToolCommand::Remove { name, client } => return super::items::remove_tool(&name, &client).await,
    };
    let mut c = connect(&client).await?;
    let mut token = String::new();
    println!("{:<48} {:<8} DESCRIPTION", "NAME", "ENABLED");
    loop {
        let req = pb::ListToolsRequest {
            backend: backend.clone().unwrap_or_default(),
            page_size: 0,
            page_token: token,
        };
        let page = c.list_tools(req).await.map_err(failed)?.into_inner();
        for t in page.tools {
            let desc: String = t.description.lines().next().unwrap_or("").chars().take(60).collect();
            println!("{:<48} {:<8} {}", t.exposed_name, t.enabled, desc);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(())
}

async fn cache_tool(name: &str, ttl: Option<u32>, client: &ClientArgs) -> anyhow::Result<()> {
    let mut c = connect(client).await?;
    let tool = c
        .get_tool(pb::GetToolRequest { tool: name.into() })
        .await
        .map_err(failed)?
        .into_inner()
        .tool
        .unwrap_or_default();
    c.set_item_cache(pb::SetItemCacheRequest {
        item: tool.id,
        ttl_seconds: ttl,
    })
    .await
    .map_err(failed)?;
    match ttl {
        Some(secs) => println!("results of tool {} are cached for {secs} s", tool.exposed_name),
        None => println!("results of tool {} are not cached", tool.exposed_name),
    }
    Ok(())
}

pub async fn nodes(client: ClientArgs) -> anyhow::Result<()> {
    let mut c = connect(&client).await?;
    let r = c
        .list_nodes(pb::ListNodesRequest {})
        .await
        .map_err(failed)?
        .into_inner();
    println!("control plane at config version {}", r.current_version);
    println!("{:<28} {:>8} {:<10} LAST ERROR", "NODE", "APPLIED", "CONNECTED");
    for n in r.nodes {
        println!(
            "{:<28} {:>8} {:<10} {}",
            n.node_id, n.applied_version, n.connected, n.last_error
        );
    }
    Ok(())
}
