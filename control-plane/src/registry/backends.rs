//! Backends: create (with what discovery found), read, update, delete.

use super::{Registry, RegistryError, Result, bump, catalog, with_db};
use mcpgw_data_plane::{
    cache::hint::ListHints,
    upstream::{Dialect, TlsSettings},
};

use crate::registry::DiscoveredItem;

/// One backend as stored, with its tool count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackendRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub url: String,
    pub transport: String,
    pub enabled: bool,
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    pub created_at_ms: i64,
    pub config_version: i64,
    pub tool_count: i64,
    /// Seconds data planes cache the backend's resource reads; `None`: their
    /// default, 0: not cached.
    pub cache_ttl_secs: Option<i64>,
    /// A JSON array of the backend's other endpoints' URLs.
    pub endpoints_json: String,
    /// A JSON [`super::health::BackendHealth`].
    pub health_json: String,
    /// For gRPC backends, the base64 of their `GrpcServices`; empty otherwise.
    pub grpc_services: String,
    /// For a peer gateway, the id it gave at discovery; empty otherwise.
    pub peer_gateway_id: String,
    /// What it said, at its last discovery, of the gateways it federates
    /// with (JSON, [`mcpgw_data_plane::protocol::OfferedPeer`]s; empty for
    /// none).
    pub offered_peers: String,
    /// The caching hints its lists gave at its last discovery (JSON
    /// [`ListHints`]; empty for none).
    pub list_hints: String,
    #[sqlx(flatten)]
    pub connection: StoredConnection,
}

/// How the gateway connects to a backend, as stored: the secrets sealed.
#[derive(Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredConnection {
    pub tls_ca_pem: String,
    pub tls_client_cert_pem: String,
    pub tls_insecure_skip_verify: bool,
    /// Never returned by an API.
    pub sealed_secrets: String,
    /// A JSON `CredentialsInfo`: what is set, without secrets.
    pub credentials_info: String,
    /// For stdio backends, a JSON [`StoredStdio`]; empty otherwise.
    pub stdio_json: String,
    /// For REST backends, the base64 of their `RestTools`; empty otherwise.
    pub rest_tools: String,
}

/// What a stdio backend runs, as stored (the environment's values are
/// among the sealed secrets).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StoredStdio {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub env_names: Vec<String>,
}

impl StoredConnection {
    /// A REST backend's tools (none for the others).
    pub fn rest_tools(&self) -> Vec<mcpgw_proto::v1::RestTool> {
        use base64::Engine;
        use prost::Message;
        base64::engine::general_purpose::STANDARD
            .decode(&self.rest_tools)
            .ok()
            .and_then(|b| mcpgw_proto::v1::RestTools::decode(b.as_slice()).ok())
            .map(|t| t.tools)
            .unwrap_or_default()
    }

    /// Stores `tools` as a REST backend's.
    pub fn set_rest_tools(&mut self, tools: Vec<mcpgw_proto::v1::RestTool>) {
        use base64::Engine;
        use prost::Message;
        let encoded = mcpgw_proto::v1::RestTools { tools }.encode_to_vec();
        self.rest_tools = base64::engine::general_purpose::STANDARD.encode(encoded);
    }

    /// What a stdio backend runs (`None` for the others).
    pub fn stdio(&self) -> Option<StoredStdio> {
        serde_json::from_str(&self.stdio_json).ok()
    }

    pub fn tls(&self) -> TlsSettings {
        TlsSettings {
            ca_pem: self.tls_ca_pem.clone(),
            client_cert_pem: self.tls_client_cert_pem.clone(),
            insecure_skip_verify: self.tls_insecure_skip_verify,
        }
    }
}

impl std::fmt::Debug for StoredConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredConnection")
            .field("tls_ca_pem", &!self.tls_ca_pem.is_empty())
            .field("tls_client_cert_pem", &!self.tls_client_cert_pem.is_empty())
            .field("tls_insecure_skip_verify", &self.tls_insecure_skip_verify)
            .field("credentials_info", &self.credentials_info)
            .field("stdio_json", &self.stdio_json)
            .field("rest_tools", &self.rest_tools.len())
            .finish_non_exhaustive()
    }
}

