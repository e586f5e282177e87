//! Serde types for the restore point surface of ARM (Compute api 2025-11-01, Disk RP 2026-03-02),
//! shaped after the official examples and swagger in Azure/azure-rest-api-specs (paths in
//! docs/platform.md, "Wire references"), one file per resource:
//!
//! - `collection`: restore point collections and the copy target's PUT body;
//! - `restore_point`: restore points, their source metadata and instance view, and the slim
//!   read-only views the poller and ingest decode;
//! - `copy_request`: the PUT body that starts a cross-region copy;
//! - `disk_restore_point`: disk restore points (Disk RP);
//! - `disk`: managed disks restored from disk restore points (restore drills);
//! - `operation` and `error_body`: long-running operation status and ARM's error envelope;
//! - `common`: what they share.
//!
//! ARM adds properties over time, so nothing here denies unknown fields: every struct keeps
//! what it does not model in `extra`, which also makes a deserialize/serialize round trip
//! lossless (the emulator and the tests rely on that). Everything ARM may omit is an
//! `Option` and is left out when serializing (`serde_with::skip_serializing_none` on every
//! serialized struct), so request bodies carry only what we set.

mod collection;
mod common;
mod copy_request;
mod disk;
mod disk_restore_point;
mod error_body;
mod operation;
mod restore_point;

pub use collection::*;
pub use common::ResourceRef;
pub use copy_request::*;
pub use disk::*;
pub use disk_restore_point::*;
pub use error_body::*;
pub use operation::*;
pub use restore_point::*;

/// One page of an ARM list: its items and the `nextLink` to the next page, if any.
pub trait Paged {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! paged {
    ($($list:ty => $item:ty),* $(,)?) => {$(
        impl Paged for $list {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.value, self.next_link)
            }
        }
    )*};
}

paged! {
    DiskRestorePointList => DiskRestorePoint,
    RestorePointCollectionList => RestorePointCollection,
    DiskList => Disk,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with nothing set serializes to `{}`: every optional field is left out, none
    /// goes out as `null` (a struct without `skip_serializing_none` would fail here). And `{}`
    /// reads back as nothing set: a missing optional field is `None`.
    #[test]
    fn unset_fields_are_left_out() {
        macro_rules! empty {
            ($($t:ty),* $(,)?) => {$(
                assert_eq!(
                    serde_json::to_string(&<$t>::default()).unwrap(),
                    "{}",
                    stringify!($t)
                );
                assert_eq!(
                    serde_json::from_str::<$t>("{}").unwrap(),
                    <$t>::default(),
                    stringify!($t)
                );
            )*};
        }
        empty!(
            ResourceRef,
            RestorePointCollection,
            RestorePointCollectionProperties,
            CollectionSource,
            RestorePoint,
            RestorePointProperties,
            SourceMetadata,
            HardwareProfile,
            SecurityProfile,
            SourceStorageProfile,
            SourceDisk,
            ManagedDisk,
            DiskRestorePointAttributes,
            RestorePointEncryption,
            RestorePointInstanceView,
            DiskRestorePointInstanceView,
            DiskRestorePointReplication,
            InstanceViewStatus,
            DiskRestorePoint,
            DiskRestorePointProperties,
            DiskEncryption,
            DiskSecurityProfile,
            AccessUri,
        );
        assert_eq!(
            serde_json::to_string(&CopyStorageProfile::default()).unwrap(),
            "{}"
        );
        assert_eq!(
            serde_json::to_string(&DiskRestorePointList::default()).unwrap(),
            r#"{"value":[]}"#
        );
        assert_eq!(
            serde_json::to_string(&RestorePointCollectionList::default()).unwrap(),
            r#"{"value":[]}"#
        );
        assert_eq!(
            serde_json::to_string(&ArmErrorBody::default()).unwrap(),
            r#"{"error":{"code":"","message":""}}"#
        );
    }
}
