//! `GET /export` and `POST /import`, in Context Forge's parameters and
//! answer (`ImportStatus`), over the same implementation as the gRPC API's
//! ExportRegistry and ImportRegistry.

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State},
};
use mcpgw_proto::v1::ConflictStrategy;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, ErrorBody, Refused, Rest, body};
use crate::{
    admin::transfer::{ENTITY_TYPES, ExportOptions, ImportOptions},
    registry::now_ms,
};

/// `GET /export`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct ExportQuery {
    /// Comma-separated entity types to write.
    types: Option<String>,
    /// Comma-separated entity types to leave out.
    exclude_types: Option<String>,
    /// Disabled entities too (the default: a backup holds everything).
    include_inactive: bool,
    /// Backends' credentials, sealed (mcpgw's own parameter).
    include_secrets: bool,
}

impl Default for ExportQuery {
    fn default() -> Self {
        Self {
            types: None,
            exclude_types: None,
            // Everything, as a backup should be; Context Forge leaves
            // inactive entities out unless asked.
            include_inactive: true,
            include_secrets: false,
        }
    }
}

fn split(list: &Option<String>) -> Vec<String> {
    list.iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The whole registry as one document in Context Forge's export format,
/// with what only mcpgw has under each entry's `mcpgw` key.
#[utoipa::path(get, path = "/export", tag = "transfer", params(ExportQuery),
    responses((status = 200, description = "The export document", body = Object), Refused))]
pub async fn export(State(rest): State<Rest>, Query(q): Query<ExportQuery>) -> ApiResult {
    let mut types = split(&q.types);
    let excluded = split(&q.exclude_types);
    if !excluded.is_empty() {
        if types.is_empty() {
            types = ENTITY_TYPES.iter().map(|t| t.to_string()).collect();
        }
        types.retain(|t| !excluded.contains(t));
        if types.is_empty() {
            return Err(ApiError::bad_request("exclude_types leaves no entity type to export"));
        }
    }
    let opts = ExportOptions {
        include_secrets: q.include_secrets,
        active_only: !q.include_inactive,
        types,
    };
    Ok(Json(rest.api.export_registry(&opts).await?))
}

/// `POST /import`'s body.
#[derive(Debug, Deserialize, ToSchema)]
struct ImportIn {
    /// A document `GET /export` (or Context Forge's export) wrote.
    #[schema(value_type = Object)]
    import_data: Value,
    /// `update` (the default), `skip`, `rename` or `fail`.
    #[serde(default)]
    conflict_strategy: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    rekey_secret: Option<String>,
    #[serde(default)]
    source_secret: Option<String>,
    /// Entity type → names to import (`*`: all of the type); types not
    /// named are left out.
    #[serde(default)]
    selected_entities: Option<std::collections::HashMap<String, Vec<String>>>,
}

fn strategy(s: Option<&str>) -> Result<ConflictStrategy, ApiError> {
    Ok(match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("update") => ConflictStrategy::Update,
        Some("skip") => ConflictStrategy::Skip,
        Some("rename") => ConflictStrategy::Rename,
        Some("fail") => ConflictStrategy::Fail,
        Some(other) => {
            return Err(ApiError::invalid_body(
                Some("conflict_strategy"),
                format!("conflict_strategy {other:?} must be one of skip, update, rename, fail"),
            ));
        }
    })
}

/// Keeps only the selected entries of each type.
fn select(data: &mut Value, selected: &std::collections::HashMap<String, Vec<String>>) {
    let Some(entities) = data.get_mut("entities").and_then(Value::as_object_mut) else {
        return;
    };
    for (kind, list) in entities.iter_mut() {
        let Some(entries) = list.as_array_mut() else { continue };
        let names = selected.get(kind).map(Vec::as_slice).unwrap_or_default();
        entries.retain(|e| {
            let key = if kind == "resources" { "uri" } else { "name" };
            let name = e.get(key).and_then(Value::as_str).unwrap_or_default();
            names.iter().any(|n| n == "*" || n == name)
        });
    }
}

/// Import a document atomically: every entry is checked and every gateway
/// reached before one transaction writes them all, or nothing.
#[utoipa::path(post, path = "/import", tag = "transfer", request_body = ImportIn,
    responses((status = 200, description = "Context Forge's ImportStatus, with the action taken on each entry", body = Object),
        Refused,
        (status = 502, description = "A gateway of the document could not be reached; nothing was imported", body = ErrorBody)))]
pub async fn import(State(rest): State<Rest>, bytes: Bytes) -> ApiResult {
    let started = now_ms();
    let req: ImportIn = body(&bytes, None)?;
    if req.rekey_secret.is_some() {
        return Err(ApiError::invalid_body(
            Some("rekey_secret"),
            "mcpgw seals every imported secret again with its own AUTH_ENCRYPTION_SECRET; give source_secret (the secret of the gateway that wrote the file) if it is not this fleet's",
        ));
    }
    let mut data = req.import_data;
    if let Some(selected) = &req.selected_entities {
        select(&mut data, selected);
    }
    let opts = ImportOptions {
        strategy: strategy(req.conflict_strategy.as_deref())?,
        dry_run: req.dry_run,
        source_secret: req.source_secret.unwrap_or_default(),
    };
    let done = rest.api.import_registry(data, &opts).await?;
    let total = done.entities.len();
    Ok(Json(json!({
        "import_id": uuid::Uuid::new_v4().to_string(),
        "status": "completed",
        "dry_run": done.dry_run,
        "config_version": done.config_version,
        "progress": {
            "total": total,
            "processed": total,
            "created": done.created,
            "updated": done.updated,
            "skipped": done.skipped,
            "failed": 0,
        },
        "entities": done.entities.iter().map(|e| json!({
            "entity_type": e.entity_type,
            "name": e.name,
            "action": e.action,
            "imported_as": (!e.imported_as.is_empty()).then_some(&e.imported_as),
        })).collect::<Vec<_>>(),
        "errors": [],
        "warnings": done.warnings,
        "started_at": crate::admin::transfer::rfc3339(started),
        "completed_at": crate::admin::transfer::rfc3339(now_ms()),
    })))
}
