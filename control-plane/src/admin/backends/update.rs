//! Changing a registered backend: its settings and connection checked and
//! re-sealed, what it offers discovered again (or its OpenAPI document
//! imported again) before the registry is written, in one transaction.

use mcpgw_data_plane::upstream::secrets::Secrets;
use mcpgw_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{RegistryApi, check_url, link_status, rest_items, tools_only};
use crate::{
    admin::connection::{self, Connection},
    discovery,
    error::discovery_status,
    registry::{BackendRow, BackendUpdate},
};

impl RegistryApi {
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

    /// How the backend is reached now: its TLS settings and its credentials
    /// opened (what an update that changes neither connects with).
    fn current_connection(&self, current: &BackendRow) -> Result<Connection, Status> {
        Ok(Connection {
            tls: current.connection.tls(),
            secrets: self
                .connector
                .secrets()
                .open(&current.id, &current.connection.sealed_secrets)
                .map_err(|e| Status::failed_precondition(e.to_string()))?,
            ..Connection::default()
        })
    }

    /// Imports a REST backend's OpenAPI document again: its URL and tools
    /// replaced in one registry transaction, tools kept by name, with the
    /// rest of `with_update` (enabled, cache TTL).
    async fn reimport(
        &self,
        current: BackendRow,
        imp: &pb::OpenApiImport,
        with_update: BackendUpdate,
    ) -> Result<Response<pb::UpdateBackendResponse>, Status> {
        if current.transport != "rest" {
            return Err(Status::invalid_argument(
                "only a REST backend is made of an OpenAPI document",
            ));
        }
        let with = self.current_connection(&current)?;
        let imported = self.import_openapi(imp, &with).await?;
        self.connector
            .rest_link_with(&imported.server_url, &with.tls, &with.secrets, &imported.tools)
            .map_err(|e| link_status(&current.name, e))?;
        let items = rest_items(&imported.tools);
        let mut connection = current.connection.clone();
        connection.set_rest_tools(imported.tools);
        let update = BackendUpdate {
            url: Some((imported.server_url, tools_only("rest", items))),
            connection: Some(connection),
            ..with_update
        };
        let row = self.registry.update_backend(&current.id, &update).await?;
        tracing::info!(backend = %row.name, tools = row.tool_count, "re-imported an OpenAPI document");
        Ok(Response::new(pb::UpdateBackendResponse {
            backend: Some(self.published(row).await?),
        }))
    }

    pub(in crate::admin) async fn update(
        &self,
        req: Request<pb::UpdateBackendRequest>,
    ) -> Result<Response<pb::UpdateBackendResponse>, Status> {
        let mut req = req.into_inner();
        if let Some(imp) = req.openapi.take() {
            crate::admin::cache::check_ttl("cache_ttl_seconds", req.cache_ttl_seconds)?;
            let current = self.registry.get_backend(&req.backend).await?;
            let update = BackendUpdate {
                enabled: req.enabled,
                cache_ttl_secs: req.cache_ttl_seconds.map(i64::from),
                ..Default::default()
            };
            return self.reimport(current, &imp, update).await;
        }
        let (current, update) = self.prepare_update(req).await?;
        let row = self.registry.update_backend(&current.id, &update).await?;
        Ok(Response::new(pb::UpdateBackendResponse {
            backend: Some(self.published(row).await?),
        }))
    }

    /// A change to a backend checked, and what it offers at a new place or
    /// with new settings discovered, ready to store; nothing is written.
    /// (An OpenAPI re-import is [`Self::update`]'s own.)
    pub(in crate::admin) async fn prepare_update(
        &self,
        mut req: pb::UpdateBackendRequest,
    ) -> Result<(BackendRow, BackendUpdate), Status> {
        crate::admin::cache::check_ttl("cache_ttl_seconds", req.cache_ttl_seconds)?;
        let current = self.registry.get_backend(&req.backend).await?;
        let mut update = BackendUpdate {
            enabled: req.enabled,
            cache_ttl_secs: req.cache_ttl_seconds.map(i64::from),
            ..Default::default()
        };
        let reconnects = req.url.is_some() || req.tls.is_some() || req.credentials.is_some() || req.clear_credentials;
        if matches!(current.transport.as_str(), "stdio" | "rest") && reconnects {
            return Err(Status::invalid_argument(format!(
                "a {} backend is changed by removing it and registering it again",
                current.transport
            )));
        }
        if (!req.endpoints.is_empty() || req.clear_endpoints)
            && !matches!(current.transport.as_str(), "streamable_http" | "sse")
        {
            return Err(Status::invalid_argument(format!(
                "endpoints are for Streamable HTTP and HTTP+SSE backends; backend {:?} is {}",
                current.name, current.transport
            )));
        }
        let conn = self.changed_connection(&current, req.tls, req.credentials, req.clear_credentials)?;
        let endpoints = match (req.clear_endpoints, req.endpoints.is_empty()) {
            (true, true) => Some(Vec::new()),
            (true, false) => return Err(Status::invalid_argument("give endpoints or clear_endpoints, not both")),
            (false, false) => Some(std::mem::take(&mut req.endpoints)),
            (false, true) => None,
        };
        if req.url.is_some() || conn.is_some() || endpoints.is_some() {
            let url = req.url.clone().unwrap_or_else(|| current.url.clone());
            let websocket = check_url(&url)?;
            let with = match &conn {
                Some(c) => c.clone(),
                None => self.current_connection(&current)?,
            };
            let mut transport = current.transport.clone();
            let mut protocol_version = current.protocol_version.clone();
            if transport == "grpc" && (req.url.is_some() || conn.is_some()) {
                // Read again at the new place or with the new settings, as
                // at registration: through reflection if it was registered
                // so, else from the descriptors it was given.
                let stored = current.grpc().unwrap_or_default();
                let given = pb::GrpcServices {
                    descriptor_set: if stored.reflected {
                        Vec::new()
                    } else {
                        stored.descriptor_set
                    },
                    services: stored.services,
                    ..Default::default()
                };
                let (grpc, items) = self.grpc_import(&current.name, &url, &with, Some(given)).await?;
                update.url = Some((url.clone(), tools_only("grpc", items)));
                update.grpc = Some(grpc);
                update.connection = conn.map(|c| c.seal(&current.id, self.connector.secrets()));
            } else if req.url.is_some() || conn.is_some() {
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
                self.check_not_itself(&discovery).await?;
                transport = discovery.transport.clone();
                protocol_version = discovery.protocol_version.clone();
                update.url = Some((url.clone(), discovery));
                update.connection = conn.map(|c| c.seal(&current.id, self.connector.secrets()));
            }
            // The endpoints kept or given are checked against what the
            // backend is now.
            let endpoints = endpoints.unwrap_or_else(|| current.endpoints());
            if websocket {
                if !endpoints.is_empty() {
                    return Err(Status::invalid_argument(
                        "endpoints are for Streamable HTTP and HTTP+SSE backends, not WebSocket ones",
                    ));
                }
            } else if transport != "grpc" {
                let link = self.link(&current.name, &url, &with)?;
                crate::admin::endpoints::check(&current.name, &url, &transport, &protocol_version, &endpoints, &link)
                    .await?;
            }
            update.endpoints = Some(endpoints);
        }
        Ok((current, update))
    }
}
