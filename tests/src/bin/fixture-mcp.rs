//! Runs the fixture MCP server:
//! `fixture-mcp [--port N] [--extra-tools N] [--name NAME] [--asks-on-standalone]
//! [--era sessions|both|stateless]`.

use std::net::SocketAddr;

use mcpgw_tests::fixture::{Fixture, FixtureConfig, FixtureEra};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut cfg = FixtureConfig::default();
    let mut port = 8000u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--asks-on-standalone" {
            cfg.asks_on_standalone = true;
            continue;
        }
        let value = args.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = value.parse().expect("--port takes a number"),
            "--extra-tools" => cfg.extra_tools = value.parse().expect("--extra-tools takes a number"),
            "--name" => cfg.name = value,
            "--era" => {
                cfg.era = match value.as_str() {
                    "sessions" => FixtureEra::Sessions,
                    "both" => FixtureEra::Both,
                    "stateless" => FixtureEra::Stateless,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    let fx = Fixture::start_on(SocketAddr::from(([127, 0, 0, 1], port)), cfg).await?;
    println!("fixture MCP server listening on {}", fx.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn usage() -> ! {
    eprintln!(
        "usage: fixture-mcp [--port N] [--extra-tools N] [--name NAME] [--asks-on-standalone] \
         [--era sessions|both|stateless]"
    );
    std::process::exit(2)
}