/// Binds a connection's columns to `$query`, in the order every statement
/// here lists them (`tls_ca_pem` … `rest_tools`).
macro_rules! bind_connection {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.tls_ca_pem)
            .bind(&$c.tls_client_cert_pem)
            .bind($c.tls_insecure_skip_verify)
            .bind(&$c.sealed_secrets)
            .bind(&$c.credentials_info)
            .bind(&$c.stdio_json)
            .bind(&$c.rest_tools)
    };
}
pub(crate) use bind_connection;

pub(super) const BACKEND_SELECT: &str = "SELECT b.id, b.name, b.slug, b.url, b.transport, b.enabled, \
     b.protocol_version, b.server_name, b.server_version, b.created_at_ms, b.config_version, \
     b.tls_ca_pem, b.tls_client_cert_pem, b.tls_insecure_skip_verify, b.sealed_secrets, b.credentials_info, b.stdio_json, b.rest_tools, \
     b.cache_ttl_secs, b.endpoints_json, b.health_json, b.grpc_services, b.peer_gateway_id, b.offered_peers, b.list_hints, (SELECT COUNT(*) FROM catalog t WHERE t.backend_id = b.id AND t.kind = 'tool') AS tool_count FROM backends b";

/// What discovery learned about a backend.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// How the backend was reached: `streamable_http` or `sse`.
    pub transport: String,
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// Tools, prompts, resources and templates, each kind in the backend's order.
    pub items: Vec<DiscoveredItem>,
    /// The id it gave as an mcpgw gateway, if it is one.
    pub peer_gateway_id: String,
    /// The gateways it says it federates with, as JSON (empty for none).
    pub offered_peers: String,
    /// Its lists' caching hints, as JSON [`ListHints`] (empty for none).
    pub list_hints: String,
}

#[derive(Debug, Clone)]
pub struct NewBackend {
    /// Chosen before it is stored: sealed secrets are bound to it.
    pub id: String,
    pub name: String,
    pub slug: String,
    pub url: String,
    pub connection: StoredConnection,
    pub discovery: Discovery,
    pub cache_ttl_secs: Option<i64>,
    /// Its other endpoints' URLs.
    pub endpoints: Vec<String>,
    /// For a gRPC backend: its descriptors and services.
    pub grpc: Option<mcpgw_proto::v1::GrpcServices>,
}

/// `GrpcServices` as stored: the base64 of its protobuf encoding.
pub fn encode_grpc(g: &mcpgw_proto::v1::GrpcServices) -> String {
    use base64::Engine;
    use prost::Message;
    base64::engine::general_purpose::STANDARD.encode(g.encode_to_vec())
}

fn decode_grpc(stored: &str) -> Option<mcpgw_proto::v1::GrpcServices> {
    use base64::Engine;
    use prost::Message;
    if stored.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(stored).ok()?;
    mcpgw_proto::v1::GrpcServices::decode(bytes.as_slice()).ok()
}

/// A change to a backend; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BackendUpdate {
    /// A new URL, with what discovery found there.
    pub url: Option<(String, Discovery)>,
    pub enabled: Option<bool>,
    /// New connection settings (replacing all of them).
    pub connection: Option<StoredConnection>,
    /// A new resource cache TTL.
    pub cache_ttl_secs: Option<i64>,
    /// New other endpoints (replacing them all).
    pub endpoints: Option<Vec<String>>,
    /// A gRPC backend's new descriptors.
    pub grpc: Option<mcpgw_proto::v1::GrpcServices>,
}

impl BackendUpdate {
    /// Everything about a backend replaced by `new` (a backend of the same
    /// name, checked and discovered as if it were registered now), which
    /// keeps the backend's id and so its items' ids.
    pub fn replacing(new: NewBackend, enabled: bool) -> Self {
        Self {
            url: Some((new.url, new.discovery)),
            enabled: Some(enabled),
            connection: Some(new.connection),
            cache_ttl_secs: new.cache_ttl_secs,
            endpoints: Some(new.endpoints),
            grpc: new.grpc,
        }
    }
}

