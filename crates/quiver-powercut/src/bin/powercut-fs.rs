//! `powercut-fs <mountpoint>`: serve a power-cut disk at `mountpoint`,
//! obeying `cut`, `remount`, `stats` and `quit` on stdin (see
//! `quiver_powercut::serve`). Unmounts and exits when stdin closes.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(mountpoint), None) = (args.next(), args.next()) else {
        eprintln!("usage: powercut-fs <mountpoint>");
        return ExitCode::from(2);
    };
    match quiver_powercut::serve(&PathBuf::from(mountpoint)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("powercut-fs: {err}");
            ExitCode::FAILURE
        }
    }
}
