//! A backend's endpoints: the URLs of its replicas (one for most backends),
//! each with this node's circuit breaker. Calls go round robin over the
//! endpoints whose breaker is closed. After [`BreakerPolicy::failures`]
//! consecutive failures that say the endpoint is down (it cannot be
//! reached, answers 5xx, or does not answer in time), its breaker opens: no
//! client call goes there any more. A probe of this node's own (an
//! `initialize`, closed again) tries it after a cooldown that doubles up
//! to [`BreakerPolicy::max_cooldown`]; when the probe succeeds the breaker
//! closes and traffic returns. The probe is half-open: it, not a client's
//! call, pays for finding out. With every breaker open, calls go round
//! robin over all endpoints (the backend answers for itself) rather than
//! being refused by a guess.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::{Dialect, Link, UpstreamError, UpstreamSession, stateless::StatelessCell};

/// When a breaker opens and how soon its probes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// The first wait before a probe; doubled after each failed probe.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures: 3,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(30),
        }
    }
}

/// One backend's endpoints, in registration order (the first is the URL
/// it was registered with).
#[derive(Debug)]
pub struct Endpoints {
    list: Box<[Endpoint]>,
    next: AtomicUsize,
}

#[derive(Debug)]
pub struct Endpoint {
    pub link: Arc<Link>,
    breaker: Arc<Breaker>,
    /// Where a stateless backend's requests go, made on first use.
    stateless: StatelessCell,
}

impl Endpoint {
    /// The endpoint's session as a stateless backend's (see
    /// `upstream::stateless`).
    pub fn stateless_session(&self) -> Result<Arc<UpstreamSession>, UpstreamError> {
        self.stateless.get(&self.link.client, &self.link.url)
    }
}

#[derive(Debug)]
struct Breaker {
    /// Only backends with more than one endpoint have a breaker that
    /// opens: with one, there is nowhere else to go.
    armed: bool,
    policy: BreakerPolicy,
    failures: AtomicU32,
    open: AtomicBool,
    /// How to probe it.
    dialect: Dialect,
}

impl Endpoints {
    /// The endpoints of a backend reached by `links` (at least one).
    pub fn new(links: Vec<Arc<Link>>, dialect: Dialect, policy: BreakerPolicy) -> Self {
        assert!(!links.is_empty(), "a backend has at least one endpoint");
        let armed = links.len() > 1;
        let list = links
            .into_iter()
            .map(|link| Endpoint {
                link,
                stateless: StatelessCell::default(),
                breaker: Arc::new(Breaker {
                    armed,
                    policy,
                    failures: AtomicU32::new(0),
                    open: AtomicBool::new(false),
                    dialect,
                }),
            })
            .collect();
        Self {
            list,
            next: AtomicUsize::new(0),
        }
    }

    /// A backend with one endpoint.
    pub fn single(link: Arc<Link>) -> Self {
        Self::new(vec![link], Dialect::Session, BreakerPolicy::default())
    }

    /// The endpoint the backend was registered with: where its standing
    /// channel, its REST API and its resource subscriptions are.
    pub fn primary(&self) -> &Endpoint {
        &self.list[0]
    }

    pub fn all(&self) -> &[Endpoint] {
        &self.list
    }

    /// The endpoint for the next call.
    pub fn pick(&self) -> &Endpoint {
        if self.list.len() == 1 {
            return &self.list[0];
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.list.len();
        (0..n)
            .map(|i| &self.list[(start + i) % n])
            .find(|e| !e.breaker.open.load(Ordering::Relaxed))
            .unwrap_or(&self.list[start % n])
    }

    /// Another endpoint than `tried` whose breaker is closed, for a retry.
    pub fn other_than(&self, tried: &Endpoint) -> Option<&Endpoint> {
        self.list
            .iter()
            .find(|e| !std::ptr::eq(*e, tried) && !e.breaker.open.load(Ordering::Relaxed))
    }
}

impl Endpoint {
    /// Whether this node's breaker keeps calls away from it.
    pub fn is_open(&self) -> bool {
        self.breaker.open.load(Ordering::Relaxed)
    }

