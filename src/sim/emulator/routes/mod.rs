//! HTTP surface: path matching (fixed segments case-insensitive, like ARM), api-version and
//! auth checks, throttling, fault injection, the handlers, and the server loop.
//!
//! - [`server`]: the warp filter and the accept loop with its per-connection kill switch.
//! - [`pipeline`]: one request from arrival to reply (faults, auth, token buckets,
//!   api-version), then [`dispatch`]: route and verb to handler.
//! - [`path`]: request paths matched like ARM; [`api_version`]: the accepted api-versions.
//! - [`http`], [`errors`], [`body`]: what handlers share (request, reply, context; ARM's
//!   common errors; body parsing).
//! - One module per resource: [`vms`], [`collections`], [`restore_points`], [`copies`]
//!   (the cross-region copy PUT), [`disk_restore_points`], [`operations`] (long-running
//!   operations), [`disks`] (managed disks restored from disk restore points, and their
//!   `DiskOperations`).
//! - [`control`]: the emulator's own `/_emulator/` endpoints.

mod api_version;
mod body;
mod collections;
mod control;
mod copies;
mod disk_restore_points;
mod disks;
mod dispatch;
mod errors;
mod http;
mod locks;
mod operations;
mod path;
mod pipeline;
mod restore_points;
mod server;
mod vms;

pub use api_version::{COMPUTE_API_VERSIONS, DISK_API_VERSIONS};
pub(crate) use server::{filter, serve};
