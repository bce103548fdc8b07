//! Writing the registry as an export document.

use std::collections::{BTreeMap, HashMap};

use mcpgw_proto::v1::{self as pb, ItemKind, owned_item::Item as O, owned_resource::Content};
use serde_json::{Map, Value, json};
use tonic::Status;

use super::pbjson::to_json;
use crate::{
    admin::{cf::transport_name, connection, grpc::RegistryApi, servers::exposed_name},
    distribute::transport_from_db,
    registry::{BackendRow, ItemRow, OWN_BACKEND_ID, ServerRow, catalog::kind_from_db, now_ms},
};

/// The request that registers `b` again, without its credentials.
fn backend_request(b: &BackendRow) -> pb::CreateBackendRequest {
    let grpc = b.grpc().map(|g| pb::GrpcServices {
        // Read again through reflection at import when they were read so.
        descriptor_set: if g.reflected { Vec::new() } else { g.descriptor_set },
        services: g.services,
        ..Default::default()
    });
    let transport = transport_from_db(&b.transport);
    pb::CreateBackendRequest {
        name: b.name.clone(),
        url: if transport == pb::BackendTransport::Stdio {
            String::new()
        } else {
            b.url.clone()
        },
        transport: transport.into(),
        tls: Some(connection::tls_pb(&b.connection)).filter(|t| *t != pb::BackendTls::default()),
        stdio: connection::stdio_pb(&b.connection).map(|s| pb::StdioCommand {
            env_names: Vec::new(),
            ..s
        }),
        rest_tools: b.connection.rest_tools(),
        cache_ttl_seconds: b.cache_ttl_secs.map(|s| s as u32),
        endpoints: b.endpoints(),
        grpc,
        ..Default::default()
    }
}

/// What an export asks for.
pub struct ExportOptions {
    pub include_secrets: bool,
    pub active_only: bool,
    /// Entity types to write; every type when empty.
    pub types: Vec<String>,
}

impl ExportOptions {
    fn wants(&self, kind: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == kind)
    }
}

