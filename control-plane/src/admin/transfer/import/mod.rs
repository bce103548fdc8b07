//! Importing an export document: every entry read and checked, every
//! backend discovered, every conflict settled by the chosen strategy, and
//! only then one registry transaction ([`crate::registry::batch`]). An
//! entry that does not fit fails the whole import with its name and
//! nothing written.

mod entries;
mod servers;

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use mcpgw_data_plane::routing::naming;
use mcpgw_proto::v1::{self as pb, ConflictStrategy, ItemKind, owned_item::Item as O};
use serde_json::Value;
use tonic::Status;

use super::{Document, Keys};
use crate::{
    admin::{
        grpc::RegistryApi,
        items::{compiled, taken, what},
        servers::exposed_name,
    },
    registry::{
        BackendRow, BackendUpdate, ItemRow, NewBackend, OWN_BACKEND_ID,
        batch::{Labeled, Write},
        catalog::{item_id, kind_from_db},
    },
};

/// How many backends are discovered at once.
const DISCOVER_AT_ONCE: usize = 8;

/// What an import asks for.
pub struct ImportOptions {
    pub strategy: ConflictStrategy,
    pub dry_run: bool,
    /// The secret the document's secrets were sealed with, if not this
    /// fleet's.
    pub source_secret: String,
}

/// `s` as the error of entry `label`, which fails the import.
fn named(label: &str, s: Status) -> Status {
    let msg = s.message();
    let msg = ["; nothing was registered", "; nothing was written"]
        .iter()
        .fold(msg, |m, tail| m.strip_suffix(tail).unwrap_or(m));
    Status::new(s.code(), format!("{label}: {msg}; nothing was imported"))
}

fn invalid(label: &str, msg: impl std::fmt::Display) -> Status {
    named(label, Status::invalid_argument(msg.to_string()))
}

/// What to do with an entry whose name is taken.
enum Taken {
    Skip,
    Replace,
    Rename,
}

/// The import being planned: the writes, what each entry comes to, and
/// the names it claims, so two entries of one file never collide.
struct Plan {
    strategy: ConflictStrategy,
    sep: String,
    writes: Vec<Labeled>,
    entities: Vec<pb::ImportedEntity>,
    warnings: Vec<String>,
    /// What the import serves: (kind, served name) → the entry's label.
    served: HashMap<(ItemKind, String), String>,
    /// Items the import adds or replaces, by (kind, name in the file and
    /// served name) → item id, for servers' members.
    staged: HashMap<(ItemKind, String), String>,
    /// What is served now: (kind, served name) → the item.
    existing: HashMap<(ItemKind, String), ItemRow>,
    /// Backends the import adds or replaces: name in the file → id, for
    /// servers' member backends.
    staged_backends: HashMap<String, String>,
    /// Backend slugs (unique as names are, and more strictly), and server
    /// names, the import takes.
    backends: HashSet<String>,
    servers: HashSet<String>,
}

impl Plan {
    /// What the strategy says to do with `label`, whose name is taken.
    fn taken(&self, label: &str, by: &str) -> Result<Taken, Status> {
        match self.strategy {
            ConflictStrategy::Skip => Ok(Taken::Skip),
            ConflictStrategy::Rename => Ok(Taken::Rename),
            ConflictStrategy::Fail => Err(named(
                label,
                Status::already_exists(format!("{by} (conflict_strategy fail)")),
            )),
            ConflictStrategy::Update | ConflictStrategy::Unspecified => Ok(Taken::Replace),
        }
    }

    fn record(&mut self, entity_type: &str, name: &str, action: &str, imported_as: &str) {
        self.entities.push(pb::ImportedEntity {
            entity_type: entity_type.into(),
            name: name.into(),
            action: action.into(),
            imported_as: imported_as.into(),
        });
    }

    /// Claims a served name for entry `label`, refusing one another entry
    /// of the file claimed.
    fn serve(&mut self, kind: ItemKind, served: String, label: &str) -> Result<(), Status> {
        if let Some(other) = self.served.insert((kind, served.clone()), label.to_owned()) {
            return Err(invalid(
                label,
                format!(
                    "{} {served:?} would also be served by {other}; rename one of them",
                    what(kind)
                ),
            ));
        }
        Ok(())
    }

