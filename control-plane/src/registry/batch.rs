//! Many writes as one: an import applies every change it has planned in a
//! single transaction at a single new config version, so it lands whole or
//! not at all, and data planes see it as one delta.

use super::{
    BackendUpdate, NewBackend, NewBackendMember, NewMember, Registry, RegistryError, Result,
    backends::{insert_backend, update_backend},
    bump,
    owned::{NewOwned, insert_owned, update_owned},
    servers::{insert_server, set_server_enabled, update_server},
    with_db,
};

/// One planned change.
#[derive(Debug, Clone)]
pub enum Write {
    CreateBackend(Box<NewBackend>),
    UpdateBackend {
        id: String,
        update: Box<BackendUpdate>,
    },
    CreateOwned {
        new: NewOwned,
        enabled: bool,
    },
    UpdateOwned {
        id: String,
        new: NewOwned,
    },
    SetItemEnabled {
        id: String,
        enabled: bool,
    },
    CreateServer {
        id: String,
        name: String,
        description: String,
        members: Vec<NewMember>,
        backends: Vec<NewBackendMember>,
    },
    UpdateServer {
        id: String,
        description: String,
        members: Vec<NewMember>,
        backends: Vec<NewBackendMember>,
    },
    SetServerEnabled {
        id: String,
        enabled: bool,
    },
}

/// A write and what it is for, to name it when it fails
/// (`gateways[2] "weather"`).
#[derive(Debug, Clone)]
pub struct Labeled {
    pub label: String,
    pub write: Write,
}

impl Registry {
    /// Applies `writes` in order in one transaction; the new config version,
    /// or the first failure, named by its label, with nothing written.
    pub async fn apply(&self, writes: &[Labeled]) -> Result<u64> {
        let version = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let v = bump!(&mut *tx);
            for w in writes {
                let applied: Result<()> = async {
                    let tx = &mut tx;
                    match &w.write {
                        Write::CreateBackend(new) => insert_backend!(&mut *tx, new, v),
                        Write::UpdateBackend { id, update } => update_backend!(&mut *tx, id, update, v),
                        Write::CreateOwned { new, enabled } => insert_owned!(&mut *tx, &new.id(), new, *enabled, v),
                        Write::UpdateOwned { id, new } => update_owned!(&mut *tx, id, new, v),
                        Write::SetItemEnabled { id, enabled } => {
                            sqlx::query("UPDATE catalog SET enabled = $1, config_version = $2 WHERE id = $3")
                                .bind(*enabled)
                                .bind(v)
                                .bind(id)
                                .execute(&mut **tx)
                                .await?;
                        }
                        Write::CreateServer {
                            id,
                            name,
                            description,
                            members,
                            backends,
                        } => {
                            insert_server!(&mut *tx, id, name, description, members, backends, v)
                        }
                        Write::UpdateServer {
                            id,
                            description,
                            members,
                            backends,
                        } => {
                            update_server!(&mut *tx, id, description, members, backends, v)
                        }
                        Write::SetServerEnabled { id, enabled } => set_server_enabled!(&mut *tx, id, *enabled, v),
                    }
                    Ok(())
                }
                .await;
                applied.map_err(|e| labeled(&w.label, e))?;
            }
            tx.commit().await?;
            v
        });
        Ok(version as u64)
    }
}

/// `e` with the write it came from named first.
fn labeled(label: &str, e: RegistryError) -> RegistryError {
    match e {
        RegistryError::AlreadyExists(m) => RegistryError::AlreadyExists(format!("{label}: {m}")),
        RegistryError::NotFound(m) => RegistryError::NotFound(format!("{label}: {m}")),
        RegistryError::Invalid(m) => RegistryError::Invalid(format!("{label}: {m}")),
        e => {
            tracing::warn!(write = %label, error = %e, "a batch write failed; nothing was written");
            e
        }
    }
}
