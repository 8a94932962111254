//! The `restore-doctor` command-line tool: parse the arguments, run, exit with the code.

use clap::Parser;
use restore_doctor::cli::{run, Cli};

fn main() {
    std::process::exit(run(Cli::parse()));
}
