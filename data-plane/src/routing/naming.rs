//! The names clients see. Tool and prompt names are
//! `<backend-slug><separator><name>` (the registry's own items, whose
//! backend has no slug, just `<name>`), always valid under the MCP spec's
//! tool-name rules (1–128 characters from `A-Z a-z 0-9 _ - .`), and a pure
//! function of the backend's slug, the separator and the item's own name:
//! adding or removing one backend never renames another's tools, and every
//! node computes the same names.
//!
//! Resource URIs and templates stay as the backend gives them. Where two
//! backends offer the same one, the backend registered first keeps it bare
//! and the others' are qualified as `mcpgw://<slug>/<uri>`; the qualified
//! form of any URI always reaches that backend, so a client can pin one.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

pub const MAX_TOOL_NAME: usize = 128;
pub const MAX_SLUG: usize = 48;
pub const DEFAULT_SEPARATOR: &str = "-";

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// A slug for a backend name: lowercase ASCII letters, digits and single dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { "backend".into() } else { slug.into() }
}

/// Why `name` is not a valid MCP tool name (1-128 characters from
/// `A-Z a-z 0-9 _ - .`).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_TOOL_NAME || !name.chars().all(name_char) {
        return Err(format!(
            "{name:?} is not a valid MCP name: 1-128 characters from A-Z a-z 0-9 _ - ."
        ));
    }
    Ok(())
}

/// Why a separator cannot be used.
pub fn check_separator(sep: &str) -> Result<(), String> {
    if sep.is_empty() || sep.len() > 8 || !sep.chars().all(name_char) {
        return Err(format!(
            "tool name separator {sep:?} must be 1-8 characters from A-Z a-z 0-9 _ - . (tool names must stay valid MCP names)"
        ));
    }
    Ok(())
}

/// The exposed name of `tool` on the backend with `slug`. A tool name with
/// characters MCP does not allow, or one that would make the result too long,
/// is cleaned and suffixed with a short hash of the original, which keeps names
/// unique and stable.
pub fn exposed_tool_name(slug: &str, sep: &str, tool: &str) -> String {
    let clean: String = tool.chars().map(|c| if name_char(c) { c } else { '_' }).collect();
    // The registry's own backend has no slug: its items keep their names.
    let name = if slug.is_empty() {
        clean.clone()
    } else {
        format!("{slug}{sep}{clean}")
    };
    if clean != tool || name.len() > MAX_TOOL_NAME {
        with_hash(name, &[tool])
    } else {
        name
    }
}

/// The name for a tool whose exposed name another backend's tool already
/// has (`a` + `b-c` and `a-b` + `c`): suffixed with a hash of slug and tool,
/// so it stays stable and unique. The control plane refuses registrations
/// that would need this; it only applies when a rediscovered tool collides.
pub fn disambiguated(exposed: String, slug: &str, tool: &str) -> String {
    with_hash(exposed, &[slug, "\0", tool])
}

/// The prefix of qualified resource URIs.
pub const QUALIFIED_URI_PREFIX: &str = "mcpgw://";

pub fn qualified_uri(slug: &str, uri: &str) -> String {
    format!("{QUALIFIED_URI_PREFIX}{slug}/{uri}")
}

/// The backend slug and the backend's own URI of a qualified URI.
pub fn split_qualified_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(QUALIFIED_URI_PREFIX)?.split_once('/')
}

/// The exposed URI of each item (same order): bare for the item of the
/// backend with the lowest `precedence` offering it, qualified for the rest.
pub fn resource_uris<K: Ord>(items: &[super::Item<'_>], precedence: impl Fn(&super::Item<'_>) -> K) -> Vec<String> {
    let mut by_precedence: Vec<usize> = (0..items.len()).collect();
    by_precedence.sort_by_cached_key(|&i| (precedence(&items[i]), i));
    let mut taken = HashSet::with_capacity(items.len());
    let mut exposed = vec![String::new(); items.len()];
    for i in by_precedence {
        let item = &items[i];
        exposed[i] = if taken.insert(item.name) {
            item.name.to_string()
        } else {
            qualified_uri(&item.backend.slug, item.name)
        };
    }
    exposed
}

fn with_hash(mut name: String, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let suffix: String = h.finalize()[..4].iter().map(|b| format!("{b:02x}")).collect();
    name.truncate(MAX_TOOL_NAME - suffix.len() - 1);
    name.push('_');
    name.push_str(&suffix);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_and_dashed() {
        assert_eq!(slugify("My Fixture Server!"), "my-fixture-server");
        assert_eq!(slugify("--"), "backend");
        assert_eq!(slugify(&"x".repeat(100)).len(), MAX_SLUG);
    }

    #[test]
    fn exposed_names_are_valid_stable_and_distinct() {
        assert_eq!(exposed_tool_name("fx", "-", "echo"), "fx-echo");
        assert_eq!(exposed_tool_name("", "-", "clock_tool"), "clock_tool");
        let odd = exposed_tool_name("fx", "-", "what is/this");
        assert!(odd.starts_with("fx-what_is_this_") && odd.chars().all(name_char));
        assert_eq!(odd, exposed_tool_name("fx", "-", "what is/this"));
        assert_ne!(odd, exposed_tool_name("fx", "-", "what is_this"));
        let long = exposed_tool_name("fx", "__", &"t".repeat(200));
        assert_eq!(long.len(), MAX_TOOL_NAME);
        assert_ne!(long, exposed_tool_name("fx", "__", &"t".repeat(201)));
    }

    #[test]
    fn qualified_uris_round_trip() {
        let q = qualified_uri("fx", "test://a/b");
        assert_eq!(q, "mcpgw://fx/test://a/b");
        assert_eq!(split_qualified_uri(&q), Some(("fx", "test://a/b")));
        assert_eq!(split_qualified_uri("test://a"), None);
    }

    #[test]
    fn separators_must_keep_names_valid() {
        assert!(check_separator("-").is_ok());
        assert!(check_separator("__").is_ok());
        assert!(check_separator("").is_err());
        assert!(check_separator("/").is_err());
    }
}
