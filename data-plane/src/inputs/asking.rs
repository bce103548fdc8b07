//! Input rounds the gateway asks of a client itself: a stateless backend
//! answered a call of a client of an earlier era with `input_required`, and
//! the gateway puts each input request to the client as a real request on
//! its session (see `dispatch::forward::asking`). The round waits here, on
//! the node relaying the call, under a random id; the client's answers may
//! reach any node, and one that is not this is told through the fleet.
//!
//! A node waits on at most as many rounds as it holds calls
//! (`MCPGW_INPUT_MAX`); past that a call that asks fails.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// A client's answer to one input of a round: its result or its error,
/// raw.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Replied {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<RawValue>>,
}

type Waiting = Arc<Mutex<HashMap<[u8; 16], mpsc::Sender<Replied>>>>;

/// The rounds this node waits on, by id.
pub struct Asking {
    waiting: Waiting,
    max: usize,
}

/// One round waited on: its answers come on `answers` until it is dropped.
pub struct Round {
    pub id: [u8; 16],
    pub answers: mpsc::Receiver<Replied>,
    waiting: Waiting,
}

impl Drop for Round {
    fn drop(&mut self) {
        self.waiting.lock().expect("poisoned").remove(&self.id);
    }
}

impl Asking {
    pub fn new(max: usize) -> Self {
        Self {
            waiting: Default::default(),
            max,
        }
    }

    /// Waits on a round of `inputs` input requests; `None` when the node
    /// waits on as many as it may.
    pub fn open(&self, inputs: usize) -> Option<Round> {
        let id: [u8; 16] = rand::random();
        // Room for every answer and a few repeated: a client answering one
        // input twice cannot block another's delivery, only lose its own.
        let (tx, answers) = mpsc::channel(inputs + 4);
        let mut waiting = self.waiting.lock().expect("poisoned");
        if waiting.len() >= self.max {
            return None;
        }
        waiting.insert(id, tx);
        drop(waiting);
        Some(Round {
            id,
            answers,
            waiting: self.waiting.clone(),
        })
    }

    /// Delivers `replied` to round `round`; given back if this node does
    /// not wait on it.
    pub fn deliver(&self, round: &[u8; 16], replied: Replied) -> Result<(), Replied> {
        let tx = self.waiting.lock().expect("poisoned").get(round).cloned();
        match tx {
            // Full only when the client repeats itself: that answer is lost.
            Some(tx) => {
                let _ = tx.try_send(replied);
                Ok(())
            }
            None => Err(replied),
        }
    }

    /// How many rounds this node waits on.
    pub fn len(&self) -> usize {
        self.waiting.lock().expect("poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replied(key: &str) -> Replied {
        Replied {
            key: key.into(),
            result: Some(RawValue::from_string("{}".into()).unwrap()),
            error: None,
        }
    }

    #[tokio::test]
    async fn a_round_gets_its_answers_until_dropped_and_rounds_are_bounded() {
        let asking = Asking::new(1);
        let mut round = asking.open(1).unwrap();
        assert!(asking.open(1).is_none(), "past the limit nothing more waits");
        assert!(asking.deliver(&round.id, replied("a")).is_ok());
        assert!(asking.deliver(&[0; 16], replied("a")).is_err(), "no such round here");
        assert_eq!(round.answers.recv().await.unwrap().key, "a");
        let id = round.id;
        drop(round);
        assert!(asking.deliver(&id, replied("a")).is_err());
        assert!(asking.is_empty());
        assert!(asking.open(1).is_some());
    }
}