impl BackendRow {
    /// How it is spoken to over HTTP, by its transport and the revision
    /// discovery found.
    pub fn dialect(&self) -> Dialect {
        Dialect::of(self.transport == "sse", &self.protocol_version)
    }

    /// Its lists' caching hints (none for a backend of an earlier era).
    pub fn list_hints(&self) -> ListHints {
        serde_json::from_str(&self.list_hints).unwrap_or_default()
    }

    /// The URLs of its other endpoints (replicas), besides `url`.
    pub fn endpoints(&self) -> Vec<String> {
        serde_json::from_str(&self.endpoints_json).unwrap_or_default()
    }

    /// A gRPC backend's descriptors and services (`None` for the others).
    pub fn grpc(&self) -> Option<mcpgw_proto::v1::GrpcServices> {
        decode_grpc(&self.grpc_services)
    }

    /// What the health checks last found.
    pub fn health(&self) -> super::health::BackendHealth {
        serde_json::from_str(&self.health_json).unwrap_or_default()
    }
}

/// Inserts a new backend and its catalog (inside a write transaction at
/// version `$v`).
macro_rules! insert_backend {
    ($tx:expr, $new:expr, $v:expr) => {{
        let tx = $tx;
        let new: &$crate::registry::NewBackend = $new;
        let c = &new.connection;
        let insert = sqlx::query(
            "INSERT INTO backends (id, name, slug, url, transport, enabled, protocol_version, server_name, \
             server_version, created_at_ms, config_version, tls_ca_pem, tls_client_cert_pem, \
             tls_insecure_skip_verify, sealed_secrets, credentials_info, stdio_json, rest_tools, cache_ttl_secs, \
             endpoints_json, grpc_services, peer_gateway_id, offered_peers, list_hints) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
        )
        .bind(&new.id)
        .bind(&new.name)
        .bind(&new.slug)
        .bind(&new.url)
        .bind(&new.discovery.transport)
        .bind(true)
        .bind(&new.discovery.protocol_version)
        .bind(&new.discovery.server_name)
        .bind(&new.discovery.server_version)
        .bind($crate::registry::now_ms())
        .bind($v);
        $crate::registry::backends::bind_connection!(insert, c)
            .bind(new.cache_ttl_secs)
            .bind(serde_json::to_string(&new.endpoints).expect("strings serialize"))
            .bind(new.grpc.as_ref().map($crate::registry::backends::encode_grpc).unwrap_or_default())
            .bind(&new.discovery.peer_gateway_id)
            .bind(&new.discovery.offered_peers)
            .bind(&new.discovery.list_hints)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                $crate::registry::unique_violation(e, || {
                    format!("a backend named {:?} (slug {:?}) already exists", new.name, new.slug)
                })
            })?;
        $crate::registry::catalog::sync!(&mut *tx, &new.id, &new.discovery.items, $v);
    }};
}
pub(crate) use insert_backend;

