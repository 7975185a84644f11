//! Placeholder: the tokio adapter lands with the adapters issue.
