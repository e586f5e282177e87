//! restore-point-ferry: copies Azure VM restore points to other regions, in the order the
//! platform demands, and tells operators the truth about every copy.
//!
//! The binary `ferry` is an Azure Functions custom handler (`serve`) plus the operator
//! commands (`status`, `readiness`, `plan`) and, in the local build, the simulator's
//! (`demo`, `emulate`). The crate has two parts.
//!
//! **The product** (always compiled; all the deployable build has):
//!
//! - [`ids`], [`clock`]: ARM resource ids and time sources, shared by everything.
//! - [`rules`]: the platform rules, as pure functions.
//! - [`machine`]: the chain state machine (start, progress), as pure functions over records.
//! - [`endpoint`]: https everywhere, plain http only on loopback.
//! - [`policy`], [`config`]: what to copy where, and the settings, validated at start.
//! - [`events`]: Event Grid / CloudEvents restore point events.
//! - [`arm`]: typed ARM models and the ARM REST client.
//! - [`ledger`]: durable state (memory or Table Storage) behind one trait.
//! - [`bus`]: Service Bus REST sender for copy requests and alerts.
//! - [`permissions`]: the entities, table and ARM actions ferry's identity needs.
//! - [`auth`]: tokens (managed identity, Azure CLI, dev token).
//! - [`alerts`]: what operators are told.
//! - [`functions`]: the functions (ingest, sequencer, poller, status) as plain async fns.
//! - [`failpoint`]: the named fail points in them: nothing without the simulator.
//! - [`protocol`], [`server`]: the custom handler wire protocol and the warp server.
//! - [`bootstrap`]: settings → a running app.
//!
//! **The simulator**, `sim` (feature `sim`, on by default; `cargo build --no-default-features`
//! is the deployable build, without it): everything that stands in for Azure.
//!
//! - `sim::emulator`: the ARM emulator (`ferry emulate`, the demo, the tests).
//! - `sim::host`: the Functions host stand-in (the demo, the tests).
//! - `sim::demo`: the whole pipeline on the emulator (`ferry demo`).
//! - `sim::chaos`: ferry-side fault injection for the soak (the fail points' hook, ledger
//!   write conflicts).
//!
//! The simulator drives the product from outside (HTTP, the clock, the fail point hook);
//! the product never depends on it. What the simulator shares with the product, and what
//! it deliberately does not, is in `docs/architecture.md` ("Product and simulator").

pub mod alert_webhook;
pub mod alerts;
pub mod arm;
pub mod auth;
pub mod bootstrap;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod common_alert_schema;
pub mod config;
pub mod dashboard;
pub mod endpoint;
pub mod events;
pub mod failpoint;
pub mod functions;
pub mod ids;
pub mod ledger;
pub mod machine;
pub mod permissions;
pub mod policy;
pub mod protocol;
pub mod rules;
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
pub mod telemetry;
