//! The ARM client's managed-disk calls (Disk RP), for restore drills: restore a disk from a
//! disk restore point, read it, list a resource group's disks (to find a drill's leftovers by
//! tag), delete it. Each operation names itself in a `const OP` (see `src/permissions.rs`).

use reqwest::Method;
use url::Url;

use super::client::{ArmClient, Deleted};
use super::error::ArmError;
use super::model::{Disk, DiskList, OperationStatus};
use super::ratelimit::Budget;
use super::transport::{api_error, decode};
use crate::ids::{ManagedDiskId, ResourceGroupId};

/// The answer to the PUT that restores a disk: the disk as ARM answered it (usually
/// `Updating`) and the long-running operation's URLs.
#[derive(Debug, Clone)]
pub struct StartedDisk {
    pub disk: Disk,
    pub async_operation: Option<Url>,
    pub location: Option<Url>,
    pub status: u16,
}

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
        let bytes = Self::body(OP, body)?;
        let raw = self
            .send(OP, Method::PUT, &url, Budget::Write, Some(bytes))
            .await?;
        match raw.status {
            200..=202 => {
                let disk = if raw.body.iter().all(u8::is_ascii_whitespace) {
                    Disk {
                        id: Some(id.to_string()),
                        name: Some(id.name.clone()),
                        ..Default::default()
                    }
                } else {
                    decode(OP, &raw.body)?
                };
                Ok(StartedDisk {
                    disk,
                    async_operation: self.header_url(&raw.headers, "azure-asyncoperation"),
                    location: self.header_url(&raw.headers, "location"),
                    status: raw.status,
                })
            }
            _ => Err(api_error(&raw)),
        }
    }

    /// GET a disk write's `Azure-AsyncOperation` URL (the Disk RP's `DiskOperations`) once: its
    /// `endTime` is when the restore finished, which a drill reports as the disk's ready time.
    /// `None` when the operation is no longer known (ARM keeps them for a limited time).
    pub async fn get_disk_operation(&self, url: &Url) -> Result<Option<OperationStatus>, ArmError> {
        const OP: &str = "get disk operation";
        self.check_link(OP, url)?;
        let raw = self.send(OP, Method::GET, url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(OP, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    /// GET a managed disk; `None` if it does not exist.
    pub async fn get_disk(&self, id: &ManagedDiskId) -> Result<Option<Disk>, ArmError> {
        const OP: &str = "get disk";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        let raw = self.send(OP, Method::GET, &url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(OP, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    /// DELETE a managed disk; a missing one counts as deleted.
    pub async fn delete_disk(&self, id: &ManagedDiskId) -> Result<Deleted, ArmError> {
        const OP: &str = "delete disk";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        let raw = self
            .send(OP, Method::DELETE, &url, Budget::Write, None)
            .await?;
        match raw.status {
            200 | 202 | 204 => Ok(Deleted::Done {
                status: raw.status,
                async_operation: self.header_url(&raw.headers, "azure-asyncoperation"),
                location: self.header_url(&raw.headers, "location"),
            }),
            404 => Ok(Deleted::AlreadyGone),
            _ => Err(api_error(&raw)),
        }
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
