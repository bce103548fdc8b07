//! `mcpgw-data-plane`: a data-plane node on its own.

use clap::Parser;
use mcpgw_data_plane::cli::{DataPlaneArgs, init_logging, run};

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
    init_logging();
    run(Cli::parse().args).await
}
