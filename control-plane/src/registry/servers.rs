//! Virtual servers: named sets of catalog items, and of whole backends
//! (every item they have, now and later). Whether the members' names
//! clash is the admin API's check (it knows how names are exposed); this
//! module stores servers atomically and refuses members that do not exist.

use super::{Registry, RegistryError, Result, bump, catalog, with_db};

/// One member as given to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub item_id: String,
    pub keep_original_name: bool,
    pub rename: Option<String>,
}

/// A whole backend as a member, as given to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBackendMember {
    pub backend_id: String,
    pub keep_original_names: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackendMemberRow {
    pub server_id: String,
    pub backend_id: String,
    pub position: i64,
    pub keep_original_names: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub server_id: String,
    pub item_id: String,
    pub position: i64,
    pub keep_original_name: bool,
    pub rename: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServerRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub config_version: i64,
    /// A disabled server is kept but not served.
    pub enabled: bool,
    #[sqlx(skip)]
    pub members: Vec<MemberRow>,
    /// Backends whose every item is a member.
    #[sqlx(skip)]
    pub backends: Vec<BackendMemberRow>,
}

pub(super) const SERVER_SELECT: &str = "SELECT id, name, description, config_version, enabled FROM servers";
pub(super) const MEMBER_SELECT: &str =
    "SELECT server_id, item_id, position, keep_original_name, rename FROM server_members";

pub(super) const BACKEND_MEMBER_SELECT: &str =
    "SELECT server_id, backend_id, position, keep_original_names FROM server_backends";

/// Hands each server its members and member backends (each given in
/// position order).
pub(super) fn attach_members(servers: &mut [ServerRow], members: Vec<MemberRow>, backends: Vec<BackendMemberRow>) {
    for m in members {
        if let Some(s) = servers.iter_mut().find(|s| s.id == m.server_id) {
            s.members.push(m);
        }
    }
    for b in backends {
        if let Some(s) = servers.iter_mut().find(|s| s.id == b.server_id) {
            s.backends.push(b);
        }
    }
}

/// Replaces a server's members and member backends (inside a write
/// transaction), refusing ids that name no catalog item or no backend.
macro_rules! put_members {
    ($tx:expr, $server_id:expr, $members:expr, $backends:expr) => {{
        let tx = $tx;
        sqlx::query("DELETE FROM server_backends WHERE server_id = $1")
            .bind($server_id)
            .execute(&mut **tx)
            .await?;
        for (i, b) in $backends.iter().enumerate() {
            let b: &$crate::registry::NewBackendMember = b;
            let found: Option<(String,)> = sqlx::query_as("SELECT id FROM backends WHERE id = $1")
                .bind(&b.backend_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err($crate::registry::RegistryError::Invalid(format!(
                    "member backend #{i} names no backend (id {:?}); list backends with ListBackends",
                    b.backend_id
                )));
            }
            sqlx::query(
                "INSERT INTO server_backends (server_id, backend_id, position, keep_original_names) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind($server_id)
            .bind(&b.backend_id)
            .bind(i as i64)
            .bind(b.keep_original_names)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                $crate::registry::unique_violation(e, || format!("backend {:?} is a member twice", b.backend_id))
            })?;
        }
        sqlx::query("DELETE FROM server_members WHERE server_id = $1")
            .bind($server_id)
            .execute(&mut **tx)
            .await?;
        for (i, m) in $members.iter().enumerate() {
            let found: Option<(String,)> = sqlx::query_as("SELECT id FROM catalog WHERE id = $1")
                .bind(&m.item_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err($crate::registry::RegistryError::Invalid(format!(
                    "member #{i} names no catalog item (id {:?}); list items with ListItems",
                    m.item_id
                )));
            }
            sqlx::query(
                "INSERT INTO server_members (server_id, item_id, position, keep_original_name, rename) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind($server_id)
            .bind(&m.item_id)
            .bind(i as i64)
            .bind(m.keep_original_name)
            .bind(&m.rename)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::registry::unique_violation(e, || format!("item {:?} is a member twice", m.item_id)))?;
        }
    }};
}
pub(crate) use put_members;

/// Inserts server `$id` with its members (inside a write transaction at
/// version `$v`).
macro_rules! insert_server {
    ($tx:expr, $id:expr, $name:expr, $description:expr, $members:expr, $backends:expr, $v:expr) => {{
        let tx = $tx;
        let name: &str = $name;
        sqlx::query(
            "INSERT INTO servers (id, name, description, created_at_ms, config_version) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($id)
        .bind(name)
        .bind($description)
        .bind($crate::registry::now_ms())
        .bind($v)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            $crate::registry::unique_violation(e, || format!("a virtual server named {name:?} already exists"))
        })?;
        $crate::registry::servers::put_members!(&mut *tx, $id, $members, $backends);
    }};
}
pub(crate) use insert_server;

