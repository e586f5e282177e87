//! restore-point-ferry: copies Azure VM restore points to other regions, in the order the
//! platform demands, and tells operators the truth about every copy.
//!
//! The binary `ferry` is an Azure Functions custom handler (`serve`) plus the tools around
//! it (`demo`, `emulate`, operator commands). Module map:
//!
//! - [`ids`], [`clock`]: ARM resource ids and time sources, shared by everything.
//! - [`rules`]: the platform rules and the chain state machine, as pure functions.
//! - [`policy`], [`config`]: what to copy where, and the settings, validated at start.
//! - [`events`]: Event Grid / CloudEvents restore point events.
//! - [`arm`]: typed ARM models and the ARM REST client.
//! - [`ledger`]: durable state (memory or Table Storage) behind one trait.
//! - [`bus`]: Service Bus REST sender for copy requests.
//! - [`auth`]: tokens (managed identity, Azure CLI, dev token).
//! - [`alerts`]: what operators are told.
//! - [`functions`]: the four functions (ingest, sequencer, poller, status) as plain async fns.
//! - [`protocol`], [`server`]: the custom handler wire protocol and the warp server.
//! - [`emulator`]: the ARM emulator (`ferry emulate`).
//! - [`host`]: the Functions host stand-in used by `demo` and the tests.
//! - [`demo`]: the whole pipeline on the emulator.
//! - [`memcopy`]: `memcpy`/`memmove` for the static musl build.

pub mod alerts;
pub mod arm;
pub mod auth;
pub mod bootstrap;
pub mod bus;
pub mod clock;
pub mod config;
pub mod events;
pub mod failpoint;
pub mod functions;
pub mod ids;
pub mod ledger;
pub mod memcopy;
pub mod policy;
pub mod protocol;
pub mod rules;
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
