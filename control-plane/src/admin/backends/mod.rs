//! Registering and changing backends through the admin API: each kind's
//! request checked, its connection settings sealed, what it offers
//! discovered (or imported, or compiled) before anything is stored.
//! Updates are in [`update`].

mod update;

use std::sync::Arc;

use mcpgw_data_plane::{
    routing::naming,
    upstream::{Link, LinkError},
};
use mcpgw_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{
    connection::{self, Connection},
    grpc::{MAX_NAME, MAX_OPENAPI, RegistryApi},
};
use crate::{
    discovery,
    distribute::transport_from_db,
    error::discovery_status,
    registry::{BackendRow, DiscoveredItem, Discovery, NewBackend},
};

/// A REST backend's tools as catalog items.
fn rest_items(tools: &[pb::RestTool]) -> Vec<DiscoveredItem> {
    tools
        .iter()
        .map(|t| DiscoveredItem {
            kind: pb::ItemKind::Tool,
            name: t.name.clone(),
            description: t.description.clone(),
            definition_json: mcpgw_data_plane::upstream::rest::definition(t),
        })
        .collect()
}

/// What registration learns of a backend that is not an MCP server (a REST
/// API, a gRPC server): only its tools.
fn tools_only(kind: &str, items: Vec<DiscoveredItem>) -> Discovery {
    Discovery {
        transport: kind.into(),
        server_name: kind.into(),
        items,
        ..Discovery::default()
    }
}

/// Connection settings that cannot be used are the caller's to fix.
fn link_status(name: &str, e: LinkError) -> Status {
    Status::invalid_argument(format!("backend {name:?} cannot be reached as configured: {e}"))
}

pub(super) fn backend_pb(b: BackendRow) -> pb::Backend {
    pb::Backend {
        grpc_services: b.grpc().map(|g| g.offered).unwrap_or_default(),
        endpoints: b.endpoints(),
        health: Some(health_pb(b.health())),
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
        cache_ttl_seconds: b.cache_ttl_secs.map(|s| s as u32),
        peer_gateway_id: b.peer_gateway_id,
    }
}

