//! `mcpgw-bench`: measures mcpgw against the direct path. See BENCHMARKS.md.

use std::path::PathBuf;

use clap::Parser;
use mcpgw_tests::bench::{Bench, Scale};

#[derive(Parser)]
#[command(
    name = "mcpgw-bench",
    about = "mcpgw's benchmark: overhead, streaming, scale, propagation, startup, tls, kinds, tracing"
)]
struct Cli {
    /// Which scenario: all, overhead, streaming, scale, propagation, startup, tls, kinds, tracing.
    /// (`fast-backend` runs the fast backend alone, as the overhead scenario
    /// does in a child process to measure its CPU apart.)
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
    /// Extra environment for the gateway processes, KEY=VALUE (repeatable).
    #[arg(long = "gateway-env", value_parser = parse_env)]
    gateway_env: Vec<(String, String)>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
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
        gateway_env: cli.gateway_env,
    };
    if cli.scenario == "fast-backend" {
        let backend = mcpgw_tests::bench::backend::FastBackend::start(10).await;
        println!("fast backend listening on {}", backend.addr);
        std::future::pending::<()>().await;
    }
    bench.run(&cli.scenario).await;
}
