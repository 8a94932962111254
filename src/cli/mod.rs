//! The `restore-doctor` command line: clap options turned into plain settings, and the
//! subcommands that run the pure core on files.

pub mod simulate;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Simulate(SimulateArgs),
}

/// Options of `restore-doctor simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A JSON file with one simulation object or an array of them (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// How to print the results: `json` (one result or an array, in input order) or `text`.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// Output format shared by the subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Machine-readable JSON.
    #[default]
    Json,
    /// Plain text for people.
    Text,
}

/// Exit code: the command did what was asked.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad input or another error (printed on standard error).
pub const EXIT_ERROR: i32 = 1;

/// Runs the parsed command line and returns the process exit code. Errors are printed
/// once, here, with their chain of causes.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Simulate(args) => {
            let settings = simulate::Settings {
                input: simulate::Input::from_arg(&args.input),
                format: args.format,
            };
            simulate::run(&settings, &mut std::io::stdout().lock()).map(|()| EXIT_OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("restore-doctor: error: {err:#}");
            EXIT_ERROR
        }
    }
}
