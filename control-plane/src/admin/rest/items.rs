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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, ErrorBody, Refused, Rest, body};
use crate::admin::{
    cf::{
        reads::{Done, PromptRead, ResourceRead, StateChanged, ToolRead},
        shapes::{PromptIn, ResourceIn, ToolIn},
    },
    grpc::all_items,
    servers::item_pb,
};

/// Context Forge's list parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct ListQuery {
    /// List disabled items too.
    pub(super) include_inactive: bool,
    /// Items per page: 50 unless given; 0 is all.
    limit: Option<u32>,
    /// Where to go on: a `nextCursor` this API gave.
    cursor: Option<String>,
    /// Answer `{"<kind>": […], "nextCursor": …}` instead of the bare array.
    include_pagination: bool,
}

const DEFAULT_LIMIT: usize = 50;

/// One page of a list, and the cursor of the next (`None`: the bare list
/// was asked for).
pub(super) struct Listing<T> {
    items: Vec<T>,
    next: Option<Option<String>>,
}

/// A list answer of one kind: the bare array, or one page under the kind's
/// name with the next cursor.
macro_rules! listing {
    ($list:ident, $page:ident, $read:ty, $key:ident) => {
        /// The bare array, or (with `include_pagination`) one page and the
        /// cursor of the next.
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(untagged)]
        pub enum $list {
            All(Vec<$read>),
            Page($page),
        }

        #[derive(Debug, Serialize, ToSchema)]
        pub struct $page {
            pub $key: Vec<$read>,
            /// Pass it back as `cursor` for the next page; `null` on the last.
            #[serde(rename = "nextCursor")]
            pub next_cursor: Option<String>,
        }

        impl From<Listing<$read>> for $list {
            fn from(l: Listing<$read>) -> Self {
                match l.next {
                    None => Self::All(l.items),
                    Some(next_cursor) => Self::Page($page {
                        $key: l.items,
                        next_cursor,
                    }),
                }
            }
        }
    };
}

listing!(ToolList, ToolPage, ToolRead, tools);
listing!(PromptList, PromptPage, PromptRead, prompts);
listing!(ResourceList, ResourcePage, ResourceRead, resources);

/// One page of `items` as `read` shows each.
pub(super) fn page<T>(items: Vec<pb::Item>, q: &ListQuery, read: fn(&pb::Item) -> T) -> Result<Listing<T>, ApiError> {
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
    let limit = match q.limit.map_or(DEFAULT_LIMIT, |l| l as usize) {
        0 => usize::MAX,
        n => n,
    };
    let end = start.saturating_add(limit).min(shown.len());
    let listed: Vec<T> = shown
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|i| read(i))
        .collect();
    let next = q
        .include_pagination
        .then(|| (end < shown.len()).then(|| URL_SAFE_NO_PAD.encode(end.to_string())));
    Ok(Listing { items: listed, next })
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

async fn remove(rest: &Rest, kind: ItemKind, key: &str, said: &str) -> ApiResult<Json<Done>> {
    let current = find(rest, kind, key).await?;
    owned(&current)?;
    rest.api
        .delete_item(pb::DeleteItemRequest {
            item: current.id.clone(),
        })
        .await?;
    Ok(Json(Done::new(format!("{} {} {said}", title(kind), current.id))))
}

/// `?activate=`: enable (the default) or disable.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Activate {
    /// `true` enables, `false` disables.
    #[serde(default = "yes")]
    pub(super) activate: bool,
}

fn yes() -> bool {
    true
}

async fn toggle<T: Serialize>(
    rest: &Rest,
    kind: ItemKind,
    key: &str,
    activate: bool,
    read: fn(&pb::Item) -> T,
) -> ApiResult<Json<StateChanged>> {
    let current = find(rest, kind, key).await?;
    let item = rest
        .api
        .set_enabled(pb::SetItemEnabledRequest {
            item: current.id.clone(),
            enabled: activate,
        })
        .await?;
    let kind_key = title(kind).to_ascii_lowercase();
    Ok(Json(StateChanged::new(&kind_key, &item.id, item.enabled, read(&item))))
}

