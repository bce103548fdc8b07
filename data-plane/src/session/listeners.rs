//! The standalone streams open on this node, by session, so a message for a
//! session reaches each of its streams here and costs nothing for sessions
//! with none.
//!
//! A message for a session with no stream here is kept for a short while
//! ([`KEEP_FOR`], bounded), and a stream the session opens meanwhile starts
//! with it: a backend may ask a client something on its standalone stream
//! just before the client's own `GET` arrives.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

/// How long a message waits for its session's stream.
const KEEP_FOR: Duration = Duration::from_secs(10);
/// Most messages kept per session, and sessions with messages kept.
const KEEP_MESSAGES: usize = 16;
const KEEP_SESSIONS: usize = 4096;

#[derive(Default)]
struct Inner {
    open: HashMap<[u8; 16], broadcast::Sender<Bytes>>,
    kept: HashMap<[u8; 16], (Instant, VecDeque<Bytes>)>,
}

#[derive(Default)]
pub struct Listeners(Arc<Mutex<Inner>>);

/// One stream's receiver; removes the session's entry when the last stream
/// here closes.
struct Listening {
    rx: Option<broadcast::Receiver<Bytes>>,
    all: Arc<Mutex<Inner>>,
    session: [u8; 16],
}

impl Drop for Listening {
    fn drop(&mut self) {
        // Our receiver no longer counts.
        drop(self.rx.take());
        let mut all = self.all.lock().expect("poisoned");
        if all.open.get(&self.session).is_some_and(|tx| tx.receiver_count() == 0) {
            all.open.remove(&self.session);
        }
    }
}

impl Listeners {
    /// The messages for `session`, from now until the stream is dropped or
    /// the session closed; first those kept for it.
    pub fn listen(&self, session: [u8; 16]) -> impl Stream<Item = Vec<u8>> + Send + 'static {
        let (rx, kept) = {
            let mut all = self.0.lock().expect("poisoned");
            let rx = all
                .open
                .entry(session)
                .or_insert_with(|| broadcast::Sender::new(16))
                .subscribe();
            let kept = all
                .kept
                .remove(&session)
                .filter(|(since, _)| since.elapsed() < KEEP_FOR)
                .map(|(_, m)| m)
                .unwrap_or_default();
            (rx, kept)
        };
        let listening = Listening {
            rx: Some(rx),
            all: self.0.clone(),
            session,
        };
        let live = futures::stream::unfold(listening, |mut listening| async move {
            loop {
                let rx = listening.rx.as_mut()?;
                match rx.recv().await {
                    Ok(m) => return Some((m.to_vec(), listening)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "a slow stream missed session messages");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures::stream::iter(kept.into_iter().map(|m| m.to_vec())).chain(live)
    }

    /// Ends the session's streams on this node (it was deleted).
    pub fn close(&self, session: [u8; 16]) {
        // Dropping the sender ends every receiver once it has read what
        // was sent before.
        let mut all = self.0.lock().expect("poisoned");
        all.open.remove(&session);
        all.kept.remove(&session);
    }

    /// Sends `message` to the session's streams on this node, or keeps it
    /// a while for a stream the session may open.
    pub fn deliver(&self, session: [u8; 16], message: &Bytes) {
        let mut all = self.0.lock().expect("poisoned");
        if let Some(tx) = all.open.get(&session)
            && tx.send(message.clone()).is_ok()
        {
            return;
        }
        if all.kept.len() >= KEEP_SESSIONS {
            all.kept.retain(|_, (since, _)| since.elapsed() < KEEP_FOR);
        }
        let full = all.kept.len() >= KEEP_SESSIONS && !all.kept.contains_key(&session);
        if full {
            tracing::debug!("a message for a session with no stream on this node was dropped");
            return;
        }
        let (since, kept) = all
            .kept
            .entry(session)
            .or_insert_with(|| (Instant::now(), VecDeque::new()));
        if since.elapsed() >= KEEP_FOR {
            *since = Instant::now();
            kept.clear();
        }
        if kept.len() == KEEP_MESSAGES {
            kept.pop_front();
        }
        kept.push_back(message.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_for_a_session_without_a_stream_waits_for_its_stream() {
        let listeners = Listeners::default();
        let (a, b) = ([1; 16], [2; 16]);
        listeners.deliver(a, &Bytes::from_static(b"early"));
        let mut stream = Box::pin(listeners.listen(a));
        listeners.deliver(a, &Bytes::from_static(b"live"));
        assert_eq!(stream.next().await.unwrap(), b"early");
        assert_eq!(stream.next().await.unwrap(), b"live");
        // Kept messages are the session's own, and bounded.
        for i in 0..=KEEP_MESSAGES {
            listeners.deliver(b, &Bytes::from(i.to_string()));
        }
        let kept: Vec<_> = listeners.0.lock().unwrap().kept[&b].1.iter().cloned().collect();
        assert_eq!(kept.len(), KEEP_MESSAGES);
        assert_eq!(kept[0], Bytes::from("1"));
        listeners.close(a);
        assert!(stream.next().await.is_none(), "closed");
    }
}
