//! The `restore-doctor` command line: clap options turned into plain settings, and the
//! subcommands that run the pure core on files.

pub mod diagnose;
pub mod schema;
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
    /// Diagnose a failed restore from an evidence file: every missing permission and
    /// blocker, and a verified least-privilege patch. Exit 0: nothing missing; 2: missing
    /// permissions or blockers found; 1: error.
    Diagnose(DiagnoseArgs),
    /// Print the JSON Schema of the evidence or the report format.
    Schema {
        /// `evidence` or `report`.
        #[arg(value_enum)]
        kind: schema::SchemaKind,
    },
}

/// Options of `restore-doctor diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The evidence JSON (as the Lambda logs it; `schema/evidence.schema.json`), `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub evidence: String,
    /// `text` for people (the cause in one line, then the fix) or `json` (the report schema).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Decide, as the Lambda would with AUTO_ATTACH=true, whether the fix may be attached
    /// automatically (nothing is attached offline): adds `autoAttach` to the report.
    #[arg(long)]
    pub auto_attach: bool,
    /// The role tag that opts a role in with value `true` (Lambda: AUTO_ATTACH_TAG).
    #[arg(long, value_name = "KEY", default_value = crate::remedy::guard::DEFAULT_OPT_IN_TAG)]
    pub auto_attach_tag: String,
    /// Comma-separated role ARN patterns opted in without a tag (Lambda: AUTO_ATTACH_ROLE_PATTERNS).
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
    pub auto_attach_role_patterns: Vec<String>,
    /// The account the fixer runs in (Lambda: its own account); defaults to the evidence's.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: Option<String>,
    /// The Region the fixer runs in (Lambda: its own Region); defaults to the evidence's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
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
        Command::Schema { kind } => {
            print!("{}", schema::schema_json(kind));
            Ok(EXIT_OK)
        }
        Command::Diagnose(args) => diagnose::run(
            &args.evidence,
            args.format,
            args.auto_attach
                .then(|| crate::remedy::guard::GuardSettings {
                    enabled: true,
                    opt_in_tag: args.auto_attach_tag.clone(),
                    role_patterns: args.auto_attach_role_patterns.clone(),
                    account: args.account.clone(),
                    region: args.region.clone(),
                }),
        )
        .map(|(out, code)| {
            print!("{out}");
            code
        })
        .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("restore-doctor: error: {err:#}");
            EXIT_ERROR
        }
    }
}