/// List every tool: each backend's, and the registry's own REST tools.
#[utoipa::path(get, path = "/tools", tag = "tools", params(ListQuery),
    responses((status = 200, description = "The list", body = ToolList), Refused))]
pub async fn list_tools(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult<Json<ToolList>> {
    Ok(Json(page(all(&rest, ItemKind::Tool).await?, &q, ToolRead::of)?.into()))
}

/// Create a REST tool (the body may be wrapped as `{"tool": …}`).
#[utoipa::path(post, path = "/tools", tag = "tools", request_body = ToolIn,
    responses((status = 200, description = "The tool", body = ToolRead), Refused))]
pub async fn create_tool(State(rest): State<Rest>, bytes: Bytes) -> ApiResult<Json<ToolRead>> {
    let tool = body::<ToolIn>(&bytes, Some("tool"))?.rest_tool(None)?;
    Ok(Json(ToolRead::of(&create(&rest, O::Tool(tool)).await?)))
}

/// One tool, by id or by the name clients call it by.
#[utoipa::path(get, path = "/tools/{id}", tag = "tools", params(("id" = String, Path, description = "The tool's id or name")),
    responses((status = 200, description = "The tool", body = ToolRead), Refused))]
pub async fn get_tool(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<ToolRead>> {
    Ok(Json(ToolRead::of(&find(&rest, ItemKind::Tool, &id).await?)))
}

/// Change a REST tool of the registry's own (only the fields given).
#[utoipa::path(put, path = "/tools/{id}", tag = "tools", params(("id" = String, Path, description = "The tool's id or name")),
    request_body = ToolIn,
    responses((status = 200, description = "The tool", body = ToolRead), Refused))]
pub async fn update_tool(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult<Json<ToolRead>> {
    let current = find(&rest, ItemKind::Tool, &id).await?;
    let O::Tool(base) = owned(&current)? else {
        return Err(ApiError::bad_request("not a REST tool"));
    };
    let tool = body::<ToolIn>(&bytes, None)?.rest_tool(Some(base))?;
    Ok(Json(ToolRead::of(&replace(&rest, &current, O::Tool(tool)).await?)))
}

/// Delete a REST tool of the registry's own.
#[utoipa::path(delete, path = "/tools/{id}", tag = "tools", params(("id" = String, Path, description = "The tool's id or name")),
    responses((status = 200, description = "Deleted", body = Done), Refused))]
pub async fn delete_tool(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<Done>> {
    remove(&rest, ItemKind::Tool, &id, "permanently deleted").await
}

/// Enable or disable any tool (a disabled tool leaves every list).
#[utoipa::path(post, path = "/tools/{id}/toggle", tag = "tools",
    params(("id" = String, Path, description = "The tool's id or name"), Activate),
    responses((status = 200, description = "Enabled or disabled", body = StateChanged), Refused))]
pub async fn toggle_tool(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    Query(a): Query<Activate>,
) -> ApiResult<Json<StateChanged>> {
    toggle(&rest, ItemKind::Tool, &id, a.activate, ToolRead::of).await
}

/// List every prompt: each backend's, and the registry's own templates.
#[utoipa::path(get, path = "/prompts", tag = "prompts", params(ListQuery),
    responses((status = 200, description = "The list", body = PromptList), Refused))]
pub async fn list_prompts(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult<Json<PromptList>> {
    Ok(Json(
        page(all(&rest, ItemKind::Prompt).await?, &q, PromptRead::of)?.into(),
    ))
}

/// Create a prompt template (`{{ name }}` placeholders; the body may be
/// wrapped as `{"prompt": …}`).
#[utoipa::path(post, path = "/prompts", tag = "prompts", request_body = PromptIn,
    responses((status = 200, description = "The prompt", body = PromptRead), Refused))]
