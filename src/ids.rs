//! ARM resource ids for the resources ferry touches.
//!
//! Ids arrive from outside (events, messages, ARM bodies, HTTP query strings), so they are
//! parsed into typed values and only ever turned back into URL paths by [`Display`], which
//! emits segments that were validated here. Nothing is concatenated blindly into a URL.
//! ARM treats ids case-insensitively; comparisons go through [`eq_ignore_case`] or the
//! lower-cased [`key`](CollectionId::key) forms.

use std::fmt;

/// Why a string is not a resource id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {expected} resource id ({reason}): {input:?}")]
pub struct IdError {
    pub expected: &'static str,
    pub reason: &'static str,
    pub input: String,
}

/// A resource group in a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceGroupId {
    pub subscription: String,
    pub resource_group: String,
}

/// `Microsoft.Compute/virtualMachines`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// `Microsoft.Compute/restorePointCollections`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// `Microsoft.Compute/restorePointCollections/restorePoints`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RestorePointId {
    pub collection: CollectionId,
    pub name: String,
}

/// `Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiskRestorePointId {
    pub restore_point: RestorePointId,
    pub name: String,
}

/// `Microsoft.Compute/diskEncryptionSets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiskEncryptionSetId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// Case-insensitive comparison of two id strings, as ARM compares them.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// A path segment ARM would accept as a name: non-empty, at most 260 characters, and free
/// of characters that would change the meaning of a URL or an ARM path.
pub fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 260
        && s != "."
        && s != ".."
        && s.chars().all(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '/' | '\\' | '?' | '#' | '%' | '&' | '<' | '>' | '*' | ':' | '"' | '|' | ' '
                )
        })
}

/// Splits `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}]*`
/// into the subscription, resource group, provider namespace and `(type, name)` pairs.
fn split(input: &str, expected: &'static str) -> Result<Parsed, IdError> {
    let err = |reason| IdError {
        expected,
        reason,
        input: input.chars().take(300).collect(),
    };
    if input.len() > 2048 {
        return Err(err("longer than 2048 characters"));
    }
    let trimmed = input.trim();
    let body = trimmed
        .strip_prefix('/')
        .ok_or_else(|| err("must start with /subscriptions/"))?;
    let body = body.strip_suffix('/').unwrap_or(body);
    let segs: Vec<&str> = body.split('/').collect();
    if segs.iter().any(|s| !valid_segment(s)) {
        return Err(err("empty or invalid path segment"));
    }
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return Err(err("must start with /subscriptions/"));
    }
    let subscription = segs[1].to_string();
    let mut parsed = Parsed {
        subscription,
        resource_group: None,
        namespace: None,
        types: Vec::new(),
    };
    if segs.len() == 2 {
        return Ok(parsed);
    }
    if segs.len() < 4 || !segs[2].eq_ignore_ascii_case("resourceGroups") {
        return Err(err("missing resourceGroups segment"));
    }
    parsed.resource_group = Some(segs[3].to_string());
    if segs.len() == 4 {
        return Ok(parsed);
    }
    if segs.len() < 7 || !segs[4].eq_ignore_ascii_case("providers") {
        return Err(err("missing providers segment"));
    }
    parsed.namespace = Some(segs[5].to_string());
    let rest = &segs[6..];
    if !rest.len().is_multiple_of(2) {
        return Err(err("resource type without a name"));
    }
    parsed.types = rest
        .chunks(2)
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect();
    Ok(parsed)
}

struct Parsed {
    subscription: String,
    resource_group: Option<String>,
    namespace: Option<String>,
    types: Vec<(String, String)>,
}

impl Parsed {
    fn compute(&self, types: &[&str]) -> bool {
        self.namespace
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case("Microsoft.Compute"))
            && self.types.len() == types.len()
            && self
                .types
                .iter()
                .zip(types)
                .all(|((t, _), want)| t.eq_ignore_ascii_case(want))
    }
}

impl std::str::FromStr for VmId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "virtual machine")?;
        if !p.compute(&["virtualMachines"]) {
            return Err(IdError {
                expected: "virtual machine",
                reason: "not a Microsoft.Compute/virtualMachines id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(VmId {
            subscription: p.subscription,
            resource_group: p.resource_group.unwrap_or_default(),
            name: p.types[0].1.clone(),
        })
    }
}

impl std::str::FromStr for CollectionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "restore point collection")?;
        if !p.compute(&["restorePointCollections"]) {
            return Err(IdError {
                expected: "restore point collection",
                reason: "not a Microsoft.Compute/restorePointCollections id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(CollectionId {
            subscription: p.subscription,
            resource_group: p.resource_group.unwrap_or_default(),
            name: p.types[0].1.clone(),
        })
    }
}

impl std::str::FromStr for RestorePointId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "restore point")?;
        if !p.compute(&["restorePointCollections", "restorePoints"]) {
            return Err(IdError {
                expected: "restore point",
                reason: "not a Microsoft.Compute/restorePointCollections/restorePoints id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(RestorePointId {
            collection: CollectionId {
                subscription: p.subscription,
                resource_group: p.resource_group.unwrap_or_default(),
                name: p.types[0].1.clone(),
            },
            name: p.types[1].1.clone(),
        })
    }
}

