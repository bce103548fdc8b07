//! The virtual servers of an import: each entry's members and member
//! backends found among what the import adds, then what is there (a
//! member found in neither is left out with a warning), its name settled
//! by the conflict strategy.

use std::collections::HashMap;

use mcpgw_data_plane::routing::naming;
use mcpgw_proto::v1::ItemKind;
use serde_json::Value;
use tonic::Status;

use super::{Plan, Taken, entries, invalid, named, renamed};
use crate::{
    admin::grpc::RegistryApi,
    registry::{NewBackendMember, NewMember, batch::Write},
};

impl RegistryApi {
    pub(super) async fn plan_servers(&self, plan: &mut Plan, servers: &[Value]) -> Result<(), Status> {
        if servers.is_empty() {
            return Ok(());
        }
        // Members are found among what the import adds, then what is there.
        let mut known: HashMap<(ItemKind, String), String> = HashMap::new();
        for ((kind, served), t) in &plan.existing {
            known.insert((*kind, served.clone()), t.id.clone());
            known.insert((*kind, t.id.clone()), t.id.clone());
        }
        for (i, entry) in servers.iter().enumerate() {
            let file_name = entries::name_of("servers", entry);
            let label = format!("servers[{i}] {file_name:?}");
            crate::admin::servers::check_server_name(&file_name).map_err(|e| named(&label, e))?;
            let (description, refs, backend_refs) = entries::server(entry).map_err(|e| invalid(&label, e))?;
            let mut backends = Vec::with_capacity(backend_refs.len());
            for r in &backend_refs {
                let found = match plan.staged_backends.get(&r.name) {
                    Some(id) => Some(id.clone()),
                    None => self.registry.get_backend(&r.name).await.ok().map(|b| b.id),
                };
                let Some(backend_id) = found else {
                    plan.warnings.push(format!(
                        "{label}: backend {:?} is neither in this registry nor in the file; the server was imported without it",
                        r.name
                    ));
                    continue;
                };
                if !backends.iter().any(|b: &NewBackendMember| b.backend_id == backend_id) {
                    backends.push(NewBackendMember {
                        backend_id,
                        keep_original_names: r.keep_original_names,
                    });
                }
            }
            let mut members = Vec::with_capacity(refs.len());
            for r in &refs {
                let found = r.kinds().iter().find_map(|k| {
                    let key = (*k, r.name.clone());
                    plan.staged.get(&key).or_else(|| known.get(&key)).cloned()
                });
                let Some(item_id) = found else {
                    plan.warnings.push(format!(
                        "{label}: {} {:?} is neither in this registry nor in the file; the server was imported without it",
                        r.kind, r.name
                    ));
                    continue;
                };
                if let Some(rename) = &r.rename {
                    naming::check_name(rename).map_err(|e| invalid(&label, e))?;
                }
                if !members.iter().any(|m: &NewMember| m.item_id == item_id) {
                    members.push(NewMember {
                        item_id,
                        keep_original_name: r.keep_original_name,
                        rename: r.rename.clone(),
                    });
                }
            }
            let mut name = file_name.clone();
            let existing = self.registry.get_server(&name).await.ok().filter(|s| s.name == name);
            let mut replace = None;
            if let Some(s) = existing {
                match plan.taken(&label, &format!("a virtual server named {name:?} already exists"))? {
                    Taken::Skip => {
                        plan.record("servers", &file_name, "skipped", "");
                        continue;
                    }
                    Taken::Replace => replace = Some(s.id),
                    Taken::Rename => {
                        let mut n = 1;
                        name = loop {
                            let candidate = renamed(&file_name, n);
                            let free = self.registry.get_server(&candidate).await.is_err()
                                && !plan.servers.contains(&candidate);
                            if free {
                                break candidate;
                            }
                            n += 1;
                        };
                    }
                }
            }
            if !plan.servers.insert(name.clone()) {
                return Err(invalid(&label, "another server of the file has this name"));
            }
            let enabled = entries::active(entry);
            match replace {
                Some(id) => {
                    plan.record("servers", &file_name, "updated", "");
                    let update = Write::UpdateServer {
                        id: id.clone(),
                        description,
                        members,
                        backends,
                    };
                    plan.write(&label, update);
                    plan.write(&label, Write::SetServerEnabled { id, enabled });
                }
                None => {
                    let renamed = name != file_name;
                    plan.record(
                        "servers",
                        &file_name,
                        if renamed { "renamed" } else { "created" },
                        if renamed { &name } else { "" },
                    );
                    let id = uuid::Uuid::new_v4().to_string();
                    let create = Write::CreateServer {
                        id: id.clone(),
                        name,
                        description,
                        members,
                        backends,
                    };
                    plan.write(&label, create);
                    if !enabled {
                        plan.write(&label, Write::SetServerEnabled { id, enabled });
                    }
                }
            }
        }
        Ok(())
    }
}