    fn write(&mut self, label: &str, write: Write) {
        self.writes.push(Labeled {
            label: label.to_owned(),
            write,
        });
    }
}

/// A gateway whose conflict is settled, to be discovered.
struct Pending {
    label: String,
    file_name: String,
    req: pb::CreateBackendRequest,
    replacing: Option<BackendRow>,
    enabled: bool,
    /// Its items to import disabled.
    disabled: Vec<(ItemKind, String)>,
}

/// `base-imported`, `base-imported-2`, … : the first `free` accepts.
fn renamed(base: &str, n: usize) -> String {
    if n == 1 {
        format!("{base}-imported")
    } else {
        format!("{base}-imported-{n}")
    }
}

impl RegistryApi {
    /// Imports `document` (see the module docs of `transfer`).
    pub async fn import_registry(
        &self,
        document: Value,
        opts: &ImportOptions,
    ) -> Result<pb::ImportRegistryResponse, Status> {
        let doc: Document = serde_json::from_value(document).map_err(|e| {
            Status::invalid_argument(format!(
                "the file is not an export document ({e}); it needs version and entities with tools, gateways, servers, prompts, resources or roots"
            ))
        })?;
        if doc.version.trim().is_empty() {
            return Err(Status::invalid_argument("the document's version is empty"));
        }
        let source_keys;
        let keys = if opts.source_secret.is_empty() {
            &self.transfer
        } else {
            source_keys = Keys::new(&opts.source_secret);
            &source_keys
        };
        let sep = self.registry.separator().await?;
        let existing: HashMap<(ItemKind, String), ItemRow> = crate::admin::grpc::every_item(&self.registry)
            .await?
            .into_iter()
            .map(|t| ((kind_from_db(&t.kind), exposed_name(&t, &sep)), t))
            .collect();
        let mut plan = Plan {
            strategy: opts.strategy,
            sep,
            existing,
            writes: Vec::new(),
            entities: Vec::new(),
            warnings: Vec::new(),
            served: HashMap::new(),
            staged: HashMap::new(),
            staged_backends: HashMap::new(),
            backends: HashSet::new(),
            servers: HashSet::new(),
        };
        let e = &doc.entities;
        if !e.roots.is_empty() {
            plan.warnings.push(format!(
                "{} roots were left out: roots are what an MCP client offers its servers, and a gateway keeps none",
                e.roots.len()
            ));
        }
        self.plan_gateways(&mut plan, &e.gateways, keys).await?;
        for (kind, entries) in [
            ("tools", &e.tools),
            ("resources", &e.resources),
            ("prompts", &e.prompts),
        ] {
            for (i, entry) in entries.iter().enumerate() {
                self.plan_item(&mut plan, kind, i, entry).await?;
            }
        }
        self.plan_servers(&mut plan, &e.servers).await?;
        let config_version = if opts.dry_run || plan.writes.is_empty() {
            0
        } else {
            let v = self.registry.apply(&plan.writes).await?;
            self.publish().await?;
            tracing::info!(writes = plan.writes.len(), version = v, "imported an export document");
            v
        };
        let count = |action: &str| plan.entities.iter().filter(|e| e.action == action).count() as u32;
        Ok(pb::ImportRegistryResponse {
            dry_run: opts.dry_run,
            config_version,
            created: count("created") + count("renamed"),
            updated: count("updated"),
            skipped: count("skipped"),
            warnings: std::mem::take(&mut plan.warnings),
            entities: plan.entities,
        })
    }

