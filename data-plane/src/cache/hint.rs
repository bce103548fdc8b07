//! Caching hints of MCP 2026-07-28 (`ttlMs`, `cacheScope`): read off a
//! backend's results, combined over the backends a merged list is made
//! of, and written on the lists the gateway serves.

use std::fmt::Write;

use mcpgw_proto::v1::{ItemKind, ListHint};
use serde::{Deserialize, Serialize};

use crate::jsonrpc::RawObject;

/// How long a result may be kept and by whom. A result without hints
/// (every backend of an earlier era) constrains nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CacheHint {
    /// Milliseconds it may be kept for; `None` when it did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// `cacheScope: "private"`: never shared across callers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// How long the gateway's own lists may be kept where no backend says
/// less. The gateway is their authority and announces every change to
/// listen streams and sessions (a registry write, a backend's list change,
/// a refresh that found one), so a client that listens is never stale; a
/// client that only caches is stale for at most this long.
pub const GATEWAY_LIST_TTL_MS: u64 = 30_000;

impl CacheHint {
    /// The hints of a result object (any `cacheScope` other than `public`
    /// is taken as private, the safe reading).
    pub fn of(result: &RawObject<'_>) -> Self {
        Self {
            ttl_ms: result.get("ttlMs").and_then(|t| t.get().parse().ok()),
            private: result.get("cacheScope").is_some_and(|s| s.get() != r#""public""#),
        }
    }

    /// What holds for a result made of both: the shorter TTL, private if
    /// either part is.
    pub fn and(self, other: Self) -> Self {
        Self {
            ttl_ms: match (self.ttl_ms, other.ttl_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            private: self.private || other.private,
        }
    }

    /// The result members saying it, led by a comma:
    /// `,"ttlMs":N,"cacheScope":"public"` (TTL capped by
    /// [`GATEWAY_LIST_TTL_MS`]).
    pub fn members(self) -> String {
        let ttl = self.ttl_ms.map_or(GATEWAY_LIST_TTL_MS, |t| t.min(GATEWAY_LIST_TTL_MS));
        let scope = if self.private { "private" } else { "public" };
        let mut out = String::with_capacity(40);
        let _ = write!(out, r#","ttlMs":{ttl},"cacheScope":"{scope}""#);
        out
    }
}

/// A backend's hints for each of its lists, as discovery last found them
/// (stored as JSON by the control plane, which leaves out what is unset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListHints {
    pub tools: CacheHint,
    pub prompts: CacheHint,
    pub resources: CacheHint,
    pub templates: CacheHint,
}

/// Which of the four lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListKind {
    #[default]
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    const ALL: [(ListKind, ItemKind); 4] = [
        (ListKind::Tools, ItemKind::Tool),
        (ListKind::Prompts, ItemKind::Prompt),
        (ListKind::Resources, ItemKind::Resource),
        (ListKind::Templates, ItemKind::ResourceTemplate),
    ];

    /// The list items of `kind` are listed in (`None` for no kind).
    pub fn of(kind: ItemKind) -> Option<Self> {
        Self::ALL.iter().find(|(_, k)| *k == kind).map(|(l, _)| *l)
    }
}

impl ListHints {
    pub fn of(&self, kind: ListKind) -> CacheHint {
        match kind {
            ListKind::Tools => self.tools,
            ListKind::Prompts => self.prompts,
            ListKind::Resources => self.resources,
            ListKind::Templates => self.templates,
        }
    }

    /// Whether no list says anything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn of_mut(&mut self, kind: ListKind) -> &mut CacheHint {
        match kind {
            ListKind::Tools => &mut self.tools,
            ListKind::Prompts => &mut self.prompts,
            ListKind::Resources => &mut self.resources,
            ListKind::Templates => &mut self.templates,
        }
    }

    /// As the config stream carries them: the lists that say anything.
    pub fn to_proto(&self) -> Vec<ListHint> {
        ListKind::ALL
            .iter()
            .map(|&(list, kind)| (self.of(list), kind))
            .filter(|(h, _)| *h != CacheHint::default())
            .map(|(h, kind)| ListHint {
                kind: kind.into(),
                ttl_ms: h.ttl_ms,
                private: h.private,
            })
            .collect()
    }

    pub fn from_proto(hints: &[ListHint]) -> Self {
        let mut out = Self::default();
        for h in hints {
            if let Some(list) = ItemKind::try_from(h.kind).ok().and_then(ListKind::of) {
                *out.of_mut(list) = CacheHint {
                    ttl_ms: h.ttl_ms,
                    private: h.private,
                };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(json: &str) -> CacheHint {
        CacheHint::of(&RawObject::parse(json).unwrap())
    }

    #[test]
    fn a_merge_takes_the_shortest_ttl_and_is_private_if_any_part_is() {
        let none = hint(r#"{"tools":[]}"#);
        assert_eq!(none, CacheHint::default());
        let short = hint(r#"{"ttlMs":500,"cacheScope":"public"}"#);
        let private = hint(r#"{"ttlMs":9000,"cacheScope":"private"}"#);
        assert_eq!(none.and(short), short);
        let both = short.and(private);
        assert_eq!(
            both,
            CacheHint {
                ttl_ms: Some(500),
                private: true
            }
        );
        assert_eq!(both.members(), r#","ttlMs":500,"cacheScope":"private""#);
        // An odd scope is taken as private; no TTL is the gateway's own.
        assert!(hint(r#"{"cacheScope":"shared"}"#).private);
        assert_eq!(
            none.members(),
            format!(r#","ttlMs":{GATEWAY_LIST_TTL_MS},"cacheScope":"public""#)
        );
        let lists = ListHints {
            prompts: both,
            ..Default::default()
        };
        assert_eq!(ListHints::from_proto(&lists.to_proto()), lists);
        assert_eq!(lists.to_proto().len(), 1, "only what says anything");
        let long = hint(r#"{"ttlMs":86400000}"#);
        assert_eq!(
            long.members(),
            format!(r#","ttlMs":{GATEWAY_LIST_TTL_MS},"cacheScope":"public""#)
        );
    }
}
