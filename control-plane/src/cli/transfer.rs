//! `mcpgw export` and `mcpgw import FILE`: the whole registry as one JSON
//! document (Context Forge's export format), through the gRPC API's
//! ExportRegistry and ImportRegistry.

use std::path::PathBuf;

use anyhow::Context;
use mcpgw_proto::v1::{self as pb, ConflictStrategy};

use super::verbs::{ClientArgs, connect, failed};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write the document here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Include backends' credentials, sealed with the fleet's AUTH_ENCRYPTION_SECRET.
    #[arg(long)]
    include_secrets: bool,
    /// Leave out disabled backends and items.
    #[arg(long)]
    active_only: bool,
    /// Only these entity types (comma-separated: tools,gateways,servers,prompts,resources,roots).
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Strategy {
    Skip,
    Update,
    Rename,
    Fail,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The export document (mcpgw's or Context Forge's).
    file: PathBuf,
    /// What to do with an entry whose name is taken.
    #[arg(long, value_enum, default_value = "update")]
    conflict_strategy: Strategy,
    /// Check and discover everything, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The AUTH_ENCRYPTION_SECRET of the gateway that wrote the file, if not this fleet's.
    #[arg(long, env = "MCPGW_IMPORT_SOURCE_SECRET", hide_env_values = true)]
    source_secret: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let mut c = connect(&a.client).await?;
    let doc = c
        .export_registry(pb::ExportRegistryRequest {
            include_secrets: a.include_secrets,
            active_only: a.active_only,
            types: a.types,
        })
        .await
        .map_err(failed)?
        .into_inner()
        .document_json;
    match a.out {
        Some(path) => {
            std::fs::write(&path, doc + "\n").with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{doc}"),
    }
    Ok(())
}

pub async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let document_json =
        std::fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let strategy = match a.conflict_strategy {
        Strategy::Skip => ConflictStrategy::Skip,
        Strategy::Update => ConflictStrategy::Update,
        Strategy::Rename => ConflictStrategy::Rename,
        Strategy::Fail => ConflictStrategy::Fail,
    };
    let mut c = connect(&a.client).await?;
    let r = c
        .import_registry(pb::ImportRegistryRequest {
            document_json,
            conflict_strategy: strategy.into(),
            dry_run: a.dry_run,
            source_secret: a.source_secret.unwrap_or_default(),
        })
        .await
        .map_err(failed)?
        .into_inner();
    for e in &r.entities {
        match e.imported_as.as_str() {
            "" => println!("{:<9} {:<10} {}", e.action, e.entity_type, e.name),
            to => println!("{:<9} {:<10} {} as {to}", e.action, e.entity_type, e.name),
        }
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let verb = if r.dry_run { "would create" } else { "created" };
    println!(
        "{verb} {}, updated {}, skipped {}{}",
        r.created,
        r.updated,
        r.skipped,
        if r.config_version > 0 {
            format!(" (config version {})", r.config_version)
        } else {
            String::new()
        }
    );
    Ok(())
}
