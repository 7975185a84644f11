//! Placeholder: the shared driver lands with the adapters issue.

#[cfg(feature = "testing")]
pub mod testing;
