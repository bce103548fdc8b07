//! Periodic health checks of every enabled backend, run by one control-plane
//! replica at a time (see [`crate::registry::leader`]): each endpoint is
//! probed as a client would first reach it (`initialize`, the HTTP+SSE
//! stream, a WebSocket or stdio handshake; a REST API's base URL), within a
//! timeout, and what was found is stored for the APIs. A backend none of
//! whose endpoints answers for `unhealthy_after` checks in a row is
//! unhealthy; one with some endpoints down is degraded.
//!
//! Data planes do not wait for this: each keeps a circuit breaker per
//! endpoint (see `mcpgw_data_plane::upstream::endpoints`), so a replica is
//! taken out of a node's rotation on that node's own evidence.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use mcpgw_data_plane::upstream::{
    UpstreamError,
    endpoints::says_down,
    link::{Api, Connector},
};

use crate::registry::{
    BackendRow, Registry,
    health::{BackendHealth, EndpointHealth, HealthStatus},
    leader::Job,
};

/// Backends checked at once; a slow one holds only its own share.
const CONCURRENT: usize = 16;

#[derive(Clone, Copy, Debug)]
pub struct HealthPolicy {
    pub every: Duration,
    /// The longest one endpoint's probe may take.
    pub timeout: Duration,
    /// Checks in a row with no endpoint answering before a backend is
    /// unhealthy.
    pub unhealthy_after: u32,
}

/// Runs the checks on this replica whenever it leads.
pub fn spawn(registry: Registry, connector: Arc<Connector>, policy: HealthPolicy) {
    tokio::spawn(async move {
        registry
            .while_leading(Job::HealthChecks, |_| async {
                let mut tick = tokio::time::interval(policy.every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    round(&registry, &connector, policy).await;
                }
            })
            .await;
    });
}

/// Checks every enabled backend once.
async fn round(registry: &Registry, connector: &Connector, policy: HealthPolicy) {
    let backends = match super::watch::enabled_backends(registry, true).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list backends to check");
            return;
        }
    };
    futures::stream::iter(backends)
        .for_each_concurrent(CONCURRENT, |b| async move {
            let Some(found) = check(connector, &b, policy.timeout).await else {
                return;
            };
            let health = next(b.health(), found, policy.unhealthy_after, crate::registry::now_ms());
            if health.status != b.health().status {
                tracing::info!(backend = %b.name, status = health.status.as_str(), error = %health.last_error, "backend health changed");
            }
            if let Err(e) = registry.set_backend_health(&b.id, &health).await {
                tracing::warn!(backend = %b.name, error = %e, "cannot record a backend's health");
            }
        })
        .await;
}

/// Probes each endpoint of `b`: its URL first, then its other endpoints.
/// `None` when it cannot be checked here (a stdio backend whose command
/// this process may not run).
async fn check(connector: &Connector, b: &BackendRow, timeout: Duration) -> Option<Vec<EndpointHealth>> {
    let err = |e: UpstreamError| e.to_string();
    let one = |url: String, answered: Result<(), String>| EndpointHealth {
        url,
        healthy: answered.is_ok(),
        error: answered.err().unwrap_or_default(),
    };
    match b.transport.as_str() {
        "stdio" if !connector.allows_stdio() => None,
        "stdio" | "websocket" => {
            let probe = async {
                let link = super::channel_link_of(connector, b).map_err(|e| e.to_string())?;
                let channel = link.channel.as_ref().expect("a channel link");
                channel.session().await.map(drop).map_err(err)
            };
            Some(vec![one(b.url.clone(), within(timeout, probe).await)])
        }
        "grpc" => {
            let probe = async {
                let grpc = b.grpc().unwrap_or_default();
                let c = &b.connection;
                let link = connector
                    .grpc_link(&b.id, &b.url, &c.tls(), &c.sealed_secrets, &grpc)
                    .map_err(|e| e.to_string())?;
                match &link.api {
                    Some(Api::Grpc(g)) => g.reachable(&link.client).await,
                    _ => Ok(()),
                }
            };
            Some(vec![one(b.url.clone(), within(timeout, probe).await)])
        }
        "rest" => {
            let probe = async {
                let link = super::link_of(connector, b).map_err(|e| e.to_string())?;
                // Any answer but a 5xx says the API is up; what it answers
                // at its base URL is its own business.
                match link.client.fetch_text(&b.url, 1024).await {
                    Err(e) if says_down(&e) => Err(err(e)),
                    _ => Ok(()),
                }
            };
            Some(vec![one(b.url.clone(), within(timeout, probe).await)])
        }
        _ => {
            let link = match super::link_of(connector, b) {
                Ok(link) => link,
                Err(e) => return Some(vec![one(b.url.clone(), Err(e.to_string()))]),
            };
            let dialect = b.dialect();
            let urls = std::iter::once(b.url.clone()).chain(b.endpoints());
            let mut found = Vec::new();
            for url in urls {
                let answered = within(timeout, async { link.client.probe(&url, dialect).await.map_err(err) }).await;
                found.push(one(url, answered));
            }
            Some(found)
        }
    }
}

