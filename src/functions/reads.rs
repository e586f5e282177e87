//! What one decision has read from ARM, so that no resource is read twice for it: the
//! sequencer inspects a source restore point when it records the request, and the start
//! that follows in the same invocation (eligibility, the copy request's encryption) uses
//! that reading; the source collection read that creates a chain also serves discovery.
//! ARM's read budget (25 per second per subscription) is ferry's scarcest resource.
//!
//! A `Reads` lives for one sequencer message or one poller chain: seconds, within which a
//! second GET would only answer the same. It is never shared between invocations.

use super::{App, FnError};
use crate::arm::model::{DiskRestorePoint, RestorePoint, RestorePointCollection};
use crate::ids::{CollectionId, RestorePointId};
use std::collections::HashMap;

/// A source restore point and its disk restore points (`None` = it does not exist).
pub(crate) type Source = Option<(RestorePoint, Vec<DiskRestorePoint>)>;

#[derive(Default)]
pub(crate) struct Reads {
    sources: HashMap<String, Source>,
    /// Source collections read with `$expand=restorePoints`.
    collections: HashMap<String, Option<RestorePointCollection>>,
}

impl Reads {
    /// The source restore point and its disks, read once (a copy's disks are not read: a
    /// copy is rejected from the restore point alone).
    pub(crate) async fn source(
        &mut self,
        app: &App,
        id: &RestorePointId,
    ) -> Result<Source, FnError> {
        let key = id.key();
        if let Some(s) = self.sources.get(&key) {
            return Ok(s.clone());
        }
        let read = match app.arm.get_restore_point(id, false).await? {
            None => None,
            Some(rp) => {
                let disks = if rp.is_copy() {
                    Vec::new()
                } else {
                    app.arm.list_disk_restore_points(id).await?
                };
                Some((rp, disks))
            }
        };
        self.sources.insert(key, read.clone());
        Ok(read)
    }

    /// The source collection with its restore points, read once.
    pub(crate) async fn collection(
        &mut self,
        app: &App,
        id: &CollectionId,
    ) -> Result<Option<RestorePointCollection>, FnError> {
        let key = id.key();
        if let Some(c) = self.collections.get(&key) {
            return Ok(c.clone());
        }
        let read = app.arm.get_collection(id, true).await?;
        self.collections.insert(key, read.clone());
        Ok(read)
    }
}
