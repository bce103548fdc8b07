//! A stream of frames from the node that holds something to the node a
//! client asked, through the fleet's Redis: what a resumed call stream
//! sends, or the rest of a held multi-round call.
//!
//! The asking node tells the fleet a notice naming a fresh ticket and
//! waits. The node holding what the notice names sends under that ticket
//! into a Redis stream (`<prefix>:pipe:<ticket>`): first whether it takes
//! the request (or why not), then the frames, then the end. The asking node
//! reads them as they come. Its lease (`<prefix>:lease:<ticket>`), renewed
//! while its client reads, keeps the sender going; when it lapses the
//! sender stops. Nothing goes through Redis unless a request lands on a
//! node other than the one holding what it needs.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use redis::{
    AsyncCommands, AsyncConnectionConfig, Value,
    aio::MultiplexedConnection,
    streams::{StreamMaxlen, StreamReadOptions, StreamReadReply},
};

use super::{Fleet, Notice};

/// How long the asking node waits for the holding node to answer.
const FIRST_ANSWER: Duration = Duration::from_secs(2);
/// Entries kept in a pipe (the asking node reads them within moments).
const MAX_ENTRIES: usize = 4096;

fn keys(prefix: &str, ticket: u64) -> (String, String) {
    (
        format!("{prefix}:pipe:{ticket:016x}"),
        format!("{prefix}:lease:{ticket:016x}"),
    )
}

/// What the asking node got.
pub enum Received {
    /// The holding node's frames, until it ends.
    Frames(BoxStream<'static, Bytes>),
    /// The holding node has what was asked and refused, saying why.
    Refused(String),
    /// No node answered: none holds it (or the fleet has no Redis).
    Nobody,
}

impl Fleet {
    /// On the holding node: sends `frames` (or the refusal `why`) to the
    /// node waiting under `ticket`, in the background, until they end or
    /// the waiting node's lease (`window`) lapses.
    pub fn send_pipe(&self, ticket: u64, window: Duration, frames: Result<BoxStream<'static, Bytes>, String>) {
        let Some((redis, prefix)) = self.redis() else {
            return;
        };
        let (key, lease) = keys(prefix, ticket);
        let redis = redis.clone();
        tokio::spawn(async move {
            let result = async {
                let mut conn = redis.get_multiplexed_async_connection().await?;
                let ttl = (window * 2).as_millis() as i64;
                let frames = match frames {
                    Ok(frames) => frames,
                    Err(why) => return append(&mut conn, &key, "no", why.as_bytes(), ttl).await,
                };
                append(&mut conn, &key, "ok", b"", ttl).await?;
                tokio::pin!(frames);
                let mut renewals = tokio::time::interval(window / 2);
                renewals.tick().await;
                loop {
                    tokio::select! {
                        frame = frames.next() => match frame {
                            Some(frame) => append(&mut conn, &key, "f", &frame, ttl).await?,
                            None => return append(&mut conn, &key, "end", b"", ttl).await,
                        },
                        _ = renewals.tick() => {
                            if !conn.exists::<_, bool>(&lease).await? {
                                tracing::debug!(ticket, "the asking node's client left; pipe stopped");
                                return Ok(());
                            }
                            // Still sending: the receiver can tell from the key.
                            conn.pexpire::<_, ()>(&key, ttl).await?;
                        }
                    }
                }
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(ticket, error = %e, "could not send through the fleet's Redis");
            }
        });
    }

    /// On the holding node: whether the node that told the notice naming
    /// `ticket` still waits for the answer (its lease is alive).
    pub async fn pipe_awaited(&self, ticket: u64) -> bool {
        let Some((redis, prefix)) = self.redis() else {
            return false;
        };
        let (_, lease) = keys(prefix, ticket);
        let alive = async {
            let mut conn = redis.get_multiplexed_async_connection().await?;
            conn.exists::<_, bool>(&lease).await
        };
        alive.await.unwrap_or(false)
    }

