//! ARM: typed models of the restore point surface and the REST client that talks to it.
//!
//! Everything ferry does to Azure goes through here, so the platform's sharp edges are handled
//! in one place: ids become URLs only through validated types, ARM's error bodies become
//! [`ArmError`]s that say whether retrying can help, throttling is avoided by pacing
//! ([`ratelimit`]) and survived by honouring `Retry-After`, and the models tolerate fields ARM
//! adds later without losing them.

pub mod client;
mod disks;
pub mod error;
pub mod locks;
mod lro;
pub mod model;
pub mod ratelimit;
mod transport;

pub use client::{ArmClient, ArmConfig, Deleted, StartedCopy};
pub use disks::StartedDisk;
pub use error::ArmError;
pub use model::*;
pub use ratelimit::RateLimit;
