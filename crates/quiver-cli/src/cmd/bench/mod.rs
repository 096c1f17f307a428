//! `quiver bench`: measure recall@k, single-thread queries/s and latency per
//! `ef` on a dataset with ground truth, like the peer harness
//! (`shared/bench/peers.py`) does for other engines.
//!
//! - `index.rs`: the bare HNSW index (build or load, optional tombstones,
//!   batch QPS for the peers report);
//! - `collection.rs`: end to end through a database on disk (`--collection`);
//! - `dataset.rs`: base, queries and ground truth read through the one
//!   vector-file reader, and their consistency checks;
//! - `measure.rs`: timed passes and what the host reports (CPU time, RSS);
//! - `stats.rs`: percentiles, median, recall;
//! - `report.rs`: the table on stdout and the JSON files.

mod collection;
mod dataset;
mod index;
mod measure;
mod report;
mod stats;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use quiver_core::Metric;

/// Metric names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetricArg {
    /// Cosine similarity (vectors are normalised).
    Cosine,
    /// Euclidean distance.
    L2,
    /// Inner product.
    Dot,
}

impl MetricArg {
    /// The engine's metric.
    pub fn metric(self) -> Metric {
        match self {
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::L2 => Metric::Euclid,
            MetricArg::Dot => Metric::Dot,
        }
    }
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            MetricArg::Cosine => "cosine",
            MetricArg::L2 => "l2",
            MetricArg::Dot => "dot",
        }
    }
}

/// What the index nodes hold (`--quantization`). Only `none` and `int8`
/// are implemented; the other names of the issue are accepted by the parser
/// so that they fail with a message saying so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QuantizationArg {
    /// Float32 vectors in the graph.
    None,
    /// Int8 scalar codes in the graph, candidates rescored with the
    /// float32 vectors.
    Int8,
    /// One bit per component (not implemented yet).
    Binary,
    /// Product quantization (not implemented yet).
    Pq,
    /// RaBitQ (not implemented yet).
    Rabitq,
}

impl QuantizationArg {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            QuantizationArg::None => "none",
            QuantizationArg::Int8 => "int8",
            QuantizationArg::Binary => "binary",
            QuantizationArg::Pq => "pq",
            QuantizationArg::Rabitq => "rabitq",
        }
    }
}

/// Which distances an int8 build links with (`--linking`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LinkingArg {
    /// Code distances: the float32 base is read once, to encode it.
    Codes,
    /// Exact distances between the float32 base vectors: the links a
    /// float32 build chooses, at its cost; the graph keeps only codes.
    Exact,
}

impl LinkingArg {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            LinkingArg::Codes => "codes",
            LinkingArg::Exact => "exact",
        }
    }
}

/// Default `--linking` of an int8 build.
const DEFAULT_LINKING: LinkingArg = LinkingArg::Codes;

/// Default `--oversampling` of a quantized index.
pub const DEFAULT_OVERSAMPLING: f64 = 2.0;
/// Largest `--oversampling` accepted: beyond it rescoring costs more than a
/// float32 search would.
pub const MAX_OVERSAMPLING: f64 = 100.0;

