//! The registry's own items (prompt templates, resources, resource
//! templates, REST tools): catalog items of the built-in backend
//! [`OWN_BACKEND_ID`], each carrying what it is made of. Written one at a
//! time, each write one transaction at a new config version.

use base64::Engine;
use prost::Message;

use super::{
    ItemRow, OWN_BACKEND_ID, Registry, RegistryError, Result, bump,
    catalog::{ITEM_SELECT, item_id, kind_to_db, tombstone},
    with_db,
};

/// An owned item as it is stored.
#[derive(Debug, Clone)]
pub struct NewOwned {
    pub kind: mcpgw_proto::v1::ItemKind,
    /// A tool's or prompt's name, a resource's uri, a template's uriTemplate.
    pub key: String,
    pub description: String,
    pub definition_json: String,
    pub owned: mcpgw_proto::v1::OwnedItem,
}

impl NewOwned {
    pub(super) fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.owned.encode_to_vec())
    }

    pub(super) fn taken(&self) -> impl FnOnce() -> String + '_ {
        move || {
            format!(
                "the registry already holds a {} named {:?}",
                kind_to_db(self.kind),
                self.key
            )
        }
    }
}

/// Inserts owned item `$new` with id `$id`, listed after the others of its
/// kind (inside a write transaction at version `$v`).
macro_rules! insert_owned {
    ($tx:expr, $id:expr, $new:expr, $enabled:expr, $v:expr) => {{
        let tx = $tx;
        let new: &$crate::registry::owned::NewOwned = $new;
        let kind = $crate::registry::catalog::kind_to_db(new.kind);
        let (position,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(position) + 1, 0) FROM catalog WHERE backend_id = $1 AND kind = $2")
                .bind($crate::registry::OWN_BACKEND_ID)
                .bind(kind)
                .fetch_one(&mut **tx)
                .await?;
        sqlx::query(
            "INSERT INTO catalog (id, backend_id, kind, name, position, description, definition_json, \
             enabled, config_version, owned) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($id)
        .bind($crate::registry::OWN_BACKEND_ID)
        .bind(kind)
        .bind(&new.key)
        .bind(position)
        .bind(&new.description)
        .bind(&new.definition_json)
        .bind($enabled)
        .bind($v)
        .bind(new.encoded())
        .execute(&mut **tx)
        .await
        .map_err(|e| $crate::registry::unique_violation(e, new.taken()))?;
    }};
}
pub(crate) use insert_owned;

/// Replaces owned item `$id` (of the same kind) with `$new`, keeping its
/// id, place and settings (inside a write transaction at version `$v`).
macro_rules! update_owned {
    ($tx:expr, $id:expr, $new:expr, $v:expr) => {{
        let tx = $tx;
        let id: &str = $id;
        let new: &$crate::registry::owned::NewOwned = $new;
        let changed = sqlx::query(
            "UPDATE catalog SET name = $1, description = $2, definition_json = $3, owned = $4, \
             config_version = $5 WHERE id = $6 AND backend_id = $7 AND kind = $8",
        )
        .bind(&new.key)
        .bind(&new.description)
        .bind(&new.definition_json)
        .bind(new.encoded())
        .bind($v)
        .bind(id)
        .bind($crate::registry::OWN_BACKEND_ID)
        .bind($crate::registry::catalog::kind_to_db(new.kind))
        .execute(&mut **tx)
        .await
        .map_err(|e| $crate::registry::unique_violation(e, new.taken()))?
        .rows_affected();
        if changed == 0 {
            return Err($crate::registry::RegistryError::NotFound(format!(
                "the registry holds no {} with the id {id:?}",
                $crate::registry::catalog::kind_to_db(new.kind)
            )));
        }
    }};
}
pub(crate) use update_owned;

impl NewOwned {
    /// The id the item gets when it is added.
    pub fn id(&self) -> String {
        item_id(OWN_BACKEND_ID, self.kind, &self.key)
    }
}

impl Registry {
    /// Adds an owned item, listed after the others of its kind.
    pub async fn create_owned(&self, new: &NewOwned, enabled: bool) -> Result<ItemRow> {
        let id = new.id();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            insert_owned!(&mut tx, &id, new, enabled, v);
            tx.commit().await?;
        });
        self.get_item(&id).await
    }

    /// Replaces owned item `id` (of the same kind). A new key keeps the
    /// item's id, place and settings.
    pub async fn update_owned(&self, id: &str, new: &NewOwned) -> Result<ItemRow> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            update_owned!(&mut tx, id, new, v);
            tx.commit().await?;
        });
        self.get_item(id).await
    }

    /// Removes owned item `id` (virtual servers naming it skip it).
    pub async fn delete_owned(&self, id: &str) -> Result<()> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            let removed = sqlx::query("DELETE FROM catalog WHERE id = $1 AND backend_id = $2")
                .bind(id)
                .bind(OWN_BACKEND_ID)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(RegistryError::NotFound(format!(
                    "the registry holds no item with the id {id:?}"
                )));
            }
            tombstone!(&mut *tx, "item", id, v);
            tx.commit().await?;
        });
        Ok(())
    }

    /// An owned item of `kind` by id or key (name, uri, uriTemplate).
    pub async fn find_owned(&self, kind: Option<mcpgw_proto::v1::ItemKind>, key: &str) -> Result<ItemRow> {
        let sql = format!(
            "{ITEM_SELECT} WHERE t.backend_id = $1 AND (t.id = $2 OR t.name = $2) AND ($3 = '' OR t.kind = $3) \
             ORDER BY CASE WHEN t.id = $2 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row: Option<ItemRow> = with_db!(&self.db, pool => {
            sqlx::query_as(&sql)
                .bind(OWN_BACKEND_ID)
                .bind(key)
                .bind(kind.map(kind_to_db).unwrap_or(""))
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| RegistryError::NotFound(format!("the registry holds no item {key:?}")))
    }
}
