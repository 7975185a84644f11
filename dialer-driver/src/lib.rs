//! Placeholder: the shared driver lands with the adapters issue.
