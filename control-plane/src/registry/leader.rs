//! One control-plane replica at a time for work that must not run twice
//! (health checks, the catalog listeners, the periodic re-listing): the
//! replica that holds a Postgres advisory lock, on a connection of its own
//! kept for as long as it leads. Postgres releases the lock when that
//! connection ends (the replica died, or lost its database), and a replica
//! standing by takes over at its next try, within [`LEAD_RETRY`]. A SQLite
//! registry belongs to one process, which always leads.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::{Db, Registry, Result};

/// How often a replica standing by tries for a job's lock, and a leader
/// checks that it still holds it: a dead leader's job resumes on another
/// replica within about this.
pub const LEAD_RETRY: Duration = Duration::from_secs(2);

/// Work that one replica does for the whole fleet; its lock key.
#[derive(Clone, Copy, Debug)]
pub enum Job {
    HealthChecks,
    /// One listening session per backend, for its list changes.
    CatalogListeners,
    /// Every backend listed again, periodically.
    Relisting,
}

impl Job {
    /// "mcpgw" and two letters of the job, so the keys do not collide with
    /// other users' locks.
    fn key(self) -> i64 {
        match self {
            Job::HealthChecks => 0x6d63_7067_7700_6863,
            Job::CatalogListeners => 0x6d63_7067_7700_636c,
            Job::Relisting => 0x6d63_7067_7700_726c,
        }
    }

    /// What the job is, in the replicas' logs.
    fn what(self) -> &'static str {
        match self {
            Job::HealthChecks => "the backends' health checks",
            Job::CatalogListeners => "the catalog listeners",
            Job::Relisting => "the periodic re-listing",
        }
    }
}

/// This replica leads a [`Job`] while it holds this.
pub struct Leadership {
    /// The connection holding the advisory lock (`None`: SQLite).
    conn: Option<PgConnection>,
    /// Another replica led the job before this one got the lock.
    stood_by: bool,
}

impl Registry {
    /// Becomes the one replica doing `job`, or `None` while another is.
    pub async fn try_lead(&self, job: Job) -> Result<Option<Leadership>> {
        let pool = match self.db() {
            Db::Sqlite(_) => {
                return Ok(Some(Leadership {
                    conn: None,
                    stood_by: false,
                }));
            }
            Db::Postgres(pool) => pool,
        };
        // Detached from the pool: the lock lives and dies with this connection.
        let mut conn = pool.acquire().await?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(job.key())
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(Leadership {
                conn: Some(conn),
                stood_by: false,
            }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Waits until this replica leads `job` (trying every [`LEAD_RETRY`]),
    /// saying so, and once that another replica does meanwhile.
    pub async fn lead(&self, job: Job) -> Leadership {
        let mut said_standby = false;
        loop {
            match self.try_lead(job).await {
                Ok(Some(mut l)) => {
                    tracing::info!("this control-plane replica runs {}", job.what());
                    l.stood_by = said_standby;
                    return l;
                }
                Ok(None) if !said_standby => {
                    tracing::info!("another control-plane replica runs {}; standing by", job.what());
                    said_standby = true;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot tell which replica runs {}", job.what()),
            }
            tokio::time::sleep(LEAD_RETRY).await;
        }
    }

    /// Runs `work` (made anew each time) whenever this replica leads
    /// `job`, stopping it when the lead is lost (the database connection
    /// that holds the lock went away), until `work` ends by itself. `work`
    /// is told whether the job went undone for a while before (another
    /// replica led it and died, or this one lost the lock), so that what
    /// it watches may have changed unseen.
    pub async fn while_leading<F, Fut>(&self, job: Job, work: F)
    where
        F: Fn(bool) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut first = true;
        loop {
            let mut leading = self.lead(job).await;
            let took_over = !first || leading.stood_by;
            first = false;
            tokio::select! {
                () = leading.lost() => {
                    tracing::warn!("lost the lock of {} (database connection); trying again", job.what());
                }
                () = work(took_over) => return,
            }
        }
    }
}

impl Leadership {
    /// Resolves once this replica no longer leads (never, on SQLite).
    pub async fn lost(&mut self) {
        loop {
            tokio::time::sleep(LEAD_RETRY).await;
            if !self.holds().await {
                return;
            }
        }
    }

    /// Whether this replica still leads: the connection holding the lock
    /// still answers.
    pub async fn holds(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => conn.ping().await.is_ok(),
        }
    }
}
