//! The standalone streams open on this node, by session, so a message for a
//! session reaches each of its streams here and costs nothing for sessions
//! with none.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::broadcast;

#[derive(Default)]
pub struct Listeners(Arc<Mutex<HashMap<[u8; 16], broadcast::Sender<Bytes>>>>);

/// One stream's receiver; removes the session's entry when the last stream
/// here closes.
struct Listening {
    rx: Option<broadcast::Receiver<Bytes>>,
    all: Arc<Mutex<HashMap<[u8; 16], broadcast::Sender<Bytes>>>>,
    session: [u8; 16],
}

impl Drop for Listening {
    fn drop(&mut self) {
        // Our receiver no longer counts.
        drop(self.rx.take());
        let mut all = self.all.lock().expect("poisoned");
        if all.get(&self.session).is_some_and(|tx| tx.receiver_count() == 0) {
            all.remove(&self.session);
        }
    }
}

impl Listeners {
    /// The messages for `session`, from now until the stream is dropped or
    /// the session closed.
    pub fn listen(&self, session: [u8; 16]) -> impl Stream<Item = Vec<u8>> + Send + 'static {
        let rx = self
            .0
            .lock()
            .expect("poisoned")
            .entry(session)
            .or_insert_with(|| broadcast::Sender::new(16))
            .subscribe();
        let listening = Listening {
            rx: Some(rx),
            all: self.0.clone(),
            session,
        };
        futures::stream::unfold(listening, |mut listening| async move {
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
        })
    }

    /// Ends the session's streams on this node (it was deleted).
    pub fn close(&self, session: [u8; 16]) {
        // Dropping the sender ends every receiver once it has read what
        // was sent before.
        self.0.lock().expect("poisoned").remove(&session);
    }

    /// Sends `message` to the session's streams on this node, if any.
    pub fn deliver(&self, session: [u8; 16], message: &Bytes) {
        if let Some(tx) = self.0.lock().expect("poisoned").get(&session) {
            let _ = tx.send(message.clone());
        }
    }
}