fn health_pb(h: crate::registry::health::BackendHealth) -> pb::BackendHealth {
    use crate::registry::health::HealthStatus as S;
    let status = match h.status {
        S::Unknown => pb::HealthStatus::Unspecified,
        S::Healthy => pb::HealthStatus::Healthy,
        S::Degraded => pb::HealthStatus::Degraded,
        S::Unhealthy => pb::HealthStatus::Unhealthy,
    };
    pb::BackendHealth {
        status: status.into(),
        last_error: h.last_error,
        last_error_unix_ms: h.last_error_at_ms,
        checked_unix_ms: h.checked_at_ms,
        consecutive_failures: h.consecutive_failures,
        endpoints: h
            .endpoints
            .into_iter()
            .map(|e| pb::EndpointHealth {
                url: e.url,
                healthy: e.healthy,
                error: e.error,
            })
            .collect(),
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

impl RegistryApi {
    /// A gRPC backend's descriptors, as given or read through its
    /// reflection, with the services to offer named (all it has when none
    /// were) and the tools they make, checked by making its link as data
    /// planes will.
    async fn grpc_import(
        &self,
        name: &str,
        url: &str,
        conn: &Connection,
        given: Option<pb::GrpcServices>,
    ) -> Result<(pb::GrpcServices, Vec<DiscoveredItem>), Status> {
        let given = given.unwrap_or_default();
        let (descriptor_set, listed) = if given.descriptor_set.is_empty() {
            let client = self
                .connector
                .credentials_client(&conn.secrets)
                .map_err(|e| link_status(name, e))?;
            let (set, listed) = discovery::grpc::reflect(url, &conn.tls, &conn.secrets, &client)
                .await
                .map_err(|e| match e {
                    discovery::grpc::ReflectError::Unreachable { .. } => {
                        Status::unavailable(format!("{e}; nothing was registered"))
                    }
                    e => Status::invalid_argument(format!("{e}; nothing was registered")),
                })?;
            (set, Some(listed))
        } else {
            (given.descriptor_set, None)
        };
        let grpc = discovery::grpc::offer(descriptor_set, given.services, listed).map_err(|e| link_status(name, e))?;
        let items = discovery::grpc::items(&grpc).map_err(|e| link_status(name, e))?;
        self.connector
            .grpc_link_with(url, &conn.tls, &conn.secrets, &grpc)
            .map_err(|e| link_status(name, e))?;
        Ok((grpc, items))
    }

    /// Refuses a backend that is this very gateway (its MCP endpoint given
    /// as a backend): every call would come straight back.
    async fn check_not_itself(&self, d: &Discovery) -> Result<(), Status> {
        if !d.peer_gateway_id.is_empty() && d.peer_gateway_id == self.registry.epoch().await? {
            return Err(Status::invalid_argument(
                "that URL is this gateway itself: register other gateways as peers; nothing was registered",
            ));
        }
        Ok(())
    }

    /// Hands a committed backend write to the data planes; the backend as
    /// the API shows it.
    async fn published(&self, row: BackendRow) -> Result<pb::Backend, Status> {
        self.publish().await?;
        Ok(backend_pb(row))
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

    /// A REST backend's base URL and tools made of an OpenAPI document,
    /// fetched with `with`'s credentials if it is given by URL.
    async fn import_openapi(
        &self,
        imp: &pb::OpenApiImport,
        with: &Connection,
    ) -> Result<discovery::openapi::Imported, Status> {
        let (text, source) = match (imp.url.is_empty(), imp.document.is_empty()) {
            (false, true) => {
                check_url(&imp.url)?;
                let client = self
                    .connector
                    .base()
                    .connect(&with.tls, &with.secrets)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let text = client.fetch_text(&imp.url, MAX_OPENAPI).await.map_err(|e| {
                    Status::unavailable(format!(
                        "cannot fetch the OpenAPI document: {e}; nothing was registered"
                    ))
                })?;
                (text, Some(imp.url.as_str()))
            }
            (true, false) => (imp.document.clone(), None),
            _ => {
                return Err(Status::invalid_argument(
                    "openapi needs exactly one of url and document",
                ));
            }
        };
        if text.len() > MAX_OPENAPI {
            return Err(Status::invalid_argument(format!(
                "the OpenAPI document is over {MAX_OPENAPI} bytes"
            )));
        }
        let filter = discovery::openapi::Filter {
            server_url: &imp.server_url,
            tags: &imp.tags,
            operation_ids: &imp.operation_ids,
        };
        discovery::openapi::import(&text, source, &filter)
            .map_err(|e| Status::invalid_argument(format!("{e}; nothing was registered")))
    }

    pub(super) async fn create(
        &self,
        req: Request<pb::CreateBackendRequest>,
    ) -> Result<Response<pb::CreateBackendResponse>, Status> {
        let new = self.prepare_create(req.into_inner(), None).await?;
        let row = self.registry.create_backend(&new).await?;
        tracing::info!(backend = %row.name, tools = row.tool_count, "registered backend");
        Ok(Response::new(pb::CreateBackendResponse {
            backend: Some(self.published(row).await?),
        }))
    }

    /// A new backend checked, its connection sealed and what it offers
    /// discovered, ready to store; nothing is written. `replacing`: the
    /// backend of the same name it is to replace, keeping its id (an import
    /// that updates).
    pub(super) async fn prepare_create(
        &self,
        mut req: pb::CreateBackendRequest,
        replacing: Option<&BackendRow>,
    ) -> Result<NewBackend, Status> {
        let name = req.name.trim();
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(Status::invalid_argument(format!(
                "name must be 1-{MAX_NAME} characters"
            )));
        }
        super::cache::check_ttl("cache_ttl_seconds", req.cache_ttl_seconds)?;
        let slug = naming::slugify(name);
        // Checked before contacting the backend; the unique constraints back it up.
        if replacing.is_none()
            && let Some(conflict) = self.registry.backend_conflict(name, &slug).await?
        {
            return Err(Status::already_exists(conflict));
        }
        let mut conn = Connection {
            tls: req
                .tls
                .take()
                .map(connection::tls_from)
                .transpose()?
                .unwrap_or_default(),
            secrets: req
                .credentials
                .take()
                .map(connection::secrets_from)
                .transpose()?
                .unwrap_or_default(),
            stdio: None,
            rest_tools: Vec::new(),
        };
        if let Some(imp) = req.openapi.take() {
            if !req.rest_tools.is_empty() {
                return Err(Status::invalid_argument("give rest_tools or openapi, not both"));
            }
            let imported = self.import_openapi(&imp, &conn).await?;
            req.transport = pb::BackendTransport::Rest.into();
            if req.url.is_empty() {
                req.url = imported.server_url;
            }
            req.rest_tools = imported.tools;
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
        let transport = match req.transport() {
            pb::BackendTransport::Unspecified => None,
            t => Some(t),
        };
        if req.grpc.is_some() && transport != Some(pb::BackendTransport::Grpc) {
            return Err(Status::invalid_argument("grpc is for transport GRPC only"));
        }
        let mut grpc_stored = None;
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
                let items = rest_items(&req.rest_tools);
                conn.rest_tools = std::mem::take(&mut req.rest_tools);
                (req.url, tools_only("rest", items))
            }
            None if transport == Some(pb::BackendTransport::Grpc) => {
                let (grpc, items) = self.grpc_import(name, &req.url, &conn, req.grpc.take()).await?;
                grpc_stored = Some(grpc);
                (req.url, tools_only("grpc", items))
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
                super::endpoints::check(
                    name,
                    &req.url,
                    &discovery.transport,
                    &discovery.protocol_version,
                    &req.endpoints,
                    &link,
                )
                .await?;
                (req.url, discovery)
            }
        };
        if !req.endpoints.is_empty() && !matches!(discovery.transport.as_str(), "streamable_http" | "sse") {
            return Err(Status::invalid_argument(format!(
                "endpoints are for Streamable HTTP and HTTP+SSE backends; backend {name:?} is {}",
                discovery.transport
            )));
        }
        self.check_not_itself(&discovery).await?;
        self.check_name_clashes(&slug, &discovery.items, replacing.map(|r| r.id.as_str()))
            .await?;
        let id = replacing.map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.id.clone());
        Ok(NewBackend {
            connection: conn.seal(&id, self.connector.secrets()),
            id,
            name: name.to_owned(),
            slug,
            url,
            discovery,
            cache_ttl_secs: req.cache_ttl_seconds.map(i64::from),
            endpoints: req.endpoints,
            grpc: grpc_stored,
        })
    }
}
