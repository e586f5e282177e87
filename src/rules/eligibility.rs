//! Whether a source restore point can be copied to a target now, later or never: every
//! platform rule about the source (copy of a copy, confidential VM, private link, CMK
//! mapping, consistency, provisioning, creation order) and about the target collection.

use std::collections::BTreeMap;
use std::fmt;
use time::{Duration, OffsetDateTime};

/// Restore point consistency modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consistency {
    CrashConsistent,
    FileSystemConsistent,
    ApplicationConsistent,
}

impl Consistency {
    pub fn parse(s: &str) -> Option<Consistency> {
        match s.to_ascii_lowercase().as_str() {
            "crashconsistent" => Some(Consistency::CrashConsistent),
            "filesystemconsistent" => Some(Consistency::FileSystemConsistent),
            "applicationconsistent" => Some(Consistency::ApplicationConsistent),
            _ => None,
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::CrashConsistent => "CrashConsistent",
            Consistency::FileSystemConsistent => "FileSystemConsistent",
            Consistency::ApplicationConsistent => "ApplicationConsistent",
        })
    }
}

/// One disk of a source restore point, as ARM describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiskFacts {
    pub name: String,
    /// Source disk encryption set (customer-managed key), if any.
    pub disk_encryption_set: Option<String>,
    /// `networkAccessPolicy` of the disk restore point.
    pub network_access_policy: Option<String>,
    /// `diskAccessId` of the disk restore point (private link).
    pub disk_access_id: Option<String>,
}

/// What ARM says about a source restore point, reduced to what the rules need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceFacts {
    /// `properties.sourceRestorePoint` is set: this restore point is itself a copy.
    pub is_copy: bool,
    /// `sourceMetadata.securityProfile.securityType`.
    pub security_type: Option<String>,
    pub provisioning_state: Option<String>,
    pub consistency_mode: Option<String>,
    pub time_created: Option<OffsetDateTime>,
    pub disks: Vec<DiskFacts>,
}

/// What the policy asks of one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetRules {
    /// Source DES id (lower-case) → target DES id.
    pub disk_encryption_sets: BTreeMap<String, String>,
    pub min_consistency: Option<Consistency>,
    /// Catch-up mode: under `latest` and `auto`, a restore point older than one already
    /// copied was skipped by choice, so it is superseded rather than rejected.
    pub catch_up: super::CatchUp,
}

/// Why a restore point will never be copied to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The source is itself a copy; the platform refuses copies of copies.
    CopyOfCopy,
    /// Confidential VMs are not supported by cross-region copy.
    ConfidentialVm { security_type: String },
    /// Private links are not supported by cross-region copy.
    PrivateLink { disk: String },
    /// The disk is encrypted with a customer-managed key and the policy has no target
    /// disk encryption set for it in this region.
    MissingDiskEncryptionSet { disk: String, source_des: String },
    /// The restore point is less consistent than the policy requires.
    ConsistencyTooLow { have: String, need: Consistency },
    /// A newer restore point of the chain was already copied or started: copying an older
    /// one would be a nonsequential copy, which the platform refuses.
    OutOfOrder {
        time_created: OffsetDateTime,
        watermark: OffsetDateTime,
    },
    /// The source restore point failed to create.
    SourceFailed { provisioning_state: String },
    /// The source restore point no longer exists.
    SourceMissing,
    /// ARM did not say when the restore point was created, so it cannot be ordered.
    NoCreationTime,
    /// The target collection does not exist and policy forbids creating it.
    TargetCollectionMissing { collection: String },
    /// The chain's target collection exists but belongs to another source collection or
    /// lives in another region: copying into it would mix two VMs' chains (or fail).
    TargetCollectionForeign {
        collection: String,
        source: Option<String>,
        location: Option<String>,
    },
    /// The target region is the source's own region.
    SameRegion { region: String },
    /// The source stayed not-ready for longer than ferry waits.
    NeverReady { waited: Duration },
}

