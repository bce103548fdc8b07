//! What backends offer: tools, prompts, resources and resource templates,
//! stored alike as catalog items of a kind.

use mcpgw_proto::v1::ItemKind;

use super::{Registry, RegistryError, Result, bump, with_db};

/// The kind as stored in the `catalog.kind` column.
pub fn kind_to_db(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Tool | ItemKind::Unspecified => "tool",
        ItemKind::Prompt => "prompt",
        ItemKind::Resource => "resource",
        ItemKind::ResourceTemplate => "resource_template",
    }
}

pub fn kind_from_db(s: &str) -> ItemKind {
    match s {
        "prompt" => ItemKind::Prompt,
        "resource" => ItemKind::Resource,
        "resource_template" => ItemKind::ResourceTemplate,
        _ => ItemKind::Tool,
    }
}

/// An item's id: derived from its backend, kind and key, so an item that
/// disappears from a backend and comes back (a flapping rediscovery) gets
/// its old id, and virtual servers that list it find it again.
pub fn item_id(backend_id: &str, kind: ItemKind, name: &str) -> String {
    let key = format!("{backend_id}\0{}\0{name}", kind_to_db(kind));
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string()
}

/// Whether a tool's definition declares it changes nothing
/// (`annotations.readOnlyHint: true`): the one hint that makes serving a
/// stored result to another caller safe. `idempotentHint` is not enough; an
/// idempotent write still acts.
pub fn read_only(definition_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(definition_json)
        .ok()
        .and_then(|d| {
            d.pointer("/annotations/readOnlyHint")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false)
}

/// One item as a backend listed it.
#[derive(Debug, Clone)]
pub struct DiscoveredItem {
    pub kind: ItemKind,
    /// A tool's or prompt's name, a resource's uri, a template's uriTemplate.
    pub name: String,
    pub description: String,
    /// The definition exactly as the backend sent it.
    pub definition_json: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: String,
    pub backend_id: String,
    pub backend_slug: String,
    pub kind: String,
    pub name: String,
    pub position: i64,
    pub description: String,
    pub definition_json: String,
    pub enabled: bool,
    pub config_version: i64,
    /// Seconds data planes cache the item's results (see `set_item_cache`).
    pub cache_ttl_secs: Option<i64>,
    /// For the registry's own items: the OwnedItem (protobuf, base64).
    pub owned: String,
}

impl ItemRow {
    /// What an item of the registry's own is made of.
    pub fn owned(&self) -> Option<mcpgw_proto::v1::OwnedItem> {
        use base64::Engine;
        use prost::Message;
        if self.owned.is_empty() {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.owned).ok()?;
        mcpgw_proto::v1::OwnedItem::decode(bytes.as_slice()).ok()
    }
}

pub(super) const ITEM_SELECT: &str = "SELECT t.id, t.backend_id, b.slug AS backend_slug, t.kind, t.name, \
     t.position, t.description, t.definition_json, t.enabled, t.config_version, t.cache_ttl_secs, t.owned \
     FROM catalog t JOIN backends b ON b.id = t.backend_id";

/// Records a removal at version `$v` (inside a write transaction).
macro_rules! tombstone {
    ($conn:expr, $kind:expr, $id:expr, $v:expr) => {
        sqlx::query(
            "INSERT INTO tombstones (kind, id, config_version) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, id) DO UPDATE SET config_version = excluded.config_version",
        )
        .bind($kind)
        .bind($id)
        .bind($v)
        .execute($conn)
        .await?
    };
}
pub(super) use tombstone;

/// Makes a backend's stored items match a fresh discovery (inside a write
/// transaction at version `$v`): items keep their id and enabled flag across
/// rediscovery, only changed ones get the new version, vanished ones leave a
/// tombstone. Positions count within each kind.
macro_rules! sync {
    ($tx:expr, $backend_id:expr, $items:expr, $v:expr) => {{
        let tx = $tx;
        let backend_id: &str = $backend_id;
        let items: &[$crate::registry::DiscoveredItem] = $items;
        let existing: Vec<(String, String, String, i64, String, String)> = sqlx::query_as(
            "SELECT id, kind, name, position, description, definition_json FROM catalog WHERE backend_id = $1",
        )
        .bind(backend_id)
        .fetch_all(&mut **tx)
        .await?;
        let same = |e: &(String, String, String, i64, String, String), t: &$crate::registry::DiscoveredItem| {
            e.1 == $crate::registry::catalog::kind_to_db(t.kind) && e.2 == t.name
        };
        for (i, t) in items.iter().enumerate() {
            let position = items[..i].iter().filter(|o| o.kind == t.kind).count() as i64;
            match existing.iter().find(|e| same(e, t)) {
                Some(e) if e.3 == position && e.4 == t.description && e.5 == t.definition_json => {}
                Some(e) => {
                    // A tool that stops declaring itself read-only loses its
                    // cache setting: its results may now act, so none is
                    // served to another caller.
                    let keeps_cache = $crate::registry::catalog::kind_to_db(t.kind) != "tool"
                        || $crate::registry::catalog::read_only(&t.definition_json);
                    sqlx::query(
                        "UPDATE catalog SET position = $1, description = $2, definition_json = $3, \
                         config_version = $4, cache_ttl_secs = CASE WHEN $6 THEN cache_ttl_secs ELSE NULL END \
                         WHERE id = $5",
                    )
                    .bind(position)
                    .bind(&t.description)
                    .bind(&t.definition_json)
                    .bind($v)
                    .bind(&e.0)
                    .bind(keeps_cache)
                    .execute(&mut **tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO catalog (id, backend_id, kind, name, position, description, definition_json, \
                         enabled, config_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind($crate::registry::catalog::item_id(backend_id, t.kind, &t.name))
                    .bind(backend_id)
                    .bind($crate::registry::catalog::kind_to_db(t.kind))
                    .bind(&t.name)
                    .bind(position)
                    .bind(&t.description)
                    .bind(&t.definition_json)
                    .bind(true)
                    .bind($v)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        for e in existing.iter().filter(|e| !items.iter().any(|t| same(e, t))) {
            sqlx::query("DELETE FROM catalog WHERE id = $1")
                .bind(&e.0)
                .execute(&mut **tx)
                .await?;
            $crate::registry::catalog::tombstone!(&mut **tx, "item", &e.0, $v);
        }
    }};
}
pub(super) use sync;

impl Registry {
    /// Items of one kind in list order (backend slug, then the backend's
    /// order), of one backend if `backend_id` is set.
    pub async fn list_items(
        &self,
        kind: ItemKind,
        backend_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ItemRow>> {
        let sql = format!(
            "{ITEM_SELECT} WHERE t.kind = $1 AND ($2 = '' OR t.backend_id = $2) \
             ORDER BY b.slug, t.position LIMIT $3 OFFSET $4"
        );
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(&sql)
                .bind(kind_to_db(kind))
                .bind(backend_id.unwrap_or(""))
                .bind(limit as i64)
                .bind(offset as i64)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Tools in list order, of one backend if `backend_id` is set.
    pub async fn list_tools(&self, backend_id: Option<&str>, offset: u64, limit: u64) -> Result<Vec<ItemRow>> {
        self.list_items(ItemKind::Tool, backend_id, offset, limit).await
    }

    pub async fn get_item(&self, id: &str) -> Result<ItemRow> {
        let sql = format!("{ITEM_SELECT} WHERE t.id = $1");
        let row: Option<ItemRow> = with_db!(&self.db, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.ok_or_else(|| RegistryError::NotFound(format!("no catalog item has the id {id:?}")))
    }

    /// A tool by id.
    pub async fn get_tool(&self, id: &str) -> Result<ItemRow> {
        match self.get_item(id).await {
            Ok(t) if t.kind == "tool" => Ok(t),
            Ok(_) | Err(RegistryError::NotFound(_)) => {
                Err(RegistryError::NotFound(format!("no tool has the id {id:?}")))
            }
            Err(e) => Err(e),
        }
    }

    /// Sets how long data planes cache an item's results (`None`: the
    /// default). Which kinds may be cached is the caller's to check.
    pub async fn set_item_cache(&self, id: &str, ttl_secs: Option<i64>) -> Result<ItemRow> {
        self.set_item(id, ItemSetting::CacheTtl(ttl_secs)).await
    }

    /// Enables or disables a catalog item of any kind.
    pub async fn set_item_enabled(&self, id: &str, enabled: bool) -> Result<ItemRow> {
        self.set_item(id, ItemSetting::Enabled(enabled)).await
    }

    /// Changes one operator setting of an item, at a new config version.
    async fn set_item(&self, id: &str, setting: ItemSetting) -> Result<ItemRow> {
        let column = match setting {
            ItemSetting::Enabled(_) => "enabled",
            ItemSetting::CacheTtl(_) => "cache_ttl_secs",
        };
        let sql = format!("UPDATE catalog SET {column} = $1, config_version = $2 WHERE id = $3");
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            let query = sqlx::query(&sql);
            let query = match setting {
                ItemSetting::Enabled(enabled) => query.bind(enabled),
                ItemSetting::CacheTtl(ttl) => query.bind(ttl),
            };
            let n = query.bind(v).bind(id).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(RegistryError::NotFound(format!("no catalog item has the id {id:?}")));
            }
            tx.commit().await?;
        });
        self.get_item(id).await
    }
}

/// What an operator sets on a catalog item (discovery keeps it).
enum ItemSetting {
    Enabled(bool),
    CacheTtl(Option<i64>),
}