    /// The endpoint answered.
    pub fn succeeded(&self) {
        if self.breaker.failures.load(Ordering::Relaxed) != 0 {
            self.breaker.failures.store(0, Ordering::Relaxed);
        }
    }

    /// The endpoint failed with `e`; counted if `e` says it is down, and
    /// the breaker opened (with a probe started) at the threshold.
    pub fn failed(&self, e: &UpstreamError) {
        let b = &self.breaker;
        if !b.armed || !says_down(e) {
            return;
        }
        let failures = b.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= b.policy.failures
            && b.open
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(endpoint = %self.link.url, failures, error = %e, "endpoint taken out of rotation (circuit open)");
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return;
            };
            rt.spawn(probe(Arc::downgrade(&self.breaker), self.link.clone()));
        }
    }
}

/// Whether a failure says the endpoint is down (not that the request, or
/// this node, is at fault).
pub fn says_down(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Unreachable { .. } | UpstreamError::Timeout { .. } => true,
        UpstreamError::Http { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Probes an open endpoint until it answers, then closes its breaker; ends
/// early once the endpoint is no longer served (its config changed).
async fn probe(breaker: Weak<Breaker>, link: Arc<Link>) {
    let Some(mut wait) = breaker.upgrade().map(|b| b.policy.cooldown) else {
        return;
    };
    loop {
        tokio::time::sleep(wait).await;
        let Some(b) = breaker.upgrade() else { return };
        match link.client.probe(&link.url, b.dialect).await {
            Ok(()) => {
                b.failures.store(0, Ordering::Relaxed);
                b.open.store(false, Ordering::Release);
                tracing::info!(endpoint = %link.url, "endpoint answered its probe: back in rotation (circuit closed)");
                return;
            }
            Err(e) => {
                tracing::debug!(endpoint = %link.url, error = %e, "endpoint still down");
                wait = (wait * 2).min(b.policy.max_cooldown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(url: &str) -> Arc<Link> {
        Arc::new(Link {
            url: url.into(),
            client: super::super::McpHttpClient::new(Duration::from_secs(1), false),
            channel: None,
            api: None,
        })
    }

    fn down() -> UpstreamError {
        UpstreamError::Unreachable {
            url: "u".into(),
            reason: "connection refused".into(),
        }
    }

    #[tokio::test]
    async fn calls_alternate_and_skip_an_endpoint_whose_breaker_opened() {
        let policy = BreakerPolicy {
            failures: 2,
            // No probe runs within the test.
            cooldown: Duration::from_secs(3600),
            max_cooldown: Duration::from_secs(3600),
        };
        let eps = Endpoints::new(
            vec![link("http://a/"), link("http://b/")],
            crate::upstream::Dialect::Session,
            policy,
        );
        let urls = |n: usize| (0..n).map(|_| eps.pick().link.url.to_string()).collect::<Vec<_>>();
        assert_eq!(urls(4), ["http://a/", "http://b/", "http://a/", "http://b/"]);
        let b = &eps.all()[1];
        // Failures that are the request's, not the endpoint's, do not count.
        b.failed(&UpstreamError::Http {
            url: "u".into(),
            status: 400,
            body: String::new(),
        });
        b.failed(&down());
        b.succeeded();
        b.failed(&down());
        assert!(!b.is_open(), "not consecutive");
        b.failed(&down());
        assert!(b.is_open());
        assert!(urls(4).iter().all(|u| u == "http://a/"));
        assert!(std::ptr::eq(eps.other_than(b).unwrap(), &eps.all()[0]));
        assert!(eps.other_than(&eps.all()[0]).is_none(), "b is open");
        // With every breaker open, calls still go somewhere.
        eps.all()[0].failed(&down());
        eps.all()[0].failed(&down());
        assert_eq!(urls(2).len(), 2);
    }

    #[test]
    fn a_single_endpoint_never_opens() {
        let eps = Endpoints::single(link("http://a/"));
        for _ in 0..10 {
            eps.primary().failed(&down());
        }
        assert!(!eps.primary().is_open());
    }
}
