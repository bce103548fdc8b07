//! The registry behaves the same on SQLite and on Postgres, also when
//! Postgres is reached over TLS: each test body runs against all three.

use mcpgw_control_plane::registry::{
    BackendUpdate, DiscoveredItem, Discovery, NewBackend, OWN_BACKEND_ID, Registry, RegistryError, StoredConnection,
};
use mcpgw_proto::v1::ItemKind;
use mcpgw_tests::{
    harness::{SqliteDb, postgres},
    postgres_tls::TlsPostgres,
};
use sqlx::{Connection, PgConnection};

fn tool(name: &str) -> DiscoveredItem {
    DiscoveredItem {
        kind: ItemKind::Tool,
        name: name.into(),
        description: format!("{name} tool"),
        definition_json: format!(r#"{{"name":"{name}","inputSchema":{{"type":"object"}}}}"#),
    }
}

fn backend(name: &str, tools: &[&str]) -> NewBackend {
    NewBackend {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        slug: mcpgw_data_plane::routing::naming::slugify(name),
        connection: StoredConnection::default(),
        url: format!("http://127.0.0.1:9/{name}"),
        discovery: Discovery {
            transport: "streamable_http".into(),
            protocol_version: "2025-06-18".into(),
            server_name: "fx".into(),
            server_version: "1".into(),
            items: tools.iter().map(|t| tool(t)).collect(),
            peer_gateway_id: String::new(),
            offered_peers: String::new(),
            list_hints: String::new(),
        },
        cache_ttl_secs: None,
        endpoints: Vec::new(),
        grpc: None,
    }
}

/// Each test body runs on a fresh SQLite registry and a fresh Postgres one
/// (the machine's), and all of them once more, each on its own database, on
/// a Postgres of the test's own that takes only TLS (`sslmode=verify-full`).
macro_rules! registry_tests {
    ($($name:ident: $body:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let sqlite = SqliteDb::new();
                let reg = Registry::connect(&sqlite.url).await.expect("sqlite registry");
                ($body)(reg).await;
                if let Some(pg) = postgres().await {
                    let reg = Registry::connect(&pg.url).await.expect("postgres registry");
                    ($body)(reg).await;
                }
            }
        )*

        #[tokio::test]
        async fn every_registry_test_on_postgres_over_tls() {
            let pg = TlsPostgres::start();
            // TLS is what this server takes: a plain connection is refused,
            // and so is one that does not trust the test's CA.
            let plain = PgConnection::connect(&pg.plain_url("postgres")).await;
            assert!(plain.is_err(), "a plain connection is refused");
            let untrusted = PgConnection::connect(&pg.untrusting_url("postgres")).await;
            assert!(untrusted.is_err(), "a connection that does not trust the CA is refused");
            $(
                let url = pg.database(stringify!($name)).await;
                let reg = Registry::connect(&url).await.expect("postgres registry over TLS");
                ($body)(reg).await;
            )*
        }
    };
}

