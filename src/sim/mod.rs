//! The simulator: everything that stands in for Azure, apart from the product.
//!
//! - [`emulator`]: the ARM emulator (`ferry emulate`, the demo, the tests).
//! - [`host`]: the Functions host stand-in (the demo, the tests).
//! - [`demo`]: the whole pipeline on the emulator (`ferry demo`).
//! - [`chaos`]: ferry-side fault injection for the soak: the hook behind the product's
//!   fail points (`crate::failpoint`) and ledger write conflicts.

pub mod chaos;
pub mod demo;
pub mod emulator;
pub mod host;
