//! The gRPC admin API (`mcpgw.v1.RegistryService`).

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpgw_data_plane::{routing::naming, upstream::link::Connector};
use mcpgw_proto::v1::{self as pb, registry_service_server::RegistryService};
use tonic::{Request, Response, Status};

use super::{backends::backend_pb, servers};
use crate::{
    distribute::Distributor,
    registry::{DiscoveredItem, ItemRow, Registry},
};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
pub(super) const MAX_NAME: usize = 100;
/// Largest OpenAPI document imported.
pub(super) const MAX_OPENAPI: usize = 16 << 20;

pub struct RegistryApi {
    pub(super) registry: Registry,
    pub(super) dist: Arc<Distributor>,
    /// Clients for discovery, configured per backend, and the box that
    /// seals backends' credentials.
    pub(super) connector: Arc<Connector>,
    /// What export and import seal and open secrets with.
    pub(super) transfer: super::transfer::Keys,
}

impl RegistryApi {
    /// `secret`: the fleet's `AUTH_ENCRYPTION_SECRET`.
    pub fn new(registry: Registry, dist: Arc<Distributor>, connector: Arc<Connector>, secret: &str) -> Self {
        Self {
            registry,
            dist,
            connector,
            transfer: super::transfer::Keys::new(secret),
        }
    }

    /// Hands a committed write to the data planes.
    pub(super) async fn publish(&self) -> Result<(), Status> {
        self.dist.refresh().await.map_err(Status::from)
    }

    /// Refuses a new backend whose tools or prompts would take names other
    /// backends' already have (`a` + `b-c` and `a-b` + `c`), so registering a
    /// backend never renames anyone's tools or prompts.
    /// (`except`: a backend being replaced, whose own names are its to keep.)
    pub(super) async fn check_name_clashes(
        &self,
        slug: &str,
        items: &[DiscoveredItem],
        except: Option<&str>,
    ) -> Result<(), Status> {
        let sep = self.registry.separator().await?;
        for (kind, what) in [(pb::ItemKind::Tool, "tool"), (pb::ItemKind::Prompt, "prompt")] {
            let new: HashMap<String, &str> = items
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| (naming::exposed_tool_name(slug, &sep, &t.name), t.name.as_str()))
                .collect();
            if new.is_empty() {
                continue;
            }
            for t in all_items(&self.registry, kind).await? {
                if except == Some(t.backend_id.as_str()) {
                    continue;
                }
                let taken = naming::exposed_tool_name(&t.backend_slug, &sep, &t.name);
                if let Some(name) = new.get(&taken) {
                    return Err(Status::already_exists(format!(
                        "the new backend's {what} {name:?} would be named {taken:?}, which is already the name of {what} {:?} of backend slug {:?}; pick another backend name",
                        t.name, t.backend_slug
                    )));
                }
            }
        }
        Ok(())
    }

    async fn tool_pb(&self, t: ItemRow) -> Result<pb::Tool, Status> {
        let sep = self.registry.separator().await?;
        Ok(tool_pb(t, &sep))
    }
}

fn tool_pb(t: ItemRow, sep: &str) -> pb::Tool {
    pb::Tool {
        exposed_name: naming::exposed_tool_name(&t.backend_slug, sep, &t.name),
        id: t.id,
        backend_id: t.backend_id,
        name: t.name,
        description: t.description,
        enabled: t.enabled,
        definition_json: t.definition_json,
        config_version: t.config_version as u64,
        cache_ttl_seconds: t.cache_ttl_secs.map(|s| s as u32),
    }
}

/// Page tokens are opaque to clients; inside, an offset.
fn page(size: u32, token: &str) -> Result<(u64, u64), Status> {
    let offset = if token.is_empty() {
        0
    } else {
        URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<u64>().ok()))
            .filter(|o| *o <= i64::MAX as u64 / 2)
            .ok_or_else(|| Status::invalid_argument("page_token is not one this server issued"))?
    };
    let size = if size == 0 { DEFAULT_PAGE } else { size.min(MAX_PAGE) };
    Ok((offset, u64::from(size)))
}

