//! Client sessions without stickiness.
//!
//! The `Mcp-Session-Id` the gateway mints is an AEAD-sealed record (protocol
//! version, principal, issue time, what the client can answer, a random
//! session key), so any data-plane
//! node holding the fleet's `AUTH_ENCRYPTION_SECRET` can serve any request of
//! the session from the header alone. Nothing about a live session is stored
//! except the ids ended with `DELETE`, kept until they would have expired.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub use crate::protocol::ClientCaps;
use crate::{auth::Principal, protocol::ProtocolVersion, seal::Sealer};

mod asked;
pub mod calls;
pub mod listeners;
pub mod subscriptions;

pub use asked::{AskedId, RoundAsk};

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub protocol_version: ProtocolVersion,
    pub principal: Principal,
    pub issued_at: u64,
    /// Random; names the session in the revocation list and binds relayed
    /// request ids to it.
    pub key: [u8; 16],
    pub caps: ClientCaps,
    /// The virtual server the session was opened on (its id); `None` for the
    /// whole gateway.
    pub server: Option<Arc<str>>,
}

impl Session {
    /// The session of a caller on a transport with none (`/rpc`, a
    /// connection before `initialize`): it can answer no requests.
    pub fn stateless(principal: Principal, server: Option<Arc<str>>) -> Self {
        Self {
            protocol_version: ProtocolVersion::LATEST,
            principal,
            issued_at: 0,
            // Still unique: it keys the caller's calls for cancellation.
            key: rand::random(),
            caps: ClientCaps::NONE,
            server,
        }
    }
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

/// Version, issue time, key, capabilities, server id length; the server id
/// and the principal follow.
const HEAD_LEN: usize = 27;
const SESSION_AAD: &[u8] = b"session";

/// Seals and opens session ids; tracks deleted ones.
pub struct SessionCodec {
    sealer: Sealer,
    ttl: Duration,
    deleted: Mutex<HashMap<[u8; 16], u64>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl SessionCodec {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        Self {
            sealer: Sealer::new(secret, b"mcpgw session id v1\0"),
            ttl,
            deleted: Mutex::new(HashMap::new()),
        }
    }

    pub fn start(
        &self,
        protocol_version: ProtocolVersion,
        principal: Principal,
        caps: ClientCaps,
        server: Option<Arc<str>>,
    ) -> (Session, String) {
        let session = Session {
            protocol_version,
            principal,
            issued_at: now_secs(),
            key: rand::random(),
            caps,
            server,
        };
        let id = self.seal(&session);
        (session, id)
    }

    fn seal(&self, s: &Session) -> String {
        let mut plain = Vec::with_capacity(HEAD_LEN + s.principal.0.len());
        plain.push(s.protocol_version.to_byte());
        plain.extend_from_slice(&s.issued_at.to_be_bytes());
        plain.extend_from_slice(&s.key);
        plain.push(s.caps.to_byte());
        let server = s.server.as_deref().unwrap_or_default().as_bytes();
        plain.push(u8::try_from(server.len()).expect("server ids are short"));
        plain.extend_from_slice(server);
        plain.extend_from_slice(s.principal.0.as_bytes());
        self.sealer.seal(&plain, SESSION_AAD)
    }

    pub fn open(&self, id: &str) -> Result<Session, SessionError> {
        let plain = self.sealer.open(id, SESSION_AAD).ok_or(SessionError::Unknown)?;
        if plain.len() < HEAD_LEN {
            return Err(SessionError::Unknown);
        }
        let protocol_version = ProtocolVersion::from_byte(plain[0]).ok_or(SessionError::Unknown)?;
        let issued_at = u64::from_be_bytes(plain[1..9].try_into().expect("8 bytes"));
        let key: [u8; 16] = plain[9..25].try_into().expect("16 bytes");
        let caps = ClientCaps::from_byte(plain[25]);
        let server_end = HEAD_LEN + usize::from(plain[HEAD_LEN - 1]);
        let server = plain.get(HEAD_LEN..server_end).ok_or(SessionError::Unknown)?;
        let server = std::str::from_utf8(server).map_err(|_| SessionError::Unknown)?;
        let server = (!server.is_empty()).then(|| Arc::from(server));
        let principal = std::str::from_utf8(&plain[server_end..]).map_err(|_| SessionError::Unknown)?;
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
            caps,
            server,
        })
    }

    /// Ends a session: later requests carrying its id get 404.
    /// Refuses `s` from now on; returns until when (its expiry), which is
    /// how long other nodes must refuse it too.
    pub fn delete(&self, s: &Session) -> u64 {
        let expires = s.issued_at.saturating_add(self.ttl.as_secs());
        self.revoke(s.key, expires);
        expires
    }

    /// Refuses the session with `key` until `until` (Unix seconds).
    pub fn revoke(&self, key: [u8; 16], until: u64) {
        let now = now_secs();
        let mut deleted = self.deleted.lock().expect("poisoned");
        deleted.retain(|_, exp| *exp >= now);
        deleted.insert(key, until);
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
        let (s, id) = codec().start(
            ProtocolVersion::V2025_06_18,
            Principal("alice".into()),
            ClientCaps::NONE,
            None,
        );
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
        let (s, id) = c.start(
            ProtocolVersion::V2024_11_05,
            Principal("bob".into()),
            ClientCaps::from_names(["sampling"]),
            Some(Arc::from("a-virtual-server")),
        );
        assert_eq!(c.open(&id).unwrap().server.as_deref(), Some("a-virtual-server"));
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
        let mut s = c
            .start(
                ProtocolVersion::V2025_11_25,
                Principal("a".into()),
                ClientCaps::NONE,
                None,
            )
            .0;
        s.issued_at -= 10;
        assert_eq!(c.open(&c.seal(&s)), Err(SessionError::Expired));
    }
}