impl RejectReason {
    /// Stable machine-readable code (alerts, ledger).
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::CopyOfCopy => "CopyOfCopy",
            RejectReason::ConfidentialVm { .. } => "ConfidentialVm",
            RejectReason::PrivateLink { .. } => "PrivateLink",
            RejectReason::MissingDiskEncryptionSet { .. } => "MissingDiskEncryptionSet",
            RejectReason::ConsistencyTooLow { .. } => "ConsistencyTooLow",
            RejectReason::OutOfOrder { .. } => "OutOfOrder",
            RejectReason::SourceFailed { .. } => "SourceFailed",
            RejectReason::SourceMissing => "SourceMissing",
            RejectReason::NoCreationTime => "NoCreationTime",
            RejectReason::TargetCollectionMissing { .. } => "TargetCollectionMissing",
            RejectReason::TargetCollectionForeign { .. } => "TargetCollectionForeign",
            RejectReason::SameRegion { .. } => "SameRegion",
            RejectReason::NeverReady { .. } => "NeverReady",
        }
    }

    /// What an operator can do about it.
    pub fn suggested_action(&self) -> &'static str {
        match self {
            RejectReason::CopyOfCopy => "Nothing to do: this restore point is itself a copy. Exclude the collection from the policy scope if it is a DR target.",
            RejectReason::ConfidentialVm { .. } => "Protect this confidential VM another way (e.g. Azure Backup); cross-region copy does not support it.",
            RejectReason::PrivateLink { .. } => "Disks behind private links cannot be copied across regions; use public network access for the disks or another DR method.",
            RejectReason::MissingDiskEncryptionSet { .. } => "Add the source disk encryption set to the target's diskEncryptionSets mapping in FERRY_POLICY.",
            RejectReason::ConsistencyTooLow { .. } => "Create application- or file-system-consistent restore points, or lower minConsistency in the policy.",
            RejectReason::OutOfOrder { .. } => "Nothing to do for this restore point: a newer one is already copied. Check why its event arrived late.",
            RejectReason::SourceFailed { .. } => "Investigate the failed source restore point; the next successful one will be copied.",
            RejectReason::SourceMissing => "The source restore point was deleted before it could be copied.",
            RejectReason::NoCreationTime => "Check the restore point in the portal; ARM did not report its creation time.",
            RejectReason::TargetCollectionMissing { .. } => "Create the target restore point collection (infra/modules/target-collection.bicep) or set createTargetCollections.",
            RejectReason::TargetCollectionForeign { .. } => "Give this chain its own target collection: include {resourceGroup} and {source} in the target's collectionName template (the default does), or move the other collection away.",
            RejectReason::SameRegion { .. } => "Fix FERRY_POLICY: the target region equals the source region.",
            RejectReason::NeverReady { .. } => "Investigate the source restore point: it never reached Succeeded.",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::CopyOfCopy => write!(f, "the restore point is a copy of another restore point; copies of copies are not supported"),
            RejectReason::ConfidentialVm { security_type } => write!(f, "the source VM is a confidential VM (securityType {security_type}); not supported by cross-region copy"),
            RejectReason::PrivateLink { disk } => write!(f, "disk {disk} uses a private link (networkAccessPolicy AllowPrivate or diskAccessId); not supported by cross-region copy"),
            RejectReason::MissingDiskEncryptionSet { disk, source_des } => write!(f, "disk {disk} is encrypted with disk encryption set {source_des} and the policy maps no target disk encryption set for it"),
            RejectReason::ConsistencyTooLow { have, need } => write!(f, "consistency {have} is below the policy's minimum {need}"),
            RejectReason::OutOfOrder { time_created, watermark } => write!(f, "created {time_created} but a restore point created {watermark} is already copied or copying; a nonsequential copy is not allowed"),
            RejectReason::SourceFailed { provisioning_state } => write!(f, "the source restore point is in provisioning state {provisioning_state}"),
            RejectReason::SourceMissing => write!(f, "the source restore point no longer exists"),
            RejectReason::NoCreationTime => write!(f, "the source restore point has no timeCreated"),
            RejectReason::TargetCollectionMissing { collection } => write!(f, "target collection {collection} does not exist and createTargetCollections is false"),
            RejectReason::TargetCollectionForeign { collection, source, location } => write!(
                f,
                "target collection {collection} belongs to source {} in {}, not to this chain; ferry will not copy into another chain's collection",
                source.as_deref().unwrap_or("(none)"),
                location.as_deref().unwrap_or("(no location)")
            ),
            RejectReason::SameRegion { region } => write!(f, "target region {region} is the source's own region"),
            RejectReason::NeverReady { waited } => write!(f, "the source restore point was not ready after {waited}"),
        }
    }
}

/// Why a copy cannot start yet, though it may later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferReason {
    /// `provisioningState` is not `Succeeded` yet (the write event can fire on accept).
    NotProvisioned { state: String },
}