fn next_token(offset: u64, size: u64, got: usize) -> String {
    if (got as u64) < size {
        String::new()
    } else {
        URL_SAFE_NO_PAD.encode(format!("o:{}", offset.saturating_add(size)))
    }
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn create_backend(
        &self,
        req: Request<pb::CreateBackendRequest>,
    ) -> Result<Response<pb::CreateBackendResponse>, Status> {
        self.create(req).await
    }

    async fn update_backend(
        &self,
        req: Request<pb::UpdateBackendRequest>,
    ) -> Result<Response<pb::UpdateBackendResponse>, Status> {
        self.update(req).await
    }

    async fn get_backend(
        &self,
        req: Request<pb::GetBackendRequest>,
    ) -> Result<Response<pb::GetBackendResponse>, Status> {
        let row = self.registry.get_backend(&req.into_inner().backend).await?;
        Ok(Response::new(pb::GetBackendResponse {
            backend: Some(backend_pb(row)),
        }))
    }

    async fn list_backends(
        &self,
        req: Request<pb::ListBackendsRequest>,
    ) -> Result<Response<pb::ListBackendsResponse>, Status> {
        let req = req.into_inner();
        let (offset, size) = page(req.page_size, &req.page_token)?;
        let rows = self.registry.list_backends(offset, size).await?;
        let next_page_token = next_token(offset, size, rows.len());
        Ok(Response::new(pb::ListBackendsResponse {
            backends: rows.into_iter().map(backend_pb).collect(),
            next_page_token,
        }))
    }

    async fn delete_backend(
        &self,
        req: Request<pb::DeleteBackendRequest>,
    ) -> Result<Response<pb::DeleteBackendResponse>, Status> {
        let current = self.registry.get_backend(&req.into_inner().backend).await?;
        self.registry.delete_backend(&current.id).await?;
        tracing::info!(backend = %current.name, "removed backend");
        self.publish().await?;
        Ok(Response::new(pb::DeleteBackendResponse {}))
    }

    async fn list_tools(&self, req: Request<pb::ListToolsRequest>) -> Result<Response<pb::ListToolsResponse>, Status> {
        let req = req.into_inner();
        let (offset, size) = page(req.page_size, &req.page_token)?;
        let backend_id = if req.backend.is_empty() {
            None
        } else {
            Some(self.registry.get_backend(&req.backend).await?.id)
        };
        let rows = self.registry.list_tools(backend_id.as_deref(), offset, size).await?;
        let next_page_token = next_token(offset, size, rows.len());
        let sep = self.registry.separator().await?;
        Ok(Response::new(pb::ListToolsResponse {
            tools: rows.into_iter().map(|t| tool_pb(t, &sep)).collect(),
            next_page_token,
        }))
    }

    async fn get_tool(&self, req: Request<pb::GetToolRequest>) -> Result<Response<pb::GetToolResponse>, Status> {
        let key = req.into_inner().tool;
        let tool = find_tool(&self.registry, &key).await?;
        Ok(Response::new(pb::GetToolResponse {
            tool: Some(self.tool_pb(tool).await?),
        }))
    }

    async fn set_tool_enabled(
        &self,
        req: Request<pb::SetToolEnabledRequest>,
    ) -> Result<Response<pb::SetToolEnabledResponse>, Status> {
        let req = req.into_inner();
        let tool = find_tool(&self.registry, &req.tool).await?;
        let row = self.registry.set_item_enabled(&tool.id, req.enabled).await?;
        self.publish().await?;
        Ok(Response::new(pb::SetToolEnabledResponse {
            tool: Some(self.tool_pb(row).await?),
        }))
    }

    async fn set_item_cache(
        &self,
        req: Request<pb::SetItemCacheRequest>,
    ) -> Result<Response<pb::SetItemCacheResponse>, Status> {
        let req = req.into_inner();
        let item = self.registry.get_item(&req.item).await?;
        super::cache::check_cacheable(&item, req.ttl_seconds)?;
        let row = self
            .registry
            .set_item_cache(&item.id, req.ttl_seconds.map(i64::from))
            .await?;
        self.publish().await?;
        let sep = self.registry.separator().await?;
        Ok(Response::new(pb::SetItemCacheResponse {
            item: Some(servers::item_pb(row, &sep)),
        }))
    }

    async fn create_item(
        &self,
        req: Request<pb::CreateItemRequest>,
    ) -> Result<Response<pb::CreateItemResponse>, Status> {
        let item = RegistryApi::create_item(self, req.into_inner()).await?;
        Ok(Response::new(pb::CreateItemResponse { item: Some(item) }))
    }

    async fn update_item(
        &self,
        req: Request<pb::UpdateItemRequest>,
    ) -> Result<Response<pb::UpdateItemResponse>, Status> {
        let item = RegistryApi::update_item(self, req.into_inner()).await?;
        Ok(Response::new(pb::UpdateItemResponse { item: Some(item) }))
    }

    async fn delete_item(
        &self,
        req: Request<pb::DeleteItemRequest>,
    ) -> Result<Response<pb::DeleteItemResponse>, Status> {
        RegistryApi::delete_item(self, req.into_inner()).await?;
        Ok(Response::new(pb::DeleteItemResponse {}))
    }

    async fn set_item_enabled(
        &self,
        req: Request<pb::SetItemEnabledRequest>,
    ) -> Result<Response<pb::SetItemEnabledResponse>, Status> {
        let item = self.set_enabled(req.into_inner()).await?;
        Ok(Response::new(pb::SetItemEnabledResponse { item: Some(item) }))
    }

    async fn export_registry(
        &self,
        req: Request<pb::ExportRegistryRequest>,
    ) -> Result<Response<pb::ExportRegistryResponse>, Status> {
        let req = req.into_inner();
        let opts = super::transfer::ExportOptions {
            include_secrets: req.include_secrets,
            active_only: req.active_only,
            types: req.types,
        };
        let document = self.export_registry(&opts).await?;
        Ok(Response::new(pb::ExportRegistryResponse {
            document_json: serde_json::to_string_pretty(&document).expect("JSON serializes"),
        }))
    }

    async fn import_registry(
        &self,
        req: Request<pb::ImportRegistryRequest>,
    ) -> Result<Response<pb::ImportRegistryResponse>, Status> {
        let req = req.into_inner();
        let document = serde_json::from_str(&req.document_json)
            .map_err(|e| Status::invalid_argument(format!("document_json is not JSON: {e}")))?;
        let opts = super::transfer::ImportOptions {
            strategy: req.conflict_strategy(),
            dry_run: req.dry_run,
            source_secret: req.source_secret,
        };
        Ok(Response::new(self.import_registry(document, &opts).await?))
    }

    async fn list_peer_offers(
        &self,
        _req: Request<pb::ListPeerOffersRequest>,
    ) -> Result<Response<pb::ListPeerOffersResponse>, Status> {
        Ok(Response::new(pb::ListPeerOffersResponse {
            offers: super::peers::offers(self).await?,
        }))
    }

    async fn list_nodes(&self, _req: Request<pb::ListNodesRequest>) -> Result<Response<pb::ListNodesResponse>, Status> {
        Ok(Response::new(pb::ListNodesResponse {
            nodes: self.dist.nodes(),
            current_version: self.dist.current_version(),
        }))
    }

    async fn list_items(&self, req: Request<pb::ListItemsRequest>) -> Result<Response<pb::ListItemsResponse>, Status> {
        let req = req.into_inner();
        let kind = match req.kind() {
            pb::ItemKind::Unspecified => return Err(Status::invalid_argument("kind must be set")),
            k => k,
        };
        let (offset, size) = page(req.page_size, &req.page_token)?;
        let backend_id = if req.backend.is_empty() {
            None
        } else {
            Some(self.registry.get_backend(&req.backend).await?.id)
        };
        let rows = self
            .registry
            .list_items(kind, backend_id.as_deref(), offset, size)
            .await?;
        let next_page_token = next_token(offset, size, rows.len());
        let sep = self.registry.separator().await?;
        Ok(Response::new(pb::ListItemsResponse {
            items: rows.into_iter().map(|t| servers::item_pb(t, &sep)).collect(),
            next_page_token,
        }))
    }

    async fn create_server(
        &self,
        req: Request<pb::CreateServerRequest>,
    ) -> Result<Response<pb::CreateServerResponse>, Status> {
        let req = req.into_inner();
        servers::check_server_name(&req.name)?;
        let members = servers::check_members(&self.registry, &req.members).await?;
        let backends = servers::check_backends(&self.registry, &req.backends).await?;
        let row = self
            .registry
            .create_server(&req.name, &req.description, &members, &backends)
            .await?;
        tracing::info!(server = %row.name, members = row.members.len(), "created virtual server");
        self.publish().await?;
        Ok(Response::new(pb::CreateServerResponse {
            server: Some(servers::server_pb(row)),
        }))
    }

    async fn get_server(&self, req: Request<pb::GetServerRequest>) -> Result<Response<pb::GetServerResponse>, Status> {
        let row = self.registry.get_server(&req.into_inner().server).await?;
        Ok(Response::new(pb::GetServerResponse {
            server: Some(servers::server_pb(row)),
        }))
    }

    async fn list_servers(
        &self,
        _req: Request<pb::ListServersRequest>,
    ) -> Result<Response<pb::ListServersResponse>, Status> {
        let rows = self.registry.list_servers().await?;
        Ok(Response::new(pb::ListServersResponse {
            servers: rows.into_iter().map(servers::server_pb).collect(),
        }))
    }

    async fn update_server(
        &self,
        req: Request<pb::UpdateServerRequest>,
    ) -> Result<Response<pb::UpdateServerResponse>, Status> {
        let req = req.into_inner();
        let members = servers::check_members(&self.registry, &req.members).await?;
        let backends = servers::check_backends(&self.registry, &req.backends).await?;
        let row = self
            .registry
            .update_server(&req.server, &req.description, &members, &backends)
            .await?;
        self.publish().await?;
        Ok(Response::new(pb::UpdateServerResponse {
            server: Some(servers::server_pb(row)),
        }))
    }

    async fn delete_server(
        &self,
        req: Request<pb::DeleteServerRequest>,
    ) -> Result<Response<pb::DeleteServerResponse>, Status> {
        self.registry.delete_server(&req.into_inner().server).await?;
        self.publish().await?;
        Ok(Response::new(pb::DeleteServerResponse {}))
    }

    async fn set_server_enabled(
        &self,
        req: Request<pb::SetServerEnabledRequest>,
    ) -> Result<Response<pb::SetServerEnabledResponse>, Status> {
        let req = req.into_inner();
        let row = self.registry.set_server_enabled(&req.server, req.enabled).await?;
        self.publish().await?;
        Ok(Response::new(pb::SetServerEnabledResponse {
            server: Some(servers::server_pb(row)),
        }))
    }
}

