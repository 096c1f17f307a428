//! The one integration-test binary of quiver-core; each module is a behaviour.
mod common_data;
mod hnsw_mutation;
mod hnsw_persist;
mod recall;
