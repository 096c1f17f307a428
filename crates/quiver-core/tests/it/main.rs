//! The one integration-test binary of quiver-core; each module is a behaviour.
mod collection_api;
mod collection_concurrency;
mod collection_crash;
mod collection_recovery;
mod collection_search;
mod collection_validation;
mod common_data;
mod database;
mod filter_plan;
mod filter_semantics;
mod hnsw_mutation;
mod hnsw_persist;
mod recall;
