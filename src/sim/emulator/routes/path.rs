//! Request paths matched like ARM matches them: fixed segments case-insensitively, names
//! percent-decoded and checked segment by segment.

use crate::sim::emulator::disks::DiskId;
use crate::sim::emulator::ids::{
    normalize_region, valid_segment, CollectionId, RestorePointId, VmId,
};

/// Path of a request, matched like ARM does (fixed segments case-insensitively).
pub(super) enum Route {
    Vm(VmId),
    CollectionsInRg {
        subscription: String,
        rg: String,
    },
    CollectionsInSub {
        subscription: String,
    },
    Collection(CollectionId),
    RestorePoint(RestorePointId),
    DiskRestorePoints(RestorePointId),
    DiskRestorePoint(RestorePointId, String),
    Operation {
        subscription: String,
        region: String,
        id: String,
    },
    Disk(DiskId),
    DisksInRg {
        subscription: String,
        rg: String,
    },
    DiskOperation {
        subscription: String,
        region: String,
        id: String,
    },
    /// A management lock on a restore point (`Microsoft.Authorization/locks`).
    Lock(RestorePointId, String),
}

impl Route {
    /// Served by the Disk RP (its own api-versions).
    pub(super) fn is_disk_rp(&self) -> bool {
        matches!(
            self,
            Route::DiskRestorePoint(..)
                | Route::DiskRestorePoints(_)
                | Route::Disk(_)
                | Route::DisksInRg { .. }
                | Route::DiskOperation { .. }
        )
    }

    /// Served by `Microsoft.Authorization` (its own api-versions).
    pub(super) fn is_lock(&self) -> bool {
        matches!(self, Route::Lock(..))
    }
}

pub(super) enum RouteError {
    NotFound,
    BadName(String),
}

pub(super) fn route(path: &str) -> Result<Route, RouteError> {
    let raw: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in raw {
        let d = percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| RouteError::BadName(s.to_string()))?;
        segs.push(d.into_owned());
    }
    let is = |i: usize, lit: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(lit));
    let name = |i: usize| -> Result<String, RouteError> {
        let s = segs.get(i).ok_or(RouteError::NotFound)?;
        if valid_segment(s) {
            Ok(s.clone())
        } else {
            Err(RouteError::BadName(s.clone()))
        }
    };
    if !is(0, "subscriptions") || segs.len() < 4 {
        return Err(RouteError::NotFound);
    }
    let subscription = name(1)?;
    if is(2, "providers") && is(3, "Microsoft.Compute") {
        return match segs.len() {
            5 if is(4, "restorePointCollections") => Ok(Route::CollectionsInSub { subscription }),
            8 if is(4, "locations") && is(6, "operations") => Ok(Route::Operation {
                subscription,
                region: normalize_region(&segs[5]).ok_or(RouteError::NotFound)?,
                id: name(7)?,
            }),
            8 if is(4, "locations") && is(6, "DiskOperations") => Ok(Route::DiskOperation {
                subscription,
                region: normalize_region(&segs[5]).ok_or(RouteError::NotFound)?,
                id: name(7)?,
            }),
            _ => Err(RouteError::NotFound),
        };
    }
    if !is(2, "resourceGroups") || !is(4, "providers") || !is(5, "Microsoft.Compute") {
        return Err(RouteError::NotFound);
    }
    let rg = name(3)?;
    let coll = |n: String| CollectionId {
        subscription: subscription.clone(),
        resource_group: rg.clone(),
        name: n,
    };
    match segs.len() {
        8 if is(6, "virtualMachines") => Ok(Route::Vm(VmId {
            subscription: subscription.clone(),
            resource_group: rg.clone(),
            name: name(7)?,
        })),
        7 if is(6, "restorePointCollections") => Ok(Route::CollectionsInRg {
            subscription: subscription.clone(),
            rg: rg.clone(),
        }),
        8 if is(6, "restorePointCollections") => Ok(Route::Collection(coll(name(7)?))),
        7 if is(6, "disks") => Ok(Route::DisksInRg {
            subscription: subscription.clone(),
            rg: rg.clone(),
        }),
        8 if is(6, "disks") => Ok(Route::Disk(DiskId {
            subscription: subscription.clone(),
            resource_group: rg.clone(),
            name: name(7)?,
        })),
        10 if is(6, "restorePointCollections") && is(8, "restorePoints") => {
            Ok(Route::RestorePoint(coll(name(7)?).restore_point(&name(9)?)))
        }
        11 if is(6, "restorePointCollections")
            && is(8, "restorePoints")
            && is(10, "diskRestorePoints") =>
        {
            Ok(Route::DiskRestorePoints(
                coll(name(7)?).restore_point(&name(9)?),
            ))
        }
        12 if is(6, "restorePointCollections")
            && is(8, "restorePoints")
            && is(10, "diskRestorePoints") =>
        {
            Ok(Route::DiskRestorePoint(
                coll(name(7)?).restore_point(&name(9)?),
                name(11)?,
            ))
        }
        14 if is(6, "restorePointCollections")
            && is(8, "restorePoints")
            && is(10, "providers")
            && is(11, "Microsoft.Authorization")
            && is(12, "locks") =>
        {
            Ok(Route::Lock(
                coll(name(7)?).restore_point(&name(9)?),
                name(13)?,
            ))
        }
        _ => Err(RouteError::NotFound),
    }
}

