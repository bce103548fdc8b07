//! The `mcpgw` command line: servers (`serve`, `control-plane`, `data-plane`)
//! and admin verbs that talk to the gRPC admin API.

mod backend_add;
mod connection;
mod items;
mod rest;
mod servers;
mod stdio;
mod transfer;
mod verbs;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcpgw_data_plane::{auth::DEFAULT_JWT_SECRET, cli::DataPlaneArgs};

use crate::server::{ControlPlaneArgs, ServeArgs};

#[derive(Parser)]
#[command(
    name = "mcpgw",
    version,
    about = "mcpgw: an MCP gateway with a gRPC control plane and stateless data planes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run control plane and data plane in one process, MCP and gRPC admin on one port.
    Serve(ServeArgs),
    /// Run the control plane alone (gRPC admin API and config streams).
    ControlPlane(ControlPlaneArgs),
    /// Run a data-plane node that takes its config from a control plane.
    DataPlane(DataPlaneArgs),
    /// Bridge stdio to a gateway: for MCP clients that only spawn commands.
    Stdio(stdio::StdioArgs),
    /// Print a JWT bearer token for MCP clients and the admin API.
    Token(TokenArgs),
    /// Register, list and remove MCP backends.
    #[command(subcommand)]
    Backend(verbs::BackendCommand),
    /// List tools; add and remove the registry's own REST tools.
    #[command(subcommand)]
    Tool(verbs::ToolCommand),
    /// Add, list and remove prompt templates the registry holds.
    #[command(subcommand)]
    Prompt(items::PromptCommand),
    /// Add, list and remove resources (and templates) the registry holds.
    #[command(subcommand)]
    Resource(items::ResourceCommand),
    /// Create, list, update and delete virtual servers.
    #[command(subcommand)]
    Server(servers::ServerCommand),
    /// List data-plane nodes and the config version each has applied.
    Nodes(verbs::ClientArgs),
    /// Write the whole registry as one JSON document (Context Forge's export format).
    Export(transfer::ExportArgs),
    /// Apply an export document (mcpgw's or Context Forge's) in one transaction.
    Import(transfer::ImportArgs),
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The token's subject.
    #[arg(long)]
    username: String,
    /// Minutes until the token expires (Context Forge's TOKEN_EXPIRY and
    /// default: short-lived tokens; mint a new one when it runs out).
    #[arg(long, visible_alias = "exp", env = "TOKEN_EXPIRY", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=525_600))]
    exp_mins: u64,
    /// HS256 secret to sign with; must match the gateway's.
    #[arg(long, env = "JWT_SECRET_KEY", default_value = DEFAULT_JWT_SECRET, hide_env_values = true)]
    jwt_secret_key: String,
}

/// Runs a long-lived command with logs and traces (as `service`), the
/// last spans sent when it ends.
async fn traced(service: &'static str, run: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let telemetry = mcpgw_data_plane::telemetry::init(service);
    let done = run.await;
    telemetry.shutdown().await;
    done
}

/// Parses the command line and runs it; errors go to stderr with exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => traced("mcpgw", crate::server::run_serve(a)).await,
            Command::ControlPlane(a) => traced("mcpgw-control-plane", crate::server::run_control_plane(a)).await,
            Command::DataPlane(a) => traced("mcpgw-data-plane", mcpgw_data_plane::cli::run(a)).await,
            Command::Token(t) => {
                let jwt = mcpgw_data_plane::auth::Jwt::new(&t.jwt_secret_key);
                println!("{}", jwt.mint(&t.username, t.exp_mins.saturating_mul(60)));
                Ok(())
            }
            Command::Backend(c) => verbs::backend(c).await,
            Command::Tool(c) => verbs::tool(c).await,
            Command::Prompt(c) => items::prompt(c).await,
            Command::Resource(c) => items::resource(c).await,
            Command::Nodes(c) => verbs::nodes(c).await,
            Command::Export(a) => transfer::export(a).await,
            Command::Import(a) => transfer::import(a).await,
            Command::Server(c) => servers::server(c).await,
            Command::Stdio(a) => stdio::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
