//! ARM resource ids as the emulator reads them: request paths, `sourceRestorePoint.id`,
//! `source.id`, disk encryption set ids. Written here, apart from the product's `ids`, so
//! that a mistake in how ferry parses or prints ids is not mirrored by the emulator that
//! checks it: the emulator refuses what ARM refuses, whatever ferry believes.
//!
//! ARM ids are `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/{type}/
//! {name}[/{type}/{name}]`; the fixed words compare case-insensitively, names keep their
//! case but compare case-insensitively too (the emulator keys everything by [`key`]s).

use std::fmt;

/// Case-insensitive comparison of two ids, ignoring a trailing `/`, as ARM compares them.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// A name ARM accepts in a path: 1–260 characters, not `.` or `..`, no control character
/// and none of the characters that end or escape a path segment or a URL.
pub fn valid_segment(s: &str) -> bool {
    const FORBIDDEN: &[char] = &[
        '/', '\\', '?', '#', '%', '&', '<', '>', '*', ':', '"', '|', ' ',
    ];
    !s.is_empty()
        && s.len() <= 260
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c.is_control() || FORBIDDEN.contains(&c))
}

/// A region as ARM accepts it in `location`: its name (`westus2`) or its display name
/// (`West US 2`), returned as the name.
pub fn normalize_region(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then_some(name)
}

/// Why text is not an id of the kind wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    kind: &'static str,
    why: &'static str,
    text: String,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid {} resource id ({}): {:?}",
            self.kind, self.why, self.text
        )
    }
}

impl std::error::Error for IdError {}

/// Subscription, resource group and the names after `Microsoft.Compute`, checked against
/// the resource types `types` (e.g. `["restorePointCollections", "restorePoints"]`).
fn compute_names(
    text: &str,
    kind: &'static str,
    types: &[&str],
) -> Result<(String, String, Vec<String>), IdError> {
    let fail = |why| IdError {
        kind,
        why,
        text: text.chars().take(300).collect(),
    };
    let path = text.trim();
    let path = path.strip_suffix('/').unwrap_or(path);
    let Some(path) = path.strip_prefix('/') else {
        return Err(fail("must start with /subscriptions/"));
    };
    if path.len() > 2048 {
        return Err(fail("longer than 2048 characters"));
    }
    let segs: Vec<&str> = path.split('/').collect();
    if !segs.iter().all(|s| valid_segment(s)) {
        return Err(fail("empty or invalid path segment"));
    }
    let word = |i: usize, w: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(w));
    if !word(0, "subscriptions") || segs.len() < 2 {
        return Err(fail("must start with /subscriptions/"));
    }
    if !word(2, "resourceGroups") || segs.len() < 4 {
        return Err(fail("missing resourceGroups segment"));
    }
    if !word(4, "providers") || !word(5, "Microsoft.Compute") {
        return Err(fail("not a Microsoft.Compute resource"));
    }
    if segs.len() != 6 + 2 * types.len() {
        return Err(fail("wrong number of segments for the resource type"));
    }
    let mut names = Vec::with_capacity(types.len());
    for (i, ty) in types.iter().enumerate() {
        if !word(6 + 2 * i, ty) {
            return Err(fail("wrong resource type"));
        }
        names.push(segs[7 + 2 * i].to_string());
    }
    Ok((segs[1].to_string(), segs[3].to_string(), names))
}

/// `Microsoft.Compute/virtualMachines/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// `Microsoft.Compute/restorePointCollections/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// `Microsoft.Compute/restorePointCollections/{collection}/restorePoints/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RestorePointId {
    pub collection: CollectionId,
    pub name: String,
}

/// `Microsoft.Compute/diskEncryptionSets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiskEncryptionSetId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// The form ids are kept under: lower case, since ARM ids are case-insensitive.
fn key(id: &impl fmt::Display) -> String {
    id.to_string().to_ascii_lowercase()
}

impl VmId {
    pub fn key(&self) -> String {
        key(self)
    }
}

impl CollectionId {
    pub fn key(&self) -> String {
        key(self)
    }

