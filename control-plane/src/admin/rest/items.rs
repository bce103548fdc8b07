//! `/tools`, `/prompts` and `/resources`: every catalog item is listed and
//! can be read, enabled and disabled; the registry's own items are created,
//! changed and removed here (a backend's items change with their backend).

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpgw_data_plane::owned::{Prompt, PromptError};
use mcpgw_proto::v1::{self as pb, ItemKind, owned_item::Item as O, owned_resource::Content};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Rest, body};
use crate::admin::{
    cf::shapes::{self, PromptIn, ResourceIn, ToolIn},
    grpc::all_items,
    servers::item_pb,
};

/// Context Forge's list parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub(super) include_inactive: bool,
    /// Items per page: 50 unless given; 0 is all.
    limit: Option<usize>,
    cursor: Option<String>,
    /// Answer `{"<kind>": […], "nextCursor": …}` instead of the bare array.
    include_pagination: bool,
}

const DEFAULT_LIMIT: usize = 50;

/// One page of `items` as `read` shows each: the bare array, or wrapped
/// under `key` with the next cursor.
pub(super) fn page(items: Vec<pb::Item>, q: &ListQuery, key: &str, read: fn(&pb::Item) -> Value) -> ApiResult {
    let start = match &q.cursor {
        None => 0,
        Some(c) => URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| ApiError::bad_request("invalid cursor: pass back a nextCursor this API gave"))?,
    };
    let shown: Vec<&pb::Item> = items.iter().filter(|i| q.include_inactive || i.enabled).collect();
    let limit = match q.limit.unwrap_or(DEFAULT_LIMIT) {
        0 => usize::MAX,
        n => n,
    };
    let end = start.saturating_add(limit).min(shown.len());
    let listed: Vec<Value> = shown
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|i| read(i))
        .collect();
    if !q.include_pagination {
        return Ok(Json(Value::Array(listed)));
    }
    let next = (end < shown.len()).then(|| URL_SAFE_NO_PAD.encode(end.to_string()));
    Ok(Json(json!({key: listed, "nextCursor": next})))
}

/// Every item of `kind`, as the API shows them.
async fn all(rest: &Rest, kind: ItemKind) -> Result<Vec<pb::Item>, ApiError> {
    let sep = rest.api.registry.separator().await.map_err(tonic::Status::from)?;
    Ok(all_items(&rest.api.registry, kind)
        .await?
        .into_iter()
        .map(|row| item_pb(row, &sep))
        .collect())
}

/// The item with id `id`, if it is one of `kinds` (one row read).
async fn by_id(rest: &Rest, id: &str, kinds: &[ItemKind]) -> Result<Option<pb::Item>, ApiError> {
    match rest.api.registry.get_item(id).await {
        Ok(row) => {
            let sep = rest.api.registry.separator().await.map_err(tonic::Status::from)?;
            let item = item_pb(row, &sep);
            Ok(kinds.contains(&item.kind()).then_some(item))
        }
        Err(crate::registry::RegistryError::NotFound(_)) => Ok(None),
        Err(e) => Err(tonic::Status::from(e).into()),
    }
}

/// The item of `kind` with this id (or, for prompts and tools, exposed name).
async fn find(rest: &Rest, kind: ItemKind, key: &str) -> Result<pb::Item, ApiError> {
    if let Some(item) = by_id(rest, key, &[kind]).await? {
        return Ok(item);
    }
    let not_found = || ApiError::not_found(format!("{} not found: {key}", title(kind)));
    if !matches!(kind, ItemKind::Prompt | ItemKind::Tool) {
        return Err(not_found());
    }
    all(rest, kind)
        .await?
        .into_iter()
        .find(|i| i.exposed_name == key)
        .ok_or_else(not_found)
}

fn title(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Tool => "Tool",
        ItemKind::Prompt => "Prompt",
        _ => "Resource",
    }
}

/// What an item of the registry's own is made of; a backend's item is not
/// changed here.
fn owned(item: &pb::Item) -> Result<O, ApiError> {
    item.owned.clone().and_then(|o| o.item).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{:?} is offered by backend {}: it changes with its backend (enable or disable it with /state)",
            item.exposed_name, item.backend_id
        ))
    })
}

