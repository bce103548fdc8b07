//! Tools discovered on backends.

use super::{Registry, RegistryError, Result, bump, with_db};

/// One tool as a backend listed it.
#[derive(Debug, Clone)]
pub struct DiscoveredTool {
    pub name: String,
    pub description: String,
    /// The definition exactly as the backend sent it.
    pub definition_json: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ToolRow {
    pub id: String,
    pub backend_id: String,
    pub backend_slug: String,
    pub name: String,
    pub position: i64,
    pub description: String,
    pub definition_json: String,
    pub enabled: bool,
    pub config_version: i64,
}

pub(super) const TOOL_SELECT: &str = "SELECT t.id, t.backend_id, b.slug AS backend_slug, t.name, t.position, \
     t.description, t.definition_json, t.enabled, t.config_version FROM tools t JOIN backends b ON b.id = t.backend_id";

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

/// Makes a backend's stored tools match a fresh discovery (inside a write
/// transaction at version `$v`): tools keep their id and enabled flag across
/// rediscovery, only changed ones get the new version, vanished ones leave a
/// tombstone.
macro_rules! sync {
    ($tx:expr, $backend_id:expr, $tools:expr, $v:expr) => {{
        let tx = $tx;
        let backend_id: &str = $backend_id;
        let tools: &[$crate::registry::DiscoveredTool] = $tools;
        let existing: Vec<(String, String, i64, String, String)> =
            sqlx::query_as("SELECT id, name, position, description, definition_json FROM tools WHERE backend_id = $1")
                .bind(backend_id)
                .fetch_all(&mut **tx)
                .await?;
        for (i, t) in tools.iter().enumerate() {
            let position = i as i64;
            match existing.iter().find(|e| e.1 == t.name) {
                Some(e) if e.2 == position && e.3 == t.description && e.4 == t.definition_json => {}
                Some(e) => {
                    sqlx::query(
                        "UPDATE tools SET position = $1, description = $2, definition_json = $3, config_version = $4 \
                         WHERE id = $5",
                    )
                    .bind(position)
                    .bind(&t.description)
                    .bind(&t.definition_json)
                    .bind($v)
                    .bind(&e.0)
                    .execute(&mut **tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO tools (id, backend_id, name, position, description, definition_json, enabled, \
                         config_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(backend_id)
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
        for e in existing.iter().filter(|e| !tools.iter().any(|t| t.name == e.1)) {
            sqlx::query("DELETE FROM tools WHERE id = $1")
                .bind(&e.0)
                .execute(&mut **tx)
                .await?;
            $crate::registry::tools::tombstone!(&mut **tx, "tool", &e.0, $v);
        }
    }};
}
pub(super) use sync;

impl Registry {
    /// Tools in list order (backend slug, then the backend's order), of one
    /// backend if `backend_id` is set.
    pub async fn list_tools(&self, backend_id: Option<&str>, offset: u64, limit: u64) -> Result<Vec<ToolRow>> {
        let sql = format!(
            "{TOOL_SELECT} WHERE ($1 = '' OR t.backend_id = $1) ORDER BY b.slug, t.position LIMIT $2 OFFSET $3"
        );
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(&sql)
                .bind(backend_id.unwrap_or(""))
                .bind(limit as i64)
                .bind(offset as i64)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn get_tool(&self, id: &str) -> Result<ToolRow> {
        let sql = format!("{TOOL_SELECT} WHERE t.id = $1");
        let row: Option<ToolRow> = with_db!(&self.db, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.ok_or_else(|| RegistryError::NotFound(format!("no tool has the id {id:?}")))
    }

    pub async fn set_tool_enabled(&self, id: &str, enabled: bool) -> Result<ToolRow> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            let n = sqlx::query("UPDATE tools SET enabled = $1, config_version = $2 WHERE id = $3")
                .bind(enabled)
                .bind(v)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(RegistryError::NotFound(format!("no tool has the id {id:?}")));
            }
            tx.commit().await?;
        });
        self.get_tool(id).await
    }
}
