//! `mcpgw-bench`: measures mcpgw against the direct path. See BENCHMARKS.md.

use std::path::PathBuf;

use clap::Parser;
use mcpgw_tests::bench::{Bench, Scale};

#[derive(Parser)]
#[command(
    name = "mcpgw-bench",
    about = "mcpgw's benchmark: overhead, streaming, scale, propagation, startup"
)]
struct Cli {
    /// Which scenario: all, overhead, streaming, scale, propagation, startup.
    #[arg(default_value = "all")]
    scenario: String,
    /// Short runs with small sizes, to check the benchmark works.
    #[arg(long)]
    quick: bool,
    /// The mcpgw binary to measure (default: next to this one).
    #[arg(long)]
    mcpgw: Option<PathBuf>,
    /// Where JSON results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Open-loop arrival rate, calls per second.
    #[arg(long, default_value_t = 3000.0)]
    rate: f64,
    /// Concurrent MCP sessions.
    #[arg(long, default_value_t = 32)]
    sessions: usize,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let mcpgw = cli.mcpgw.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name(format!("mcpgw{}", std::env::consts::EXE_SUFFIX))
    });
    assert!(
        mcpgw.exists(),
        "{} not found: build it first (cargo build --release --bins)",
        mcpgw.display()
    );
    let bench = Bench {
        mcpgw,
        out: cli.out,
        scale: if cli.quick { Scale::Quick } else { Scale::Full },
        rate: if cli.quick { cli.rate.min(500.0) } else { cli.rate },
        sessions: cli.sessions,
    };
    bench.run(&cli.scenario).await;
}