    async fn plan_gateways(&self, plan: &mut Plan, gateways: &[Value], keys: &Keys) -> Result<(), Status> {
        let mut pending = Vec::new();
        for (i, entry) in gateways.iter().enumerate() {
            let file_name = entries::name_of("gateways", entry);
            let label = format!("gateways[{i}] {file_name:?}");
            let mut req = entries::gateway(entry, keys).map_err(|e| invalid(&label, e))?;
            let disabled = entries::disabled(entry).map_err(|e| invalid(&label, e))?;
            let enabled = entries::active(entry);
            let mut replacing = None;
            let existing = self
                .registry
                .get_backend(&req.name)
                .await
                .ok()
                .filter(|b| b.name == req.name);
            let conflict = match existing {
                Some(b) => Some((format!("a backend named {:?} already exists", b.name), Some(b))),
                None => self
                    .registry
                    .backend_conflict(&req.name, &naming::slugify(&req.name))
                    .await?
                    .map(|m| (m, None)),
            };
            if let Some((by, row)) = conflict {
                match (plan.taken(&label, &by)?, row) {
                    (Taken::Skip, _) => {
                        plan.record("gateways", &file_name, "skipped", "");
                        continue;
                    }
                    (Taken::Replace, Some(row)) => replacing = Some(row),
                    // Only a backend of the same name is replaced; one
                    // whose slug merely collides is another backend.
                    (Taken::Replace, None) => return Err(named(&label, Status::already_exists(by))),
                    (Taken::Rename, _) => {
                        let mut n = 1;
                        req.name = loop {
                            let candidate = renamed(&req.name, n);
                            let slug = naming::slugify(&candidate);
                            let free = self.registry.backend_conflict(&candidate, &slug).await?.is_none()
                                && !plan.backends.contains(&slug);
                            if free {
                                break candidate;
                            }
                            n += 1;
                        };
                    }
                }
            }
            if !plan.backends.insert(naming::slugify(&req.name)) {
                return Err(invalid(&label, "another gateway of the file has this name or slug"));
            }
            pending.push(Pending {
                label,
                file_name,
                req,
                replacing,
                enabled,
                disabled,
            });
        }
        // Discovered side by side: a slow backend does not hold up the rest.
        // (Collected first: a closure kept in the future would not be Send.)
        let discoveries: Vec<_> = pending.iter().map(|p| self.prepare_pending(p)).collect();
        let prepared: Vec<Result<NewBackend, Status>> = futures::stream::iter(discoveries)
            .buffered(DISCOVER_AT_ONCE)
            .collect()
            .await;
        for (p, new) in pending.iter().zip(prepared) {
            let new = new?;
            for item in &new.discovery.items {
                let served = match item.kind {
                    ItemKind::Tool | ItemKind::Prompt => naming::exposed_tool_name(&new.slug, &plan.sep, &item.name),
                    _ => item.name.clone(),
                };
                plan.serve(item.kind, served.clone(), &p.label)?;
                plan.staged
                    .insert((item.kind, served), item_id(&new.id, item.kind, &item.name));
            }
            let action = match (&p.replacing, new.name != p.file_name) {
                (Some(_), _) => "updated",
                (None, true) => "renamed",
                (None, false) => "created",
            };
            plan.record(
                "gateways",
                &p.file_name,
                action,
                if action == "renamed" { &new.name } else { "" },
            );
            let id = new.id.clone();
            plan.staged_backends.insert(p.file_name.clone(), id.clone());
            // The file says which items are off: all of them, when it
            // replaces a backend; the new ones' default is on.
            let switches: Vec<Write> = new
                .discovery
                .items
                .iter()
                .filter_map(|item| {
                    let off = p.disabled.iter().any(|(k, n)| *k == item.kind && *n == item.name);
                    (off || p.replacing.is_some()).then(|| Write::SetItemEnabled {
                        id: item_id(&new.id, item.kind, &item.name),
                        enabled: !off,
                    })
                })
                .collect();
            if p.replacing.is_some() {
                let update = BackendUpdate::replacing(new, p.enabled);
                plan.write(
                    &p.label,
                    Write::UpdateBackend {
                        id,
                        update: Box::new(update),
                    },
                );
            } else {
                plan.write(&p.label, Write::CreateBackend(Box::new(new)));
                if !p.enabled {
                    let update = BackendUpdate {
                        enabled: Some(false),
                        ..Default::default()
                    };
                    plan.write(
                        &p.label,
                        Write::UpdateBackend {
                            id,
                            update: Box::new(update),
                        },
                    );
                }
            }
            for switch in switches {
                plan.write(&p.label, switch);
            }
        }
        Ok(())
    }

    async fn prepare_pending(&self, p: &Pending) -> Result<NewBackend, Status> {
        self.prepare_create(p.req.clone(), p.replacing.as_ref())
            .await
            .map_err(|e| named(&p.label, e))
    }

