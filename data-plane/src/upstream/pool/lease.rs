//! The backend sessions 2026-07-28 clients' calls lease: one call at a time
//! each, so that whatever the backend sends on a leased session's
//! standalone stream during a call (a request it asks through its session
//! object instead of on the call's stream, as SDK servers do) belongs to
//! that one call ([`Lessee`]).
//!
//! A stateless client has no session to own a backend session, and one
//! backend session per request would cost an `initialize` each: leases are
//! grouped by what changes a session (the backend endpoint, the client
//! capabilities it is told of at `initialize`) and reused, the most
//! recently released first, so a steady load keeps a steady set of
//! sessions and a burst's extra ones go idle and end
//! ([`Leases::reap_idle`]). A group holds at most the backend's in-flight
//! limit of sessions; past that (calls held for their clients' input keep
//! their lease without counting as in flight) calls share the group's
//! sessions, and what such a shared session asks outside a call's stream
//! is refused, as nobody can tell whose it is.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering},
};

use tokio::sync::mpsc;

use super::{Core, Owner, Slot, SlotKey, key_of};

/// What a leased session's standalone stream carries during a call, at
/// most; past it the backend's request is refused.
const SIDE_QUEUED: usize = 32;

/// A group of leased sessions: the capabilities byte they were opened with,
/// and the backend endpoint.
type GroupKey = (u8, SlotKey);

/// Who a leased session's standalone stream speaks to now.
#[derive(Debug, Default)]
pub(super) enum Lessee {
    /// Nobody: no call holds the session.
    #[default]
    Nobody,
    /// The one call that holds it, by the channel its relay reads.
    One(mpsc::Sender<String>),
    /// Several calls share it: a message is nobody's in particular.
    Several,
}

#[derive(Default)]
struct Group {
    /// Every session of the group, leased or idle.
    all: Vec<Arc<Slot>>,
    /// The idle ones, the most recently released last (leased first).
    idle: Vec<Arc<Slot>>,
    /// Which session the next call over the limit shares.
    next_shared: usize,
}

#[derive(Default)]
pub(super) struct Leases {
    groups: Mutex<HashMap<GroupKey, Group>>,
}

fn group_key(slot: &Slot) -> Option<GroupKey> {
    let owner = slot.owner.filter(Owner::is_pooled)?;
    Some((owner.caps.to_byte(), key_of(&slot.backend_id, &slot.link)))
}

impl Leases {
    /// Leases a session of the group `owner` (one of [`Owner::pooled`])
    /// and `link` name: an idle one, a new one while the group has fewer
    /// than `max` (`make` makes it), else a shared one. The slot, marked
    /// busy, and what the backend sends on its standalone stream for this
    /// call (`None` when shared).
    pub(super) fn take(
        &self,
        owner: Owner,
        backend_id: &Arc<str>,
        link: &Arc<super::Link>,
        max: usize,
        make: impl FnOnce() -> Arc<Slot>,
    ) -> (Arc<Slot>, Option<mpsc::Receiver<String>>) {
        let mut groups = self.groups.lock().expect("poisoned");
        let group = groups
            .entry((owner.caps.to_byte(), key_of(backend_id, link)))
            .or_default();
        let exclusive = |slot: Arc<Slot>| {
            let (tx, rx) = mpsc::channel(SIDE_QUEUED);
            *slot.lessee.lock().expect("poisoned") = Lessee::One(tx);
            slot.busy.send_modify(|n| *n += 1);
            (slot, Some(rx))
        };
        // A slot of an older link (the backend's URL, TLS or credentials
        // changed) is never leased again; `retain` ends it.
        while let Some(slot) = group.idle.pop() {
            if Arc::ptr_eq(&slot.link, link) && !*slot.retired.borrow() {
                return exclusive(slot);
            }
        }
        group.all.retain(|s| Arc::ptr_eq(&s.link, link) && !*s.retired.borrow());
        if group.all.len() < max.max(1) {
            let slot = make();
            group.all.push(slot.clone());
            return exclusive(slot);
        }
        group.next_shared = (group.next_shared + 1) % group.all.len();
        let slot = group.all[group.next_shared].clone();
        *slot.lessee.lock().expect("poisoned") = Lessee::Several;
        slot.busy.send_modify(|n| *n += 1);
        (slot, None)
    }

    /// A call's lease of `slot` ends: once no call holds it, it is idle
    /// again (and its standalone stream nobody's).
    pub(super) fn release(&self, slot: &Arc<Slot>, now_ms: u64) {
        let Some(key) = group_key(slot) else {
            return;
        };
        let mut groups = self.groups.lock().expect("poisoned");
        slot.last_used.store(now_ms, Ordering::Relaxed);
        slot.busy.send_modify(|n| *n -= 1);
        if *slot.busy.borrow() > 0 {
            return;
        }
        *slot.lessee.lock().expect("poisoned") = Lessee::Nobody;
        if let Some(group) = groups.get_mut(&key)
            && group.all.iter().any(|s| Arc::ptr_eq(s, slot))
        {
            group.idle.push(slot.clone());
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
