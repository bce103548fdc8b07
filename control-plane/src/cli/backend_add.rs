//! `mcpgw backend add`: every kind of backend from the command line, its
//! files read here and their contents sent to the admin API.

use anyhow::Context;
use mcpgw_proto::v1 as pb;

use super::{
    connection::ConnectionArgs,
    verbs::{ClientArgs, connect, failed},
};

/// A backend's MCP transport, as the command line names it.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Transport {
    Auto,
    StreamableHttp,
    /// The 2024-11-05 HTTP+SSE transport.
    Sse,
    /// A command speaking MCP on stdin/stdout (`--command`, `--arg`, `--env`).
    Stdio,
    /// MCP over a WebSocket (`ws://`, `wss://`; `auto` picks it for those URLs).
    Websocket,
    /// A REST API at `--url` whose endpoints (`--rest-tools`) are the tools.
    Rest,
    /// A gRPC server at `--url` whose methods are the tools (its
    /// reflection, or `--descriptor-set`).
    Grpc,
}

/// Register a backend; what it offers is discovered (or imported) at once.
#[derive(clap::Args)]
pub struct AddBackend {
    /// A unique name; its slug prefixes the backend's tool names.
    #[arg(long)]
    name: String,
    /// The server's MCP endpoint, e.g. http://127.0.0.1:8000/mcp (or /sse).
    #[arg(long, required_unless_present_any = ["command", "openapi"])]
    url: Option<String>,
    /// With `--transport stdio`: the program to run.
    #[arg(long, requires = "transport")]
    command: Option<String>,
    /// An argument of `--command` (repeatable, in order).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// An environment variable of the command, NAME=VALUE (repeatable);
    /// the values are stored sealed.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The command's working directory.
    #[arg(long)]
    cwd: Option<String>,
    /// With `--transport rest`: a JSON file of the API's endpoints, one
    /// tool each.
    #[arg(long, value_name = "FILE", conflicts_with = "openapi")]
    rest_tools: Option<std::path::PathBuf>,
    /// An OpenAPI 3.0/3.1 document (JSON file or URL): a REST backend
    /// with one tool per operation.
    #[arg(long, value_name = "FILE|URL")]
    openapi: Option<String>,
    /// The API's base URL, instead of the document's first server.
    #[arg(long, value_name = "URL", requires = "openapi")]
    openapi_server: Option<String>,
    /// Only operations with this tag (repeatable).
    #[arg(long = "openapi-tag", value_name = "TAG", requires = "openapi")]
    openapi_tags: Vec<String>,
    /// Only the operation with this operationId (repeatable).
    #[arg(long = "openapi-operation", value_name = "ID", requires = "openapi")]
    openapi_operations: Vec<String>,
    /// How to reach it; `auto` tries Streamable HTTP, then HTTP+SSE.
    #[arg(long, value_enum, default_value_t = Transport::Auto)]
    transport: Transport,
    /// Seconds data planes cache its resource reads (0: never); by
    /// default their RESOURCE_CACHE_TTL.
    #[arg(long, value_name = "SECS")]
    cache_ttl: Option<u32>,
    /// Another URL of the same server (a replica), besides --url
    /// (repeatable); data planes balance calls over all of them and take
    /// one out while it fails.
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// With `--transport grpc`: the server's FileDescriptorSet (protoc
    /// --include_imports --descriptor_set_out), for a server without
    /// reflection.
    #[arg(long, value_name = "FILE")]
    descriptor_set: Option<std::path::PathBuf>,
    /// With `--transport grpc`: only this service (full name; repeatable).
    #[arg(long = "grpc-service", value_name = "NAME")]
    grpc_services: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    client: ClientArgs,
}

impl AddBackend {
    pub async fn run(self) -> anyhow::Result<()> {
        let AddBackend {
            name,
            url,
            command,
            args,
            env,
            cwd,
            rest_tools,
            openapi,
            openapi_server,
            openapi_tags,
            openapi_operations,
            transport,
            cache_ttl,
            endpoints,
            descriptor_set,
            grpc_services,
            connection,
            client,
        } = self;
        let grpc = match (transport, descriptor_set) {
            (Transport::Grpc, file) => Some(pb::GrpcServices {
                descriptor_set: file
                    .map(|f| std::fs::read(&f).with_context(|| format!("cannot read --descriptor-set {}", f.display())))
                    .transpose()?
                    .unwrap_or_default(),
                services: grpc_services,
                ..Default::default()
            }),
            (_, Some(_)) => anyhow::bail!("--descriptor-set is for --transport grpc"),
            (_, None) if !grpc_services.is_empty() => anyhow::bail!("--grpc-service is for --transport grpc"),
            (_, None) => None,
        };
        let openapi = openapi
            .map(|source| super::rest::openapi(&source, openapi_server, openapi_tags, openapi_operations))
            .transpose()?;
        let rest_tools = rest_tools
            .as_deref()
            .map(super::rest::read_rest_tools)
            .transpose()?
            .unwrap_or_default();
        let stdio = command
            .map(|command| -> anyhow::Result<pb::StdioCommand> {
                let mut vars = std::collections::HashMap::new();
                for e in &env {
                    let (k, v) = e
                        .split_once('=')
                        .with_context(|| format!("--env {e:?} is not NAME=VALUE"))?;
                    vars.insert(k.to_owned(), v.to_owned());
                }
                Ok(pb::StdioCommand {
                    command,
                    args,
                    env: vars,
                    cwd: cwd.unwrap_or_default(),
                    env_names: Vec::new(),
                })
            })
            .transpose()?;
        let (tls, credentials) = (connection.tls()?, connection.credentials()?);
        let mut c = connect(&client).await?;
        let transport = match transport {
            Transport::Auto => pb::BackendTransport::Unspecified,
            Transport::StreamableHttp => pb::BackendTransport::StreamableHttp,
            Transport::Sse => pb::BackendTransport::Sse,
            Transport::Stdio => pb::BackendTransport::Stdio,
            Transport::Websocket => pb::BackendTransport::Websocket,
            Transport::Rest => pb::BackendTransport::Rest,
            Transport::Grpc => pb::BackendTransport::Grpc,
        };
        let req = pb::CreateBackendRequest {
            name,
            url: url.unwrap_or_default(),
            stdio,
            rest_tools,
            openapi,
            transport: transport.into(),
            tls,
            credentials,
            cache_ttl_seconds: cache_ttl,
            endpoints,
            grpc,
        };
        let b = c
            .create_backend(req)
            .await
            .map_err(failed)?
            .into_inner()
            .backend
            .unwrap_or_default();
        println!("registered backend {} ({}) with {} tools", b.name, b.id, b.tool_count);
        Ok(())
    }
}