impl fmt::Display for DeferReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeferReason::NotProvisioned { state } => {
                write!(f, "source restore point is {state}, not Succeeded yet")
            }
        }
    }
}

/// The outcome of checking a source restore point against one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Copy it. `encryption` maps disk name → target disk encryption set, for CMK disks.
    Eligible {
        time_created: OffsetDateTime,
        encryption: BTreeMap<String, String>,
    },
    Defer(DeferReason),
    Reject(RejectReason),
}

/// Checks a source restore point against every platform rule of docs/platform.md and the
/// policy. `watermark` is the creation time of the newest restore point of the chain that
/// was already copied or started.
///
/// Permanent refusals are checked before "not ready yet", so a confidential VM's restore
/// point is rejected at once rather than deferred until it is provisioned.
pub fn eligibility(
    facts: &SourceFacts,
    target: &TargetRules,
    watermark: Option<OffsetDateTime>,
) -> Eligibility {
    use Eligibility::*;
    if facts.is_copy {
        return Reject(RejectReason::CopyOfCopy);
    }
    if let Some(st) = &facts.security_type {
        if st.to_ascii_lowercase().starts_with("confidentialvm") {
            return Reject(RejectReason::ConfidentialVm {
                security_type: st.clone(),
            });
        }
    }
    for d in &facts.disks {
        let private = d
            .network_access_policy
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("AllowPrivate"))
            || d.disk_access_id.as_deref().is_some_and(|a| !a.is_empty());
        if private {
            return Reject(RejectReason::PrivateLink {
                disk: d.name.clone(),
            });
        }
    }
    let state = facts.provisioning_state.as_deref().unwrap_or("Unknown");
    if state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled") {
        return Reject(RejectReason::SourceFailed {
            provisioning_state: state.to_string(),
        });
    }
    if let Some(need) = target.min_consistency {
        let have = facts
            .consistency_mode
            .as_deref()
            .unwrap_or("CrashConsistent");
        // An unknown mode is treated as the weakest: refusing is safer than guessing.
        let have_level = Consistency::parse(have).unwrap_or(Consistency::CrashConsistent);
        if have_level < need {
            return Reject(RejectReason::ConsistencyTooLow {
                have: have.to_string(),
                need,
            });
        }
    }
    let mut encryption = BTreeMap::new();
    for d in &facts.disks {
        if let Some(des) = &d.disk_encryption_set {
            match target.disk_encryption_sets.get(&des.to_ascii_lowercase()) {
                Some(t) => {
                    encryption.insert(d.name.clone(), t.clone());
                }
                None => {
                    return Reject(RejectReason::MissingDiskEncryptionSet {
                        disk: d.name.clone(),
                        source_des: des.clone(),
                    })
                }
            }
        }
    }
    let Some(time_created) = facts.time_created else {
        return if state.eq_ignore_ascii_case("Succeeded") {
            Reject(RejectReason::NoCreationTime)
        } else {
            Defer(DeferReason::NotProvisioned {
                state: state.to_string(),
            })
        };
    };
    if let Some(w) = watermark {
        if time_created <= w {
            return Reject(RejectReason::OutOfOrder {
                time_created,
                watermark: w,
            });
        }
    }
    if !state.eq_ignore_ascii_case("Succeeded") {
        return Defer(DeferReason::NotProvisioned {
            state: state.to_string(),
        });
    }
    Eligible {
        time_created,
        encryption,
    }
}

/// Whether an existing target collection may take this chain's copies: its
/// `properties.source.id` must be the chain's source collection and its location the
/// chain's region. A collection made for another source (two sources whose names expand to
/// the same target name) would mix two VMs' restore points, and the platform refuses a copy
/// whose source is not the collection's source anyway. `source_key` is the lower-cased id.
pub fn target_collection_fits(
    collection: &str,
    existing_source: Option<&str>,
    existing_location: Option<&str>,
    source_key: &str,
    target_region: &str,
) -> Result<(), RejectReason> {
    let source_ok = existing_source.is_some_and(|s| s.eq_ignore_ascii_case(source_key));
    let location_ok = existing_location
        .and_then(crate::ids::normalize_region)
        .is_some_and(|l| l == target_region);
    if source_ok && location_ok {
        Ok(())
    } else {
        Err(RejectReason::TargetCollectionForeign {
            collection: collection.to_string(),
            source: existing_source.map(str::to_string),
            location: existing_location.map(str::to_string),
        })
    }
}
