//! The MCP protocol revisions this gateway speaks, and version negotiation.

use std::fmt;

/// `_meta` keys of the stateless era (MCP 2026-07-28).
pub const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
pub const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
pub const CLIENT_INFO_KEY: &str = "io.modelcontextprotocol/clientInfo";
pub const LOG_LEVEL_KEY: &str = "io.modelcontextprotocol/logLevel";
pub const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";

/// One MCP protocol revision. Ordered oldest to newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    /// The stateless era: no `initialize`, every request carries its own
    /// `_meta` (see `stateless`). Never the answer to an `initialize`.
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every revision served, oldest first.
    pub const SUPPORTED: [ProtocolVersion; 4] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
    ];
    /// The newest revision with an `initialize` handshake.
    pub const LATEST: ProtocolVersion = Self::V2025_11_25;
    /// The stateless revisions, served per request.
    pub const STATELESS: [ProtocolVersion; 1] = [Self::V2026_07_28];
    /// Every revision served, either way, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// A revision with an `initialize` handshake.
    pub fn parse(s: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == s)
    }

    /// A stateless revision.
    pub fn parse_stateless(s: &str) -> Option<Self> {
        Self::STATELESS.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether `s` names a stateless revision or one this gateway does not
    /// know and that sorts after every handshake revision (a newer one):
    /// what tells a request of the stateless era from a legacy one.
    pub fn is_stateless_era(s: &str) -> bool {
        Self::parse_stateless(s).is_some() || (Self::parse(s).is_none() && s > Self::LATEST.as_str())
    }

    /// The version to answer an `initialize` that asked for `requested`: the
    /// same one when supported, else the latest (the client then decides
    /// whether it can speak it, as the lifecycle section of every revision says).
    pub fn negotiate(requested: &str) -> Self {
        Self::parse(requested).unwrap_or(Self::LATEST)
    }

    /// Whether it is a revision of the stateless era.
    pub fn is_stateless(self) -> bool {
        Self::STATELESS.contains(&self)
    }

    /// JSON-RPC batches exist only in 2025-03-26 (added there, removed in 2025-06-18).
    pub fn allows_batches(self) -> bool {
        self == Self::V2025_03_26
    }

    /// Stable one-byte encoding, used inside sealed session ids.
    pub(crate) fn to_byte(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        Self::SUPPORTED.get(usize::from(b)).copied()
    }

    /// A human list of supported versions, for error messages.
    pub fn supported_list() -> String {
        Self::SUPPORTED.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server→client requests a client declared it answers, from its
/// `initialize` capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientCaps(u8);

impl ClientCaps {
    pub const NONE: Self = Self(0);
    /// Every capability the gateway can relay.
    pub const ALL: Self = Self(Self::SAMPLING | Self::ELICITATION | Self::ROOTS);
    const SAMPLING: u8 = 1;
    const ELICITATION: u8 = 2;
    const ROOTS: u8 = 4;

    /// From the top-level capability names a client declared.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(names.into_iter().fold(0, |bits, n| {
            bits | match n {
                "sampling" => Self::SAMPLING,
                "elicitation" => Self::ELICITATION,
                "roots" => Self::ROOTS,
                _ => 0,
            }
        }))
    }

    /// Whether the client declared it answers any server→client request
    /// (then its calls get backend sessions of their own, see
    /// `upstream::pool`).
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// Stable one-byte encoding, used inside sealed session ids.
    pub(crate) fn to_byte(self) -> u8 {
        self.0
    }

    pub(crate) fn from_byte(b: u8) -> Self {
        Self(b)
    }

    /// The client capability a server→client request `method` needs.
    pub fn needed_by(method: &str) -> Option<&'static str> {
        match method {
            "sampling/createMessage" => Some("sampling"),
            "elicitation/create" => Some("elicitation"),
            "roots/list" => Some("roots"),
            _ => None,
        }
    }

    /// A capabilities object declaring what it answers (`{"sampling":{},…}`).
    pub fn to_json(self) -> String {
        let declared: Vec<&str> = [
            ("sampling/createMessage", r#""sampling":{}"#),
            ("elicitation/create", r#""elicitation":{}"#),
            ("roots/list", r#""roots":{"listChanged":true}"#),
        ]
        .into_iter()
        .filter(|(method, _)| self.answers(method))
        .map(|(_, json)| json)
        .collect();
        format!("{{{}}}", declared.join(","))
    }

    /// Whether the client can answer a server→client request `method`
    /// (`ping` every client answers).
    pub fn answers(self, method: &str) -> bool {
        let bit = match method {
            "ping" => return true,
            "sampling/createMessage" => Self::SAMPLING,
            "elicitation/create" => Self::ELICITATION,
            "roots/list" => Self::ROOTS,
            _ => return false,
        };
        self.0 & bit != 0
    }
}

/// The experimental capability in which an mcpgw names itself in its
/// `initialize` result (`{"id": <its registry's id>}`), so a gateway that
/// registers another knows it for a peer.
pub const GATEWAY_CAPABILITY: &str = "io.mcpgw/gateway";

/// The `_meta` key of the chain of gateways a request has passed (their
/// ids, first first): every request a gateway forwards carries it, with
/// itself added, and one that comes back to a gateway it already passed is
/// refused at once.
pub const VIA: &str = "io.mcpgw/via";

/// The most gateways one request may pass.
pub const MAX_HOPS: usize = 16;

/// The HTTP header that carries the same chain as `_meta[VIA]`: the ids,
/// first first, separated by commas (as HTTP's own `Via`). Read on the way
/// in beside `_meta`, so a hop that passes headers on but drops `_meta` (or
/// the reverse) cannot hide a loop, and written on the way out; proxies and
/// logs see the path without reading bodies.
pub const VIA_HEADER: &str = "mcpgw-via";

/// The longest gateway id a chain may hold.
pub const MAX_GATEWAY_ID: usize = 128;

/// Whether `id` can stand in a chain: 1 to [`MAX_GATEWAY_ID`] visible ASCII
/// characters without a comma (the header's separator).
pub fn valid_gateway_id(id: &str) -> bool {
    (1..=MAX_GATEWAY_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// A peer gateway as a gateway names it in its `initialize` result
/// (`capabilities.experimental[GATEWAY_CAPABILITY].peers`) when it shares
/// its peers (FEDERATION_DISCOVERY): a gateway registering it is offered
/// them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfferedPeer {
    pub name: String,
    /// Its MCP endpoint, without credentials.
    pub url: String,
    /// Its gateway id.
    pub id: String,
}

/// The most peers taken from one gateway's `initialize` result.
pub const MAX_OFFERED_PEERS: usize = 256;

impl OfferedPeer {
    /// Whether it can be offered: a name, an http(s) URL without
    /// credentials, an id that can stand in a chain.
    pub fn valid(&self) -> bool {
        let url_ok = reqwest::Url::parse(&self.url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.username().is_empty() && u.password().is_none());
        (1..=MAX_GATEWAY_ID).contains(&self.name.len())
            && self.url.len() <= 2048
            && url_ok
            && valid_gateway_id(&self.id)
    }
}

/// The gateway ids of a [`VIA_HEADER`] value, first first.
pub fn via_ids(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').map(str::trim).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_known_versions_and_falls_back_to_latest() {
        for v in ProtocolVersion::SUPPORTED {
            assert_eq!(ProtocolVersion::negotiate(v.as_str()), v);
            assert_eq!(ProtocolVersion::from_byte(v.to_byte()), Some(v));
        }
        assert_eq!(ProtocolVersion::negotiate("1999-01-01"), ProtocolVersion::LATEST);
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
        assert!(!ProtocolVersion::V2025_06_18.allows_batches());
    }
}
