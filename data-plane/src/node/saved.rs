//! The last applied config, kept on disk (`MCPGW_SNAPSHOT_DIR`) so a data
//! plane that starts while no control plane answers serves what it last
//! had, and says so on `/ready`; once a control plane answers, the node's
//! hello names that version and it receives only what it missed.
//!
//! One file, `snapshot.pb`: the snapshot as a full `ConfigUpdate`
//! (protobuf), written to a temporary file and renamed over the old one,
//! so a crash mid-write leaves the previous one whole. Owner-only (0600):
//! backend credentials in it stay sealed with the fleet's secret.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mcpgw_proto::v1::ConfigUpdate;
use prost::Message;

use crate::{Gateway, config::Snapshot};

const FILE: &str = "snapshot.pb";

/// Where a node keeps its last applied config.
#[derive(Clone, Debug)]
pub struct Saved {
    dir: PathBuf,
}

impl Saved {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn file(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Applies the saved config, if there is one, before any control plane
    /// answers. One that cannot be read or applied is logged and left
    /// alone: the node waits for a control plane as if it had none.
    pub fn restore(&self, gw: &Gateway) {
        let file = self.file();
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return tracing::warn!(file = %file.display(), error = %e, "cannot read the saved config"),
        };
        let update = match ConfigUpdate::decode(bytes.as_slice()) {
            Ok(u) => u,
            Err(e) => return tracing::warn!(file = %file.display(), error = %e, "the saved config is not a config"),
        };
        match gw.apply(&update) {
            Ok(next) => tracing::info!(
                version = next.version,
                tools = next.routes.tool_count(),
                "serving the saved config"
            ),
            Err(errors) => tracing::warn!(?errors, "the saved config does not apply; waiting for a control plane"),
        }
    }

    /// Saves `snapshot`, replacing what was saved.
    pub async fn save(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        let bytes = snapshot.as_full_update().encode_to_vec();
        let (dir, file) = (self.dir.clone(), self.file());
        tokio::task::spawn_blocking(move || write(&dir, &file, &bytes)).await?
    }
}

fn write(dir: &Path, file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}
