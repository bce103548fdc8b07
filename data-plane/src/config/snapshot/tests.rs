use mcpgw_proto::v1::Resource;

use super::*;

fn connector() -> Connector {
    Connector::new(
        crate::upstream::McpHttpClient::new(std::time::Duration::from_secs(5), false),
        "test secret",
        false,
    )
}

fn backend(id: &str, slug: &str) -> Resource {
    registered(id, slug, 0)
}

fn registered(id: &str, slug: &str, created_at_ms: i64) -> Resource {
    Resource {
        version: 1,
        resource: Some(R::Backend(BackendConfig {
            id: id.into(),
            name: slug.into(),
            slug: slug.into(),
            url: format!("http://127.0.0.1:1/{id}"),
            enabled: true,
            created_at_ms,
            ..Default::default()
        })),
    }
}

fn item(kind: ItemKind, id: &str, backend: &str, name: &str, definition_json: String) -> Resource {
    Resource {
        version: 1,
        resource: Some(R::Item(CatalogItem {
            kind: kind.into(),
            id: id.into(),
            backend_id: backend.into(),
            name: name.into(),
            enabled: true,
            definition_json,
            position: 0,
            ..Default::default()
        })),
    }
}

fn tool(id: &str, backend: &str, name: &str, position: u32) -> Resource {
    let mut r = item(
        ItemKind::Tool,
        id,
        backend,
        name,
        format!(r#"{{"name":"{name}","inputSchema":{{"type":"object"}}}}"#),
    );
    if let Some(R::Item(t)) = &mut r.resource {
        t.position = position;
    }
    r
}

fn resource(id: &str, backend: &str, uri: &str) -> Resource {
    item(
        ItemKind::Resource,
        id,
        backend,
        uri,
        format!(r#"{{"uri":"{uri}","name":"r"}}"#),
    )
}

fn template(id: &str, backend: &str, uri_template: &str) -> Resource {
    item(
        ItemKind::ResourceTemplate,
        id,
        backend,
        uri_template,
        format!(r#"{{"uriTemplate":"{uri_template}","name":"t"}}"#),
    )
}

fn full(version: u64, upserts: Vec<Resource>) -> ConfigUpdate {
    ConfigUpdate {
        epoch: "e".into(),
        version,
        base_version: 0,
        full_snapshot: true,
        upserts,
        removals: vec![],
    }
}

#[test]
fn full_snapshot_then_delta_routes_and_lists_in_order() {
    let s = Snapshot::default()
        .apply(
            &full(
                3,
                vec![
                    backend("b1", "alpha"),
                    tool("t2", "b1", "second", 1),
                    tool("t1", "b1", "first", 0),
                ],
            ),
            &connector(),
        )
        .unwrap();
    assert_eq!(s.routes.tools.get("alpha-first").unwrap().name.as_ref(), "first");
    let list = s.routes.tools.list();
    assert!(
        list.find("alpha-first").unwrap() < list.find("alpha-second").unwrap(),
        "{list}"
    );

    let delta = ConfigUpdate {
        epoch: "e".into(),
        version: 4,
        base_version: 3,
        full_snapshot: false,
        upserts: vec![backend("b2", "beta"), tool("t3", "b2", "first", 0)],
        removals: vec![ResourceKey {
            kind: ResourceKind::Item.into(),
            id: "t2".into(),
        }],
    };
    let s2 = s.apply(&delta, &connector()).unwrap();
    assert_eq!(s2.version, 4);
    assert!(s2.routes.tools.get("alpha-second").is_none());
    assert_eq!(s2.routes.tools.get("beta-first").unwrap().backend.id.as_ref(), "b2");
    // Adding a backend never renames another's tools.
    assert!(s2.routes.tools.get("alpha-first").is_some());
}

#[test]
fn a_delta_on_the_wrong_base_is_refused() {
    let s = Snapshot::default().apply(&full(3, vec![]), &connector()).unwrap();
    let mut delta = full(5, vec![]);
    delta.full_snapshot = false;
    delta.base_version = 4;
    assert_eq!(s.apply(&delta, &connector()).unwrap_err().len(), 1);
}

#[test]
fn invalid_resources_are_each_reported() {
    let mut bad_def = tool("t1", "b1", "x", 0);
    if let Some(R::Item(t)) = &mut bad_def.resource {
        t.definition_json = "[1]".into();
    }
    let errs = Snapshot::default()
        .apply(
            &full(
                1,
                vec![backend("b1", "Not A Slug"), bad_def, tool("t2", "nope", "y", 0)],
            ),
            &connector(),
        )
        .unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn colliding_exposed_names_are_both_routable() {
    let s = Snapshot::default()
        .apply(
            &full(
                1,
                vec![
                    backend("b1", "a"),
                    backend("b2", "a-b"),
                    tool("t1", "b1", "b-c", 0),
                    tool("t2", "b2", "c", 0),
                ],
            ),
            &connector(),
        )
        .unwrap();
    assert_eq!(s.routes.tool_count(), 2);
    assert_eq!(
        s.routes.tools.get("a-b-c").unwrap().backend.id.as_ref(),
        "b1",
        "the first in list order keeps the name"
    );
    let list: serde_json::Value = serde_json::from_str(s.routes.tools.list()).unwrap();
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    assert_eq!(s.routes.tools.get(names[1]).unwrap().backend.id.as_ref(), "b2");
}

#[test]
fn a_uri_two_backends_offer_stays_bare_for_the_first_registered() {
    let s = Snapshot::default()
        .apply(
            &full(
                1,
                vec![
                    // "aa" sorts first but registered later: it must not take the URI.
                    registered("b1", "zz", 1),
                    registered("b2", "aa", 2),
                    resource("r1", "b1", "test://shared"),
                    resource("r2", "b2", "test://shared"),
                    resource("r3", "b2", "test://own"),
                    template("t1", "b1", "test://template/{id}/data"),
                ],
            ),
            &connector(),
        )
        .unwrap();
    let routes = &s.routes;
    assert_eq!(routes.resources.get("test://shared").unwrap().backend.id.as_ref(), "b1");
    let qualified = routes.resources.get("mcpgw://aa/test://shared").unwrap();
    assert_eq!(
        (qualified.backend.id.as_ref(), qualified.name.as_ref()),
        ("b2", "test://shared")
    );
    let list: serde_json::Value = serde_json::from_str(routes.resources.list()).unwrap();
    assert_eq!(list["resources"].as_array().unwrap().len(), 3);

    // Reads route by listed URI, by qualified URI, and by template.
    let r = routes.resource("mcpgw://aa/test://shared").unwrap();
    assert_eq!((r.backend.id.as_ref(), &*r.uri), ("b2", "test://shared"));
    let r = routes.resource("mcpgw://zz/test://unlisted").unwrap();
    assert_eq!((r.backend.id.as_ref(), &*r.uri), ("b1", "test://unlisted"));
    let r = routes.resource("test://template/7/data").unwrap();
    assert_eq!((r.backend.id.as_ref(), &*r.uri), ("b1", "test://template/7/data"));
    assert!(routes.resource("test://nowhere").is_none());
}