/// Replaces server `$id`'s description and members (inside a write
/// transaction at version `$v`).
macro_rules! update_server {
    ($tx:expr, $id:expr, $description:expr, $members:expr, $backends:expr, $v:expr) => {{
        let tx = $tx;
        sqlx::query("UPDATE servers SET description = $1, config_version = $2 WHERE id = $3")
            .bind($description)
            .bind($v)
            .bind($id)
            .execute(&mut **tx)
            .await?;
        $crate::registry::servers::put_members!(&mut *tx, $id, $members, $backends);
    }};
}
pub(crate) use update_server;

/// Turns server `$id` on or off (inside a write transaction at version `$v`).
macro_rules! set_server_enabled {
    ($tx:expr, $id:expr, $enabled:expr, $v:expr) => {{
        let tx = $tx;
        sqlx::query("UPDATE servers SET enabled = $1, config_version = $2 WHERE id = $3")
            .bind($enabled)
            .bind($v)
            .bind($id)
            .execute(&mut **tx)
            .await?;
    }};
}
pub(crate) use set_server_enabled;

impl NewMember {
    /// A member under the gateway's usual name.
    pub fn plain(item_id: &str) -> Self {
        Self {
            item_id: item_id.into(),
            keep_original_name: false,
            rename: None,
        }
    }
}

impl Registry {
    pub async fn create_server(
        &self,
        name: &str,
        description: &str,
        members: &[NewMember],
        backends: &[NewBackendMember],
    ) -> Result<ServerRow> {
        let id = uuid::Uuid::new_v4().to_string();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            insert_server!(&mut tx, &id, name, description, members, backends, v);
            tx.commit().await?;
        });
        self.get_server(&id).await
    }

    /// A server by id or name, with its members in order.
    pub async fn get_server(&self, key: &str) -> Result<ServerRow> {
        // An id wins over a name that happens to look like one.
        let sql =
            format!("{SERVER_SELECT} WHERE id = $1 OR name = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1");
        let members_sql = format!("{MEMBER_SELECT} WHERE server_id = $1 ORDER BY position");
        let backends_sql = format!("{BACKEND_MEMBER_SELECT} WHERE server_id = $1 ORDER BY position");
        with_db!(&self.db, pool => {
            let row: Option<ServerRow> = sqlx::query_as(&sql).bind(key).fetch_optional(pool).await?;
            let mut row = row.ok_or_else(|| RegistryError::NotFound(format!("no virtual server has the id or name {key:?}")))?;
            row.members = sqlx::query_as(&members_sql).bind(&row.id).fetch_all(pool).await?;
            row.backends = sqlx::query_as(&backends_sql).bind(&row.id).fetch_all(pool).await?;
            Ok(row)
        })
    }

    /// Servers ordered by name, with their members.
    pub async fn list_servers(&self) -> Result<Vec<ServerRow>> {
        self.servers_where(&format!("{SERVER_SELECT} ORDER BY name"), None)
            .await
    }

    async fn servers_where(&self, sql: &str, since: Option<i64>) -> Result<Vec<ServerRow>> {
        let members_sql = format!("{MEMBER_SELECT} ORDER BY server_id, position");
        let backends_sql = format!("{BACKEND_MEMBER_SELECT} ORDER BY server_id, position");
        type Rows = (Vec<ServerRow>, Vec<MemberRow>, Vec<BackendMemberRow>);
        let (mut servers, members, backends): Rows = with_db!(&self.db, pool => {
            let mut q = sqlx::query_as(sql);
            if let Some(v) = since {
                q = q.bind(v);
            }
            (
                q.fetch_all(pool).await?,
                sqlx::query_as(&members_sql).fetch_all(pool).await?,
                sqlx::query_as(&backends_sql).fetch_all(pool).await?,
            )
        });
        attach_members(&mut servers, members, backends);
        Ok(servers)
    }

    pub async fn update_server(
        &self,
        key: &str,
        description: &str,
        members: &[NewMember],
        backends: &[NewBackendMember],
    ) -> Result<ServerRow> {
        let id = self.get_server(key).await?.id;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            update_server!(&mut tx, &id, description, members, backends, v);
            tx.commit().await?;
        });
        self.get_server(&id).await
    }

    /// Turns a server on or off (a config change when it differs).
    pub async fn set_server_enabled(&self, key: &str, enabled: bool) -> Result<ServerRow> {
        let current = self.get_server(key).await?;
        if current.enabled == enabled {
            return Ok(current);
        }
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            set_server_enabled!(&mut tx, &current.id, enabled, v);
            tx.commit().await?;
        });
        self.get_server(&current.id).await
    }

    pub async fn delete_server(&self, key: &str) -> Result<()> {
        let id = self.get_server(key).await?.id;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            sqlx::query("DELETE FROM servers WHERE id = $1").bind(&id).execute(&mut *tx).await?;
            catalog::tombstone!(&mut *tx, "server", &id, v);
            tx.commit().await?;
        });
        Ok(())
    }
}
