//! Virtual machines: PUT (disks, encryption sets, private links and the emulator's tags that
//! set disk usage and churn) and GET.

use std::collections::BTreeMap;

use serde_json::Value;

use super::body::parse_tracked;
use super::errors::{bad_request, not_found};
use super::http::{Ctx, Reply};
use crate::sim::emulator::ids::{valid_segment, DiskEncryptionSetId, VmId};
use crate::sim::emulator::model;
use crate::sim::emulator::state::{Disk, State, Vm};

const EMULATOR_TAG: &str = "ferry-emulator:";

fn tag_f64(tags: &BTreeMap<String, String>, name: &str, default: f64) -> Result<f64, Reply> {
    match tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        None => Ok(default),
        Some((k, v)) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                bad_request(
                    "InvalidParameter",
                    format!("Emulator tag '{k}' must be a non-negative number, got '{v}'."),
                )
            }),
    }
}

fn parse_disk(
    vm: &VmId,
    tags: &BTreeMap<String, String>,
    d: &Value,
    lun: Option<i32>,
    private: &PrivateLink,
) -> Result<Disk, Reply> {
    let what = match lun {
        None => "osDisk".to_string(),
        Some(l) => format!("dataDisks[lun {l}]"),
    };
    let name = match d["name"].as_str() {
        Some(n) if valid_segment(n) => n.to_string(),
        Some(n) => {
            return Err(bad_request(
                "InvalidParameter",
                format!("{what}.name '{n}' is invalid."),
            ))
        }
        None if lun.is_none() => format!("{}_OsDisk_1", vm.name),
        None => format!("{}_DataDisk_{}", vm.name, lun.unwrap_or_default()),
    };
    let size_gb = match &d["diskSizeGB"] {
        Value::Null => {
            if lun.is_none() {
                30
            } else {
                128
            }
        }
        v => v
            .as_i64()
            .filter(|s| (1..=65_536).contains(s))
            .map(|s| s as i32)
            .ok_or_else(|| {
                bad_request(
                    "InvalidParameter",
                    format!("{what}.diskSizeGB must be an integer between 1 and 65536."),
                )
            })?,
    };
    let md = &d["managedDisk"];
    let managed_disk_id = match md["id"].as_str() {
        Some(id) => id.to_string(),
        None => format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/disks/{}",
            vm.subscription, vm.resource_group, name
        ),
    };
    let des = match md["diskEncryptionSet"]["id"].as_str() {
        None => None,
        Some(s) => Some(
            s.parse::<DiskEncryptionSetId>()
                .map_err(|e| {
                    bad_request(
                        "InvalidParameter",
                        format!("{what}.managedDisk.diskEncryptionSet.id: {e}"),
                    )
                })?
                .to_string(),
        ),
    };
    let used_pct = tag_f64(tags, &format!("{EMULATOR_TAG}usedPercent"), 50.0)?.min(100.0);
    let churn_all = tag_f64(tags, &format!("{EMULATOR_TAG}churnGBPerDay"), 1.0)?;
    let churn = tag_f64(
        tags,
        &format!("{EMULATOR_TAG}churnGBPerDay:{name}"),
        churn_all,
    )?;
    let is_private = private.applies(&name);
    Ok(Disk {
        lun,
        size_gb,
        used_gb: f64::from(size_gb) * used_pct / 100.0,
        churn_gb_per_day: churn,
        managed_disk_id,
        storage_account_type: md["storageAccountType"]
            .as_str()
            .unwrap_or("Premium_LRS")
            .to_string(),
        caching: d["caching"]
            .as_str()
            .unwrap_or(if lun.is_none() { "ReadWrite" } else { "None" })
            .to_string(),
        des,
        private: is_private,
        disk_access_id: is_private.then(|| {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/diskAccesses/{}-diskaccess",
                vm.subscription, vm.resource_group, vm.name
            )
        }),
        name,
    })
}

/// `ferry-emulator:privateLink`: `true` (every disk) or a comma-separated list of disk names.
enum PrivateLink {
    None,
    All,
    Disks(Vec<String>),
}

impl PrivateLink {
    fn from_tags(tags: &BTreeMap<String, String>) -> Self {
        match tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&format!("{EMULATOR_TAG}privateLink")))
        {
            None => PrivateLink::None,
            Some((_, v)) if v.eq_ignore_ascii_case("true") => PrivateLink::All,
            Some((_, v)) if v.eq_ignore_ascii_case("false") || v.is_empty() => PrivateLink::None,
            Some((_, v)) => {
                PrivateLink::Disks(v.split(',').map(|s| s.trim().to_string()).collect())
            }
        }
    }

    fn applies(&self, disk: &str) -> bool {
        match self {
            PrivateLink::None => false,
            PrivateLink::All => true,
            PrivateLink::Disks(d) => d.iter().any(|n| n.eq_ignore_ascii_case(disk)),
        }
    }
}

pub(super) fn put_vm(ctx: &Ctx<'_>, st: &mut State, id: VmId) -> Reply {
    let (body, location, tags) = match parse_tracked(ctx.req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let props = &body["properties"];
    let sp = &props["storageProfile"];
    let private = PrivateLink::from_tags(&tags);
    let mut disks = Vec::new();
    match parse_disk(&id, &tags, &sp["osDisk"], None, &private) {
        Ok(d) => disks.push(d),
        Err(r) => return r,
    }
    if let Some(data) = sp["dataDisks"].as_array() {
        for d in data {
            let Some(lun) = d["lun"]
                .as_i64()
                .and_then(|l| i32::try_from(l).ok())
                .filter(|l| (0..64).contains(l))
            else {
                return bad_request(
                    "InvalidParameter",
                    "Every data disk needs an integer lun between 0 and 63.",
                );
            };
            if disks.iter().any(|x| x.lun == Some(lun)) {
                return bad_request("InvalidParameter", format!("Two data disks use lun {lun}."));
            }
            match parse_disk(&id, &tags, d, Some(lun), &private) {
                Ok(d) => disks.push(d),
                Err(r) => return r,
            }
        }
    } else if !sp["dataDisks"].is_null() {
        return bad_request(
            "InvalidParameter",
            "storageProfile.dataDisks must be an array.",
        );
    }
    let security_type = props["securityProfile"]["securityType"]
        .as_str()
        .map(str::to_string);
    let key = id.key();
    let existing = st.vms.get(&key).map(|v| (v.vm_uuid.clone(), v.created));
    let (vm_uuid, created, status) = match existing {
        Some((u, c)) => (u, c, 200),
        None => (st.uuid(), ctx.now, 201),
    };
    let vm = Vm {
        id,
        location,
        tags,
        vm_uuid,
        vm_size: props["hardwareProfile"]["vmSize"]
            .as_str()
            .unwrap_or("Standard_D2s_v3")
            .to_string(),
        os_type: sp["osDisk"]["osType"]
            .as_str()
            .unwrap_or("Linux")
            .to_string(),
        security_type,
        disks,
        created,
    };
    let body = model::vm_json(&vm);
    st.vms.insert(key, vm);
    Reply::json(status, body)
}

pub(super) fn get_vm(st: &State, id: VmId) -> Reply {
    match st.vms.get(&id.key()) {
        Some(vm) => Reply::json(200, model::vm_json(vm)),
        None => not_found("virtualMachines", &id.name, &id.resource_group),
    }
}
