//! The gRPC admin API (`mcpgw.v1.RegistryService`).

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpgw_data_plane::{
    routing::naming,
    upstream::{Link, LinkError, link::Connector, secrets::Secrets},
};
use mcpgw_proto::v1::{self as pb, registry_service_server::RegistryService};
use tonic::{Request, Response, Status};

use super::{
    connection::{self, Connection},
    servers,
};
use crate::{
    discovery,
    distribute::{Distributor, transport_from_db},
    error::discovery_status,
    registry::{BackendRow, BackendUpdate, DiscoveredItem, Discovery, ItemRow, NewBackend, Registry},
};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
const MAX_NAME: usize = 100;

pub struct RegistryApi {
    registry: Registry,
    dist: Arc<Distributor>,
    /// Clients for discovery, configured per backend, and the box that
    /// seals backends' credentials.
    connector: Arc<Connector>,
}

/// Connection settings that cannot be used are the caller's to fix.
fn link_status(name: &str, e: LinkError) -> Status {
    Status::invalid_argument(format!("backend {name:?} cannot be reached as configured: {e}"))
}

impl RegistryApi {
    pub fn new(registry: Registry, dist: Arc<Distributor>, connector: Arc<Connector>) -> Self {
        Self {
            registry,
            dist,
            connector,
        }
    }

    /// The link a backend would be reached by with `connection`, warning
    /// when certificate checks are off.
    fn link(&self, name: &str, url: &str, c: &Connection) -> Result<Arc<Link>, Status> {
        if c.tls.insecure_skip_verify {
            tracing::warn!(backend = %name, "TLS certificate verification is off for this backend (insecure_skip_verify): for development only");
        }
        self.connector
            .link_with(url, &c.tls, &c.secrets)
            .map_err(|e| link_status(name, e))
    }

    /// Hands a committed write to the data planes.
    async fn publish(&self) -> Result<(), Status> {
        self.dist.refresh().await.map_err(Status::from)
    }

