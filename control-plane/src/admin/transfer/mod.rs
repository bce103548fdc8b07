//! Export and import of the whole registry as one JSON document in Context
//! Forge's export format (`version`, `exported_at`, `entities.{tools,
//! gateways, servers, prompts, resources, roots}`, `metadata`), so a
//! Context Forge user moves a registry in one step and an mcpgw registry
//! can be backed up, diffed and restored.
//!
//! What Context Forge's fields cannot say (a backend's TLS settings, stdio
//! command, REST endpoints, gRPC descriptors; a resource's blob or URL; a
//! virtual server member's rename) goes under each entry's `mcpgw` key, as
//! the API's own messages in proto3 JSON. The rule on import is simple: an
//! entry with `mcpgw` is imported from it, and only `is_active` is read
//! beside it; an entry without is read as Context Forge writes it.
//!
//! Secrets are left out unless asked for; then each backend's go under
//! `mcpgw_secrets`, sealed with the fleet's `AUTH_ENCRYPTION_SECRET` and
//! bound to the backend's name.

mod cf_auth;
mod export;
mod import;
mod pbjson;

pub use export::ExportOptions;
pub use import::ImportOptions;

use mcpgw_data_plane::{seal::Sealer, upstream::secrets::Secrets};
use serde::Deserialize;
use serde_json::Value;

/// Largest export document read or written, on every API (gRPC messages
/// included, whose default limit of 4 MiB a registry with gRPC descriptors
/// and OpenAPI-made tools can pass).
pub const MAX_DOCUMENT: usize = 64 << 20;

/// The keys export and import seal and open secrets with.
pub struct Keys {
    secret: String,
    sealer: Sealer,
}

/// The domain of secrets sealed into an export, apart from every other
/// kind of sealed text.
const EXPORT_DOMAIN: &[u8] = b"mcpgw export secrets v1\0";

impl Keys {
    /// Keys from a fleet's `AUTH_ENCRYPTION_SECRET`.
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            sealer: Sealer::new(secret, EXPORT_DOMAIN),
        }
    }

    fn seal(&self, backend: &str, secrets: &Secrets) -> String {
        let plain = serde_json::to_vec(secrets).expect("secrets serialize");
        self.sealer.seal(&plain, backend.as_bytes())
    }

    fn open(&self, backend: &str, sealed: &str) -> Option<Secrets> {
        let plain = self.sealer.open(sealed, backend.as_bytes())?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The entity types of the format, in the order an import applies them
/// (what servers name comes first).
pub const ENTITY_TYPES: [&str; 6] = ["roots", "gateways", "tools", "resources", "prompts", "servers"];

/// An export document as read: each entry kept as JSON until it is
/// checked, so an error names the entry it is in.
#[derive(Debug, Deserialize)]
struct Document {
    version: String,
    entities: Entities,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entities {
    #[serde(default)]
    tools: Vec<Value>,
    #[serde(default)]
    gateways: Vec<Value>,
    #[serde(default)]
    servers: Vec<Value>,
    #[serde(default)]
    prompts: Vec<Value>,
    #[serde(default)]
    resources: Vec<Value>,
    #[serde(default)]
    roots: Vec<Value>,
}

/// `2026-12-03T08:30:00Z` for a time in Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_287_845_123), "2026-12-03T08:50:45Z");
    }

    #[test]
    fn sealed_secrets_open_with_the_same_secret_and_name_only() {
        let keys = Keys::new("fleet");
        let secrets = Secrets {
            headers: vec![("x-key".into(), "v-1".into())],
            ..Secrets::default()
        };
        let sealed = keys.seal("weather", &secrets);
        assert!(!sealed.contains("v-1"));
        assert_eq!(keys.open("weather", &sealed), Some(secrets));
        assert_eq!(keys.open("other", &sealed), None);
        assert_eq!(Keys::new("else").open("weather", &sealed), None);
    }
}
