//! The `irsa` binary.
fn main() {}