    /// Refuses a new backend whose tools or prompts would take names other
    /// backends' already have (`a` + `b-c` and `a-b` + `c`), so registering a
    /// backend never renames anyone's tools or prompts.
    async fn check_name_clashes(&self, slug: &str, items: &[DiscoveredItem]) -> Result<(), Status> {
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

    /// The connection an update asks for, if it changes it: new TLS
    /// settings keep the credentials and new credentials the TLS settings;
    /// a client key stays with its certificate unless a new one is given.
    fn changed_connection(
        &self,
        current: &BackendRow,
        tls: Option<pb::BackendTls>,
        credentials: Option<pb::BackendCredentials>,
        clear: bool,
    ) -> Result<Option<Connection>, Status> {
        if tls.is_none() && credentials.is_none() && !clear {
            return Ok(None);
        }
        let old = self
            .connector
            .secrets()
            .open(&current.id, &current.connection.sealed_secrets)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let tls = match tls {
            Some(t) => connection::tls_from(t)?,
            None => current.connection.tls(),
        };
        let mut secrets = match (credentials, clear) {
            (Some(_), true) => {
                return Err(Status::invalid_argument(
                    "credentials and clear_credentials cannot both be set",
                ));
            }
            (Some(c), false) => connection::secrets_from(c)?,
            (None, true) => Secrets::default(),
            (None, false) => old.clone(),
        };
        if secrets.client_key_pem.is_empty() && !tls.client_cert_pem.is_empty() {
            secrets.client_key_pem = old.client_key_pem;
        }
        Ok(Some(Connection {
            tls,
            secrets,
            stdio: None,
            rest_tools: Vec::new(),
        }))
    }

    async fn tool_pb(&self, t: ItemRow) -> Result<pb::Tool, Status> {
        let sep = self.registry.separator().await?;
        Ok(tool_pb(t, &sep))
    }
}

fn backend_pb(b: BackendRow) -> pb::Backend {
    pb::Backend {
        transport: transport_from_db(&b.transport).into(),
        id: b.id,
        name: b.name,
        slug: b.slug,
        url: b.url,
        enabled: b.enabled,
        protocol_version: b.protocol_version,
        server_name: b.server_name,
        server_version: b.server_version,
        tool_count: b.tool_count as u32,
        config_version: b.config_version as u64,
        tls: Some(connection::tls_pb(&b.connection)),
        credentials: Some(connection::info_pb(&b.connection)),
        stdio: connection::stdio_pb(&b.connection),
        rest_tools: b.connection.rest_tools(),
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

/// Checks a backend URL; whether it is a WebSocket one (`ws://`, `wss://`).
fn check_url(url: &str) -> Result<bool, Status> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Status::invalid_argument(format!("url {url:?} is not a URL: {e}")))?;
    let websocket = matches!(uri.scheme_str(), Some("ws" | "wss"));
    if !(websocket || matches!(uri.scheme_str(), Some("http" | "https"))) || uri.host().is_none() {
        return Err(Status::invalid_argument(format!(
            "url {url:?} must be an http://, https://, ws:// or wss:// URL"
        )));
    }
    Ok(websocket)
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn create_backend(
        &self,
        req: Request<pb::CreateBackendRequest>,
    ) -> Result<Response<pb::CreateBackendResponse>, Status> {
        let mut req = req.into_inner();
        let name = req.name.trim();
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(Status::invalid_argument(format!(
                "name must be 1-{MAX_NAME} characters"
            )));
        }
        let stdio = match (req.transport(), req.stdio.take()) {
            (pb::BackendTransport::Stdio, Some(cmd)) => {
                if !req.url.is_empty() {
                    return Err(Status::invalid_argument("a stdio backend has a command, not a url"));
                }
                Some(connection::stdio_from(cmd)?)
            }
            (pb::BackendTransport::Stdio, None) => {
                return Err(Status::invalid_argument("transport STDIO needs stdio.command"));
            }
            (_, Some(_)) => return Err(Status::invalid_argument("stdio is for transport STDIO only")),
            (transport, None) => {
                let websocket = check_url(&req.url)?;
                if websocket != (transport == pb::BackendTransport::Websocket)
                    && transport != pb::BackendTransport::Unspecified
                {
                    return Err(Status::invalid_argument(format!(
                        "transport {} does not go with url {:?}; ws:// and wss:// are for transport WEBSOCKET",
                        transport.as_str_name(),
                        req.url
                    )));
                }
                if websocket {
                    req.transport = pb::BackendTransport::Websocket.into();
                }
                None
            }
        };
        let slug = naming::slugify(name);
        // Checked before contacting the backend; the unique constraints back it up.
        if let Some(conflict) = self.registry.backend_conflict(name, &slug).await? {
            return Err(Status::already_exists(conflict));
        }
        let transport = match req.transport() {
            pb::BackendTransport::Unspecified => None,
            t => Some(t),
        };
        let mut conn = Connection {
            tls: req.tls.map(connection::tls_from).transpose()?.unwrap_or_default(),
            secrets: req
                .credentials
                .map(connection::secrets_from)
                .transpose()?
                .unwrap_or_default(),
            stdio: None,
            rest_tools: Vec::new(),
        };
        let (url, discovery) = match stdio {
            Some((command, env)) => {
                if !self.connector.allows_stdio() {
                    return Err(Status::failed_precondition(
                        "this control plane does not run stdio backends' commands; set MCPGW_ALLOW_STDIO_BACKENDS=true to allow it; nothing was registered",
                    ));
                }
                conn.secrets.env = env.clone();
                conn.stdio = Some(command.clone());
                let link = self.connector.stdio_link_with(name, command, env);
                let discovery = discovery::discover_channel(&link, "stdio")
                    .await
                    .map_err(discovery_status)?;
                (link.url.to_string(), discovery)
            }
            None if transport == Some(pb::BackendTransport::Rest) => {
                if req.rest_tools.is_empty() {
                    return Err(Status::invalid_argument("a REST backend needs at least one tool"));
                }
                // Compiled as data planes will: a bad endpoint is refused now.
                self.connector
                    .rest_link_with(&req.url, &conn.tls, &conn.secrets, &req.rest_tools)
                    .map_err(|e| link_status(name, e))?;
                let items = req
                    .rest_tools
                    .iter()
                    .map(|t| DiscoveredItem {
                        kind: pb::ItemKind::Tool,
                        name: t.name.clone(),
                        description: t.description.clone(),
                        definition_json: mcpgw_data_plane::upstream::rest::definition(t),
                    })
                    .collect();
                conn.rest_tools = std::mem::take(&mut req.rest_tools);
                let discovery = Discovery {
                    transport: "rest".into(),
                    server_name: "rest".into(),
                    items,
                    ..Discovery::default()
                };
                (req.url, discovery)
            }
            None if transport == Some(pb::BackendTransport::Websocket) => {
                let link = self
                    .connector
                    .websocket_link_with(name, &req.url, &conn.tls, &conn.secrets)
                    .map_err(|e| link_status(name, e))?;
                let discovery = discovery::discover_channel(&link, "websocket")
                    .await
                    .map_err(discovery_status)?;
                (req.url, discovery)
            }
            None => {
                let link = self.link(name, &req.url, &conn)?;
                let discovery = discovery::discover(&link.client, &req.url, transport)
                    .await
                    .map_err(discovery_status)?;
                (req.url, discovery)
            }
        };
        self.check_name_clashes(&slug, &discovery.items).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let new = NewBackend {
            connection: conn.seal(&id, self.connector.secrets()),
            id,
            name: name.to_owned(),
            slug,
            url,
            discovery,
        };
        let row = self.registry.create_backend(&new).await?;
        tracing::info!(backend = %row.name, tools = row.tool_count, "registered backend");
        self.publish().await?;
        Ok(Response::new(pb::CreateBackendResponse {
            backend: Some(backend_pb(row)),
        }))
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

    async fn update_backend(
        &self,
        req: Request<pb::UpdateBackendRequest>,
    ) -> Result<Response<pb::UpdateBackendResponse>, Status> {
        let req = req.into_inner();
        let current = self.registry.get_backend(&req.backend).await?;
        let mut update = BackendUpdate {
            enabled: req.enabled,
            ..Default::default()
        };
        let reconnects = req.url.is_some() || req.tls.is_some() || req.credentials.is_some() || req.clear_credentials;
        if matches!(current.transport.as_str(), "stdio" | "rest") && reconnects {
            return Err(Status::invalid_argument(format!(
                "a {} backend is changed by removing it and registering it again",
                current.transport
            )));
        }
        let conn = self.changed_connection(&current, req.tls, req.credentials, req.clear_credentials)?;
        if req.url.is_some() || conn.is_some() {
            let url = req.url.unwrap_or_else(|| current.url.clone());
            let websocket = check_url(&url)?;
            let with = match &conn {
                Some(c) => c.clone(),
                None => Connection {
                    tls: current.connection.tls(),
                    secrets: self
                        .connector
                        .secrets()
                        .open(&current.id, &current.connection.sealed_secrets)
                        .map_err(|e| Status::failed_precondition(e.to_string()))?,
                    stdio: None,
                    rest_tools: Vec::new(),
                },
            };
            // The transport is detected again: a new URL may speak another.
            let discovery = if websocket {
                let link = self
                    .connector
                    .websocket_link_with(&current.name, &url, &with.tls, &with.secrets)
                    .map_err(|e| link_status(&current.name, e))?;
                discovery::discover_channel(&link, "websocket").await
            } else {
                let link = self.link(&current.name, &url, &with)?;
                discovery::discover(&link.client, &url, None).await
            }
            .map_err(discovery_status)?;
            update.url = Some((url, discovery));
            update.connection = conn.map(|c| c.seal(&current.id, self.connector.secrets()));
        }
        let row = self.registry.update_backend(&current.id, &update).await?;
        self.publish().await?;
        Ok(Response::new(pb::UpdateBackendResponse {
            backend: Some(backend_pb(row)),
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
        let row = self
            .registry
            .create_server(&req.name, &req.description, &members)
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
        let row = self
            .registry
            .update_server(&req.server, &req.description, &members)
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

/// Every registered item of a kind, read page by page.
async fn all_items(registry: &Registry, kind: pb::ItemKind) -> Result<Vec<ItemRow>, Status> {
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
