//! Route and verb to handler: the table of what the emulator serves.

use warp::http::Method;

use super::collections::{
    delete_collection, get_collection, list_collections, patch_collection, put_collection,
};
use super::disk_restore_points::{get_disk_restore_point, list_disk_restore_points};
use super::disks::{delete_disk, get_disk, get_disk_operation, list_disks, put_disk};
use super::errors::method_not_allowed;
use super::http::{Ctx, Reply};
use super::locks::{delete_lock, get_lock, put_lock};
use super::operations::get_operation;
use super::path::Route;
use super::restore_points::{delete_restore_point, get_restore_point, put_restore_point};
use super::vms::{get_vm, put_vm};
use crate::sim::emulator::Emulator;

impl Emulator {
    pub(super) fn dispatch(&self, ctx: &Ctx<'_>, route: Route) -> Reply {
        let m = &ctx.req.method;
        let mut st = self.lock();
        st.settle(ctx.now);
        match route {
            Route::Vm(id) => match *m {
                Method::PUT => put_vm(ctx, &mut st, id),
                Method::GET => get_vm(&st, id),
                _ => method_not_allowed(m),
            },
            Route::CollectionsInRg { subscription, rg } => match *m {
                Method::GET => list_collections(ctx, &st, &subscription, Some(&rg)),
                _ => method_not_allowed(m),
            },
            Route::CollectionsInSub { subscription } => match *m {
                Method::GET => list_collections(ctx, &st, &subscription, None),
                _ => method_not_allowed(m),
            },
            Route::Collection(id) => match *m {
                Method::PUT => put_collection(ctx, &mut st, id),
                Method::PATCH => patch_collection(ctx, &mut st, id),
                Method::GET => get_collection(ctx, &st, id),
                Method::DELETE => delete_collection(ctx, &mut st, id),
                _ => method_not_allowed(m),
            },
            Route::RestorePoint(id) => match *m {
                Method::PUT => put_restore_point(ctx, &mut st, id),
                Method::GET => get_restore_point(ctx, &st, id),
                Method::DELETE => delete_restore_point(ctx, &mut st, id),
                _ => method_not_allowed(m),
            },
            Route::DiskRestorePoints(id) => match *m {
                Method::GET => list_disk_restore_points(ctx, &st, &id),
                _ => method_not_allowed(m),
            },
            Route::DiskRestorePoint(id, name) => match *m {
                Method::GET => get_disk_restore_point(ctx, &st, &id, &name),
                _ => method_not_allowed(m),
            },
            Route::Operation {
                subscription,
                region,
                id,
            } => match *m {
                Method::GET => get_operation(ctx, &st, &subscription, &region, &id),
                _ => method_not_allowed(m),
            },
            Route::Disk(id) => match *m {
                Method::PUT => put_disk(ctx, &mut st, id),
                Method::GET => get_disk(ctx, &st, &id),
                Method::DELETE => delete_disk(ctx, &mut st, &id),
                _ => method_not_allowed(m),
            },
            Route::DisksInRg { subscription, rg } => match *m {
                Method::GET => list_disks(ctx, &st, &subscription, &rg),
                _ => method_not_allowed(m),
            },
            Route::DiskOperation {
                subscription,
                region,
                id,
            } => match *m {
                Method::GET => get_disk_operation(ctx, &st, &subscription, &region, &id),
                _ => method_not_allowed(m),
            },
            Route::Lock(scope, name) => match *m {
                Method::PUT => put_lock(ctx, &mut st, scope, name),
                Method::GET => get_lock(&st, &scope, &name),
                Method::DELETE => delete_lock(&mut st, &scope, &name),
                _ => method_not_allowed(m),
            },
        }
    }
}