/// `probe`'s outcome, or a timeout after `timeout`.
async fn within(timeout: Duration, probe: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    match tokio::time::timeout(timeout, probe).await {
        Ok(r) => r,
        Err(_) => Err(format!("did not answer within {} s", timeout.as_secs())),
    }
}

/// The health after a check that found `endpoints`, given the one before.
fn next(before: BackendHealth, endpoints: Vec<EndpointHealth>, unhealthy_after: u32, now_ms: i64) -> BackendHealth {
    let up = endpoints.iter().filter(|e| e.healthy).count();
    let first_error = endpoints.iter().find(|e| !e.healthy).map(|e| {
        if endpoints.len() > 1 {
            format!("{}: {}", e.url, e.error)
        } else {
            e.error.clone()
        }
    });
    let consecutive_failures = if up == 0 { before.consecutive_failures + 1 } else { 0 };
    let status = match (up, endpoints.len()) {
        (u, n) if u == n => HealthStatus::Healthy,
        (0, _) if consecutive_failures >= unhealthy_after => HealthStatus::Unhealthy,
        // Not down long enough to say so: as it was (unknown at first).
        (0, _) => before.status,
        _ => HealthStatus::Degraded,
    };
    let (last_error, last_error_at_ms) = match first_error {
        Some(e) => (e, now_ms),
        None => (before.last_error, before.last_error_at_ms),
    };
    BackendHealth {
        status,
        last_error,
        last_error_at_ms,
        checked_at_ms: now_ms,
        consecutive_failures,
        endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str, healthy: bool) -> EndpointHealth {
        EndpointHealth {
            url: url.into(),
            healthy,
            error: if healthy {
                String::new()
            } else {
                "connection refused".into()
            },
        }
    }

    #[test]
    fn a_backend_is_unhealthy_only_after_enough_checks_with_nothing_answering() {
        let h = next(BackendHealth::default(), vec![ep("a", true), ep("b", true)], 2, 1);
        assert_eq!(h.status, HealthStatus::Healthy);
        let h = next(h, vec![ep("a", true), ep("b", false)], 2, 2);
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(h.last_error, "b: connection refused");
        let h = next(h, vec![ep("a", false), ep("b", false)], 2, 3);
        assert_eq!((h.status, h.consecutive_failures), (HealthStatus::Degraded, 1));
        let h = next(h, vec![ep("a", false), ep("b", false)], 2, 4);
        assert_eq!((h.status, h.consecutive_failures), (HealthStatus::Unhealthy, 2));
        let h = next(h, vec![ep("a", true), ep("b", true)], 2, 5);
        assert_eq!((h.status, h.consecutive_failures), (HealthStatus::Healthy, 0));
        // The last error stays visible after recovery, with when it was seen.
        assert_eq!(
            (h.last_error.as_str(), h.last_error_at_ms),
            ("a: connection refused", 4)
        );
        assert_eq!(h.checked_at_ms, 5);
    }
}
