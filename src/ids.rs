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

/// A random (version 4) UUID from the thread-local generator, for request ids and batch
/// boundaries: `Uuid::new_v4` asks the kernel for every one (a system call per request).
pub fn random_uuid() -> uuid::Uuid {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()
}

/// Case-insensitive comparison of two id strings, as ARM compares them.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Characters that would change the meaning of a URL or an ARM path.
const fn reserved(c: char) -> bool {
    matches!(
        c,
        '/' | '\\' | '?' | '#' | '%' | '&' | '<' | '>' | '*' | ':' | '"' | '|' | ' '
    )
}

/// Whether a character may appear in a name (see [`valid_segment`]).
fn name_char(c: char) -> bool {
    !c.is_control() && !reserved(c)
}

/// [`name_char`] for every ASCII byte (an ASCII control is a control), so that the common
/// case is one lookup per byte.
const ASCII_NAME_CHAR: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8 as char;
        t[b] = !c.is_ascii_control() && !reserved(c);
        b += 1;
    }
    t
};

/// A path segment ARM would accept as a name: non-empty, at most 260 characters, and free
/// of characters that would change the meaning of a URL or an ARM path.
pub fn valid_segment(s: &str) -> bool {
    if s.is_empty() || s.len() > 260 || s == "." || s == ".." {
        return false;
    }
    if s.is_ascii() {
        s.bytes().all(|b| ASCII_NAME_CHAR[usize::from(b)])
    } else {
        s.chars().all(name_char)
    }
}

/// Splits `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}]*`
/// into its segments, borrowed from the input (ids are parsed on every ledger read: no
/// copies until the caller keeps a part), and checks the structure.
fn split<'a>(input: &'a str, expected: &'static str) -> Result<Parsed<'a>, IdError> {
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
    // Every id ferry parses has at most 14 segments: one allocation, no regrowth.
    let mut segs: Vec<&str> = Vec::with_capacity(16);
    let mut start = 0;
    for (i, b) in body.bytes().enumerate() {
        if b == b'/' {
            segs.push(&body[start..i]);
            start = i + 1;
        }
    }
    segs.push(&body[start..]);
    if segs.iter().any(|s| !valid_segment(s)) {
        return Err(err("empty or invalid path segment"));
    }
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return Err(err("must start with /subscriptions/"));
    }
    if segs.len() == 2 {
        return Ok(Parsed { segs });
    }
    if segs.len() < 4 || !segs[2].eq_ignore_ascii_case("resourceGroups") {
        return Err(err("missing resourceGroups segment"));
    }
    if segs.len() == 4 {
        return Ok(Parsed { segs });
    }
    if segs.len() < 7 || !segs[4].eq_ignore_ascii_case("providers") {
        return Err(err("missing providers segment"));
    }
    if !(segs.len() - 6).is_multiple_of(2) {
        return Err(err("resource type without a name"));
    }
    Ok(Parsed { segs })
}

/// The segments of a well-formed id: `subscriptions/{s}[/resourceGroups/{rg}
/// [/providers/{ns}/{type}/{name}...]]`.
struct Parsed<'a> {
    segs: Vec<&'a str>,
}

impl<'a> Parsed<'a> {
    fn subscription(&self) -> &'a str {
        self.segs[1]
    }

    fn resource_group(&self) -> Option<&'a str> {
        self.segs.get(3).copied()
    }

    fn namespace(&self) -> Option<&'a str> {
        self.segs.get(5).copied()
    }

    /// The name of the `i`-th `(type, name)` pair (checked by [`Self::compute`] first).
    fn name(&self, i: usize) -> &'a str {
        self.segs[7 + 2 * i]
    }

    fn compute(&self, types: &[&str]) -> bool {
        let pairs = self.segs.get(6..).unwrap_or(&[]);
        self.namespace()
            .is_some_and(|n| n.eq_ignore_ascii_case("Microsoft.Compute"))
            && pairs.len() == 2 * types.len()
            && pairs
                .chunks(2)
                .zip(types)
                .all(|(pair, want)| pair[0].eq_ignore_ascii_case(want))
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
            subscription: p.subscription().to_string(),
            resource_group: p.resource_group().unwrap_or_default().to_string(),
            name: p.name(0).to_string(),
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
            subscription: p.subscription().to_string(),
            resource_group: p.resource_group().unwrap_or_default().to_string(),
            name: p.name(0).to_string(),
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
                subscription: p.subscription().to_string(),
                resource_group: p.resource_group().unwrap_or_default().to_string(),
                name: p.name(0).to_string(),
            },
            name: p.name(1).to_string(),
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
                    subscription: p.subscription().to_string(),
                    resource_group: p.resource_group().unwrap_or_default().to_string(),
                    name: p.name(0).to_string(),
                },
                name: p.name(1).to_string(),
            },
            name: p.name(2).to_string(),
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
            subscription: p.subscription().to_string(),
            resource_group: p.resource_group().unwrap_or_default().to_string(),
            name: p.name(0).to_string(),
        })
    }
}

