//! The one integration-test binary of quiver-core; each module is a behaviour.

mod storage_contract;
mod storage_crash;
mod storage_support;
