//! The result budget: an upper estimate of the bytes a read may produce,
//! checked against `max_result_bytes` before any work, so that a small
//! request cannot make the server build an answer it has no memory for.
//!
//! The estimate is per result: the selected dense vectors at 4 bytes a
//! component when vectors are returned, a fixed payload estimate when
//! payloads are, and a fixed overhead for id, score and framing. The JSON
//! text is larger than that (about 10 bytes a component), so the budget
//! bounds the answer to a small multiple of itself.
//!
//! A sparse vector's size is known only once it is read, so answers that
//! return vectors are checked a second time, with the vectors read counted
//! at their size ([`vector_bytes`]: 4 bytes a dense component, 8 a sparse
//! entry), before the answer is written out.

use quiver_core::Vector;

use super::vectors::VectorOutput;
use crate::error::{ApiError, ApiResult};

/// Bytes counted per entry of a sparse vector (a u32 index and an f32).
pub const SPARSE_ENTRY_BYTES: u64 = 8;

/// The bytes the budget counts for vectors read: 4 per dense component, 8
/// per sparse entry.
pub fn vector_bytes(output: &VectorOutput) -> u64 {
    let one = |v: &Vector| match v {
        Vector::Dense(d) => d.len() as u64 * 4,
        Vector::Sparse(s) => s.len() as u64 * SPARSE_ENTRY_BYTES,
    };
    match output {
        VectorOutput::Default(d) => d.len() as u64 * 4,
        VectorOutput::Named(named) => named.values().map(one).fold(0, u64::saturating_add),
    }
}

/// Bytes counted per result for its id, score and JSON framing.
pub const HIT_OVERHEAD_BYTES: u64 = 64;
/// Bytes counted per result for its payload, when payloads are returned.
pub const PAYLOAD_ESTIMATE_BYTES: u64 = 256;

/// The results one request asks for, in one or several parts (a batch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    /// Results, summed over the parts.
    pub results: u64,
    /// Results that carry their vector.
    pub with_vector: u64,
    /// Results that carry their payload.
    pub with_payload: u64,
    /// How many parts (searches of a batch) were added.
    pub parts: u64,
}

impl Demand {
    /// Adds one part of `results` results.
    pub fn add(&mut self, results: usize, with_vector: bool, with_payload: bool) {
        let n = results as u64;
        self.results = self.results.saturating_add(n);
        if with_vector {
            self.with_vector = self.with_vector.saturating_add(n);
        }
        if with_payload {
            self.with_payload = self.with_payload.saturating_add(n);
        }
        self.parts += 1;
    }

    /// The estimated bytes for a collection of `dimension`.
    pub fn bytes(&self, dimension: usize) -> u64 {
        let vector_bytes = (dimension as u64).saturating_mul(4);
        self.results
            .saturating_mul(HIT_OVERHEAD_BYTES)
            .saturating_add(self.with_vector.saturating_mul(vector_bytes))
            .saturating_add(self.with_payload.saturating_mul(PAYLOAD_ESTIMATE_BYTES))
    }

    /// Refuses an answer whose vectors, as read, come to `vector_bytes`
    /// ([`vector_bytes`]) and take it, with the overhead and payload
    /// estimates of [`Demand::bytes`], past `max_bytes`.
    ///
    /// # Errors
    /// 400 naming the bytes and the limit.
    pub fn check_read(&self, vector_bytes: u64, max_bytes: usize) -> ApiResult<()> {
        let bytes = self.bytes(0).saturating_add(vector_bytes);
        if bytes <= max_bytes as u64 {
            return Ok(());
        }
        Err(ApiError::bad_request(format!(
            "this answer holds {bytes} bytes ({vector_bytes} of them vectors as read, sparse \
             vectors at {SPARSE_ENTRY_BYTES} bytes an entry, over {} results), more than \
             max_result_bytes = {max_bytes}; lower `limit`, select fewer vectors in `with_vector` \
             or split the request",
            self.results
        )))
    }

    /// Refuses the request when its estimate exceeds `max_bytes`; `dimension`
    /// is the floats of the dense vectors each result returns.
    ///
    /// # Errors
    /// 400 naming the estimate, how it was reached and the limit.
    pub fn check(&self, dimension: usize, max_bytes: usize) -> ApiResult<()> {
        let bytes = self.bytes(dimension);
        if bytes <= max_bytes as u64 {
            return Ok(());
        }
        let parts = if self.parts > 1 {
            format!(" over {} requests of the batch", self.parts)
        } else {
            String::new()
        };
        Err(ApiError::bad_request(format!(
            "this request could return {bytes} bytes ({} results{parts}, {} of them with \
             {dimension}-d vectors at 4 bytes a component, {} with payloads), more than \
             max_result_bytes = {max_bytes}; lower `limit`, leave out `with_vector` or split the request",
            self.results, self.with_vector, self.with_payload
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_vector_batch_is_refused_with_its_figures() {
        let mut d = Demand::default();
        for _ in 0..100 {
            d.add(199, true, false);
        }
        assert_eq!(d.bytes(65_536), 19_900 * (64 + 65_536 * 4));
        let e = d.check(65_536, 64 << 20).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        let m = e.message();
        assert!(m.contains("19900 results over 100 requests"), "{m}");
        assert!(m.contains("max_result_bytes = 67108864"), "{m}");
        assert!(d.check(3, 64 << 20).is_ok());
    }

    #[test]
    fn vectors_read_are_counted_at_their_size() {
        let mut d = Demand::default();
        d.add(2, true, false);
        let sparse = quiver_core::SparseVector::new(vec![1, 2, 3], vec![1.0; 3]).unwrap();
        let out = VectorOutput::Named(quiver_core::NamedVectors::from([
            ("a".to_owned(), Vector::Dense(vec![0.0; 5])),
            ("s".to_owned(), Vector::Sparse(sparse)),
        ]));
        assert_eq!(vector_bytes(&out), 5 * 4 + 3 * 8);
        assert!(d.check_read(44, 2 * 64 + 44).is_ok());
        let e = d.check_read(44, 2 * 64 + 43).unwrap_err();
        let m = e.message();
        assert!(m.contains("172 bytes (44 of them vectors"), "{m}");
    }

    #[test]
    fn payloads_and_overhead_count_without_vectors() {
        let mut d = Demand::default();
        d.add(10, false, true);
        assert_eq!(d.bytes(1 << 16), 10 * (64 + 256));
        d.add(usize::MAX, true, true);
        assert_eq!(d.bytes(1 << 16), u64::MAX);
    }
}