impl RegistryApi {
    /// The registry as an export document.
    pub async fn export_registry(&self, opts: &ExportOptions) -> Result<Value, Status> {
        if let Some(t) = opts.types.iter().find(|t| !super::ENTITY_TYPES.contains(&t.as_str())) {
            return Err(Status::invalid_argument(format!(
                "{t:?} is no entity type; the types are {}",
                super::ENTITY_TYPES.join(", ")
            )));
        }
        let sep = self.registry.separator().await?;
        let items = crate::admin::grpc::every_item(&self.registry).await?;
        let shown = |enabled: bool| enabled || !opts.active_only;
        let owned = |kinds: &[ItemKind]| -> Vec<&ItemRow> {
            items
                .iter()
                .filter(|i| {
                    i.backend_id == OWN_BACKEND_ID && kinds.contains(&kind_from_db(&i.kind)) && shown(i.enabled)
                })
                .collect()
        };
        // Read once: gateways are made of them, servers name them.
        let backends = match opts.wants("gateways") || opts.wants("servers") {
            true => crate::admin::grpc::all_backends(&self.registry).await?,
            false => Vec::new(),
        };
        let mut entities = Map::new();
        if opts.wants("gateways") {
            let mut gateways = Vec::new();
            for b in &backends {
                if shown(b.enabled) {
                    let disabled = items.iter().filter(|i| i.backend_id == b.id && !i.enabled);
                    gateways.push(self.gateway_entry(b, disabled, opts.include_secrets)?);
                }
            }
            entities.insert("gateways".into(), Value::Array(gateways));
        }
        if opts.wants("tools") {
            let tools = owned(&[ItemKind::Tool]).into_iter().filter_map(tool_entry).collect();
            entities.insert("tools".into(), Value::Array(tools));
        }
        if opts.wants("prompts") {
            let prompts = owned(&[ItemKind::Prompt])
                .into_iter()
                .filter_map(prompt_entry)
                .collect();
            entities.insert("prompts".into(), Value::Array(prompts));
        }
        if opts.wants("resources") {
            let resources = owned(&[ItemKind::Resource, ItemKind::ResourceTemplate])
                .into_iter()
                .filter_map(resource_entry)
                .collect();
            entities.insert("resources".into(), Value::Array(resources));
        }
        let mut servers_to_tools = BTreeMap::new();
        if opts.wants("servers") {
            let by_id: HashMap<&str, &ItemRow> = items.iter().map(|i| (i.id.as_str(), i)).collect();
            let backend_names: HashMap<&str, &str> =
                backends.iter().map(|b| (b.id.as_str(), b.name.as_str())).collect();
            let servers: Vec<Value> = self
                .registry
                .list_servers()
                .await?
                .iter()
                .filter(|s| shown(s.enabled))
                .map(|s| server_entry(s, &items, &by_id, &backend_names, &sep))
                .collect();
            for s in &servers {
                servers_to_tools.insert(s["name"].as_str().unwrap_or_default().to_owned(), s["tool_ids"].clone());
            }
            entities.insert("servers".into(), Value::Array(servers));
        }
        if opts.wants("roots") {
            entities.insert("roots".into(), json!([]));
        }
        let counts: Map<String, Value> = entities
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.as_array().map_or(0, Vec::len))))
            .collect();
        Ok(json!({
            "version": mcpgw_data_plane::protocol::ProtocolVersion::LATEST.as_str(),
            "exported_at": super::rfc3339(now_ms()),
            "exported_by": "admin",
            "source_gateway": format!("mcpgw:{}", self.registry.epoch().await?),
            "encryption_method": "XChaCha20-Poly1305",
            "entities": entities,
            "metadata": {
                "entity_counts": counts,
                "dependencies": {"servers_to_tools": servers_to_tools},
                "export_options": {
                    "include_secrets": opts.include_secrets,
                    "include_inactive": !opts.active_only,
                    "selected_types": opts.types,
                },
                "exporter": format!("mcpgw {}", env!("CARGO_PKG_VERSION")),
            },
        }))
    }

    /// A backend as a gateway entry; `disabled`: its items an operator
    /// turned off, which an import turns off again.
    fn gateway_entry<'a>(
        &self,
        b: &BackendRow,
        disabled: impl Iterator<Item = &'a ItemRow>,
        include_secrets: bool,
    ) -> Result<Value, Status> {
        let info = connection::info_pb(&b.connection);
        let auth_type = match info.auth_scheme.as_str() {
            "" if !info.header_names.is_empty() => json!("authheaders"),
            "" => Value::Null,
            "oauth2_client_credentials" => json!("oauth"),
            s => json!(s),
        };
        let mut entry = json!({
            "name": b.name,
            "url": b.url,
            "description": null,
            "transport": transport_name(transport_from_db(&b.transport)),
            "capabilities": {},
            "is_active": b.enabled,
            "tags": [],
            "passthrough_headers": [],
            "auth_type": auth_type,
            "mcpgw": {"backend": to_json(&backend_request(b), "mcpgw.v1.CreateBackendRequest")},
        });
        let disabled: Vec<Value> = disabled.map(|i| json!({"kind": i.kind, "name": i.name})).collect();
        if !disabled.is_empty() {
            entry["mcpgw"]["disabled"] = Value::Array(disabled);
        }
        if include_secrets && !b.connection.sealed_secrets.is_empty() {
            let secrets = self
                .connector
                .secrets()
                .open(&b.id, &b.connection.sealed_secrets)
                .map_err(|e| Status::failed_precondition(format!("backend {:?}: {e}", b.name)))?;
            entry["mcpgw_secrets"] = json!(self.transfer.seal(&b.name, &secrets));
        }
        Ok(entry)
    }
}

fn owned_json(item: &pb::OwnedItem) -> Value {
    json!({"item": to_json(item, "mcpgw.v1.OwnedItem")})
}

