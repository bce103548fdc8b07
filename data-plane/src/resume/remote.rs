//! Resuming a call stream that another node relays, through the fleet's
//! Redis ([`crate::fleet::pipe`]).
//!
//! The node asked to resume a stream it does not hold tells the fleet
//! ([`Notice::Resume`]) under a fresh ticket. The node that holds the
//! stream sends its events after the one named through the pipe, and the
//! asking node forwards them to its client.
//!
//! The pipe counts as a reader of the log, so the call runs on while it
//! is read. It stops when the asking node's lease lapses; the call is then
//! cancelled after the usual window.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};

use super::{Streams, read};
use crate::{
    error::{ErrorKind, McpError},
    fleet::{Fleet, Notice, Received},
};

/// On the node relaying `stream`: sends its events after `after` to the
/// node that asked, if the stream is here and belongs to `session`.
pub fn mirror(streams: &Arc<Streams>, fleet: &Fleet, session: [u8; 16], stream: u64, after: u64, ticket: u64) {
    let events = match streams.open(session, stream, after) {
        Ok(None) => return,
        Ok(Some(log)) => Ok(read(log, after + 1).boxed()),
        // Held here but not resumable as asked: say why.
        Err(e) => Err(e.message),
    };
    fleet.send_pipe(ticket, streams.window, events);
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
    let ticket: u64 = rand::random();
    let notice = Notice::Resume {
        session,
        stream,
        after,
        ticket,
    };
    match fleet.receive_pipe(ticket, window, notice).await {
        Ok(Received::Frames(events)) => Ok(events),
        Ok(Received::Refused(why)) => Err(McpError::new(ErrorKind::BadRequest, why)),
        Ok(Received::Nobody) => Err(Streams::unknown()),
        Err(e) => Err(McpError::new(
            ErrorKind::BackendUnavailable,
            format!("Cannot resume through the fleet's Redis: {e}"),
        )),
    }
}
