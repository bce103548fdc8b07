//! Resuming a call stream that another node relays, through the fleet's
//! Redis.
//!
//! The node asked to resume a stream it does not hold tells the fleet
//! ([`Notice::Resume`]) under a fresh ticket. The node that holds the
//! stream mirrors its events after the one named into a Redis stream
//! (`<prefix>:resume:<ticket>`). The first entry names the session. The
//! asking node forwards what it reads there to its client.
//!
//! The mirror counts as a reader of the log, so the call runs on while it
//! mirrors. It stops when the asking node's lease (`<prefix>:lease:<ticket>`,
//! renewed while its client reads) lapses. The call is then cancelled after
//! the usual window. Nothing is copied to Redis unless a resume lands on
//! another node.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use redis::{
    AsyncCommands, AsyncConnectionConfig, Value,
    aio::MultiplexedConnection,
    streams::{StreamMaxlen, StreamReadOptions, StreamReadReply},
};

use super::{Streams, read};
use crate::{
    error::{ErrorKind, McpError},
    fleet::{Fleet, Notice},
};

/// How long the asking node waits for the node holding the stream to answer.
const FIRST_ANSWER: Duration = Duration::from_secs(2);
/// Entries kept in a mirror (a follower reads them within moments).
const MAX_ENTRIES: usize = 4096;

fn keys(prefix: &str, ticket: u64) -> (String, String) {
    (
        format!("{prefix}:resume:{ticket:016x}"),
        format!("{prefix}:lease:{ticket:016x}"),
    )
}

/// On the node relaying `stream`: mirrors its events after `after` for the
/// node that asked, if the stream is here and belongs to `session`.
pub fn mirror(
    streams: &Arc<Streams>,
    redis: &redis::Client,
    prefix: &str,
    session: [u8; 16],
    stream: u64,
    after: u64,
    ticket: u64,
) {
    let opened = match streams.open(session, stream, after) {
        Ok(None) => return,
        Ok(Some(log)) => Ok(read(log, after + 1)),
        // Held here but not resumable as asked: say why.
        Err(e) => Err(e.message),
    };
    let (key, lease) = keys(prefix, ticket);
    let (redis, window) = (redis.clone(), streams.window);
    tokio::spawn(async move {
        let result = async {
            let mut conn = redis.get_multiplexed_async_connection().await?;
            let ttl = (window * 2).as_millis() as i64;
            let events = match opened {
                Ok(events) => events,
                Err(why) => return append(&mut conn, &key, "no", why.as_bytes(), ttl).await,
            };
            append(&mut conn, &key, "s", &session, ttl).await?;
            tokio::pin!(events);
            let mut renewals = tokio::time::interval(window / 2);
            renewals.tick().await;
            loop {
                tokio::select! {
                    chunk = events.next() => match chunk {
                        Some(chunk) => append(&mut conn, &key, "f", &chunk, ttl).await?,
                        None => return append(&mut conn, &key, "end", b"", ttl).await,
                    },
                    _ = renewals.tick() => {
                        if !conn.exists::<_, bool>(&lease).await? {
                            tracing::debug!(stream, "the resuming client left; mirror stopped");
                            return Ok(());
                        }
                        // Still mirroring: the follower can tell from the key.
                        conn.pexpire::<_, ()>(&key, ttl).await?;
                    }
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(stream, error = %e, "could not mirror a resumed stream to Redis");
        }
    });
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

/// On the node the client resumed on: the events of `stream` after `after`
/// from the node relaying it, or an error if no node answers for it.
pub async fn follow(
    fleet: &Fleet,
    window: Duration,
    session: [u8; 16],
    stream: u64,
    after: u64,
) -> Result<BoxStream<'static, Bytes>, McpError> {
    let Some((redis, prefix)) = fleet.redis() else {
        return Err(Streams::unknown());
    };
    let unavailable = |e: redis::RedisError| {
        McpError::new(
            ErrorKind::BackendUnavailable,
            format!("Cannot resume through the fleet's Redis: {e}"),
        )
    };
    let ticket: u64 = rand::random();
    let (key, lease) = keys(prefix, ticket);
    // Blocking reads need a connection of their own, without the default
    // response timeout.
    let mut conn = redis
        .get_multiplexed_async_connection_with_config(&AsyncConnectionConfig::new().set_response_timeout(None))
        .await
        .map_err(unavailable)?;
    let lease_ms = window.as_millis() as u64;
    conn.pset_ex::<_, _, ()>(&lease, 1, lease_ms)
        .await
        .map_err(unavailable)?;
    fleet.tell(Notice::Resume {
        session,
        stream,
        after,
        ticket,
    });
    let first = next_entries(&mut conn, &key, "0", FIRST_ANSWER)
        .await
        .map_err(unavailable)?;
    let Some((last, mut pending)) = first else {
        return Err(Streams::unknown());
    };
    if let Some(Entry::Refused(why)) = pending.first() {
        return Err(McpError::new(ErrorKind::BadRequest, why.clone()));
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
    Ok(futures::stream::unfold(state, |mut s| async move {
        loop {
            match s.pending.pop() {
                Some(Entry::Frames(b)) => return Some((b, s)),
                Some(Entry::End) => return None,
                Some(Entry::Session | Entry::Refused(_)) => continue,
                None => {}
            }
            let renewed = s.conn.pset_ex::<_, _, ()>(&s.lease, 1, s.lease_ms).await;
            let read = next_entries(&mut s.conn, &s.key, &s.last, Duration::from_millis(s.lease_ms / 3)).await;
            match (renewed, read) {
                (Ok(()), Ok(Some((last, mut entries)))) => {
                    s.last = last;
                    entries.reverse();
                    s.pending = entries;
                }
                // Nothing new: the mirror keeps its key alive while it runs,
                // so a key that is gone means its node is.
                (Ok(()), Ok(None)) => match s.conn.exists::<_, bool>(&s.key).await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the fleet's Redis while following a resumed stream");
                        return None;
                    }
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "lost the fleet's Redis while following a resumed stream");
                    return None;
                }
            }
        }
    })
    .boxed())
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
    Frames(Bytes),
    End,
    /// The first entry: the session the holder checked.
    Session,
    /// The holder has the stream but cannot resume it as asked, and why.
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
            (Some(Value::BulkString(b)), _) => Entry::Frames(Bytes::copy_from_slice(b)),
            (_, Some(Value::BulkString(why))) => Entry::Refused(String::from_utf8_lossy(why).into_owned()),
            _ if id.map.contains_key("end") => Entry::End,
            _ => Entry::Session,
        })
        .collect();
    Ok(Some((last, entries)))
}