/// A tool by id, or by the name clients see.
async fn find_tool(registry: &Registry, key: &str) -> Result<ItemRow, Status> {
    if let Ok(t) = registry.get_tool(key).await {
        return Ok(t);
    }
    let sep = registry.separator().await?;
    all_items(registry, pb::ItemKind::Tool)
        .await?
        .into_iter()
        .find(|t| naming::exposed_tool_name(&t.backend_slug, &sep, &t.name) == key)
        .ok_or_else(|| Status::not_found(format!("no tool has the id or name {key:?}")))
}

/// Every registered item of every kind: tools, prompts, resources, then
/// resource templates.
pub(super) async fn every_item(registry: &Registry) -> Result<Vec<ItemRow>, Status> {
    let mut all = Vec::new();
    for kind in [
        pb::ItemKind::Tool,
        pb::ItemKind::Prompt,
        pb::ItemKind::Resource,
        pb::ItemKind::ResourceTemplate,
    ] {
        all.extend(all_items(registry, kind).await?);
    }
    Ok(all)
}

/// Every registered item of a kind, read page by page.
pub(super) async fn all_items(registry: &Registry, kind: pb::ItemKind) -> Result<Vec<ItemRow>, Status> {
    let mut all = Vec::new();
    loop {
        let rows = registry
            .list_items(kind, None, all.len() as u64, u64::from(MAX_PAGE))
            .await?;
        let last = (rows.len() as u64) < u64::from(MAX_PAGE);
        all.extend(rows);
        if last {
            return Ok(all);
        }
    }
}

/// Every backend, read a page at a time.
pub(super) async fn all_backends(registry: &Registry) -> Result<Vec<crate::registry::BackendRow>, Status> {
    let mut all = Vec::new();
    loop {
        let page = registry.list_backends(all.len() as u64, u64::from(MAX_PAGE)).await?;
        let done = (page.len() as u64) < u64::from(MAX_PAGE);
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}