/// Arguments of `quiver bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Base vectors (.fvecs or .npy float32).
    #[arg(long)]
    pub base: PathBuf,
    /// Query vectors (.fvecs or .npy float32).
    #[arg(long)]
    pub query: PathBuf,
    /// Ground-truth neighbour ids per query, best first (.ivecs or .npy int32/int64).
    #[arg(long)]
    pub groundtruth: PathBuf,
    /// Distance metric.
    #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
    pub metric: MetricArg,
    /// HNSW links per node (level 0 keeps 2*m).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// HNSW build beam width.
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// Search beam widths to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256,512")]
    pub ef: Vec<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the HNSW level draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Build threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Measure every ef this many times (outer loop), report the median.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Repeat the single-query pass until this many seconds have passed...
    #[arg(long, default_value_t = 1.0)]
    pub min_time: f64,
    /// ...or this many passes were made.
    #[arg(long, default_value_t = 5)]
    pub max_passes: usize,
    /// Use only the first N queries (0 = all).
    #[arg(long, default_value_t = 0)]
    pub max_queries: usize,
    /// Dataset name in the reports (default: the base file's directory name).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Keep the built index in this file: load it from there when it holds
    /// an index of this dimension and metric (the build is skipped and
    /// reported as such), otherwise build and save it. Lets several search
    /// experiments share one slow build.
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// After the build, delete every N-th point (ids 0, N, 2N, ...) to
    /// measure search with tombstones in the graph; the ground truth then
    /// skips the deleted ids. Keep N above 4 or the graph is rebuilt
    /// without them (0: delete nothing).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub delete_every: usize,
    /// What the graph nodes hold: `none` (float32 vectors) or `int8`
    /// (scalar codes, built and searched with code distances, the best
    /// `oversampling * k` candidates rescored with the float32 vectors the
    /// bench keeps in RAM). `binary`, `pq` and `rabitq` are not
    /// implemented yet. Index mode only.
    #[arg(long, value_enum, default_value_t = QuantizationArg::None)]
    pub quantization: QuantizationArg,
    /// With `--quantization int8`: candidates rescored per result, in
    /// multiples of `k` (finite, 1 to 100; default 2).
    #[arg(long, value_name = "F")]
    pub oversampling: Option<f64>,
    /// With `--quantization int8`: the codes span the central Q of the
    /// base's values (Qdrant's `quantile`, in (0, 1]). Default: the range
    /// `ScalarQuantizer::fit` picks (the least error on the base, each
    /// value's squared error weighted by its square).
    #[arg(long, value_name = "Q")]
    pub quantile: Option<f32>,
    /// With `--quantization int8`: the distances the build links with,
    /// `codes` (default) or `exact` (float32: the links a float32 build
    /// chooses, at its cost).
    #[arg(long, value_enum)]
    pub linking: Option<LinkingArg>,
    /// Write the summary as one JSON object here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write per-ef records in the schema `peers.py table` merges (also
    /// measures 1- and 2-thread batch QPS).
    #[arg(long)]
    pub peers_json: Option<PathBuf>,
    /// `--collection` and its options.
    #[command(flatten)]
    pub collection: collection::CollectionArgs,
}

/// Runs `quiver bench`.
///
/// # Errors
///
/// Unreadable or malformed input files, inconsistent dimensions, a
/// database directory already in use, engine errors, or a failure to write
/// the JSON reports.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let oversampling = args.checked_oversampling()?;
    if args.collection.collection && oversampling.is_some() {
        anyhow::bail!(
            "--quantization {} is not supported with --collection yet (index mode only)",
            args.quantization.name()
        );
    }
    if args.collection.collection {
        collection::run(args)
    } else {
        index::run(args)
    }
}

impl BenchArgs {
    /// `--linking`, or its default.
    pub fn linking_or_default(&self) -> LinkingArg {
        self.linking.unwrap_or(DEFAULT_LINKING)
    }

    /// The oversampling of a quantized run (`None` for float32), after
    /// checking `--quantization` and `--oversampling` go together.
    ///
    /// # Errors
    ///
    /// A quantization that is not implemented, `--oversampling` or
    /// `--quantile` without quantization, an oversampling that is not
    /// finite or outside 1..=100, or a quantile outside (0, 1].
    pub fn checked_oversampling(&self) -> anyhow::Result<Option<f64>> {
        match self.quantization {
            QuantizationArg::None => {
                if let Some(q) = self.quantile {
                    anyhow::bail!(
                        "--quantile {q} needs --quantization int8 (a float32 index has no codes)"
                    );
                }
                if let Some(l) = self.linking {
                    anyhow::bail!(
                        "--linking {} needs --quantization int8 (a float32 index links with floats)",
                        l.name()
                    );
                }
                if let Some(f) = self.oversampling {
                    anyhow::bail!(
                        "--oversampling {f} needs --quantization int8 (a float32 index rescores nothing)"
                    );
                }
                Ok(None)
            }
            QuantizationArg::Int8 => {
                if let Some(q) = self.quantile
                    && !(q > 0.0 && q <= 1.0)
                {
                    anyhow::bail!("--quantile must be in (0, 1], not {q}");
                }
                let f = self.oversampling.unwrap_or(DEFAULT_OVERSAMPLING);
                if !f.is_finite() || !(1.0..=MAX_OVERSAMPLING).contains(&f) {
                    anyhow::bail!(
                        "--oversampling must be a finite number from 1 to {MAX_OVERSAMPLING}, not {f}"
                    );
                }
                Ok(Some(f))
            }
            other => anyhow::bail!(
                "--quantization {} is not implemented yet (implemented: none, int8)",
                other.name()
            ),
        }
    }
}
