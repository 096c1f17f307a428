//! The distance between two nodes of the graph, for building it: exact on
//! float32 vectors in the graph ([`FloatSpace`]) or outside it
//! ([`SourceSpace`]), or on int8 codes ([`CodeSpace`]).
//!
//! Build and search code is generic over these (and search over a closure
//! from node to distance to the query), so each payload gets its own
//! monomorphised hot loop and the float32 path pays nothing for codes.

use super::graph::Graph;
use super::rescore::VectorSource;
use crate::distance::{ByteDot, DistanceFn, Metric, byte_kernel};
use crate::quantization::{FoldedTerms, ScalarQuantizer};

/// How far apart two nodes of a graph are (smaller is closer).
pub(super) trait Space: Sync {
    /// The internal distance between nodes `a` and `b` of `g`.
    fn between(&self, g: &Graph, a: u32, b: u32) -> f32;
}

/// Float32 vectors compared with a metric's kernel.
#[derive(Clone, Copy)]
pub(super) struct FloatSpace(pub(super) DistanceFn);

impl Space for FloatSpace {
    #[inline(always)]
    fn between(&self, g: &Graph, a: u32, b: u32) -> f32 {
        self.0.eval(g.vector(a), g.vector(b))
    }
}

/// Float32 vectors read from a [`VectorSource`] outside the graph: how a
/// graph over codes is linked with exact distances. A node the source
/// has no vector for (or one of another length) is infinitely far.
#[derive(Clone, Copy)]
pub(super) struct SourceSpace<'a> {
    pub(super) kernel: DistanceFn,
    pub(super) source: &'a dyn VectorSource,
    pub(super) dim: usize,
}

impl Space for SourceSpace<'_> {
    #[inline(always)]
    fn between(&self, _g: &Graph, a: u32, b: u32) -> f32 {
        match (self.source.vector(a), self.source.vector(b)) {
            (Some(x), Some(y)) if x.len() == self.dim && y.len() == self.dim => {
                self.kernel.eval(x, y)
            }
            _ => f32::INFINITY,
        }
    }
}

/// Int8 codes compared through the byte dot product kernel: the distance
/// of the codes' read-back vectors (see `quantization::scalar`).
#[derive(Clone, Copy)]
pub(super) struct CodeSpace {
    metric: Metric,
    step2: f32,
    dot: ByteDot,
}

impl CodeSpace {
    pub(super) fn new(metric: Metric, quantizer: &ScalarQuantizer) -> Self {
        CodeSpace {
            metric,
            step2: quantizer.step2(),
            dot: byte_kernel(),
        }
    }

    /// The distance from an encoded query to node `n`.
    #[inline(always)]
    pub(super) fn query_distance(
        &self,
        g: &Graph,
        codes: &[u8],
        terms: FoldedTerms,
        n: u32,
    ) -> f32 {
        let (tn, cn) = g.code(n);
        ScalarQuantizer::folded_distance(
            self.metric,
            self.step2,
            terms,
            tn,
            self.dot.eval(codes, cn),
        )
    }
}

impl Space for CodeSpace {
    #[inline(always)]
    fn between(&self, g: &Graph, a: u32, b: u32) -> f32 {
        let (ta, ca) = g.code(a);
        self.query_distance(g, ca, ta, b)
    }
}
