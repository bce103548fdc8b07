//! Matching a URI against a resource template (RFC 6570), so `resources/read`
//! of `test://template/7/data` finds the backend whose template is
//! `test://template/{id}/data`. Only matching is needed, never expansion, and
//! only the question "could this template have produced this URI".

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Literal(Box<str>),
    /// `{var}`, `{.var}`, `{;var}`: one value, no `/`, `?` or `#`.
    Simple,
    /// `{+var}`, `{#var}`: reserved expansion, any characters.
    Reserved,
    /// `{/var}`: a path segment or more.
    Path,
    /// `{?var}`, `{&var}`: the query, to the end.
    Query,
}

#[derive(Debug)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Compiles a template; `None` if a brace is unbalanced.
    pub fn parse(template: &str) -> Option<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}')?;
                    let expr = &rest[1..end];
                    parts.push(match expr.chars().next() {
                        Some('+' | '#') => Part::Reserved,
                        Some('/') => Part::Path,
                        Some('?' | '&') => Part::Query,
                        Some(_) => Part::Simple,
                        None => return None,
                    });
                    rest = &rest[end + 1..];
                }
                Some(i) => {
                    if rest[..i].contains('}') {
                        return None;
                    }
                    parts.push(Part::Literal(rest[..i].into()));
                    rest = &rest[i..];
                }
                None => {
                    if rest.contains('}') {
                        return None;
                    }
                    parts.push(Part::Literal(rest.into()));
                    rest = "";
                }
            }
        }
        Some(Self { parts })
    }

    pub fn matches(&self, uri: &str) -> bool {
        matches(&self.parts, uri)
    }
}

/// Backtracking over where each expression ends; templates have a handful of
/// parts, so this stays cheap.
fn matches(parts: &[Part], uri: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return uri.is_empty();
    };
    let allowed: fn(char) -> bool = match first {
        Part::Literal(l) => return uri.strip_prefix(&**l).is_some_and(|u| matches(rest, u)),
        Part::Simple => |c| !matches!(c, '/' | '?' | '#'),
        Part::Path => |c| !matches!(c, '?' | '#'),
        Part::Reserved => |_| true,
        Part::Query => return uri.is_empty() || uri.starts_with(['?', '&']),
    };
    // An expression may expand to nothing (an undefined variable).
    if matches(rest, uri) {
        return true;
    }
    for (i, c) in uri.char_indices() {
        if !allowed(c) {
            return false;
        }
        if matches(rest, &uri[i + c.len_utf8()..]) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::UriTemplate;

    fn m(t: &str, uri: &str) -> bool {
        UriTemplate::parse(t).unwrap().matches(uri)
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        assert!(m("test://template/{id}/data", "test://template/42/data"));
        assert!(!m("test://template/{id}/data", "test://template/4/2/data"));
        assert!(!m("test://template/{id}/data", "test://other/42/data"));
        assert!(m("file:///{path}", "file:///a"));
        assert!(!m("file:///{path}", "file:///a/b"));
    }

    #[test]
    fn reserved_path_and_query_expressions() {
        assert!(m("file:///{+path}", "file:///a/b/c"));
        assert!(m("repo://x{/segments}", "repo://x/a/b"));
        assert!(m("search://q{?term,page}", "search://q?term=a&page=2"));
        assert!(m("search://q{?term}", "search://q"));
        assert!(!m("search://q{?term}", "search://qx"));
    }

    #[test]
    fn unbalanced_braces_are_not_templates() {
        assert!(UriTemplate::parse("a{b").is_none());
        assert!(UriTemplate::parse("a}b").is_none());
        assert!(UriTemplate::parse("a{}b").is_none());
    }
}
