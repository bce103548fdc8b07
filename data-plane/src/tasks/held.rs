//! Tasks the gateway holds itself: a 2026-07-28 client that declares the
//! Tasks extension calls a tool of a backend of an earlier era, which runs
//! no tasks, and the call is still running after a moment
//! (`MCPGW_TASK_AFTER_MS`). The client gets a task of the gateway's; the
//! node that relays the call holds it (see `dispatch::held`) and keeps its
//! [`Record`] here, and in the fleet's Redis for the other nodes to read.
//!
//! This module is the node's bookkeeping only: the records, what each
//! waits for, and their statuses as they change. Nothing outlives the
//! task's time to live, and a node holds at most its limit: past it a call
//! is answered when it ends, as without the extension.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::{sync::broadcast, task::AbortHandle};

use crate::{
    inputs::Answers,
    jsonrpc::{self, RawObject, json_str},
};

/// What a held task is known by inside the fleet.
pub type Key = [u8; 16];

/// The name of `key` in Redis and in logs.
pub fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A task's status, as the extension names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// A task as `tasks/get` shows it, but for its id (each client names it by
/// its own sealed id).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub status: Status,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(rename = "lastUpdatedAt")]
    pub last_updated_at: String,
    #[serde(rename = "ttlMs")]
    pub ttl_ms: u64,
    #[serde(rename = "pollIntervalMs")]
    pub poll_interval_ms: u64,
    #[serde(rename = "statusMessage", skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The tool's result, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    /// The protocol error it failed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<RawValue>>,
    /// What the backend asks, while the task waits for input.
    #[serde(rename = "inputRequests", skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<Box<RawValue>>,
}

