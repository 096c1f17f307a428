//! One file per subcommand.

pub mod bench;
