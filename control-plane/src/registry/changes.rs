//! What changed after a config version: the input of config distribution.

use super::{
    BackendRow, Db, ItemRow, Registry, Result, ServerRow,
    backends::BACKEND_SELECT,
    catalog::ITEM_SELECT,
    servers::{BACKEND_MEMBER_SELECT, MEMBER_SELECT, SERVER_SELECT, attach_members},
    with_db,
};

/// One removal.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tombstone {
    pub kind: String,
    pub id: String,
    pub config_version: i64,
}

/// Every row and tombstone stamped after some version, read from one
/// consistent view of the database.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub epoch: String,
    pub version: u64,
    /// The separator, if it changed, with the version it changed at.
    pub separator: Option<(String, u64)>,
    pub backends: Vec<BackendRow>,
    pub items: Vec<ItemRow>,
    pub servers: Vec<ServerRow>,
    pub tombstones: Vec<Tombstone>,
}

impl Registry {
    pub async fn changes_since(&self, since: u64) -> Result<Changes> {
        let since_i = since as i64;
        let is_pg = matches!(self.db, Db::Postgres(_));
        let backends_sql = format!("{BACKEND_SELECT} WHERE b.config_version > $1");
        let items_sql = format!("{ITEM_SELECT} WHERE t.config_version > $1 ORDER BY t.config_version");
        let servers_sql = format!("{SERVER_SELECT} WHERE config_version > $1");
        let members_sql = format!(
            "{MEMBER_SELECT} WHERE server_id IN (SELECT id FROM servers WHERE config_version > $1) \
             ORDER BY server_id, position"
        );
        let member_backends_sql = format!(
            "{BACKEND_MEMBER_SELECT} WHERE server_id IN (SELECT id FROM servers WHERE config_version > $1) \
             ORDER BY server_id, position"
        );
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if is_pg {
                // One snapshot for every read below (SQLite's read transaction already is one).
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
            }
            let (version, epoch, sep, sep_v): (i64, String, String, i64) = sqlx::query_as(
                "SELECT version, epoch, tool_name_separator, settings_version FROM config_state WHERE id = 1",
            )
            .fetch_one(&mut *tx)
            .await?;
            let backends = sqlx::query_as(&backends_sql).bind(since_i).fetch_all(&mut *tx).await?;
            let items = sqlx::query_as(&items_sql).bind(since_i).fetch_all(&mut *tx).await?;
            let mut servers: Vec<ServerRow> = sqlx::query_as(&servers_sql).bind(since_i).fetch_all(&mut *tx).await?;
            let members = sqlx::query_as(&members_sql).bind(since_i).fetch_all(&mut *tx).await?;
            let member_backends = sqlx::query_as(&member_backends_sql).bind(since_i).fetch_all(&mut *tx).await?;
            attach_members(&mut servers, members, member_backends);
            let tombstones = sqlx::query_as("SELECT kind, id, config_version FROM tombstones WHERE config_version > $1")
                .bind(since_i)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Changes {
                epoch,
                version: version as u64,
                separator: (sep_v > since_i || since == 0).then_some((sep, sep_v as u64)),
                backends,
                items,
                servers,
                tombstones,
            })
        })
    }
}