/// Now, as ISO 8601 in UTC.
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl Record {
    fn new(ttl: Duration, poll: Duration) -> Self {
        let created = now();
        Self {
            status: Status::Working,
            last_updated_at: created.clone(),
            created_at: created,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            poll_interval_ms: u64::try_from(poll.as_millis()).unwrap_or(u64::MAX).max(1),
            status_message: None,
            result: None,
            error: None,
            input_requests: None,
        }
    }

    /// Moves to `status` with what goes with it (the others cleared).
    pub fn set(&mut self, status: Status, outcome: Outcome) {
        self.status = status;
        self.last_updated_at = now();
        (self.result, self.error, self.input_requests) = (None, None, None);
        match outcome {
            Outcome::None => {}
            Outcome::Result(r) => self.result = Some(r),
            Outcome::Error(e) => self.error = Some(e),
            Outcome::Asks(a) => self.input_requests = Some(a),
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }

    /// The `tasks/get` result naming the task `id`.
    pub fn detailed(&self, id: &str) -> String {
        let own = self.json();
        let obj = RawObject::parse(&own).expect("a record is an object");
        obj.to_string_with(&[("taskId", &json_str(id)), ("resultType", r#""complete""#)])
    }

    /// The `tools/call` result that created the task `id` (what it ends
    /// with is for `tasks/get`).
    pub fn created(&self, id: &str) -> String {
        let own = self.json();
        let obj = RawObject::parse(&own).expect("a record is an object");
        obj.to_string_with(&[
            ("taskId", &json_str(id)),
            ("resultType", r#""task""#),
            ("result", ""),
            ("error", ""),
            ("inputRequests", ""),
        ])
    }

    /// `notifications/tasks` telling a listen stream the status of the
    /// task it names `id`.
    pub fn note(&self, id: &str) -> Vec<u8> {
        let own = self.json();
        let obj = RawObject::parse(&own).expect("a record is an object");
        jsonrpc::notification(
            "notifications/tasks",
            Some(&obj.to_string_with(&[("taskId", &json_str(id))])),
        )
    }
}

/// What goes with a status.
pub enum Outcome {
    None,
    Result(Box<RawValue>),
    Error(Box<RawValue>),
    Asks(Box<RawValue>),
}

/// What a task waiting for input waits on: the call the gateway holds for
/// the answers (see `inputs`), the keys it asked, and what was answered so
/// far (a client may answer one at a time).
pub struct Pending {
    pub call: [u8; 16],
    pub asked: Vec<String>,
    pub answers: Answers,
}

/// One task this node holds.
pub struct Entry {
    pub record: Record,
    /// The call's relay while it runs: aborting it cancels the call.
    pub runner: Option<AbortHandle>,
    pub pending: Option<Pending>,
    /// What an input round's `requestState` is bound to (the request).
    pub digest: [u8; 32],
    expires: Instant,
}

/// The tasks this node holds, and every status change of the fleet's
/// held tasks as the fleet tells it (for listen streams).
pub struct HeldTasks {
    entries: Mutex<HashMap<Key, Entry>>,
    statuses: broadcast::Sender<(Key, Arc<str>)>,
    /// How long a call runs before it becomes a task; how long a task is
    /// kept; how often its client should look; how many a node holds.
    pub after: Duration,
    pub ttl: Duration,
    poll: Duration,
    max: usize,
}

impl HeldTasks {
    pub fn new(after: Duration, ttl: Duration, max: usize) -> Self {
        Self {
            entries: Mutex::default(),
            statuses: broadcast::Sender::new(256),
            after,
            ttl,
            poll: Duration::from_millis(500).min(ttl),
            max,
        }
    }

    /// Holds a new working task under `key`, whose call `runner` relays;
    /// `None` when the node holds as many as it may.
    pub fn create(&self, key: Key, runner: AbortHandle, digest: [u8; 32]) -> Option<Record> {
        let mut entries = self.entries.lock().expect("poisoned");
        if entries.len() >= self.max {
            return None;
        }
        let record = Record::new(self.ttl, self.poll);
        entries.insert(
            key,
            Entry {
                record: record.clone(),
                runner: Some(runner),
                pending: None,
                digest,
                expires: Instant::now() + self.ttl,
            },
        );
        Some(record)
    }

    /// Forgets the task `key` (its call ended before the task was given).
    pub fn forget(&self, key: &Key) {
        self.entries.lock().expect("poisoned").remove(key);
    }

    /// Whether this node holds the task `key`.
    pub fn holds(&self, key: &Key) -> bool {
        self.entries.lock().expect("poisoned").contains_key(key)
    }

    /// The record of the task `key` if this node holds it.
    pub fn record(&self, key: &Key) -> Option<Record> {
        self.entries
            .lock()
            .expect("poisoned")
            .get(key)
            .map(|e| e.record.clone())
    }

    /// Changes the task `key` with `f` (not a task that ended: its status
    /// sticks); what `f` returned and the record as it is after, or `None`
    /// when the node does not hold it or it had ended.
    pub fn change<T>(&self, key: &Key, f: impl FnOnce(&mut Entry) -> T) -> Option<(T, Record)> {
        let mut entries = self.entries.lock().expect("poisoned");
        let entry = entries.get_mut(key).filter(|e| !e.record.status.is_terminal())?;
        let out = f(entry);
        Some((out, entry.record.clone()))
    }

    /// Forgets the tasks past their time to live (a call still running is
    /// cancelled) and gives the keys of those still going.
    pub fn sweep(&self) -> Vec<Key> {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("poisoned");
        entries.retain(|_, e| {
            let keep = e.expires > now;
            if !keep && let Some(runner) = e.runner.take() {
                runner.abort();
            }
            keep
        });
        entries
            .iter()
            .filter(|(_, e)| !e.record.status.is_terminal())
            .map(|(k, _)| *k)
            .collect()
    }

    /// How many tasks this node holds.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tells this node's listen streams that task `key` is now `record`
    /// (raw JSON).
    pub fn heard(&self, key: Key, record: Arc<str>) {
        // No stream listens: nothing to tell.
        let _ = self.statuses.send((key, record));
    }

    /// The status changes heard from now on.
    pub fn statuses(&self) -> broadcast::Receiver<(Key, Arc<str>)> {
        self.statuses.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn a_record_shows_what_its_status_carries_and_created_shows_none_of_it() {
        let mut r = Record::new(Duration::from_secs(60), Duration::from_millis(500));
        let created: serde_json::Value = serde_json::from_str(&r.created("mcpgw-held-x")).unwrap();
        assert_eq!(created["resultType"], "task");
        assert_eq!(created["status"], "working");
        assert_eq!(created["ttlMs"], 60_000);
        assert_eq!(created["pollIntervalMs"], 500);
        assert!(created["createdAt"].as_str().unwrap().ends_with('Z'), "{created}");
        r.set(
            Status::InputRequired,
            Outcome::Asks(raw(r#"{"k":{"method":"roots/list"}}"#)),
        );
        let got: serde_json::Value = serde_json::from_str(&r.detailed("id")).unwrap();
        assert_eq!(got["status"], "input_required");
        assert_eq!(got["inputRequests"]["k"]["method"], "roots/list");
        assert_eq!(got["resultType"], "complete");
        let created: serde_json::Value = serde_json::from_str(&r.created("id")).unwrap();
        assert!(created.get("inputRequests").is_none(), "{created}");
        r.set(Status::Completed, Outcome::Result(raw(r#"{"content":[]}"#)));
        let got: serde_json::Value = serde_json::from_str(&r.detailed("id")).unwrap();
        assert!(got.get("inputRequests").is_none(), "{got}");
        assert_eq!(got["result"]["content"], serde_json::json!([]));
        let note: serde_json::Value = serde_json::from_slice(&r.note("id")).unwrap();
        assert_eq!(note["method"], "notifications/tasks");
        assert_eq!(note["params"]["taskId"], "id");
        assert_eq!(note["params"]["status"], "completed");
    }

    #[tokio::test]
    async fn an_ended_task_does_not_change_and_the_limit_holds() {
        let held = HeldTasks::new(Duration::ZERO, Duration::from_secs(60), 1);
        let idle = tokio::spawn(std::future::pending::<()>());
        assert!(held.create([1; 16], idle.abort_handle(), [0; 32]).is_some());
        assert!(
            held.create([2; 16], idle.abort_handle(), [0; 32]).is_none(),
            "past the limit nothing more is held"
        );
        let ended = held.change(&[1; 16], |e| e.record.set(Status::Cancelled, Outcome::None));
        assert_eq!(ended.map(|(_, r)| r.status), Some(Status::Cancelled));
        assert!(
            held.change(&[1; 16], |e| e.record.set(Status::Completed, Outcome::None))
                .is_none(),
            "a cancelled task stays cancelled"
        );
        assert_eq!(held.sweep(), Vec::<Key>::new(), "nothing is still going");
        assert!(held.holds(&[1; 16]), "kept for its time to live");
        idle.abort();
    }
}