/// Applies a [`BackendUpdate`] to backend `$id` (inside a write transaction
/// at version `$v`); a missing backend is `NotFound`.
macro_rules! update_backend {
    ($tx:expr, $id:expr, $update:expr, $v:expr) => {{
        let tx = $tx;
        let id: &str = $id;
        let update: &$crate::registry::BackendUpdate = $update;
        let touched = sqlx::query("UPDATE backends SET config_version = $1 WHERE id = $2")
            .bind($v)
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if touched == 0 {
            return Err($crate::registry::RegistryError::NotFound(format!(
                "no backend has the id {id:?}"
            )));
        }
        if let Some((url, d)) = &update.url {
            sqlx::query(
                "UPDATE backends SET url = $1, protocol_version = $2, server_name = $3, server_version = $4, \
                 transport = $5, peer_gateway_id = $6, offered_peers = $7, list_hints = $8 WHERE id = $9",
            )
            .bind(url)
            .bind(&d.protocol_version)
            .bind(&d.server_name)
            .bind(&d.server_version)
            .bind(&d.transport)
            .bind(&d.peer_gateway_id)
            .bind(&d.offered_peers)
            .bind(&d.list_hints)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            $crate::registry::catalog::sync!(&mut *tx, id, &d.items, $v);
        }
        if let Some(c) = &update.connection {
            let set = sqlx::query(
                "UPDATE backends SET tls_ca_pem = $1, tls_client_cert_pem = $2, tls_insecure_skip_verify = $3, \
                 sealed_secrets = $4, credentials_info = $5, stdio_json = $6, rest_tools = $7 WHERE id = $8",
            );
            $crate::registry::backends::bind_connection!(set, c)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(grpc) = &update.grpc {
            sqlx::query("UPDATE backends SET grpc_services = $1 WHERE id = $2")
                .bind($crate::registry::backends::encode_grpc(grpc))
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(endpoints) = &update.endpoints {
            sqlx::query("UPDATE backends SET endpoints_json = $1 WHERE id = $2")
                .bind(serde_json::to_string(endpoints).expect("strings serialize"))
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(ttl) = update.cache_ttl_secs {
            sqlx::query("UPDATE backends SET cache_ttl_secs = $1 WHERE id = $2")
                .bind(ttl)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(enabled) = update.enabled {
            sqlx::query("UPDATE backends SET enabled = $1 WHERE id = $2")
                .bind(enabled)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
    }};
}
pub(crate) use update_backend;

impl Registry {
    pub async fn create_backend(&self, new: &NewBackend) -> Result<BackendRow> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            insert_backend!(&mut tx, new, v);
            tx.commit().await?;
        });
        self.get_backend(&new.id).await
    }

    /// A backend by id or name (never the registry's own: no API reads,
    /// changes or removes it).
    pub async fn get_backend(&self, key: &str) -> Result<BackendRow> {
        // An id wins over a name that happens to look like one.
        let sql = format!(
            "{BACKEND_SELECT} WHERE (b.id = $1 OR b.name = $1) AND b.id <> $2 \
             ORDER BY CASE WHEN b.id = $1 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row: Option<BackendRow> = with_db!(&self.db, pool => {
            sqlx::query_as(&sql).bind(key).bind(super::OWN_BACKEND_ID).fetch_optional(pool).await?
        });
        row.ok_or_else(|| RegistryError::NotFound(format!("no backend has the id or name {key:?}")))
    }

    /// Whether a backend already has this name or slug.
    pub async fn backend_conflict(&self, name: &str, slug: &str) -> Result<Option<String>> {
        let row: Option<(String, String)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT name, slug FROM backends WHERE name = $1 OR slug = $2")
                .bind(name)
                .bind(slug)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(n, s)| {
            if n == name {
                format!("a backend named {name:?} already exists; pick another name or remove it first")
            } else {
                format!("backend {n:?} already uses the slug {s:?} that {name:?} would get; pick a more distinct name")
            }
        }))
    }

    /// Backends ordered by name; not the registry's own, which is no
    /// backend to anyone outside.
    pub async fn list_backends(&self, offset: u64, limit: u64) -> Result<Vec<BackendRow>> {
        let sql = format!("{BACKEND_SELECT} WHERE b.id <> $3 ORDER BY b.name LIMIT $1 OFFSET $2");
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(&sql)
                .bind(limit as i64)
                .bind(offset as i64)
                .bind(super::OWN_BACKEND_ID)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn update_backend(&self, id: &str, update: &BackendUpdate) -> Result<BackendRow> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            update_backend!(&mut tx, id, update, v);
            tx.commit().await?;
        });
        self.get_backend(id).await
    }

    /// Removes a backend and its catalog, leaving tombstones for data planes.
    pub async fn delete_backend(&self, id: &str) -> Result<()> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            let item_ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM catalog WHERE backend_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM catalog WHERE backend_id = $1").bind(id).execute(&mut *tx).await?;
            let gone = sqlx::query("DELETE FROM backends WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            if gone == 0 {
                return Err(RegistryError::NotFound(format!("no backend has the id {id:?}")));
            }
            for (item_id,) in &item_ids {
                catalog::tombstone!(&mut *tx, "item", item_id, v);
            }
            catalog::tombstone!(&mut *tx, "backend", id, v);
            tx.commit().await?;
        });
        Ok(())
    }
}
