//! Virtual servers and catalog items in the admin API: checking members
//! before anything is written, and the messages the API answers with.

use std::collections::HashMap;

use mcpgw_data_plane::routing::naming;
use mcpgw_proto::v1::{self as pb, server_member::Naming};
use tonic::Status;

use crate::{
    distribute::{backend_member_pb, member_pb},
    registry::{ItemRow, NewBackendMember, NewMember, Registry, ServerRow, catalog::kind_from_db},
};

/// The name clients of the whole gateway see for an item.
pub fn exposed_name(t: &ItemRow, sep: &str) -> String {
    match kind_from_db(&t.kind) {
        pb::ItemKind::Resource | pb::ItemKind::ResourceTemplate => t.name.clone(),
        _ => naming::exposed_tool_name(&t.backend_slug, sep, &t.name),
    }
}

pub fn item_pb(t: ItemRow, sep: &str) -> pb::Item {
    let owned = t.owned();
    pb::Item {
        exposed_name: exposed_name(&t, sep),
        kind: kind_from_db(&t.kind).into(),
        id: t.id,
        backend_id: t.backend_id,
        name: t.name,
        enabled: t.enabled,
        definition_json: t.definition_json,
        config_version: t.config_version as u64,
        cache_ttl_seconds: t.cache_ttl_secs.map(|s| s as u32),
        owned,
    }
}

pub fn server_pb(s: ServerRow) -> pb::Server {
    pb::Server {
        id: s.id,
        name: s.name,
        description: s.description,
        members: s.members.into_iter().map(member_pb).collect(),
        backends: s.backends.into_iter().map(backend_member_pb).collect(),
        config_version: s.config_version as u64,
        enabled: s.enabled,
    }
}

/// Checks a server's member backends: each exists (named by id or name)
/// and is a member once; the ids stored.
pub async fn check_backends(
    registry: &Registry,
    backends: &[pb::ServerBackend],
) -> Result<Vec<NewBackendMember>, Status> {
    let mut out: Vec<NewBackendMember> = Vec::with_capacity(backends.len());
    for (i, b) in backends.iter().enumerate() {
        let found = registry.get_backend(&b.backend_id).await.map_err(|_| {
            Status::invalid_argument(format!(
                "member backend #{i}: no backend has the id or name {:?}",
                b.backend_id
            ))
        })?;
        if out.iter().any(|o| o.backend_id == found.id) {
            return Err(Status::invalid_argument(format!(
                "member backend #{i}: {:?} is a member twice",
                found.name
            )));
        }
        out.push(NewBackendMember {
            backend_id: found.id,
            keep_original_names: b.keep_original_names,
        });
    }
    Ok(out)
}

/// Checks a server's members: every item exists, renames are valid names
/// and only of tools and prompts, and no two members of a kind share the
/// name they would be served under.
pub async fn check_members(registry: &Registry, members: &[pb::ServerMember]) -> Result<Vec<NewMember>, Status> {
    let sep = registry.separator().await?;
    let mut taken: HashMap<(String, String), String> = HashMap::new();
    let mut out = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let item = registry.get_item(&m.item_id).await.map_err(|_| {
            Status::invalid_argument(format!("member #{i}: no catalog item has the id {:?}", m.item_id))
        })?;
        let named = matches!(kind_from_db(&item.kind), pb::ItemKind::Tool | pb::ItemKind::Prompt);
        let (served_as, member) = match &m.naming {
            None => (exposed_name(&item, &sep), NewMember::plain(&m.item_id)),
            Some(Naming::KeepOriginalName(_)) => (
                item.name.clone(),
                NewMember {
                    keep_original_name: true,
                    ..NewMember::plain(&m.item_id)
                },
            ),
            Some(Naming::Rename(r)) => {
                if !named {
                    return Err(Status::invalid_argument(format!(
                        "member #{i}: {} {:?} keeps its URI; only tools and prompts can be renamed",
                        item.kind, item.name
                    )));
                }
                naming::check_name(r).map_err(|e| Status::invalid_argument(format!("member #{i}: {e}")))?;
                (
                    r.clone(),
                    NewMember {
                        rename: Some(r.clone()),
                        ..NewMember::plain(&m.item_id)
                    },
                )
            }
        };
        if let Some(other) = taken.insert((item.kind.clone(), served_as.clone()), item.id.clone()) {
            return Err(Status::invalid_argument(format!(
                "members {other:?} and {:?} would both be served as {} {served_as:?}; rename one",
                item.id, item.kind
            )));
        }
        out.push(member);
    }
    Ok(out)
}

/// A server name usable in URLs.
pub fn check_server_name(name: &str) -> Result<(), Status> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "server name {name:?} must be 1-100 characters from A-Z a-z 0-9 - _ . (it appears in URLs)"
        )))
    }
}
