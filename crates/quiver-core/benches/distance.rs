//! placeholder bench; replaced by the module's owner.
fn main() {}
