//! The backend sessions 2026-07-28 clients' calls lease: one call at a time
//! each, so that whatever the backend sends on a leased session's
//! standalone stream during a call (a request it asks through its session
//! object instead of on the call's stream, as SDK servers do) belongs to
//! that one call ([`Lessees`]).
//!
//! A stateless client has no session to own a backend session, and one
//! backend session per request would cost an `initialize` each: leases are
//! grouped by what changes a session (the backend endpoint, the client
//! capabilities it is told of at `initialize`) and reused, the most
//! recently released first, so a steady load keeps a steady set of
//! sessions, and those a burst made go idle and end
//! ([`super::UpstreamPool::reap_idle`]). A call that finds no idle session
//! has one more opened in the background and takes whichever comes first,
//! that one or one another call releases: in a burst of short calls most
//! wait a moment for a released session, not for an `initialize`. A group
//! holds at most the backend's in-flight limit of sessions; past that
//! (calls held for their clients' input keep their lease without counting
//! as in flight) calls share the least busy one, and a request on a shared
//! session's standalone stream goes to the call in flight there if it is
//! the only one, and is refused while several are (nobody can tell whose it
//! is).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{Notify, mpsc};

use super::{Core, Owner, Slot, SlotKey, key_of};

/// What a leased session's standalone stream carries during a call, at
/// most; past it the backend's request is refused.
const SIDE_QUEUED: usize = 32;

/// How long a call waits for a released session before one more is opened
/// for it: short calls in a burst release theirs within moments, and a
/// session opened for every such wait would grow the group to the
/// burst's peak for nothing.
const GROW_AFTER: std::time::Duration = std::time::Duration::from_millis(2);

/// A group of leased sessions: the capabilities byte they were opened with,
/// and the backend endpoint.
type GroupKey = (u8, SlotKey);

/// The calls in flight on a leased session, by lease number, with the
/// channel each one's relay reads.
pub(super) type Lessees = Vec<(u64, mpsc::Sender<String>)>;

#[derive(Default)]
struct Group {
    /// Every session of the group, leased or idle.
    all: Vec<Arc<Slot>>,
    /// The idle ones, the most recently released last (leased first).
    idle: Vec<Arc<Slot>>,
    /// A session is being opened for the group in the background.
    growing: bool,
    /// The last one could not be opened: calls share what the group has
    /// (and fail as the backend does) until one is.
    stunted: bool,
    /// Told when a session becomes idle.
    idle_again: Arc<Notify>,
    /// Calls waiting for a session now.
    waiting: usize,
}

#[derive(Default)]
pub(super) struct Leases {
    groups: Mutex<HashMap<GroupKey, Group>>,
    /// The last lease number given.
    leased: AtomicU64,
}

/// One call's lease: the session, the lease's number, and what the backend
/// sends on the session's standalone stream for this call.
pub(super) struct Leased {
    pub slot: Arc<Slot>,
    pub number: u64,
    pub side: mpsc::Receiver<String>,
}

fn group_key(slot: &Slot) -> Option<GroupKey> {
    let owner = slot.owner.filter(Owner::is_pooled)?;
    Some((owner.caps.to_byte(), key_of(&slot.backend_id, &slot.link)))
}