pub(super) fn subscription_of(r: &Route) -> &str {
    match r {
        Route::Vm(v) => &v.subscription,
        Route::CollectionsInRg { subscription, .. }
        | Route::CollectionsInSub { subscription }
        | Route::Operation { subscription, .. }
        | Route::DisksInRg { subscription, .. }
        | Route::DiskOperation { subscription, .. } => subscription,
        Route::Disk(d) => &d.subscription,
        Route::Collection(c) => &c.subscription,
        Route::RestorePoint(p)
        | Route::DiskRestorePoints(p)
        | Route::DiskRestorePoint(p, _)
        | Route::Lock(p, _) => &p.collection.subscription,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute";

    #[test]
    fn routes_match_fixed_segments_case_insensitively() {
        let r = route(&format!("{P}/restorePointCollections/c/restorePoints/p").to_uppercase());
        match r {
            Ok(Route::RestorePoint(id)) => {
                assert_eq!(id.name, "P");
                assert_eq!(id.collection.name, "C");
            }
            _ => panic!("not a restore point route"),
        }
        assert!(matches!(
            route(&format!("{P}/restorepointcollections/c/restorepoints/p/diskrestorepoints/d")),
            Ok(Route::DiskRestorePoint(_, d)) if d == "d"
        ));
        assert!(matches!(
            route("/subscriptions/s1/providers/microsoft.compute/locations/West%20US/operations/op1"),
            Ok(Route::Operation { region, .. }) if region == "westus"
        ));
        assert!(matches!(
            route("/subscriptions/s1/providers/Microsoft.Compute/restorePointCollections"),
            Ok(Route::CollectionsInSub { .. })
        ));
    }

    #[test]
    fn unknown_and_malformed_paths_are_refused() {
        assert!(matches!(route("/"), Err(RouteError::NotFound)));
        assert!(matches!(
            route(&format!("{P}/disks/d/x")),
            Err(RouteError::NotFound)
        ));
        assert!(matches!(route(&format!("{P}/Disks/d")), Ok(Route::Disk(d)) if d.name == "d"));
        assert!(matches!(
            route(
                "/subscriptions/s1/providers/Microsoft.Compute/locations/westus/diskoperations/o"
            ),
            Ok(Route::DiskOperation { .. })
        ));
        assert!(matches!(
            route(
                "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
            ),
            Err(RouteError::NotFound)
        ));
        assert!(matches!(
            route(&format!("{P}/restorePointCollections/a%3Fb")),
            Err(RouteError::BadName(_))
        ));
        assert!(matches!(
            route(&format!("{P}/restorePointCollections/%FF")),
            Err(RouteError::BadName(_))
        ));
    }
}