    /// The restore point `name` of this collection.
    pub fn restore_point(&self, name: &str) -> RestorePointId {
        RestorePointId {
            collection: self.clone(),
            name: name.to_string(),
        }
    }
}

impl RestorePointId {
    pub fn key(&self) -> String {
        key(self)
    }
}

impl std::str::FromStr for VmId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (subscription, resource_group, mut names) =
            compute_names(s, "virtual machine", &["virtualMachines"])?;
        Ok(VmId {
            subscription,
            resource_group,
            name: names.remove(0),
        })
    }
}

impl std::str::FromStr for CollectionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (subscription, resource_group, mut names) =
            compute_names(s, "restore point collection", &["restorePointCollections"])?;
        Ok(CollectionId {
            subscription,
            resource_group,
            name: names.remove(0),
        })
    }
}

impl std::str::FromStr for RestorePointId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (subscription, resource_group, mut names) = compute_names(
            s,
            "restore point",
            &["restorePointCollections", "restorePoints"],
        )?;
        let name = names.pop().unwrap_or_default();
        Ok(RestorePointId {
            collection: CollectionId {
                subscription,
                resource_group,
                name: names.pop().unwrap_or_default(),
            },
            name,
        })
    }
}

impl std::str::FromStr for DiskEncryptionSetId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (subscription, resource_group, mut names) =
            compute_names(s, "disk encryption set", &["diskEncryptionSets"])?;
        Ok(DiskEncryptionSetId {
            subscription,
            resource_group,
            name: names.remove(0),
        })
    }
}

fn compute_id(
    f: &mut fmt::Formatter<'_>,
    subscription: &str,
    resource_group: &str,
    rest: &str,
) -> fmt::Result {
    write!(
        f,
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/{rest}"
    )
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = format!("virtualMachines/{}", self.name);
        compute_id(f, &self.subscription, &self.resource_group, &rest)
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = format!("restorePointCollections/{}", self.name);
        compute_id(f, &self.subscription, &self.resource_group, &rest)
    }
}

impl fmt::Display for RestorePointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/restorePoints/{}", self.collection, self.name)
    }
}

impl fmt::Display for DiskEncryptionSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = format!("diskEncryptionSets/{}", self.name);
        compute_id(f, &self.subscription, &self.resource_group, &rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "/subscriptions/s1/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/rpc-vm1/restorePoints/rp-1";

    #[test]
    fn ids_round_trip_and_compare_case_insensitively() {
        let rp: RestorePointId = RP.parse().unwrap();
        assert_eq!(rp.collection.name, "rpc-vm1");
        assert_eq!(rp.name, "rp-1");
        assert_eq!(rp.to_string(), RP);
        let upper: RestorePointId = RP
            .to_ascii_uppercase()
            .replace("/SUBSCRIPTIONS", "/subscriptions")
            .parse()
            .unwrap();
        assert_eq!(upper.key(), rp.key());
        assert!(eq_ignore_case(RP, &format!("{}/", RP.to_ascii_uppercase())));
        let vm: VmId =
            "/subscriptions/s/resourceGroups/r/providers/microsoft.compute/virtualmachines/vm1/"
                .parse()
                .unwrap();
        assert_eq!(vm.name, "vm1");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/v",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualMachines/v",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/v/x",
            "/subscriptions/s/resourceGroups//providers/Microsoft.Compute/virtualMachines/v",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/a b",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/..",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/v",
        ] {
            assert!(bad.parse::<VmId>().is_err(), "{bad}");
        }
        let e = "/x".parse::<RestorePointId>().unwrap_err().to_string();
        assert!(
            e.starts_with("not a valid restore point resource id"),
            "{e}"
        );
    }

    #[test]
    fn regions() {
        assert_eq!(normalize_region("West US 2").as_deref(), Some("westus2"));
        assert_eq!(normalize_region("eastus").as_deref(), Some("eastus"));
        assert_eq!(normalize_region("east-us"), None);
        assert_eq!(normalize_region(" "), None);
    }
}
