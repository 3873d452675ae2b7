//! The conformance suite that every executor backend runs, and the helpers
//! it is built from.
//!
//! The suite is written once, generic over a [`Backend`]: each backend
//! crate expands it into one `#[test]` per behaviour with
//! [`conformance_tests!`]. The helpers in [`support`] order events with
//! channels and gates and bound every wait with a timeout that fails loudly.
//!
//! ```
//! use testkit::support::{Gate, block_on_within};
//!
//! let gate = Gate::new();
//! let waiter = gate.clone();
//! let opened = std::thread::spawn(move || waiter.wait());
//! gate.open();
//! opened.join().unwrap();
//! block_on_within("an async wait on an open gate", async move { gate.opened().await });
//! ```

#![deny(missing_docs)]

pub mod classes;
pub mod conformance;
pub mod cross_runtime;
pub mod groups;
pub mod hostile;
pub mod state_machine;
pub mod support;
pub mod work_conservation;

pub use crate::conformance::{Backend, BoxTask, Config};
