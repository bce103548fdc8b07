//! `mcpgw-data-plane`: a data-plane node on its own.

use clap::Parser;
use mcpgw_data_plane::{
    cli::{DataPlaneArgs, run},
    telemetry,
};

// A faster allocator than glibc's for many small, short-lived buffers
// across threads: the data plane's per-request pattern.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mcpgw-data-plane",
    version,
    about = "mcpgw data plane: serves MCP, forwards to backends"
)]
struct Cli {
    #[command(flatten)]
    args: DataPlaneArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = telemetry::init("mcpgw-data-plane");
    let done = run(Cli::parse().args).await;
    telemetry.shutdown().await;
    done
}
