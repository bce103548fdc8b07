//! What the health checks found about each backend: kept beside the backend
//! for the APIs, written without a new config version (data planes keep
//! breakers of their own and need none of it), so a check that finds
//! nothing new disturbs no one.

use serde::{Deserialize, Serialize};

use super::{Registry, Result, with_db};

/// A backend's health as last checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendHealth {
    pub status: HealthStatus,
    /// The last failure seen (kept after the backend recovers), and when.
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub last_error_at_ms: i64,
    #[serde(default)]
    pub checked_at_ms: i64,
    /// Checks in a row in which no endpoint answered.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Each endpoint (the backend's URL first) as last checked.
    #[serde(default)]
    pub endpoints: Vec<EndpointHealth>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Not checked yet, or not checkable here.
    #[default]
    Unknown,
    /// Every endpoint answered.
    Healthy,
    /// Some endpoints answered, some did not.
    Degraded,
    /// No endpoint answered, in as many checks in a row as the threshold.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Unknown => "unknown",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    pub url: String,
    pub healthy: bool,
    #[serde(default)]
    pub error: String,
}

impl Registry {
    /// Records backend `id`'s health (a backend removed meanwhile is left
    /// alone).
    /// Records what a check found. Going down (unhealthy) or coming back is
    /// a change data planes must see (they stop serving a backend that is
    /// down), so it bumps the version; other findings do not.
    pub async fn set_backend_health(&self, id: &str, health: &BackendHealth) -> Result<()> {
        let json = serde_json::to_string(health).expect("health serializes");
        let down = health.status == HealthStatus::Unhealthy;
        with_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let was: Option<(String,)> = sqlx::query_as("SELECT health_json FROM backends WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let was_down = was
                .and_then(|(j,)| serde_json::from_str::<BackendHealth>(&j).ok())
                .is_some_and(|h| h.status == HealthStatus::Unhealthy);
            if was_down != down {
                let v = super::bump!(&mut *tx);
                sqlx::query("UPDATE backends SET health_json = $1, config_version = $2 WHERE id = $3")
                    .bind(&json)
                    .bind(v)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE backends SET health_json = $1 WHERE id = $2")
                    .bind(&json)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
