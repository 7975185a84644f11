//! Placeholder: benchmarks land with the benchmarks issue.
fn main() {}
