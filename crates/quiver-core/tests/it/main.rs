//! The one integration-test binary of quiver-core; each module is a behaviour.

mod filter_plan;
mod filter_semantics;
mod storage_compaction_crash;
mod storage_contract;
mod storage_corruption;
mod storage_crash;
mod storage_model;
mod storage_support;
