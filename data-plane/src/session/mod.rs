//! Client sessions without stickiness.
//!
//! The `Mcp-Session-Id` the gateway mints is an AEAD-sealed record (protocol
//! version, principal, issue time, a random session key), so any data-plane
//! node holding the fleet's `AUTH_ENCRYPTION_SECRET` can serve any request of
//! the session from the header alone. Nothing about a live session is stored
//! except the ids ended with `DELETE`, kept until they would have expired.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use sha2::{Digest, Sha256};

use crate::{auth::Principal, protocol::ProtocolVersion};

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub protocol_version: ProtocolVersion,
    pub principal: Principal,
    pub issued_at: u64,
    /// Random; names the session in the revocation list.
    pub key: [u8; 16],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error(
        "Unknown session id: it was not issued by this gateway fleet (or the fleet's AUTH_ENCRYPTION_SECRET changed); send a new initialize request"
    )]
    Unknown,
    #[error("Session expired; send a new initialize request")]
    Expired,
    #[error("Session was ended with DELETE; send a new initialize request")]
    Deleted,
}

const NONCE_LEN: usize = 24;

/// Seals and opens session ids; tracks deleted ones.
pub struct SessionCodec {
    cipher: XChaCha20Poly1305,
    ttl: Duration,
    deleted: Mutex<HashMap<[u8; 16], u64>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl SessionCodec {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        // Domain-separated so the same secret can seal other things later.
        let key = Sha256::new()
            .chain_update(b"mcpgw session id v1\0")
            .chain_update(secret.as_bytes())
            .finalize();
        Self {
            cipher: XChaCha20Poly1305::new(&key),
            ttl,
            deleted: Mutex::new(HashMap::new()),
        }
    }

    pub fn start(&self, protocol_version: ProtocolVersion, principal: Principal) -> (Session, String) {
        let session = Session {
            protocol_version,
            principal,
            issued_at: now_secs(),
            key: rand::random(),
        };
        let id = self.seal(&session);
        (session, id)
    }

    fn seal(&self, s: &Session) -> String {
        let mut plain = Vec::with_capacity(25 + s.principal.0.len());
        plain.push(s.protocol_version.to_byte());
        plain.extend_from_slice(&s.issued_at.to_be_bytes());
        plain.extend_from_slice(&s.key);
        plain.extend_from_slice(s.principal.0.as_bytes());
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .expect("XChaCha20-Poly1305 encryption of a short buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(&self, id: &str) -> Result<Session, SessionError> {
        let raw = URL_SAFE_NO_PAD.decode(id).map_err(|_| SessionError::Unknown)?;
        if raw.len() <= NONCE_LEN {
            return Err(SessionError::Unknown);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| SessionError::Unknown)?;
        if plain.len() < 25 {
            return Err(SessionError::Unknown);
        }
        let protocol_version = ProtocolVersion::from_byte(plain[0]).ok_or(SessionError::Unknown)?;
        let issued_at = u64::from_be_bytes(plain[1..9].try_into().expect("8 bytes"));
        let key: [u8; 16] = plain[9..25].try_into().expect("16 bytes");
        let principal = std::str::from_utf8(&plain[25..]).map_err(|_| SessionError::Unknown)?;
        if issued_at.saturating_add(self.ttl.as_secs()) < now_secs() {
            return Err(SessionError::Expired);
        }
        if self.deleted.lock().expect("poisoned").contains_key(&key) {
            return Err(SessionError::Deleted);
        }
        Ok(Session {
            protocol_version,
            principal: Principal(principal.into()),
            issued_at,
            key,
        })
    }

    /// Ends a session: later requests carrying its id get 404.
    pub fn delete(&self, s: &Session) {
        let expires = s.issued_at.saturating_add(self.ttl.as_secs());
        let now = now_secs();
        let mut deleted = self.deleted.lock().expect("poisoned");
        deleted.retain(|_, exp| *exp >= now);
        deleted.insert(s.key, expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> SessionCodec {
        SessionCodec::new("secret", Duration::from_secs(3600))
    }

    #[test]
    fn a_sealed_id_opens_on_any_node_with_the_same_secret() {
        let (s, id) = codec().start(ProtocolVersion::V2025_06_18, Principal("alice".into()));
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(codec().open(&id).unwrap(), s);
        assert_eq!(
            SessionCodec::new("other", Duration::from_secs(60)).open(&id),
            Err(SessionError::Unknown)
        );
    }

    #[test]
    fn tampered_garbage_and_deleted_ids_are_refused() {
        let c = codec();
        let (s, id) = c.start(ProtocolVersion::V2024_11_05, Principal("bob".into()));
        let mut bad = id.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(c.open(std::str::from_utf8(&bad).unwrap()), Err(SessionError::Unknown));
        assert_eq!(c.open("!!!"), Err(SessionError::Unknown));
        assert_eq!(c.open(""), Err(SessionError::Unknown));
        c.delete(&s);
        assert_eq!(c.open(&id), Err(SessionError::Deleted));
    }

    #[test]
    fn expired_ids_are_refused() {
        let c = SessionCodec::new("secret", Duration::from_secs(0));
        let mut s = c.start(ProtocolVersion::V2025_11_25, Principal("a".into())).0;
        s.issued_at -= 10;
        assert_eq!(c.open(&c.seal(&s)), Err(SessionError::Expired));
    }
}