impl std::str::FromStr for DiskRestorePointId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "disk restore point")?;
        if !p.compute(&[
            "restorePointCollections",
            "restorePoints",
            "diskRestorePoints",
        ]) {
            return Err(IdError {
                expected: "disk restore point",
                reason: "not a .../restorePoints/diskRestorePoints id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(DiskRestorePointId {
            restore_point: RestorePointId {
                collection: CollectionId {
                    subscription: p.subscription,
                    resource_group: p.resource_group.unwrap_or_default(),
                    name: p.types[0].1.clone(),
                },
                name: p.types[1].1.clone(),
            },
            name: p.types[2].1.clone(),
        })
    }
}

impl std::str::FromStr for DiskEncryptionSetId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "disk encryption set")?;
        if !p.compute(&["diskEncryptionSets"]) {
            return Err(IdError {
                expected: "disk encryption set",
                reason: "not a Microsoft.Compute/diskEncryptionSets id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(DiskEncryptionSetId {
            subscription: p.subscription,
            resource_group: p.resource_group.unwrap_or_default(),
            name: p.types[0].1.clone(),
        })
    }
}

impl std::str::FromStr for ResourceGroupId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "resource group")?;
        match (p.resource_group, p.namespace) {
            (Some(rg), None) => Ok(ResourceGroupId {
                subscription: p.subscription,
                resource_group: rg,
            }),
            _ => Err(IdError {
                expected: "resource group",
                reason: "not a resource group id",
                input: s.chars().take(300).collect(),
            }),
        }
    }
}

impl fmt::Display for ResourceGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.resource_group
        )
    }
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/restorePointCollections/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

impl fmt::Display for RestorePointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/restorePoints/{}", self.collection, self.name)
    }
}

impl fmt::Display for DiskRestorePointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/diskRestorePoints/{}", self.restore_point, self.name)
    }
}

impl fmt::Display for DiskEncryptionSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/diskEncryptionSets/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

impl CollectionId {
    /// Lower-cased id: the form used in keys, because ARM ids are case-insensitive.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    pub fn resource_group_id(&self) -> ResourceGroupId {
        ResourceGroupId {
            subscription: self.subscription.clone(),
            resource_group: self.resource_group.clone(),
        }
    }

    /// The id of the restore point `name` in this collection.
    pub fn restore_point(&self, name: &str) -> RestorePointId {
        RestorePointId {
            collection: self.clone(),
            name: name.to_string(),
        }
    }
}

impl RestorePointId {
    /// Lower-cased id: the form used in keys, because ARM ids are case-insensitive.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl VmId {
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

/// Azure region names are lower-case letters and digits (`westus2`, `norwayeast`).
/// Accepts display forms such as `West US 2` and returns the canonical name.
pub fn normalize_region(s: &str) -> Option<String> {
    let r: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    (!r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_alphanumeric())).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/rpc-vm1/restorePoints/rp-20261101";

    #[test]
    fn restore_point_round_trips() {
        let id: RestorePointId = RP.parse().unwrap();
        assert_eq!(id.collection.name, "rpc-vm1");
        assert_eq!(id.name, "rp-20261101");
        assert_eq!(id.to_string(), RP);
    }

    #[test]
    fn parsing_is_case_insensitive_and_keeps_names() {
        let id: RestorePointId = RP
            .replace("resourceGroups", "resourcegroups")
            .replace("Microsoft.Compute", "microsoft.compute")
            .parse()
            .unwrap();
        assert_eq!(id.to_string(), RP);
        assert!(eq_ignore_case(&id.to_string(), &RP.to_uppercase()));
    }

    #[test]
    fn wrong_kinds_are_refused() {
        assert!(RP.parse::<CollectionId>().is_err());
        assert!(RP.parse::<VmId>().is_err());
        let storage =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x";
        let e = storage.parse::<CollectionId>().unwrap_err();
        assert!(e.to_string().contains("restore point collection"));
    }

    #[test]
    fn injection_is_refused() {
        for bad in [
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/a?x=1/restorePoints/b",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/../restorePoints/b",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/a%2F/restorePoints/b",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections//restorePoints/b",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/a#/restorePoints/b",
            "subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/a/restorePoints/b",
            "",
            "/",
        ] {
            assert!(bad.parse::<RestorePointId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn disk_restore_point_and_des() {
        let d: DiskRestorePointId = format!("{RP}/diskRestorePoints/os_1").parse().unwrap();
        assert_eq!(d.restore_point.name, "rp-20261101");
        let des: DiskEncryptionSetId =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des1"
                .parse()
                .unwrap();
        assert_eq!(des.name, "des1");
    }

    #[test]
    fn regions_normalize() {
        assert_eq!(normalize_region("West US 2").as_deref(), Some("westus2"));
        assert_eq!(
            normalize_region("norwayeast").as_deref(),
            Some("norwayeast")
        );
        assert_eq!(normalize_region("west-us"), None);
        assert_eq!(normalize_region(""), None);
    }
}