fn tool_entry(row: &ItemRow) -> Option<Value> {
    let item = row.owned()?;
    let Some(O::Tool(t)) = &item.item else { return None };
    let schema: Value = serde_json::from_str(&t.input_schema_json).unwrap_or_else(|_| json!({"type": "object"}));
    Some(json!({
        "name": t.name,
        "displayName": t.name,
        "url": t.url,
        "integration_type": "REST",
        "request_type": t.method,
        "description": t.description,
        "headers": t.headers,
        "input_schema": schema,
        "output_schema": null,
        "annotations": {},
        "jsonpath_filter": t.response_select,
        "tags": [],
        "is_active": row.enabled,
        "mcpgw": owned_json(&item),
    }))
}

fn prompt_entry(row: &ItemRow) -> Option<Value> {
    let item = row.owned()?;
    let Some(O::Prompt(p)) = &item.item else { return None };
    let properties: Map<String, Value> = p
        .arguments
        .iter()
        .map(|a| (a.name.clone(), json!({"type": "string", "description": a.description})))
        .collect();
    let required: Vec<&str> = p
        .arguments
        .iter()
        .filter(|a| a.required)
        .map(|a| a.name.as_str())
        .collect();
    Some(json!({
        "name": p.name,
        "original_name": p.name,
        "custom_name": p.name,
        "display_name": p.name,
        "template": p.template,
        "description": p.description,
        "input_schema": {"type": "object", "properties": properties, "required": required},
        "tags": [],
        "is_active": row.enabled,
        "mcpgw": owned_json(&item),
    }))
}

fn resource_entry(row: &ItemRow) -> Option<Value> {
    let item = row.owned()?;
    let (uri, name, description, mime, text, template) = match &item.item {
        Some(O::Resource(r)) => {
            let text = match &r.content {
                Some(Content::Text(t)) => Some(t.as_str()),
                _ => None,
            };
            (&r.uri, &r.name, &r.description, &r.mime_type, text, false)
        }
        Some(O::ResourceTemplate(t)) => (
            &t.uri_template,
            &t.name,
            &t.description,
            &t.mime_type,
            Some(t.text.as_str()),
            true,
        ),
        _ => return None,
    };
    Some(json!({
        "name": name,
        "uri": uri,
        "uri_template": template.then_some(uri),
        "description": description,
        "mime_type": (!mime.is_empty()).then_some(mime),
        "content": text,
        "tags": [],
        "is_active": row.enabled,
        "mcpgw": owned_json(&item),
    }))
}

/// A virtual server, its members named as clients see them and its member
/// backends by name (ids differ between registries; names do not). The
/// lists Context Forge reads hold the member backends' items of now too.
fn server_entry(
    s: &ServerRow,
    items: &[ItemRow],
    by_id: &HashMap<&str, &ItemRow>,
    backend_names: &HashMap<&str, &str>,
    sep: &str,
) -> Value {
    let mut tools = Vec::new();
    let mut resources = Vec::new();
    let mut prompts = Vec::new();
    let mut members = Vec::new();
    let mut listed = |item: &ItemRow| {
        let name = exposed_name(item, sep);
        let list = match kind_from_db(&item.kind) {
            ItemKind::Prompt => &mut prompts,
            ItemKind::Resource | ItemKind::ResourceTemplate => &mut resources,
            _ => &mut tools,
        };
        if !list.contains(&name) {
            list.push(name.clone());
        }
        name
    };
    let backends: Vec<Value> = s
        .backends
        .iter()
        .filter_map(|b| {
            let name = backend_names.get(b.backend_id.as_str())?;
            items.iter().filter(|i| i.backend_id == b.backend_id).for_each(|i| {
                listed(i);
            });
            Some(json!({"name": name, "keep_original_names": b.keep_original_names}))
        })
        .collect();
    for m in &s.members {
        let Some(item) = by_id.get(m.item_id.as_str()) else {
            continue;
        };
        let name = listed(item);
        members.push(json!({
            "kind": item.kind,
            "name": name,
            "keep_original_name": m.keep_original_name,
            "rename": m.rename,
        }));
    }
    json!({
        "name": s.name,
        "description": s.description,
        "tool_ids": tools,
        "associated_resources": resources,
        "associated_prompts": prompts,
        "capabilities": {"tools": {"list_changed": true}, "prompts": {"list_changed": true}},
        "is_active": s.enabled,
        "tags": [],
        "mcpgw": {"members": members, "backends": backends},
    })
}
