//! The ARM client's managed-disk calls (Disk RP), for restore drills: restore a disk from a
//! disk restore point, read it, list a resource group's disks (to find a drill's leftovers by
//! tag), delete it. Each operation names itself in a `const OP` (see `src/permissions.rs`).

use url::Url;

use super::client::{ArmClient, Deleted};
use super::error::ArmError;
use super::model::{Disk, DiskList, OperationStatus};
use crate::ids::{ManagedDiskId, ResourceGroupId};

/// The answer to the PUT that restores a disk: the disk as ARM answered it (usually
/// `Updating`) and the long-running operation's URLs.
pub type StartedDisk = super::client::Started<Disk>;

impl ArmClient {
    /// PUT a managed disk (a restore from a disk restore point: see [`Disk::restore_request`]).
    /// Idempotent on ARM's side: the same body again answers the disk as it is.
    pub async fn restore_disk(
        &self,
        id: &ManagedDiskId,
        body: &Disk,
    ) -> Result<StartedDisk, ArmError> {
        const OP: &str = "restore disk";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        self.put_long_running(OP, &url, Self::body(OP, body)?, || Disk {
            id: Some(id.to_string()),
            name: Some(id.name.clone()),
            ..Default::default()
        })
        .await
    }

    /// GET a disk write's `Azure-AsyncOperation` URL (the Disk RP's `DiskOperations`) once: its
    /// `endTime` is when the restore finished, which a drill reports as the disk's ready time.
    /// `None` when the operation is no longer known (ARM keeps them for a limited time).
    pub async fn get_disk_operation(&self, url: &Url) -> Result<Option<OperationStatus>, ArmError> {
        const OP: &str = "get disk operation";
        self.check_link(OP, url)?;
        self.get_if_exists(OP, url).await
    }

    /// GET a managed disk; `None` if it does not exist.
    pub async fn get_disk(&self, id: &ManagedDiskId) -> Result<Option<Disk>, ArmError> {
        const OP: &str = "get disk";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        self.get_if_exists(OP, &url).await
    }

    /// DELETE a managed disk; a missing one counts as deleted.
    pub async fn delete_disk(&self, id: &ManagedDiskId) -> Result<Deleted, ArmError> {
        const OP: &str = "delete disk";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        self.delete_long_running(OP, &url).await
    }

    /// Every managed disk of a resource group, following `nextLink` (none if the group does
    /// not exist yet).
    pub async fn list_disks(&self, rg: &ResourceGroupId) -> Result<Vec<Disk>, ArmError> {
        const OP: &str = "list disks";
        let url = self.url(
            &format!("{rg}/providers/Microsoft.Compute/disks"),
            &self.config.disk_api_version,
            None,
        );
        self.list_pages::<DiskList>(OP, url, true, |_| {}).await
    }
}
