//! The `restore-doctor` command line: clap options turned into plain settings, and the
//! subcommands that run the pure core on files.

use clap::{Parser, Subcommand};

/// Finds every permission a failed AWS Backup restore lacks, offline.
#[derive(Debug, Parser)]
#[command(name = "restore-doctor", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate IAM requests against policies, as AWS would decide them.
    Simulate {
        /// A JSON file with one simulation object or an array of them (`-` for stdin).
        #[arg(long)]
        input: String,
    },
}
