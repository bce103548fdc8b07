//! What one node tells the others, and its encoding on the wire: a tag
//! byte, the 16-byte session key, then the payload.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The client of session `session` cancelled its request `id` (the raw
    /// JSON id): the node relaying that call stops it.
    Cancel { session: [u8; 16], id: Box<str> },
    /// A message for the session's standalone streams (a resource update):
    /// the nodes holding one send it.
    Event { session: [u8; 16], message: Bytes },
    /// The session was deleted: every node refuses it until `until` (Unix
    /// seconds, when it would have expired anyway).
    Revoke { session: [u8; 16], until: u64 },
    /// The session's client unsubscribed from `uri` (as it named it) on a
    /// node it had not subscribed through: the node it did stops.
    Unsubscribe { session: [u8; 16], uri: Box<str> },
    /// A message POSTed for legacy SSE stream `session` (its id's bytes) on
    /// a node that does not hold the stream, by `principal`: the node that
    /// holds it answers on the stream.
    Message {
        session: [u8; 16],
        principal: Box<str>,
        body: Bytes,
    },
    /// The session's client sent notification `method` (no params) for
    /// the backend sessions it has of its own (its roots changed): each node
    /// passes it on to those it holds.
    Notify { session: [u8; 16], method: Box<str> },
    /// The session's client resumes call stream `stream` after event
    /// `after` on another node: the node relaying it mirrors it under
    /// `ticket` (see `resume::remote`).
    Resume {
        session: [u8; 16],
        stream: u64,
        after: u64,
        ticket: u64,
    },
    /// A client answered the input requests of the multi-round call held
    /// under `session` (its id, see `inputs`) on another node: the node
    /// holding it goes on with `body` (`{"id":…,"inputResponses":…}`),
    /// sending the rest through the pipe under `ticket`.
    Answer {
        session: [u8; 16],
        ticket: u64,
        body: Bytes,
    },
    /// A client answered an input the gateway asked it for a stateless
    /// backend's round `session` (the round's id, see `inputs::asking`) on
    /// a node that does not wait on it: the node that does takes `body`
    /// (`{"key":…,"result"|"error":…}`).
    Replied { session: [u8; 16], body: Bytes },
    /// A client cancelled the task the gateway holds under `session` (its
    /// key, see `tasks::held`) on a node that does not hold it: the node
    /// that does cancels it.
    TaskCancel { session: [u8; 16] },
    /// A client answered (`body`, its `inputResponses`) what the task held
    /// under `session` asks, on a node that does not hold it.
    TaskUpdate { session: [u8; 16], body: Bytes },
    /// The task held under `session` is now `body` (its record): every
    /// node's listen streams that follow it hear so.
    TaskStatus { session: [u8; 16], body: Bytes },
}

const CANCEL: u8 = b'c';
const EVENT: u8 = b'e';
const REVOKE: u8 = b'r';
const RESUME: u8 = b'm';
const UNSUBSCRIBE: u8 = b'u';
const MESSAGE: u8 = b'p';
const NOTIFY: u8 = b'n';
const ANSWER: u8 = b'a';
const REPLIED: u8 = b'y';
const TASK_CANCEL: u8 = b'k';
const TASK_UPDATE: u8 = b't';
const TASK_STATUS: u8 = b's';