    async fn plan_item(&self, plan: &mut Plan, kind: &str, i: usize, entry: &Value) -> Result<(), Status> {
        let file_name = entries::name_of(kind, entry);
        let label = format!("{kind}[{i}] {file_name:?}");
        let mut item = match entries::item(kind, entry).map_err(|e| invalid(&label, e))? {
            entries::Read::Item(item) => item,
            entries::Read::Skip(why) => {
                plan.warnings.push(format!("{label} was left out: {why}"));
                plan.record(kind, &file_name, "skipped", "");
                return Ok(());
            }
        };
        if kind == "resources" && entry.get("mcpgw").is_none() && entry.get("content").is_none_or(Value::is_null) {
            plan.warnings.push(format!(
                "{label} has no content in the file (Context Forge's export leaves it out); it was imported empty"
            ));
        }
        let enabled = entries::active(entry);
        // Checked as CreateItem checks it, against what is served now
        // (looked up in one index, not by reading the catalog per entry).
        let first = compiled(item.clone(), None).map_err(|e| named(&label, e))?;
        let (new, current) = match plan.existing.get(&(first.kind, first.key.clone())).cloned() {
            None => (first, None),
            Some(holder) => {
                let e = taken(first.kind, &first.key, &holder);
                match plan.taken(&label, e.message())? {
                    Taken::Skip => {
                        plan.record(kind, &file_name, "skipped", "");
                        return Ok(());
                    }
                    Taken::Replace if holder.backend_id == OWN_BACKEND_ID => (
                        compiled(item, Some(&holder)).map_err(|e| named(&label, e))?,
                        Some(holder),
                    ),
                    Taken::Replace => {
                        return Err(named(
                            &label,
                            Status::already_exists(format!(
                                "{}; an import replaces only the registry's own items, not a backend's (use conflict_strategy skip or rename)",
                                e.message()
                            )),
                        ));
                    }
                    Taken::Rename => {
                        let key = (first.kind, first.key.clone());
                        let mut n = 1;
                        loop {
                            let candidate = renamed(&key.1, n);
                            if !rename_item(&mut item, &candidate) {
                                plan.warnings.push(format!(
                                    "{label} was left out: a resource's URI is what it is, so it cannot be imported under another"
                                ));
                                plan.record(kind, &file_name, "skipped", "");
                                return Ok(());
                            }
                            let candidate = (key.0, candidate);
                            if !plan.existing.contains_key(&candidate) && !plan.served.contains_key(&candidate) {
                                break;
                            }
                            n += 1;
                        }
                        (compiled(item, None).map_err(|e| named(&label, e))?, None)
                    }
                }
            }
        };
        plan.serve(new.kind, new.key.clone(), &label)?;
        let id = current.as_ref().map_or_else(|| new.id(), |c| c.id.clone());
        plan.staged.insert((new.kind, new.key.clone()), id.clone());
        plan.staged.insert((new.kind, file_name.clone()), id.clone());
        let action = match (&current, new.key != file_name && !file_name.is_empty()) {
            (Some(_), _) => "updated",
            (None, true) if plan.strategy == ConflictStrategy::Rename => "renamed",
            (None, _) => "created",
        };
        plan.record(
            kind,
            &file_name,
            action,
            if action == "renamed" { &new.key } else { "" },
        );
        match current {
            Some(c) => {
                plan.write(&label, Write::UpdateOwned { id: c.id.clone(), new });
                if c.enabled != enabled {
                    plan.write(&label, Write::SetItemEnabled { id: c.id, enabled });
                }
            }
            None => plan.write(&label, Write::CreateOwned { new, enabled }),
        }
        Ok(())
    }
}

/// Gives an owned tool or prompt a new name; false for what has none to
/// change (a resource's URI is its identity).
fn rename_item(item: &mut pb::OwnedItem, name: &str) -> bool {
    match item.item.as_mut() {
        Some(O::Tool(t)) => t.name = name.into(),
        Some(O::Prompt(p)) => p.name = name.into(),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn errors_name_their_entry_once() {
        let s = named(
            "gateways[1] \"w\"",
            Status::unavailable("cannot reach it; nothing was registered"),
        );
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "gateways[1] \"w\": cannot reach it; nothing was imported");
        assert_eq!(renamed("a", 1), "a-imported");
        assert_eq!(renamed("a", 3), "a-imported-3");
    }
}
