//! What may go in the data planes' response cache, checked before a TTL is
//! stored: only resources' reads and the results of tools that say they
//! change nothing (`readOnlyHint`). A cached result of a tool that does
//! something would make the second call silently do nothing; that includes
//! an idempotent one (a PUT), whose effect may have been undone meanwhile.

use tonic::Status;

use crate::registry::{ItemRow, catalog::read_only};

/// The longest TTL accepted (30 days): past that, a stale entry is more
/// likely a mistake than a wish.
pub const MAX_TTL_SECS: u32 = 30 * 24 * 3600;

/// Refuses a TTL past [`MAX_TTL_SECS`]; `what` names it in the error.
pub fn check_ttl(what: &str, ttl: Option<u32>) -> Result<(), Status> {
    match ttl {
        Some(t) if t > MAX_TTL_SECS => Err(Status::invalid_argument(format!(
            "{what} {t} s is longer than the {MAX_TTL_SECS} s (30 days) allowed"
        ))),
        _ => Ok(()),
    }
}

/// Whether `item`'s results may be cached for `ttl` seconds (`None`: back
/// to the default, always allowed).
pub fn check_cacheable(item: &ItemRow, ttl: Option<u32>) -> Result<(), Status> {
    check_ttl("ttl_seconds", ttl)?;
    let Some(ttl) = ttl else { return Ok(()) };
    match item.kind.as_str() {
        "resource" => Ok(()),
        "tool" if ttl == 0 || read_only(&item.definition_json) => Ok(()),
        "tool" => Err(Status::failed_precondition(format!(
            "tool {:?} is not annotated as read-only (annotations.readOnlyHint), so its results are not \
             cached: a cached answer would skip what the call does",
            item.name
        ))),
        kind => Err(Status::invalid_argument(format!(
            "only resources and tools are cached; {:?} is a {}",
            item.name,
            kind.replace('_', " ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: &str, def: &str) -> ItemRow {
        ItemRow {
            id: "i".into(),
            backend_id: "b".into(),
            backend_slug: "b".into(),
            kind: kind.into(),
            name: "x".into(),
            position: 0,
            description: String::new(),
            definition_json: def.into(),
            enabled: true,
            config_version: 1,
            cache_ttl_secs: None,
            owned: String::new(),
        }
    }

    #[test]
    fn only_resources_and_read_only_tools_are_cached() {
        let read_only = item("tool", r#"{"name":"x","annotations":{"readOnlyHint":true}}"#);
        let idempotent = item("tool", r#"{"name":"x","annotations":{"idempotentHint":true}}"#);
        let acting = item("tool", r#"{"name":"x","annotations":{"readOnlyHint":false}}"#);
        let bare = item("tool", r#"{"name":"x"}"#);
        assert!(check_cacheable(&read_only, Some(30)).is_ok());
        assert!(check_cacheable(&idempotent, Some(30)).is_err());
        assert_eq!(
            check_cacheable(&acting, Some(30)).unwrap_err().code(),
            tonic::Code::FailedPrecondition
        );
        assert!(check_cacheable(&bare, Some(30)).is_err());
        // Turning caching off, or back to the default, is always allowed.
        assert!(check_cacheable(&bare, Some(0)).is_ok());
        assert!(check_cacheable(&bare, None).is_ok());
        assert!(check_cacheable(&item("resource", "{}"), Some(5)).is_ok());
        let prompt = check_cacheable(&item("prompt", "{}"), Some(5)).unwrap_err();
        assert_eq!(prompt.code(), tonic::Code::InvalidArgument);
        let too_long = check_cacheable(&item("resource", "{}"), Some(MAX_TTL_SECS + 1)).unwrap_err();
        assert!(too_long.message().contains("30 days"), "{}", too_long.message());
    }
}