impl Notice {
    pub fn session(&self) -> [u8; 16] {
        match self {
            Self::Cancel { session, .. }
            | Self::Event { session, .. }
            | Self::Revoke { session, .. }
            | Self::Unsubscribe { session, .. }
            | Self::Message { session, .. }
            | Self::Notify { session, .. }
            | Self::Resume { session, .. }
            | Self::Answer { session, .. }
            | Self::Replied { session, .. }
            | Self::TaskCancel { session }
            | Self::TaskUpdate { session, .. }
            | Self::TaskStatus { session, .. } => *session,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let (resume, message);
        let (tag, payload): (u8, &[u8]) = match self {
            Self::Cancel { id, .. } => (CANCEL, id.as_bytes()),
            Self::Event { message, .. } => (EVENT, message),
            Self::Revoke { until, .. } => (REVOKE, &until.to_be_bytes()),
            Self::Unsubscribe { uri, .. } => (UNSUBSCRIBE, uri.as_bytes()),
            Self::Notify { method, .. } => (NOTIFY, method.as_bytes()),
            Self::Replied { body, .. } => (REPLIED, body),
            Self::TaskCancel { .. } => (TASK_CANCEL, &[]),
            Self::TaskUpdate { body, .. } => (TASK_UPDATE, body),
            Self::TaskStatus { body, .. } => (TASK_STATUS, body),
            // The principal, length first, then the body.
            Self::Message { principal, body, .. } => {
                let len = u16::try_from(principal.len()).unwrap_or(u16::MAX);
                message = [&len.to_be_bytes()[..], &principal.as_bytes()[..usize::from(len)], body].concat();
                (MESSAGE, &message)
            }
            Self::Resume {
                stream, after, ticket, ..
            } => {
                resume = [stream, after, ticket].map(|n| n.to_be_bytes()).concat();
                (RESUME, &resume)
            }
            Self::Answer { ticket, body, .. } => {
                message = [&ticket.to_be_bytes()[..], body].concat();
                (ANSWER, &message)
            }
        };
        let mut out = Vec::with_capacity(17 + payload.len());
        out.push(tag);
        out.extend_from_slice(&self.session());
        out.extend_from_slice(payload);
        out
    }

    /// `None` for what no node of this version sent.
    pub fn decode(raw: &[u8]) -> Option<Self> {
        let (&tag, rest) = raw.split_first()?;
        let (session, payload) = rest.split_first_chunk::<16>()?;
        let session = *session;
        Some(match tag {
            CANCEL => Self::Cancel {
                session,
                id: std::str::from_utf8(payload).ok()?.into(),
            },
            EVENT => Self::Event {
                session,
                message: Bytes::copy_from_slice(payload),
            },
            REVOKE => Self::Revoke {
                session,
                until: u64::from_be_bytes(payload.try_into().ok()?),
            },
            MESSAGE => {
                let (len, rest) = payload.split_first_chunk::<2>()?;
                let len = usize::from(u16::from_be_bytes(*len));
                let (principal, body) = (rest.get(..len)?, rest.get(len..)?);
                Self::Message {
                    session,
                    principal: std::str::from_utf8(principal).ok()?.into(),
                    body: Bytes::copy_from_slice(body),
                }
            }
            UNSUBSCRIBE => Self::Unsubscribe {
                session,
                uri: std::str::from_utf8(payload).ok()?.into(),
            },
            NOTIFY => Self::Notify {
                session,
                method: std::str::from_utf8(payload).ok()?.into(),
            },
            RESUME => {
                let n = |i: usize| Some(u64::from_be_bytes(payload.get(i * 8..i * 8 + 8)?.try_into().ok()?));
                if payload.len() != 24 {
                    return None;
                }
                Self::Resume {
                    session,
                    stream: n(0)?,
                    after: n(1)?,
                    ticket: n(2)?,
                }
            }
            ANSWER => {
                let (ticket, body) = payload.split_first_chunk::<8>()?;
                Self::Answer {
                    session,
                    ticket: u64::from_be_bytes(*ticket),
                    body: Bytes::copy_from_slice(body),
                }
            }
            REPLIED => Self::Replied {
                session,
                body: Bytes::copy_from_slice(payload),
            },
            TASK_CANCEL if payload.is_empty() => Self::TaskCancel { session },
            TASK_UPDATE => Self::TaskUpdate {
                session,
                body: Bytes::copy_from_slice(payload),
            },
            TASK_STATUS => Self::TaskStatus {
                session,
                body: Bytes::copy_from_slice(payload),
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_junk_is_dropped() {
        for n in [
            Notice::Cancel {
                session: [1; 16],
                id: "\"req-1\"".into(),
            },
            Notice::Event {
                session: [2; 16],
                message: Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}"),
            },
            Notice::Revoke {
                session: [3; 16],
                until: 1_800_000_000,
            },
            Notice::Message {
                session: [6; 16],
                principal: "user:ünï".into(),
                body: Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
            },
            Notice::Unsubscribe {
                session: [5; 16],
                uri: "mcpgw://a/file:///x".into(),
            },
            Notice::Notify {
                session: [7; 16],
                method: "notifications/roots/list_changed".into(),
            },
            Notice::Resume {
                session: [4; 16],
                stream: u64::MAX,
                after: 7,
                ticket: 42,
            },
            Notice::Answer {
                session: [8; 16],
                ticket: 9,
                body: Bytes::from_static(b"{\"id\":2,\"inputResponses\":{}}"),
            },
            Notice::Replied {
                session: [9; 16],
                body: Bytes::from_static(b"{\"key\":\"k\",\"result\":{}}"),
            },
            Notice::TaskCancel { session: [10; 16] },
            Notice::TaskUpdate {
                session: [11; 16],
                body: Bytes::from_static(b"{\"k\":{\"action\":\"accept\"}}"),
            },
            Notice::TaskStatus {
                session: [12; 16],
                body: Bytes::from_static(b"{\"status\":\"working\"}"),
            },
        ] {
            assert_eq!(Notice::decode(&n.encode()), Some(n));
        }
        assert_eq!(Notice::decode(b""), None);
        assert_eq!(Notice::decode(b"c0123"), None);
        assert_eq!(Notice::decode(b"x0123456789abcdef{}"), None);
        assert_eq!(Notice::decode(b"r0123456789abcdef123"), None);
    }
}
