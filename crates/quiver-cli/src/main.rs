//! The `quiver` command line.
#![forbid(unsafe_code)]

mod cmd;
mod npy;
mod vectors_file;

use clap::{Parser, Subcommand};

/// The server's many threads (HTTP workers, the write worker, rayon) each
/// get a glibc malloc arena that keeps what it freed, so a long-running
/// `quiver serve` under a mixed load grew its heap for tens of minutes
/// with no more live data (docs/soak.md); jemalloc hands freed pages back
/// to the kernel on a timer instead.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Quiver: an embeddable vector database.
///
/// Every command works on a database directory (default ./quiver-data).
/// Only one process can have a database open: stop `quiver serve` before
/// running `import`, `search`, `compact` or `check` on the same directory.
#[derive(Parser)]
#[command(name = "quiver", version, propagate_version = true)]
#[command(after_long_help = "Examples:
  quiver demo                                  load a sample and search it
  quiver serve --data ./quiver-data            Qdrant-compatible HTTP API on 127.0.0.1:6333
  quiver import docs vectors.fvecs --create --distance Cosine
  quiver search docs --vector '[0.1, 0.2, 0.3]' -k 5
  quiver info
  quiver check")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the database over HTTP with Qdrant-compatible routes.
    Serve(cmd::serve::Args),
    /// Load vectors (fvecs, npy or JSON lines) into a collection.
    Import(cmd::import::Args),
    /// Find the nearest points to a vector.
    Search(cmd::search::Args),
    /// Show collections, counts, memory and disk use.
    Info(cmd::info::Args),
    /// Reclaim disk space left by deletes and updates.
    Compact(cmd::compact::Args),
    /// Verify the database: checksums, and that indexes agree with storage.
    Check(cmd::check::Args),
    /// Load a bundled sample of sentence embeddings and search it.
    Demo(cmd::demo::Args),
    /// Build an HNSW index from a dataset and measure recall, QPS and latency.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk, a closed
        // pipe) is dropped: reporting that failure on stderr would panic the
        // thread that logged, turning the request it served into a 500.
        .log_internal_errors(false)
        .init();
    match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Search(args) => cmd::search::run(args),
        Command::Info(args) => cmd::info::run(args),
        Command::Compact(args) => cmd::compact::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(args) => cmd::bench::run(&args),
    }
}