impl Leases {
    /// Leases a session of the group `owner` (one of [`Owner::pooled`])
    /// and `link` name: an idle one; the group's first (`make` makes it);
    /// else the first to be idle, one more being opened meanwhile while
    /// the group has fewer than `max`; else the least busy one.
    pub(super) async fn take(
        &self,
        core: &Arc<Core>,
        owner: Owner,
        backend_id: &Arc<str>,
        link: &Arc<super::Link>,
        max: usize,
        make: impl Fn() -> Arc<Slot>,
    ) -> Leased {
        let key = (owner.caps.to_byte(), key_of(backend_id, link));
        // A slot of an older link (the backend's URL, TLS or credentials
        // changed) is never leased again; `retain` ends it.
        let current = |s: &Arc<Slot>| Arc::ptr_eq(&s.link, link) && !*s.retired.borrow();
        let slot = loop {
            let idle_again = {
                let mut groups = self.groups.lock().expect("poisoned");
                let group = groups.entry(key.clone()).or_default();
                group.all.retain(current);
                // Marked busy under the lock: neither taken twice from the
                // idle list nor reaped as idle meanwhile.
                let busy = |slot: Arc<Slot>| {
                    slot.busy.send_modify(|n| *n += 1);
                    slot
                };
                if let Some(idle) = std::iter::from_fn(|| group.idle.pop()).find(current) {
                    break busy(idle);
                }
                if group.all.is_empty() {
                    let first = make();
                    group.all.push(first.clone());
                    break busy(first);
                }
                if group.all.len() >= max.max(1) || group.stunted {
                    let least = group.all.iter().min_by_key(|s| *s.busy.borrow());
                    break busy(least.expect("a group has a session").clone());
                }
                if !group.growing {
                    group.growing = true;
                    grow(core.clone(), key.clone(), make());
                }
                group.idle_again.clone()
            };
            // Registered before the lock is taken again: a session released
            // in between is not missed.
            let notified = idle_again.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_idle(&key) {
                continue;
            }
            let _waiting = Waiting::new(self, &key);
            notified.await;
        };
        let number = self.leased.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, side) = mpsc::channel(SIDE_QUEUED);
        slot.lessees.lock().expect("poisoned").push((number, tx));
        Leased { slot, number, side }
    }

    fn with_group<T>(&self, key: &GroupKey, f: impl FnOnce(&mut Group) -> T) -> Option<T> {
        self.groups.lock().expect("poisoned").get_mut(key).map(f)
    }

    fn has_idle(&self, key: &GroupKey) -> bool {
        let groups = self.groups.lock().expect("poisoned");
        groups.get(key).is_some_and(|g| !g.idle.is_empty())
    }

    /// Lease `number` of `slot` ends: once no call holds the session, it is
    /// idle again.
    pub(super) fn release(&self, slot: &Arc<Slot>, number: u64, now_ms: u64) {
        let Some(key) = group_key(slot) else {
            return;
        };
        let mut groups = self.groups.lock().expect("poisoned");
        slot.lessees.lock().expect("poisoned").retain(|(n, _)| *n != number);
        slot.last_used.store(now_ms, Ordering::Relaxed);
        slot.busy.send_modify(|n| *n -= 1);
        if *slot.busy.borrow() > 0 {
            return;
        }
        if let Some(group) = groups.get_mut(&key)
            && group.all.iter().any(|s| Arc::ptr_eq(s, slot))
        {
            group.idle.push(slot.clone());
            // A session that served a call again: the group may grow.
            group.stunted = false;
            group.idle_again.notify_one();
        }
    }

    /// Whether `slot` is still one of the leased sessions.
    pub(super) fn holds(&self, slot: &Arc<Slot>) -> bool {
        let Some(key) = group_key(slot) else {
            return false;
        };
        let groups = self.groups.lock().expect("poisoned");
        groups
            .get(&key)
            .is_some_and(|g| g.all.iter().any(|s| Arc::ptr_eq(s, slot)))
    }

    /// Takes the sessions `gone` picks (idle ones only when `idle_only`)
    /// out of their groups and retires them; how many.
    pub(super) fn end(&self, core: &Core, idle_only: bool, gone: impl Fn(&Slot) -> bool) -> usize {
        let mut ended = Vec::new();
        let mut groups = self.groups.lock().expect("poisoned");
        groups.retain(|_, group| {
            group.all.retain(|slot| {
                let end = (!idle_only || *slot.busy.borrow() == 0) && gone(slot);
                if end {
                    ended.push(slot.clone());
                }
                !end
            });
            group.idle.retain(|s| group.all.iter().any(|kept| Arc::ptr_eq(kept, s)));
            !group.all.is_empty()
        });
        drop(groups);
        for slot in &ended {
            core.retire(slot);
        }
        ended.len()
    }
}

/// Counts a call waiting for a session of a group while it lives.
struct Waiting<'l>(&'l Leases, &'l GroupKey);

impl<'l> Waiting<'l> {
    fn new(leases: &'l Leases, key: &'l GroupKey) -> Self {
        leases.with_group(key, |g| g.waiting += 1);
        Self(leases, key)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.with_group(self.1, |g| g.waiting -= 1);
    }
}

/// Opens one more session for group `key` in the background, unless the
/// calls waiting for one got released ones within [`GROW_AFTER`]: idle
/// once open (the next call that finds none idle takes it).
fn grow(core: Arc<Core>, key: GroupKey, slot: Arc<Slot>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        tokio::time::sleep(GROW_AFTER).await;
        let wanted = core.leases.with_group(&key, |g| {
            g.growing = g.waiting > 0;
            if !g.growing {
                // One that began to wait meanwhile looks again.
                g.idle_again.notify_waiters();
            }
            g.growing
        });
        if wanted != Some(true) {
            return;
        }
        let opened = super::listen::session_of(&core, &slot).await;
        let mut groups = core.leases.groups.lock().expect("poisoned");
        let Some(group) = groups.get_mut(&key) else {
            return;
        };
        group.growing = false;
        match opened {
            Ok(_) if group.all.first().is_some_and(|s| Arc::ptr_eq(&s.link, &slot.link)) => {
                group.stunted = false;
                group.all.push(slot.clone());
                group.idle.push(slot);
            }
            Ok(_) => core.retire(&slot),
            Err(e) => {
                group.stunted = true;
                tracing::debug!(backend = %slot.link.url, error = %e, "a pooled backend session was not opened");
            }
        }
        // Whoever waits looks again: at the new session, or to open one.
        group.idle_again.notify_waiters();
    });
}
