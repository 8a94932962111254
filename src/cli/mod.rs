//! The `restore-doctor` command line: clap options turned into plain settings, and the
//! subcommands that run the pure core on files.

pub mod diagnose;
pub mod input;
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
    /// Diagnose a failed restore from an evidence file (or a raw EventBridge event,
    /// `aws backup describe-restore-job` output, or `--message`): every missing permission
    /// and blocker, and a verified least-privilege patch. Exit 0: nothing missing;
    /// 2: missing permissions or blockers found; 1: unreadable input or another error;
    /// 64: usage error.
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
    /// The evidence JSON (as the Lambda logs it; `schema/evidence.schema.json`), a raw
    /// EventBridge event, or `aws backup describe-restore-job` output; `-` for stdin.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "message",
        conflicts_with = "message"
    )]
    pub evidence: Option<String>,
    /// Only the failure's status message (e.g. "Insufficient privileges to perform this action").
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// `text` for people (the cause in one line, then the fix) or `json` (the report schema).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write each fix document as a JSON file in DIR, and `fix-commands.sh` with the
    /// commands reading them (`--policy-document file://...`): for shells that mangle quotes.
    #[arg(long, value_name = "DIR")]
    pub write_fix: Option<std::path::PathBuf>,
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
/// Exit code: unreadable or invalid input, or another error (printed on standard error).
pub const EXIT_ERROR: i32 = 1;
/// Exit code of `diagnose`: missing permissions or blockers were found.
pub const EXIT_FINDINGS: i32 = 2;
/// Exit code: the command line itself is wrong (sysexits' EX_USAGE), distinct from
/// "findings" so that scripts never read a typo as a diagnosis.
pub const EXIT_USAGE: i32 = 64;

/// Parses the command line: `Ok` to run, `Err(code)` once help, the version or a usage
/// error has been printed.
pub fn parse<I, T>(args: I) -> Result<Cli, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::error::ErrorKind;
    Cli::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => EXIT_OK,
            _ => EXIT_USAGE,
        }
    })
}

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
            &match (&args.message, &args.evidence) {
                (Some(m), _) => diagnose::Source::Message(m.clone()),
                (None, e) => diagnose::Source::File(e.clone().unwrap_or_else(|| "-".into())),
            },
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
        .map_err(anyhow::Error::from)
        .and_then(|(out, code, report)| {
            if let Some(dir) = &args.write_fix {
                let written = diagnose::write_fix(&report, dir).map_err(|e| {
                    anyhow::anyhow!(e)
                        .context(format!("cannot write the fix files in `{}`", dir.display()))
                })?;
                for path in written {
                    eprintln!("restore-doctor: wrote {}", path.display());
                }
            }
            print!("{out}");
            Ok(code)
        }),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("restore-doctor: error: {err:#}");
            EXIT_ERROR
        }
    }
}
