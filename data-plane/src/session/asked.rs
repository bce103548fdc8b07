//! Ids of server→client requests as the client sees them. A backend's
//! `sampling/createMessage` (or elicitation, roots, ping) goes to the client
//! under an id that seals where the answer must go: the backend, its session
//! and the backend's own id. So the answer may reach any node of the fleet,
//! two backends' ids can never collide, and an id is only accepted from the
//! client session it was sent to (the session key is the seal's associated
//! data).
//!
//! A stateless backend's input round asked of a client of an earlier era
//! goes out the same way, under an id of its own kind ([`RoundAsk`]) that
//! names the round the gateway waits on and the input's key.

use serde_json::value::RawValue;

use super::SessionCodec;

/// The prefix that marks a gateway-issued request id.
const PREFIX: &str = "mcpgw-";
/// The prefix of the id of an input the gateway asks for itself (checked
/// before [`PREFIX`], which it starts with).
const ROUND_PREFIX: &str = "mcpgw-in-";

/// Where the answer to an input the gateway asked goes: the round waiting
/// for it (see `inputs::asking`), as the input named `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundAsk {
    pub round: [u8; 16],
    pub key: String,
}

/// Where a client's answer goes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AskedId {
    pub backend_id: String,
    /// Where the backend session takes messages (its URL, or the message
    /// endpoint of a 2024-11-05 HTTP+SSE session).
    pub endpoint: String,
    /// The backend's `Mcp-Session-Id` for the session that asked, if any.
    pub upstream_session: Option<String>,
    pub protocol_version: String,
    /// The backend's request id, raw JSON.
    pub id: Box<RawValue>,
}

fn aad(client_key: &[u8; 16]) -> Vec<u8> {
    [&b"asked:"[..], client_key].concat()
}

fn round_aad(client_key: &[u8; 16]) -> Vec<u8> {
    [&b"round:"[..], client_key].concat()
}

impl SessionCodec {
    /// The id to send the client in place of `asked.id`, a JSON string.
    pub fn seal_asked(&self, client_key: &[u8; 16], asked: &AskedId) -> String {
        let plain = serde_json::to_vec(asked).expect("plain data serializes");
        format!("{PREFIX}{}", self.sealer.seal(&plain, &aad(client_key)))
    }

    /// Where the answer with id `id` goes; `None` if this gateway did not
    /// send that id to this client session.
    pub fn open_asked(&self, client_key: &[u8; 16], id: &str) -> Option<AskedId> {
        let plain = self.sealer.open(id.strip_prefix(PREFIX)?, &aad(client_key))?;
        serde_json::from_slice(&plain).ok()
    }

    /// The id of the input `key` of round `round`, asked of the client of
    /// session `client_key`: a JSON string.
    pub fn seal_round(&self, client_key: &[u8; 16], round: &[u8; 16], key: &str) -> String {
        let plain = [&round[..], key.as_bytes()].concat();
        format!("{ROUND_PREFIX}{}", self.sealer.seal(&plain, &round_aad(client_key)))
    }

    /// The round and input the answer with id `id` is for; `None` if this
    /// gateway did not ask this client session under that id.
    pub fn open_round(&self, client_key: &[u8; 16], id: &str) -> Option<RoundAsk> {
        let plain = self
            .sealer
            .open(id.strip_prefix(ROUND_PREFIX)?, &round_aad(client_key))?;
        let (round, key) = plain.split_first_chunk::<16>()?;
        Some(RoundAsk {
            round: *round,
            key: String::from_utf8(key.to_vec()).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_asked_id_opens_only_for_its_client_session() {
        let codec = SessionCodec::new("secret", Duration::from_secs(60));
        let asked = AskedId {
            backend_id: "b1".into(),
            endpoint: "http://127.0.0.1:1/mcp".into(),
            upstream_session: Some("up-1".into()),
            protocol_version: "2025-11-25".into(),
            id: RawValue::from_string("\"s-7\"".into()).unwrap(),
        };
        let sealed = codec.seal_asked(&[1; 16], &asked);
        assert!(sealed.starts_with(PREFIX));
        let opened = codec.open_asked(&[1; 16], &sealed).unwrap();
        assert_eq!(
            (
                opened.backend_id.as_str(),
                opened.upstream_session.as_deref(),
                opened.id.get()
            ),
            ("b1", Some("up-1"), "\"s-7\"")
        );
        assert!(codec.open_asked(&[2; 16], &sealed).is_none(), "another session's id");
        assert!(codec.open_asked(&[1; 16], "7").is_none());
        assert!(codec.open_asked(&[1; 16], "mcpgw-AAAA").is_none());
        // A session id does not open as an asked id, nor the reverse.
        let (_, sid) = codec.start(
            crate::protocol::ProtocolVersion::LATEST,
            crate::auth::Principal("a".into()),
            super::super::ClientCaps::NONE,
            None,
        );
        assert!(codec.open_asked(&[0; 16], &format!("{PREFIX}{sid}")).is_none());
        assert!(codec.open(sealed.strip_prefix(PREFIX).unwrap()).is_err());
    }

    #[test]
    fn a_round_id_opens_only_for_its_client_session_and_never_as_a_backends() {
        let codec = SessionCodec::new("secret", Duration::from_secs(60));
        let sealed = codec.seal_round(&[1; 16], &[9; 16], "user_name");
        assert_eq!(
            codec.open_round(&[1; 16], &sealed),
            Some(RoundAsk {
                round: [9; 16],
                key: "user_name".into()
            })
        );
        assert!(codec.open_round(&[2; 16], &sealed).is_none(), "another session's id");
        assert!(codec.open_asked(&[1; 16], &sealed).is_none());
        let asked = AskedId {
            backend_id: "b1".into(),
            endpoint: "http://127.0.0.1:1/mcp".into(),
            upstream_session: None,
            protocol_version: "2025-11-25".into(),
            id: RawValue::from_string("1".into()).unwrap(),
        };
        let backends = codec.seal_asked(&[1; 16], &asked);
        assert!(codec.open_round(&[1; 16], &backends).is_none());
        assert!(codec.open_round(&[1; 16], "mcpgw-in-AAAA").is_none());
    }
}