registry_tests! {
    connection_settings_are_stored_as_given_and_replaced_whole: |reg: Registry| async move {
        let mut new = backend("Alpha", &["a"]);
        new.connection = StoredConnection {
            tls_ca_pem: "CA".into(),
            tls_client_cert_pem: "CERT".into(),
            tls_insecure_skip_verify: true,
            sealed_secrets: "sealed".into(),
            credentials_info: r#"{"auth_scheme":"bearer"}"#.into(),
            stdio_json: r#"{"command":"server"}"#.into(),
            rest_tools: "cmVzdA==".into(),
        };
        let b = reg.create_backend(&new).await.unwrap();
        assert_eq!(b.id, new.id);
        assert_eq!(b.connection, new.connection);
        let stored = reg.changes_since(0).await.unwrap().backends.into_iter().find(|s| s.id == new.id);
        assert_eq!(stored.expect("in the changes").connection, new.connection);
        let update = BackendUpdate {
            connection: Some(StoredConnection::default()),
            ..BackendUpdate::default()
        };
        let b = reg.update_backend(&b.id, &update).await.unwrap();
        assert_eq!(b.connection, StoredConnection::default());
        assert_eq!(b.url, new.url, "the rest stays");
    };

    writes_bump_the_version_and_stamp_what_they_touch: |reg: Registry| async move {
        // A new registry holds one change: its own backend.
        let v0 = reg.version().await.unwrap();
        let own = reg.changes_since(0).await.unwrap();
        assert_eq!(own.backends.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), [OWN_BACKEND_ID]);
        assert_eq!(own.backends[0].config_version as u64, v0);
        let b = reg.create_backend(&backend("Alpha", &["a", "b"])).await.unwrap();
        assert_eq!(reg.version().await.unwrap(), v0 + 1);
        assert_eq!(b.config_version as u64, v0 + 1);
        assert_eq!(b.tool_count, 2);
        let tools = reg.list_tools(Some(&b.id), 0, 100).await.unwrap();
        assert_eq!(tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);

        let changes = reg.changes_since(v0).await.unwrap();
        assert_eq!(
            (changes.version, changes.backends.len(), changes.items.len()),
            (v0 + 1, 1, 2)
        );
        assert!(reg.changes_since(v0 + 1).await.unwrap().items.is_empty());

        // Rediscovery: b changes, c appears, a vanishes; ids survive, only changes are stamped.
        let b_id = tools[1].id.clone();
        let mut d = backend("Alpha", &["b", "c"]).discovery;
        d.items[0].description = "new text".into();
        reg.update_backend(
            &b.id,
            &BackendUpdate {
                url: Some(("http://127.0.0.1:9/v2".into(), d)),
                ..BackendUpdate::default()
            },
        )
        .await
        .unwrap();
        let changes = reg.changes_since(v0 + 1).await.unwrap();
        assert_eq!(changes.version, v0 + 2);
        assert_eq!(changes.items.len(), 2, "b (moved and changed) and c (new)");
        assert!(
            changes
                .items
                .iter()
                .any(|t| t.id == b_id && t.description == "new text")
        );
        assert_eq!(changes.tombstones.len(), 1, "a was removed");
        assert_eq!(changes.tombstones[0].id, tools[0].id);

        let t = reg.set_item_enabled(&b_id, false).await.unwrap();
        assert!(!t.enabled);
        assert_eq!(t.config_version as u64, v0 + 3);

        reg.delete_backend(&b.id).await.unwrap();
        let changes = reg.changes_since(v0 + 3).await.unwrap();
        assert_eq!(changes.tombstones.len(), 3, "the backend and both its tools");
        assert!(reg.list_tools(None, 0, 100).await.unwrap().is_empty());
    };

    a_refused_write_changes_nothing: |reg: Registry| async move {
    reg.create_backend(&backend("Alpha", &["a"])).await.unwrap();
    let before = reg.version().await.unwrap();
    let err = reg.create_backend(&backend("Alpha", &["x", "y"])).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyExists(ref m) if m.contains("Alpha")),
        "{err}"
    );
    assert_eq!(reg.version().await.unwrap(), before, "the version bump rolled back");
    assert_eq!(
        reg.list_tools(None, 0, 100).await.unwrap().len(),
        1,
        "no tools of the refused backend"
    );
    assert!(
        reg.backend_conflict("alpha!", "alpha").await.unwrap().is_some(),
        "same slug conflicts"
    );

    assert!(matches!(
        reg.delete_backend("nope").await,
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        reg.set_item_enabled("nope", true).await,
        Err(RegistryError::NotFound(_))
    ));
    assert_eq!(reg.version().await.unwrap(), before);
};

    lists_page_in_a_stable_order: |reg: Registry| async move {
    for name in ["Charlie", "Alpha", "Bravo"] {
        reg.create_backend(&backend(name, &["t1", "t2"])).await.unwrap();
    }
    let first = reg.list_backends(0, 2).await.unwrap();
    let rest = reg.list_backends(2, 2).await.unwrap();
    let names: Vec<_> = first.iter().chain(&rest).map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Bravo", "Charlie"]);
    let tools = reg.list_tools(None, 0, 100).await.unwrap();
    let order: Vec<_> = tools.iter().map(|t| format!("{}/{}", t.backend_slug, t.name)).collect();
    assert_eq!(
        order,
        [
            "alpha/t1",
            "alpha/t2",
            "bravo/t1",
            "bravo/t2",
            "charlie/t1",
            "charlie/t2"
        ]
    );
};

    the_separator_is_a_versioned_setting: |reg: Registry| async move {
    assert_eq!(reg.separator().await.unwrap(), "-");
    let v0 = reg.version().await.unwrap();
    reg.set_separator("__").await.unwrap();
    assert_eq!(reg.separator().await.unwrap(), "__");
    let c = reg.changes_since(0).await.unwrap();
    assert_eq!(c.separator, Some(("__".into(), v0 + 1)));
    assert!(reg.changes_since(v0 + 1).await.unwrap().separator.is_none());
    assert!(matches!(reg.set_separator("/").await, Err(RegistryError::Invalid(_))));
    // Reconnecting with the same database keeps the epoch: nodes keep their deltas.
    assert_eq!(c.epoch, reg.changes_since(0).await.unwrap().epoch);
};

    kinds_share_names_without_clashing: |reg: Registry| async move {
    let item = |kind, name: &str, def: String| DiscoveredItem {
        kind,
        name: name.into(),
        description: String::new(),
        definition_json: def,
    };
    let mut new = backend("Alpha", &["x"]);
    new.discovery.items.extend([
        item(ItemKind::Prompt, "x", r#"{"name":"x"}"#.into()),
        item(
            ItemKind::Resource,
            "test://x",
            r#"{"uri":"test://x","name":"x"}"#.into(),
        ),
        item(
            ItemKind::ResourceTemplate,
            "test://{id}",
            r#"{"uriTemplate":"test://{id}","name":"t"}"#.into(),
        ),
    ]);
    let b = reg.create_backend(&new).await.unwrap();
    assert_eq!(b.tool_count, 1, "only tools count as tools");
    for kind in [
        ItemKind::Tool,
        ItemKind::Prompt,
        ItemKind::Resource,
        ItemKind::ResourceTemplate,
    ] {
        let rows = reg.list_items(kind, None, 0, 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{kind:?}");
    }
    let v = reg.version().await.unwrap();

    // The prompt goes away on rediscovery; the same-named tool stays.
    let mut d = new.discovery.clone();
    d.items.retain(|i| i.kind != ItemKind::Prompt);
    let update = BackendUpdate {
        url: Some((new.url.clone(), d)),
        ..BackendUpdate::default()
    };
    reg.update_backend(&b.id, &update).await.unwrap();
    assert!(reg.list_items(ItemKind::Prompt, None, 0, 10).await.unwrap().is_empty());
    assert_eq!(reg.list_tools(None, 0, 10).await.unwrap().len(), 1);
    let changes = reg.changes_since(v).await.unwrap();
    assert!(changes.items.is_empty(), "nothing else changed");
    assert_eq!(changes.tombstones.len(), 1);
    assert_eq!(changes.tombstones[0].kind, "item");
};

    virtual_servers_are_stored_whole_or_not_at_all: |reg: Registry| async move {
        use mcpgw_control_plane::registry::NewMember;
        let b = reg.create_backend(&backend("Alpha", &["x", "y"])).await.unwrap();
        let tools = reg.list_tools(Some(&b.id), 0, 10).await.unwrap();
        let members = vec![
            NewMember {
                keep_original_name: true,
                ..NewMember::plain(&tools[1].id)
            },
            NewMember {
                rename: Some("renamed".into()),
                ..NewMember::plain(&tools[0].id)
            },
        ];
        let v = reg.version().await.unwrap();
        let s = reg.create_server("picked", "two tools", &members, &[]).await.unwrap();
        assert_eq!(s.members.len(), 2);
        assert_eq!(s.members[0].item_id, tools[1].id, "members keep their order");
        assert_eq!(s.members[1].rename.as_deref(), Some("renamed"));
        let changes = reg.changes_since(v).await.unwrap();
        assert_eq!(changes.servers.len(), 1);
        assert_eq!(changes.servers[0].members.len(), 2);

        // A member that names nothing refuses the whole write.
        let v = reg.version().await.unwrap();
        let bad = [NewMember::plain(&tools[0].id), NewMember::plain("nope")];
        assert!(matches!(
            reg.update_server("picked", "", &bad, &[]).await,
            Err(RegistryError::Invalid(_))
        ));
        assert_eq!(reg.version().await.unwrap(), v);
        assert_eq!(reg.get_server("picked").await.unwrap().members.len(), 2);
        assert!(matches!(
            reg.create_server("picked", "", &[], &[]).await,
            Err(RegistryError::AlreadyExists(_))
        ));

        // A server named like another's id: the id wins, the name still works.
        let tricky = reg.create_server(&s.id, "named like an id", &[], &[]).await.unwrap();
        assert_eq!(reg.get_server(&s.id).await.unwrap().id, s.id);
        assert_eq!(reg.get_server(&tricky.id).await.unwrap().name, s.id);
        reg.delete_server(&tricky.id).await.unwrap();

        let v = reg.version().await.unwrap();
        reg.delete_server(&s.id).await.unwrap();
        let changes = reg.changes_since(v).await.unwrap();
        assert_eq!(changes.tombstones.len(), 1);
        assert_eq!(
            (changes.tombstones[0].kind.as_str(), changes.tombstones[0].id.as_str()),
            ("server", s.id.as_str())
        );
        assert!(reg.list_servers().await.unwrap().is_empty());
    };

    an_item_that_comes_back_keeps_its_id: |reg: Registry| async move {
    let b = reg.create_backend(&backend("Alpha", &["x", "y"])).await.unwrap();
    let before = reg.list_tools(Some(&b.id), 0, 10).await.unwrap();
    let rediscover = |tools: &[&str]| BackendUpdate {
        url: Some(("http://127.0.0.1:9/Alpha".into(), backend("Alpha", tools).discovery)),
        ..BackendUpdate::default()
    };
    reg.update_backend(&b.id, &rediscover(&["y"])).await.unwrap();
    reg.update_backend(&b.id, &rediscover(&["x", "y"])).await.unwrap();
    let after = reg.list_tools(Some(&b.id), 0, 10).await.unwrap();
    assert_eq!(
        before.iter().map(|t| &t.id).collect::<Vec<_>>(),
        after.iter().map(|t| &t.id).collect::<Vec<_>>(),
        "x went away and came back under its old id"
    );
};
}
