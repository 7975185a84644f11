//! Placeholder: the async-std adapter lands with the adapters issue.
