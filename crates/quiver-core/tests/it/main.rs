//! The one integration-test binary of quiver-core; each module is a behaviour.
mod collection_api;
mod collection_search;
mod collection_validation;
mod common_data;
mod database;
mod filter_plan;
mod filter_semantics;
mod hnsw_mutation;
mod hnsw_persist;
mod recall;
mod storage_compaction_crash;
mod storage_contract;
mod storage_corruption;
mod storage_crash;
mod storage_model;
mod storage_support;
