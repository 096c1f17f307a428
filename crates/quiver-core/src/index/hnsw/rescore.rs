//! Search of a graph over int8 codes, rescored: the beam search runs on
//! code distances, then the best `oversampling * k` candidates (at least
//! `k`) get their exact distance from float32 vectors the caller keeps (a
//! collection's mapped `vectors.dat`, a benchmark's array), and the best
//! `k` of those are returned. The parameters are Qdrant's
//! `QuantizationSearchParams`.

use super::graph::Graph;
use super::space::CodeSpace;
use super::{Hnsw, SearchStats};
use crate::index::Neighbor;

/// Float32 vectors by id, preprocessed for the index's metric: where a
/// search over codes reads the vectors it rescores with.
pub trait VectorSource: Sync {
    /// The vector of `id`, or `None` when the source has none (the point
    /// is then left out of rescored results).
    fn vector(&self, id: u32) -> Option<&[f32]>;
}

/// Vectors in one row-major array, id `i` in row `i`.
#[derive(Clone, Copy, Debug)]
pub struct RowVectors<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> RowVectors<'a> {
    /// Rows of `dim` floats in `data` (a partial last row is not a row; a
    /// zero `dim` has no rows).
    pub fn new(data: &'a [f32], dim: usize) -> Self {
        RowVectors { data, dim }
    }
}

impl VectorSource for RowVectors<'_> {
    #[inline]
    fn vector(&self, id: u32) -> Option<&[f32]> {
        if self.dim == 0 {
            return None;
        }
        let start = (id as usize).checked_mul(self.dim)?;
        self.data.get(start..start.checked_add(self.dim)?)
    }
}

/// Which distances a bulk build over codes links with
/// ([`Hnsw::build_quantized`]).
#[derive(Clone, Copy)]
pub enum Linking<'a> {
    /// Code distances only: the float32 vectors are read once, to encode.
    Codes,
    /// Exact distances between the float32 vectors of a source (the
    /// build's own vectors, preprocessed): the links are those a float32
    /// build would choose, at a float32 build's cost, and the graph keeps
    /// only the codes. Points inserted later link with codes.
    Exact(&'a dyn VectorSource),
}

impl std::fmt::Debug for Linking<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Linking::Codes => "Codes",
            Linking::Exact(_) => "Exact",
        })
    }
}

/// How a search uses the codes of a quantized graph (Qdrant's
/// `quantization` search parameters). A float32 graph ignores them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantizationSearch {
    /// Traverse with exact distances from the [`VectorSource`] instead of
    /// the codes (slow: one source read per distance; for checking).
    pub ignore: bool,
    /// Rescore the best candidates with the source's float32 vectors.
    /// Without it results carry code distances.
    pub rescore: bool,
    /// Candidates rescored per result: the best `ceil(oversampling * k)`
    /// by code distance (the beam is widened to hold them). Values below 1
    /// and NaN count as 1.
    pub oversampling: f64,
}

impl Default for QuantizationSearch {
    /// Codes with rescoring, no oversampling (Qdrant's defaults).
    fn default() -> Self {
        QuantizationSearch {
            ignore: false,
            rescore: true,
            oversampling: 1.0,
        }
    }
}

impl QuantizationSearch {
    /// How many candidates a search for `k` results rescores: `k` without
    /// rescoring, else `ceil(oversampling * k)`, at least `k` (saturating
    /// at `usize::MAX`).
    pub fn candidates(&self, k: usize) -> usize {
        if !self.rescore || self.oversampling.is_nan() || self.oversampling <= 1.0 {
            return k;
        }
        // `as` saturates on overflow and infinity.
        ((self.oversampling * k as f64).ceil() as usize).max(k)
    }
}

impl Hnsw {
    /// The `k` nearest live points to `query` (preprocessed), best first,
    /// as [`Hnsw::search`] finds them, with `params` deciding how a graph
    /// over codes gets there: by default the beam search (width
    /// `max(ef, candidates)`) runs on code distances and the best
    /// [`candidates`](QuantizationSearch::candidates) are rescored with
    /// exact distances to `source`'s vectors, so returned distances are
    /// exact. Candidates `source` has no vector for (or one of another
    /// dimension) are dropped. A float32 graph ignores `params` and
    /// `source`.
    pub fn search_quantized(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        params: QuantizationSearch,
        source: &dyn VectorSource,
        allow: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> (Vec<Neighbor>, SearchStats) {
        let g = self.graph.read();
        let graph: &Graph = &g;
        if query.len() != self.dim || k == 0 {
            return (Vec::new(), SearchStats::default());
        }
        let kernel = self.metric.kernel();
        let dim = self.dim;
        let exact = |n: u32| {
            source
                .vector(n)
                .filter(|v| v.len() == dim)
                .map_or(f32::INFINITY, |v| kernel.eval(query, v))
        };
        let Some(q) = graph.quantizer else {
            return graph.knn(&|n| kernel.eval(query, graph.vector(n)), k, ef, allow);
        };
        if params.ignore {
            let (mut out, stats) = graph.knn(&exact, k, ef, allow);
            out.retain(|n| n.distance.is_finite());
            return (out, stats);
        }
        let want = params.candidates(k);
        let space = CodeSpace::new(self.metric, &q);
        let mut codes = Vec::with_capacity(q.code_len());
        let terms = q.fold(q.encode(query, &mut codes));
        let (mut out, mut stats) = graph.knn(
            &|n| space.query_distance(graph, &codes, terms, n),
            want,
            ef.max(want),
            allow,
        );
        if params.rescore {
            for n in &mut out {
                n.distance = exact(n.id);
            }
            stats.distances += out.len() as u64;
            out.retain(|n| n.distance.is_finite());
            out.sort_unstable_by(Neighbor::cmp_rank);
        }
        out.truncate(k);
        (out, stats)
    }
}
