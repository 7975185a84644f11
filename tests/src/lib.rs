//! Shared helpers for the cross-crate tests.

pub mod idmap;
mod model;
pub mod names;
pub mod ops;
pub mod targets;

// Conformance suite and load test of the runtime adapters.
pub mod doubles;
pub mod gauge;
pub mod harness;
