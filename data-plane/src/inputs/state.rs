//! The `requestState` of a held call: which call it is, who may answer it
//! and until when, sealed with the fleet secret. The client can read
//! nothing in it and change nothing: a state that was altered, or that is
//! echoed on a request other than the one it was issued for (another
//! method, target or arguments, which the seal is bound to), does not open.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::seal::Sealer;

/// What a `requestState` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub call: Call,
    /// The backend the call is with: the retry must route to it.
    pub backend: String,
    /// Who made the call: only they may answer it.
    pub principal: String,
    /// Unix seconds after which the state is refused.
    pub expires: u64,
}

/// The call a `requestState` goes on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A call of a backend of an earlier era, held on a node under this id
    /// (see `dispatch::relay::bridge`).
    Held([u8; 16]),
    /// A call of a stateless backend, which asked for input itself: the
    /// retry goes to it with its own `requestState`, byte for byte (none
    /// if it gave none).
    Passed(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error(
        "params.requestState was not issued by this gateway for this request: it was altered, or it belongs to another call (another method, target or arguments); send the request again without requestState and inputResponses"
    )]
    NotIssued,
    #[error(
        "params.requestState has expired: the gateway no longer holds the call it named; send the request again without requestState and inputResponses"
    )]
    Expired,
}

/// Sealed layout: kind (1), expiry (8), backend length (1), principal
/// length (2), then the backend, the principal, and the held id (16) or
/// the backend's own state (the rest).
const HEAD: usize = 1 + 8 + 1 + 2;

const HELD: u8 = 0;
const PASSED_NONE: u8 = 1;
const PASSED: u8 = 2;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a state is bound to: the request's method, what it names (tool or
/// prompt name, resource URI) and its arguments as JSON values, so a retry
/// that spells the same arguments differently still matches.
pub fn digest(method: &str, target: &str, arguments: Option<&RawValue>) -> [u8; 32] {
    let arguments = arguments
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a.get()).ok())
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut h = Sha256::new();
    for part in [method, target, &arguments] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

fn aad(digest: &[u8; 32]) -> Vec<u8> {
    [&b"request state\0"[..], digest].concat()
}

/// `s`, cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &[u8] {
    &s.as_bytes()[..s.floor_char_boundary(max)]
}

impl Ticket {
    /// A ticket for `call`, valid for `ttl_secs`.
    pub fn new(call: Call, backend: &str, principal: &str, ttl_secs: u64) -> Self {
        Self {
            call,
            backend: backend.to_owned(),
            principal: principal.to_owned(),
            expires: now_secs().saturating_add(ttl_secs),
        }
    }

    /// Whether the state is past its expiry (checked after who may use
    /// it, so a caller is told the most useful reason).
    pub fn check_expiry(&self) -> Result<(), TicketError> {
        match self.expires <= now_secs() {
            true => Err(TicketError::Expired),
            false => Ok(()),
        }
    }

    pub(super) fn seal(&self, sealer: &Sealer, digest: &[u8; 32]) -> String {
        let backend = cut(&self.backend, 255);
        let principal = cut(&self.principal, usize::from(u16::MAX));
        let (kind, tail): (u8, &[u8]) = match &self.call {
            Call::Held(id) => (HELD, id),
            Call::Passed(None) => (PASSED_NONE, &[]),
            Call::Passed(Some(state)) => (PASSED, state.as_bytes()),
        };
        let mut plain = Vec::with_capacity(HEAD + backend.len() + principal.len() + tail.len());
        plain.push(kind);
        plain.extend_from_slice(&self.expires.to_be_bytes());
        plain.push(backend.len() as u8);
        plain.extend_from_slice(&(principal.len() as u16).to_be_bytes());
        plain.extend_from_slice(backend);
        plain.extend_from_slice(principal);
        plain.extend_from_slice(tail);
        sealer.seal(&plain, &aad(digest))
    }

    pub(super) fn open(sealer: &Sealer, state: &str, digest: &[u8; 32]) -> Result<Self, TicketError> {
        let plain = sealer.open(state, &aad(digest)).ok_or(TicketError::NotIssued)?;
        let head = plain.get(..HEAD).ok_or(TicketError::NotIssued)?;
        let expires = u64::from_be_bytes(head[1..9].try_into().expect("8 bytes"));
        let backend_end = HEAD + usize::from(head[9]);
        let principal_end = backend_end + usize::from(u16::from_be_bytes([head[10], head[11]]));
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| TicketError::NotIssued);
        let backend = text(plain.get(HEAD..backend_end).ok_or(TicketError::NotIssued)?)?;
        let principal = text(plain.get(backend_end..principal_end).ok_or(TicketError::NotIssued)?)?;
        let tail = &plain[principal_end..];
        let call = match head[0] {
            HELD => Call::Held(tail.try_into().map_err(|_| TicketError::NotIssued)?),
            PASSED_NONE => Call::Passed(None),
            PASSED => Call::Passed(Some(text(tail)?)),
            _ => return Err(TicketError::NotIssued),
        };
        Ok(Self {
            call,
            backend,
            principal,
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn a_state_opens_only_for_its_own_request_unaltered_and_in_time() {
        let sealer = Sealer::new("secret", b"test");
        let d = digest("tools/call", "book", Some(&raw(r#"{"a":1,"b":[2]}"#)));
        let t = Ticket::new(Call::Held([7; 16]), "backend-1", "alice", 60);
        let state = t.seal(&sealer, &d);
        assert_eq!(Ticket::open(&sealer, &state, &d), Ok(t.clone()));
        let respelled = digest("tools/call", "book", Some(&raw(r#"{ "b": [2], "a": 1 }"#)));
        assert_eq!(Ticket::open(&sealer, &state, &respelled), Ok(t.clone()));
        for other in [
            digest("tools/call", "book", Some(&raw(r#"{"a":2,"b":[2]}"#))),
            digest("tools/call", "other", Some(&raw(r#"{"a":1,"b":[2]}"#))),
            digest("prompts/get", "book", Some(&raw(r#"{"a":1,"b":[2]}"#))),
        ] {
            assert_eq!(Ticket::open(&sealer, &state, &other), Err(TicketError::NotIssued));
        }
        let tampered = format!("{state}-TAMPERED");
        assert_eq!(Ticket::open(&sealer, &tampered, &d), Err(TicketError::NotIssued));
        assert_eq!(
            Ticket::open(&Sealer::new("other", b"test"), &state, &d),
            Err(TicketError::NotIssued)
        );
        assert_eq!(t.check_expiry(), Ok(()));
        let mut old = t;
        old.expires = now_secs();
        let old = Ticket::open(&sealer, &old.seal(&sealer, &d), &d).unwrap();
        assert_eq!(old.check_expiry(), Err(TicketError::Expired));
    }

    #[test]
    fn a_passed_state_carries_the_backends_own_byte_for_byte() {
        let sealer = Sealer::new("secret", b"test");
        let d = digest("tools/call", "t", None);
        for call in [
            Call::Passed(None),
            Call::Passed(Some("b-state: ünïcode {\"x\":1}".into())),
        ] {
            let t = Ticket::new(call, "backend-1", "bob", 60);
            assert_eq!(Ticket::open(&sealer, &t.seal(&sealer, &d), &d), Ok(t));
        }
    }
}
