//! The registry: backends and what they offer, in SQLite (the embedded default) or
//! Postgres, chosen by the database URL.
//!
//! Every write is one transaction that first bumps `config_state.version`
//! (which also serializes writers: Postgres holds the row lock, SQLite the
//! write lock, until commit) and stamps every row it touches, and every
//! removal's tombstone, with the new version. So "what changed after version
//! V" is a plain query, for pushing deltas to data planes and for catching up
//! a node that reconnects.

mod backends;
pub mod batch;
pub mod catalog;
mod changes;
pub mod health;
pub mod leader;
pub mod owned;
mod servers;

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use backends::{BackendRow, BackendUpdate, Discovery, NewBackend, StoredConnection, StoredStdio};
pub use catalog::{DiscoveredItem, ItemRow};
pub use changes::{Changes, Tombstone};
pub use servers::{BackendMemberRow, MemberRow, NewBackendMember, NewMember, ServerRow};

/// The Postgres channel every committed write is announced on, with the
/// new version (migration 0017's trigger).
pub const CONFIG_CHANNEL: &str = "mcpgw_config";

/// The database behind the registry.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds; the body is
/// compiled once per database, so the same SQL serves both.
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::registry::Db::Sqlite($pool) => $body,
            $crate::registry::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_db;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The id of the built-in backend that holds the registry's own items.
pub const OWN_BACKEND_ID: &str = "registry";

#[derive(Clone, Debug)]
pub struct Registry {
    db: Db,
}

/// Bumps the config version inside a write transaction (`&mut *tx`) and
/// evaluates to the new version.
macro_rules! bump {
    ($conn:expr) => {{
        let (v,): (i64,) =
            sqlx::query_as("UPDATE config_state SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one($conn)
                .await?;
        v
    }};
}
pub(crate) use bump;

impl Registry {
    /// Opens (creating a SQLite file if needed) and migrates the database at
    /// `url`: `sqlite:PATH`, `sqlite::memory:`, or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Self> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL keeps the database consistent on a crash and
                // loses at most the last commits on power loss; FULL would fsync
                // on every registry write and slow config propagation.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // An in-memory database lives in one connection.
            let max = if url.contains(":memory:") { 1 } else { 4 };
            let pool = SqlitePoolOptions::new().max_connections(max).connect_with(opts).await?;
            sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("../migrations/postgres").run(&pool).await?;
            Db::Postgres(pool)
        } else {
            return Err(RegistryError::Invalid(format!(
                "DATABASE_URL {url:?} is neither sqlite:PATH nor postgres://..."
            )));
        };
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        with_db!(&db, pool => {
            sqlx::query(
                "INSERT INTO config_state (id, version, epoch, tool_name_separator, settings_version) \
                 VALUES (1, 0, $1, '-', 0) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&epoch)
            .execute(pool)
            .await?;
        });
        let registry = Self { db };
        registry.add_own_backend().await?;
        Ok(registry)
    }

    /// Adds the built-in backend of the registry's own items if it is not
    /// there yet, as a change like any other, so data planes holding an
    /// older version get it in their next delta. Two replicas opening one
    /// database at once: one adds it, the other finds it.
    async fn add_own_backend(&self) -> Result<()> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let there: Option<(String,)> = sqlx::query_as("SELECT id FROM backends WHERE id = $1")
                .bind(OWN_BACKEND_ID)
                .fetch_optional(&mut *tx)
                .await?;
            if there.is_none() {
                let v = bump!(&mut *tx);
                let added = sqlx::query(
                    "INSERT INTO backends (id, name, slug, url, transport, enabled, protocol_version, server_name, \
                     server_version, created_at_ms, config_version) \
                     VALUES ($1, '(registry)', '', 'registry:', 'registry', $2, '', 'mcpgw', '', 0, $3)",
                )
                .bind(OWN_BACKEND_ID)
                .bind(true)
                .bind(v)
                .execute(&mut *tx)
                .await;
                match added {
                    Ok(_) => tx.commit().await?,
                    Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        });
        Ok(())
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This registry's id: random per database, kept for its life. It is
    /// the epoch of the config data planes get, and the gateway's id in
    /// federation.
    pub async fn epoch(&self) -> Result<String> {
        let (epoch,): (String,) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT epoch FROM config_state WHERE id = 1").fetch_one(pool).await?
        });
        Ok(epoch)
    }

    /// The current config version.
    pub async fn version(&self) -> Result<u64> {
        let (v,): (i64,) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT version FROM config_state WHERE id = 1").fetch_one(pool).await?
        });
        Ok(v as u64)
    }

    /// The fleet-wide tool name separator.
    pub async fn separator(&self) -> Result<String> {
        let (s,): (String,) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT tool_name_separator FROM config_state WHERE id = 1").fetch_one(pool).await?
        });
        Ok(s)
    }

    /// Sets the separator (a config change when it differs).
    pub async fn set_separator(&self, sep: &str) -> Result<()> {
        mcpgw_data_plane::routing::naming::check_separator(sep).map_err(RegistryError::Invalid)?;
        if self.separator().await? == sep {
            return Ok(());
        }
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            sqlx::query("UPDATE config_state SET tool_name_separator = $1, settings_version = $2 WHERE id = 1")
                .bind(sep)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Maps a unique-constraint violation to a message a person can act on.
fn unique_violation(e: sqlx::Error, message: impl FnOnce() -> String) -> RegistryError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => RegistryError::AlreadyExists(message()),
        _ => RegistryError::Db(e),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
