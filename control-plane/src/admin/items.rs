//! The registry's own items in the admin API (`CreateItem`, `UpdateItem`,
//! `DeleteItem`): checked before anything is written. An item is compiled
//! as data planes will compile it, its name must be a valid MCP name no
//! other item is served under, and a resource's URI must not be one a
//! backend already serves (it would take the URI from it).

use mcpgw_data_plane::{owned::Owned, routing::naming};
use mcpgw_proto::v1::{self as pb, ItemKind};
use tonic::Status;

use super::{grpc::RegistryApi, servers};
use crate::registry::{ItemRow, OWN_BACKEND_ID, owned::NewOwned};

pub(super) fn what(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Tool => "tool",
        ItemKind::Prompt => "prompt",
        ItemKind::Resource => "resource",
        ItemKind::ResourceTemplate => "resource template",
        ItemKind::Unspecified => "item",
    }
}

/// `item` compiled and its name checked, ready to store, replacing
/// `current` if given; whether its name is free is the caller's to check.
pub(super) fn compiled(item: pb::OwnedItem, current: Option<&ItemRow>) -> Result<NewOwned, Status> {
    let listed = Owned::listed(&item).map_err(|e| Status::invalid_argument(format!("{e}; nothing was written")))?;
    if matches!(listed.kind, ItemKind::Tool | ItemKind::Prompt) {
        naming::check_name(&listed.key).map_err(Status::invalid_argument)?;
    }
    if let Some(c) = current {
        let was = crate::registry::catalog::kind_from_db(&c.kind);
        if was != listed.kind {
            return Err(Status::invalid_argument(format!(
                "{:?} is a {}; it cannot become a {}",
                c.name,
                what(was),
                what(listed.kind)
            )));
        }
    }
    Ok(NewOwned {
        kind: listed.kind,
        key: listed.key,
        description: listed.description,
        definition_json: listed.definition_json,
        owned: item,
    })
}

/// Why a name (or URI) is not free: `holder` already serves it.
pub(super) fn taken(kind: ItemKind, key: &str, holder: &ItemRow) -> Status {
    Status::already_exists(if holder.backend_id == OWN_BACKEND_ID {
        format!("the registry already holds a {} {key:?}", what(kind))
    } else {
        format!(
            "{} {key:?} is already served by backend slug {:?}; pick another",
            what(kind),
            holder.backend_slug
        )
    })
}

impl RegistryApi {
    /// `item` checked and made ready to store, replacing `current` if given.
    pub(super) async fn checked(&self, item: pb::OwnedItem, current: Option<&ItemRow>) -> Result<NewOwned, Status> {
        let new = compiled(item, current)?;
        if current.is_none_or(|c| c.name != new.key) {
            self.check_free(new.kind, &new.key).await?;
        }
        Ok(new)
    }

    /// The item already served under a name (tools, prompts) or URI.
    pub(super) async fn holder(&self, kind: ItemKind, key: &str) -> Result<Option<ItemRow>, Status> {
        let sep = self.registry.separator().await?;
        Ok(super::grpc::all_items(&self.registry, kind)
            .await?
            .into_iter()
            .find(|t| servers::exposed_name(t, &sep) == key))
    }

    /// Refuses a name (or URI) something is already served under.
    async fn check_free(&self, kind: ItemKind, key: &str) -> Result<(), Status> {
        match self.holder(kind, key).await? {
            None => Ok(()),
            Some(t) => Err(taken(kind, key, &t)),
        }
    }

    pub(super) async fn create_item(&self, req: pb::CreateItemRequest) -> Result<pb::Item, Status> {
        let item = req.item.ok_or_else(|| {
            Status::invalid_argument("item is required: a prompt, resource, resource_template or tool")
        })?;
        let new = self.checked(item, None).await?;
        let row = self.registry.create_owned(&new, req.enabled.unwrap_or(true)).await?;
        tracing::info!(kind = %row.kind, name = %row.name, "the registry holds a new item");
        self.publish().await?;
        self.item_pb(row).await
    }

    pub(super) async fn update_item(&self, req: pb::UpdateItemRequest) -> Result<pb::Item, Status> {
        let current = self.registry.find_owned(None, &req.item).await?;
        let item = req
            .owned
            .ok_or_else(|| Status::invalid_argument("owned is required: what the item is made of now"))?;
        let new = self.checked(item, Some(&current)).await?;
        let row = self.registry.update_owned(&current.id, &new).await?;
        self.publish().await?;
        self.item_pb(row).await
    }

    pub(super) async fn delete_item(&self, req: pb::DeleteItemRequest) -> Result<(), Status> {
        let current = self.registry.find_owned(None, &req.item).await?;
        self.registry.delete_owned(&current.id).await?;
        tracing::info!(kind = %current.kind, name = %current.name, "removed an item of the registry's own");
        self.publish().await
    }

    pub(super) async fn set_enabled(&self, req: pb::SetItemEnabledRequest) -> Result<pb::Item, Status> {
        let item = self.registry.get_item(&req.item).await?;
        let row = self.registry.set_item_enabled(&item.id, req.enabled).await?;
        self.publish().await?;
        self.item_pb(row).await
    }

    pub(super) async fn item_pb(&self, row: ItemRow) -> Result<pb::Item, Status> {
        let sep = self.registry.separator().await?;
        Ok(servers::item_pb(row, &sep))
    }
}