    /// On the asking node: tells the fleet `notice` (which names `ticket`)
    /// and reads what the node holding it sends. The lease is `window`.
    pub async fn receive_pipe(&self, ticket: u64, window: Duration, notice: Notice) -> redis::RedisResult<Received> {
        let Some((redis, prefix)) = self.redis() else {
            return Ok(Received::Nobody);
        };
        let (key, lease) = keys(prefix, ticket);
        // Blocking reads need a connection of their own, without the default
        // response timeout.
        let mut conn = redis
            .get_multiplexed_async_connection_with_config(&AsyncConnectionConfig::new().set_response_timeout(None))
            .await?;
        let lease_ms = window.as_millis() as u64;
        conn.pset_ex::<_, _, ()>(&lease, 1, lease_ms).await?;
        self.tell(notice);
        let Some((last, mut pending)) = next_entries(&mut conn, &key, "0", FIRST_ANSWER).await? else {
            // Given up: a holder answering late finds no lease and leaves
            // what it holds as it was.
            conn.del::<_, ()>(&lease).await?;
            return Ok(Received::Nobody);
        };
        if let Some(Entry::Refused(why)) = pending.first() {
            return Ok(Received::Refused(why.clone()));
        }
        pending.reverse();
        let state = Following {
            conn,
            key,
            lease,
            lease_ms,
            last,
            pending,
        };
        Ok(Received::Frames(
            futures::stream::unfold(state, |mut s| async move {
                loop {
                    match s.pending.pop() {
                        Some(Entry::Frame(b)) => return Some((b, s)),
                        Some(Entry::End) => return None,
                        Some(Entry::Taken | Entry::Refused(_)) => continue,
                        None => {}
                    }
                    let renewed = s.conn.pset_ex::<_, _, ()>(&s.lease, 1, s.lease_ms).await;
                    let wait = Duration::from_millis(s.lease_ms / 3);
                    let read = next_entries(&mut s.conn, &s.key, &s.last, wait).await;
                    match (renewed, read) {
                        (Ok(()), Ok(Some((last, mut entries)))) => {
                            s.last = last;
                            entries.reverse();
                            s.pending = entries;
                        }
                        // Nothing new: the sender keeps its key alive while
                        // it runs, so a key that is gone means its node is.
                        (Ok(()), Ok(None)) => match s.conn.exists::<_, bool>(&s.key).await {
                            Ok(true) => {}
                            Ok(false) => return None,
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the fleet's Redis while reading a pipe");
                                return None;
                            }
                        },
                        (Err(e), _) | (_, Err(e)) => {
                            tracing::warn!(error = %e, "lost the fleet's Redis while reading a pipe");
                            return None;
                        }
                    }
                }
            })
            .boxed(),
        ))
    }
}

async fn append(
    conn: &mut MultiplexedConnection,
    key: &str,
    field: &str,
    value: &[u8],
    ttl: i64,
) -> redis::RedisResult<()> {
    redis::pipe()
        .xadd_maxlen(key, StreamMaxlen::Approx(MAX_ENTRIES), "*", &[(field, value)])
        .ignore()
        .pexpire(key, ttl)
        .ignore()
        .query_async(conn)
        .await
}

struct Following {
    conn: MultiplexedConnection,
    key: String,
    lease: String,
    lease_ms: u64,
    /// The id of the last entry read.
    last: String,
    /// Entries read and not yet sent, last first.
    pending: Vec<Entry>,
}

enum Entry {
    Frame(Bytes),
    End,
    /// The first entry: the holder took the request.
    Taken,
    /// The holder has what was asked but refuses, and why.
    Refused(String),
}

/// The entries of `key` after `after`, waiting up to `wait` for some; with
/// the id of the last.
async fn next_entries(
    conn: &mut MultiplexedConnection,
    key: &str,
    after: &str,
    wait: Duration,
) -> redis::RedisResult<Option<(String, Vec<Entry>)>> {
    let opts = StreamReadOptions::default()
        .block(wait.as_millis().max(1) as usize)
        .count(256);
    let reply: Option<StreamReadReply> = conn.xread_options(&[key], &[after], &opts).await?;
    let Some(ids) = reply.and_then(|r| r.keys.into_iter().next()).map(|k| k.ids) else {
        return Ok(None);
    };
    let Some(last) = ids.last().map(|i| i.id.clone()) else {
        return Ok(None);
    };
    let entries = ids
        .into_iter()
        .map(|id| match (id.map.get("f"), id.map.get("no")) {
            (Some(Value::BulkString(b)), _) => Entry::Frame(Bytes::copy_from_slice(b)),
            (_, Some(Value::BulkString(why))) => Entry::Refused(String::from_utf8_lossy(why).into_owned()),
            _ if id.map.contains_key("end") => Entry::End,
            _ => Entry::Taken,
        })
        .collect();
    Ok(Some((last, entries)))
}