pub async fn create_prompt(State(rest): State<Rest>, bytes: Bytes) -> ApiResult<Json<PromptRead>> {
    let prompt = body::<PromptIn>(&bytes, Some("prompt"))?.prompt(None)?;
    Ok(Json(PromptRead::of(&create(&rest, O::Prompt(prompt)).await?)))
}

/// A prompt result holding the prompt's template, unrendered (what Context
/// Forge answers).
#[derive(Debug, Serialize, ToSchema)]
pub struct Unrendered {
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    description: Option<String>,
}

/// The prompt's template, unrendered.
#[utoipa::path(get, path = "/prompts/{id}", tag = "prompts", params(("id" = String, Path, description = "The prompt's id or name")),
    responses((status = 200, description = "The template, unrendered", body = Unrendered), Refused))]
pub async fn get_prompt(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<Unrendered>> {
    let read = PromptRead::of(&find(&rest, ItemKind::Prompt, &id).await?);
    Ok(Json(Unrendered {
        messages: vec![serde_json::json!({"role": "user", "content": {"type": "text", "text": read.template}})],
        description: read.description,
    }))
}

/// Render a prompt of the registry's own with the body's arguments (a
/// missing required argument is a 422 naming it).
#[utoipa::path(post, path = "/prompts/{id}", tag = "prompts", params(("id" = String, Path, description = "The prompt's id or name")),
    request_body(content = HashMap<String, String>, description = "The arguments"),
    responses((status = 200, description = "MCP's GetPromptResult", body = Object), Refused))]
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

/// Change a prompt of the registry's own (only the fields given).
#[utoipa::path(put, path = "/prompts/{id}", tag = "prompts", params(("id" = String, Path, description = "The prompt's id or name")),
    request_body = PromptIn,
    responses((status = 200, description = "The prompt", body = PromptRead), Refused))]
pub async fn update_prompt(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<PromptRead>> {
    let current = find(&rest, ItemKind::Prompt, &id).await?;
    let O::Prompt(base) = owned(&current)? else {
        return Err(ApiError::bad_request("not a prompt"));
    };
    let prompt = body::<PromptIn>(&bytes, None)?.prompt(Some(base))?;
    Ok(Json(PromptRead::of(
        &replace(&rest, &current, O::Prompt(prompt)).await?,
    )))
}

/// Delete a prompt of the registry's own.
#[utoipa::path(delete, path = "/prompts/{id}", tag = "prompts", params(("id" = String, Path, description = "The prompt's id or name")),
    responses((status = 200, description = "Deleted", body = Done), Refused))]
pub async fn delete_prompt(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<Done>> {
    remove(&rest, ItemKind::Prompt, &id, "deleted").await
}

/// Enable or disable any prompt.
#[utoipa::path(post, path = "/prompts/{id}/toggle", tag = "prompts",
    params(("id" = String, Path, description = "The prompt's id or name"), Activate),
    responses((status = 200, description = "Enabled or disabled", body = StateChanged), Refused))]
pub async fn toggle_prompt(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    Query(a): Query<Activate>,
) -> ApiResult<Json<StateChanged>> {
    toggle(&rest, ItemKind::Prompt, &id, a.activate, PromptRead::of).await
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

/// List every resource and resource template.
#[utoipa::path(get, path = "/resources", tag = "resources", params(ListQuery),
    responses((status = 200, description = "The list", body = ResourceList), Refused))]
pub async fn list_resources(State(rest): State<Rest>, Query(q): Query<ListQuery>) -> ApiResult<Json<ResourceList>> {
    Ok(Json(page(all_resources(&rest).await?, &q, ResourceRead::of)?.into()))
}

/// Create a resource with inline text, or a resource template when
/// `uri_template` is given (the body may be wrapped as `{"resource": …}`).
#[utoipa::path(post, path = "/resources", tag = "resources", request_body = ResourceIn,
    responses((status = 200, description = "The resource", body = ResourceRead), Refused))]
