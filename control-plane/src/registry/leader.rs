//! One control-plane replica at a time for work that must not run twice
//! (health checks): the replica that holds a Postgres advisory lock, on a
//! connection of its own kept for as long as it leads. Postgres releases the
//! lock when that connection ends (the replica died, or lost its database),
//! and another replica takes over at its next try. A SQLite registry belongs
//! to one process, which always leads.

use sqlx::{Connection, PgConnection};

use super::{Db, Registry, Result};

/// Work that one replica does for the whole fleet; its lock key.
#[derive(Clone, Copy, Debug)]
pub enum Job {
    HealthChecks,
}

impl Job {
    fn key(self) -> i64 {
        match self {
            // "mcpgw" "hc", so it does not collide with other users' locks.
            Job::HealthChecks => 0x6d63_7067_7700_6863,
        }
    }
}

/// This replica leads a [`Job`] while it holds this.
pub struct Leadership {
    /// The connection holding the advisory lock (`None`: SQLite).
    conn: Option<PgConnection>,
}

impl Registry {
    /// Becomes the one replica doing `job`, or `None` while another is.
    pub async fn try_lead(&self, job: Job) -> Result<Option<Leadership>> {
        let pool = match self.db() {
            Db::Sqlite(_) => return Ok(Some(Leadership { conn: None })),
            Db::Postgres(pool) => pool,
        };
        // Detached from the pool: the lock lives and dies with this connection.
        let mut conn = pool.acquire().await?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(job.key())
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(Leadership { conn: Some(conn) }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }
}

impl Leadership {
    /// Whether this replica still leads: the connection holding the lock
    /// still answers.
    pub async fn holds(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => conn.ping().await.is_ok(),
        }
    }
}