impl std::str::FromStr for ResourceGroupId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "resource group")?;
        match (p.resource_group(), p.namespace()) {
            (Some(rg), None) => Ok(ResourceGroupId {
                subscription: p.subscription().to_string(),
                resource_group: rg.to_string(),
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

/// The pieces of an id's text, in order.
fn join(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

impl CollectionId {
    fn parts(&self) -> [&str; 6] {
        [
            "/subscriptions/",
            &self.subscription,
            "/resourceGroups/",
            &self.resource_group,
            "/providers/Microsoft.Compute/restorePointCollections/",
            &self.name,
        ]
    }

    /// The id's text, built in one allocation (`to_string` grows its buffer piece by
    /// piece; ids are written on every ledger write and ARM request).
    pub fn to_id_string(&self) -> String {
        join(&self.parts())
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().iter().try_for_each(|p| f.write_str(p))
    }
}

impl RestorePointId {
    fn parts(&self) -> [&str; 8] {
        let [a, b, c, d, e, g] = self.collection.parts();
        [a, b, c, d, e, g, "/restorePoints/", &self.name]
    }

    /// The id's text, built in one allocation (see [`CollectionId::to_id_string`]).
    pub fn to_id_string(&self) -> String {
        join(&self.parts())
    }
}

impl fmt::Display for RestorePointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().iter().try_for_each(|p| f.write_str(p))
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
        let mut k = self.to_id_string();
        k.make_ascii_lowercase();
        k
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
        let mut k = self.to_id_string();
        k.make_ascii_lowercase();
        k
    }
}

impl VmId {
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

/// `Microsoft.Compute/disks`: a managed disk (a restore drill's disk).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagedDiskId {
    pub resource_group: ResourceGroupId,
    pub name: String,
}

impl ManagedDiskId {
    /// The disk `name` in `resource_group`; an error if `name` is not a valid path segment.
    pub fn new(resource_group: &ResourceGroupId, name: &str) -> Result<Self, IdError> {
        if !valid_segment(name) {
            return Err(IdError {
                expected: "managed disk",
                reason: "invalid disk name",
                input: name.chars().take(300).collect(),
            });
        }
        Ok(ManagedDiskId {
            resource_group: resource_group.clone(),
            name: name.to_string(),
        })
    }
}

impl std::str::FromStr for ManagedDiskId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split(s, "managed disk")?;
        if !p.compute(&["disks"]) {
            return Err(IdError {
                expected: "managed disk",
                reason: "not a Microsoft.Compute/disks id",
                input: s.chars().take(300).collect(),
            });
        }
        Ok(ManagedDiskId {
            resource_group: ResourceGroupId {
                subscription: p.subscription().to_string(),
                resource_group: p.resource_group().unwrap_or_default().to_string(),
            },
            name: p.name(0).to_string(),
        })
    }
}

impl fmt::Display for ManagedDiskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/providers/Microsoft.Compute/disks/{}",
            self.resource_group, self.name
        )
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
    fn id_strings_match_display() {
        let id: RestorePointId = RP.parse().unwrap();
        assert_eq!(id.to_id_string(), RP);
        assert_eq!(id.to_id_string(), id.to_string());
        assert_eq!(id.collection.to_id_string(), id.collection.to_string());
        assert_eq!(id.key(), RP.to_ascii_lowercase());
        assert_eq!(
            id.collection.key(),
            id.collection.to_string().to_ascii_lowercase()
        );
        // Padding and width still apply through Display.
        assert_eq!(format!("{:>1}", id), RP);
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
    fn segment_check_is_the_same_for_ascii_and_other_text() {
        // The ASCII fast path must agree with the char-by-char rule for every ASCII char.
        for b in 0u8..128 {
            let c = char::from(b);
            let by_char = !(c.is_control()
                || matches!(
                    c,
                    '/' | '\\' | '?' | '#' | '%' | '&' | '<' | '>' | '*' | ':' | '"' | '|' | ' '
                ));
            assert_eq!(valid_segment(&format!("a{c}b")), by_char, "{b:#x}");
            // The same char next to a non-ASCII one takes the other path.
            assert_eq!(valid_segment(&format!("é{c}")), by_char, "{b:#x}");
        }
        assert!(valid_segment("rpc-vm1_ü"));
        assert!(!valid_segment("a\u{85}b"), "C1 control");
        assert!(!valid_segment(""));
        assert!(!valid_segment(".."));
        assert!(!valid_segment(&"x".repeat(261)));
    }

    #[test]
    fn errors_name_the_first_problem() {
        let reason = |s: &str| s.parse::<ResourceGroupId>().unwrap_err().reason;
        // An invalid segment anywhere wins over a structural problem.
        assert_eq!(reason("/nope/s/a?b"), "empty or invalid path segment");
        assert_eq!(
            reason("/subscriptions/s/x//y"),
            "empty or invalid path segment"
        );
        assert_eq!(reason("/nope/s"), "must start with /subscriptions/");
        assert_eq!(reason("/subscriptions"), "must start with /subscriptions/");
        assert_eq!(
            reason("/subscriptions/s/rg"),
            "missing resourceGroups segment"
        );
        assert_eq!(
            reason("/subscriptions/s/groups/rg"),
            "missing resourceGroups segment"
        );
        assert_eq!(
            reason("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute"),
            "missing providers segment"
        );
        assert_eq!(
            reason("/subscriptions/s/resourceGroups/rg/things/a/b/c"),
            "missing providers segment"
        );
        let rp = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections";
        assert_eq!(
            rp.parse::<CollectionId>().unwrap_err().reason,
            "resource type without a name"
        );
        let rg: ResourceGroupId = "/subscriptions/s/resourceGroups/rg/".parse().unwrap();
        assert_eq!(rg.to_string(), "/subscriptions/s/resourceGroups/rg");
        assert!("/subscriptions/s".parse::<ResourceGroupId>().is_err());
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
    fn random_uuids_are_version_4_and_differ() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert_eq!(a.get_version(), Some(uuid::Version::Random));
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
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
