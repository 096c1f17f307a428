//! The `quiver` command line.
#![forbid(unsafe_code)]

mod cmd;
mod dataset;

use clap::{Parser, Subcommand};

/// Quiver: an embeddable vector database.
#[derive(Parser)]
#[command(name = "quiver", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an HNSW index from a dataset and measure recall, QPS and latency.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => cmd::bench::run(&args)?,
    }
    Ok(())
}
