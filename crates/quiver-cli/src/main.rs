//! The `quiver` command line.
#![forbid(unsafe_code)]

use clap::Parser;

/// Quiver: an embeddable vector database.
#[derive(Parser)]
#[command(name = "quiver", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
