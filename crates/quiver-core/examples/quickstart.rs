//! placeholder: replaced once storage lands.
fn main() {}
