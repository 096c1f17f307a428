//! The one integration-test binary of quiver-core; each module is a behaviour.
mod filter_plan;
mod filter_semantics;