async fn create(rest: &Rest, item: O) -> Result<pb::Item, ApiError> {
    let req = pb::CreateItemRequest {
        item: Some(pb::OwnedItem { item: Some(item) }),
        enabled: None,
    };
    Ok(rest.api.create_item(req).await?)
}

async fn replace(rest: &Rest, current: &pb::Item, item: O) -> Result<pb::Item, ApiError> {
    let req = pb::UpdateItemRequest {
        item: current.id.clone(),
        owned: Some(pb::OwnedItem { item: Some(item) }),
    };
    Ok(rest.api.update_item(req).await?)
}

async fn remove(rest: &Rest, kind: ItemKind, key: &str, said: &str) -> ApiResult {
    let current = find(rest, kind, key).await?;
    owned(&current)?;
    rest.api
        .delete_item(pb::DeleteItemRequest {
            item: current.id.clone(),
        })
        .await?;
    Ok(Json(
        json!({"status": "success", "message": format!("{} {} {said}", title(kind), current.id)}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct Activate {
    #[serde(default = "yes")]
    pub(super) activate: bool,
}

fn yes() -> bool {
    true
}

async fn toggle(rest: &Rest, kind: ItemKind, key: &str, activate: bool, read: fn(&pb::Item) -> Value) -> ApiResult {
    let current = find(rest, kind, key).await?;
    let item = rest
        .api
        .set_enabled(pb::SetItemEnabledRequest {
            item: current.id.clone(),
            enabled: activate,
        })
        .await?;
    let kind_key = title(kind).to_ascii_lowercase();
    Ok(Json(shapes::state_changed(
        &kind_key,
        &item.id,
        item.enabled,
        read(&item),
    )))
}

pub async fn list_tools(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult {
    page(all(&rest, ItemKind::Tool).await?, &q, "tools", shapes::tool_read)
}

pub async fn create_tool(State(rest): State<Rest>, bytes: Bytes) -> ApiResult {
    let tool = body::<ToolIn>(&bytes, Some("tool"))?.rest_tool(None)?;
    Ok(Json(shapes::tool_read(&create(&rest, O::Tool(tool)).await?)))
}

pub async fn get_tool(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(shapes::tool_read(&find(&rest, ItemKind::Tool, &id).await?)))
}

pub async fn update_tool(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let current = find(&rest, ItemKind::Tool, &id).await?;
    let O::Tool(base) = owned(&current)? else {
        return Err(ApiError::bad_request("not a REST tool"));
    };
    let tool = body::<ToolIn>(&bytes, None)?.rest_tool(Some(base))?;
    Ok(Json(shapes::tool_read(&replace(&rest, &current, O::Tool(tool)).await?)))
}

pub async fn delete_tool(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    remove(&rest, ItemKind::Tool, &id, "permanently deleted").await
}

pub async fn toggle_tool(State(rest): State<Rest>, Path(id): Path<String>, Query(a): Query<Activate>) -> ApiResult {
    toggle(&rest, ItemKind::Tool, &id, a.activate, shapes::tool_read).await
}

pub async fn list_prompts(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult {
    page(all(&rest, ItemKind::Prompt).await?, &q, "prompts", shapes::prompt_read)
}

pub async fn create_prompt(State(rest): State<Rest>, bytes: Bytes) -> ApiResult {
    let prompt = body::<PromptIn>(&bytes, Some("prompt"))?.prompt(None)?;
    Ok(Json(shapes::prompt_read(&create(&rest, O::Prompt(prompt)).await?)))
}

/// `GET /prompts/{id}`: the prompt's template, unrendered, as a prompt
/// result (what Context Forge answers).
pub async fn get_prompt(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    let item = find(&rest, ItemKind::Prompt, &id).await?;
    let read = shapes::prompt_read(&item);
    Ok(Json(json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": read["template"]}}],
        "description": read["description"],
    })))
}

/// `POST /prompts/{id}`: the prompt rendered with the body's arguments.
pub async fn render_prompt(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let item = find(&rest, ItemKind::Prompt, &id)
        .await
        .map_err(|_| ApiError::message(axum::http::StatusCode::NOT_FOUND, format!("Prompt not found: {id}")))?;
    let O::Prompt(p) = owned(&item)? else {
        return Err(ApiError::bad_request("not a prompt"));
    };
    let args = if bytes.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        bytes
    };
    let raw: Box<serde_json::value::RawValue> = serde_json::from_slice(&args)
        .map_err(|e| ApiError::invalid_body(None, format!("the body is not JSON: {e}")))?;
    let compiled = Prompt::compile(&p).map_err(ApiError::bad_request)?;
    let rendered = compiled.render(Some(&raw)).map_err(|e| {
        let status = match e {
            PromptError::Missing(..) | PromptError::NotAnObject(_) | PromptError::Render(..) => {
                axum::http::StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        ApiError::message(status, e.to_string())
    })?;
    Ok(Json(
        serde_json::from_str(&rendered).expect("a rendered prompt is JSON"),
    ))
}

pub async fn update_prompt(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let current = find(&rest, ItemKind::Prompt, &id).await?;
    let O::Prompt(base) = owned(&current)? else {
        return Err(ApiError::bad_request("not a prompt"));
    };
    let prompt = body::<PromptIn>(&bytes, None)?.prompt(Some(base))?;
    Ok(Json(shapes::prompt_read(
        &replace(&rest, &current, O::Prompt(prompt)).await?,
    )))
}

pub async fn delete_prompt(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    remove(&rest, ItemKind::Prompt, &id, "deleted").await
}

pub async fn toggle_prompt(State(rest): State<Rest>, Path(id): Path<String>, Query(a): Query<Activate>) -> ApiResult {
    toggle(&rest, ItemKind::Prompt, &id, a.activate, shapes::prompt_read).await
}

/// Resources and resource templates: one list here, as in Context Forge.
async fn all_resources(rest: &Rest) -> Result<Vec<pb::Item>, ApiError> {
    let mut all_of = all(rest, ItemKind::Resource).await?;
    all_of.extend(all(rest, ItemKind::ResourceTemplate).await?);
    Ok(all_of)
}

async fn find_resource(rest: &Rest, id: &str) -> Result<pb::Item, ApiError> {
    by_id(rest, id, &[ItemKind::Resource, ItemKind::ResourceTemplate])
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Resource not found: {id}")))
}

pub async fn list_resources(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult {
    page(all_resources(&rest).await?, &q, "resources", shapes::resource_read)
}

pub async fn create_resource(State(rest): State<Rest>, bytes: Bytes) -> ApiResult {
    let item = body::<ResourceIn>(&bytes, Some("resource"))?.item(None)?;
    Ok(Json(shapes::resource_read(&create(&rest, item).await?)))
}

pub async fn get_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(shapes::resource_read(&find_resource(&rest, &id).await?)))
}

/// `GET /resources/{id}`: its content, as Context Forge answers it.
pub async fn read_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    let item = find_resource(&rest, &id).await?;
    if !item.enabled {
        return Err(ApiError::not_found(format!("Resource '{id}' exists but is inactive")));
    }
    let O::Resource(r) = owned(&item)? else {
        return Err(ApiError::bad_request(
            "a resource template has no content of its own: read a URI it matches through MCP resources/read",
        ));
    };
    let mime = shapes::resource_read(&item)["mimeType"].clone();
    let (text, blob) = match r.content {
        Some(Content::Text(t)) => (json!(t), Value::Null),
        Some(Content::Blob(b)) => (Value::Null, json!(base64::engine::general_purpose::STANDARD.encode(b))),
        Some(Content::Url(url)) => {
            let text = rest
                .api
                .connector
                .base()
                .fetch_text(&url, mcpgw_data_plane::owned::MAX_FETCHED)
                .await
                .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
            (json!(text), Value::Null)
        }
        None => (Value::Null, Value::Null),
    };
    Ok(Json(json!({
        "type": "resource",
        "id": item.id,
        "uri": item.name,
        "mime_type": mime,
        "text": text,
        "blob": blob,
    })))
}

pub async fn update_resource(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let current = find_resource(&rest, &id).await?;
    let base = owned(&current)?;
    let item = body::<ResourceIn>(&bytes, None)?.item(Some(base))?;
    Ok(Json(shapes::resource_read(&replace(&rest, &current, item).await?)))
}

pub async fn delete_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    let current = find_resource(&rest, &id).await?;
    remove(&rest, current.kind(), &current.id, "deleted").await
}

pub async fn toggle_resource(State(rest): State<Rest>, Path(id): Path<String>, Query(a): Query<Activate>) -> ApiResult {
    let current = find_resource(&rest, &id).await?;
    toggle(&rest, current.kind(), &current.id, a.activate, shapes::resource_read).await
}