pub async fn create_resource(State(rest): State<Rest>, bytes: Bytes) -> ApiResult<Json<ResourceRead>> {
    let item = body::<ResourceIn>(&bytes, Some("resource"))?.item(None)?;
    Ok(Json(ResourceRead::of(&create(&rest, item).await?)))
}

/// A resource's description (not its content).
#[utoipa::path(get, path = "/resources/{id}/info", tag = "resources", params(("id" = String, Path, description = "The resource's id")),
    responses((status = 200, description = "The resource", body = ResourceRead), Refused))]
pub async fn get_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<ResourceRead>> {
    Ok(Json(ResourceRead::of(&find_resource(&rest, &id).await?)))
}

/// A resource's content, as Context Forge answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceContent {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    uri: String,
    mime_type: Option<String>,
    /// Text content (fetched now for a resource at a URL).
    text: Option<String>,
    /// Binary content, Base64.
    blob: Option<String>,
}

/// A resource of the registry's own: its content.
#[utoipa::path(get, path = "/resources/{id}", tag = "resources", params(("id" = String, Path, description = "The resource's id")),
    responses((status = 200, description = "Its content", body = ResourceContent), Refused,
        (status = 502, description = "Its URL could not be fetched", body = ErrorBody)))]
pub async fn read_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<ResourceContent>> {
    let item = find_resource(&rest, &id).await?;
    if !item.enabled {
        return Err(ApiError::not_found(format!("Resource '{id}' exists but is inactive")));
    }
    let O::Resource(r) = owned(&item)? else {
        return Err(ApiError::bad_request(
            "a resource template has no content of its own: read a URI it matches through MCP resources/read",
        ));
    };
    let mime_type = ResourceRead::of(&item).mime_type;
    let (text, blob) = match r.content {
        Some(Content::Text(t)) => (Some(t), None),
        Some(Content::Blob(b)) => (None, Some(base64::engine::general_purpose::STANDARD.encode(b))),
        Some(Content::Url(url)) => {
            let text = rest
                .api
                .connector
                .base()
                .fetch_text(&url, mcpgw_data_plane::owned::MAX_FETCHED)
                .await
                .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
            (Some(text), None)
        }
        None => (None, None),
    };
    Ok(Json(ResourceContent {
        kind: "resource",
        id: item.id,
        uri: item.name,
        mime_type,
        text,
        blob,
    }))
}

/// Change a resource or template of the registry's own.
#[utoipa::path(put, path = "/resources/{id}", tag = "resources", params(("id" = String, Path, description = "The resource's id")),
    request_body = ResourceIn,
    responses((status = 200, description = "The resource", body = ResourceRead), Refused))]
pub async fn update_resource(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<ResourceRead>> {
    let current = find_resource(&rest, &id).await?;
    let base = owned(&current)?;
    let item = body::<ResourceIn>(&bytes, None)?.item(Some(base))?;
    Ok(Json(ResourceRead::of(&replace(&rest, &current, item).await?)))
}

/// Delete a resource or template of the registry's own.
#[utoipa::path(delete, path = "/resources/{id}", tag = "resources", params(("id" = String, Path, description = "The resource's id")),
    responses((status = 200, description = "Deleted", body = Done), Refused))]
pub async fn delete_resource(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<Done>> {
    let current = find_resource(&rest, &id).await?;
    remove(&rest, current.kind(), &current.id, "deleted").await
}

/// Enable or disable any resource or template.
#[utoipa::path(post, path = "/resources/{id}/toggle", tag = "resources",
    params(("id" = String, Path, description = "The resource's id"), Activate),
    responses((status = 200, description = "Enabled or disabled", body = StateChanged), Refused))]
pub async fn toggle_resource(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    Query(a): Query<Activate>,
) -> ApiResult<Json<StateChanged>> {
    let current = find_resource(&rest, &id).await?;
    toggle(&rest, current.kind(), &current.id, a.activate, ResourceRead::of).await
}
