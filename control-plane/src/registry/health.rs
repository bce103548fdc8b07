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
    pub async fn set_backend_health(&self, id: &str, health: &BackendHealth) -> Result<()> {
        let json = serde_json::to_string(health).expect("health serializes");
        with_db!(self.db(), pool => {
            sqlx::query("UPDATE backends SET health_json = $1 WHERE id = $2")
                .bind(&json)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
