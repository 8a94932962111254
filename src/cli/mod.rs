//! The `restore-doctor` command line: clap options turned into plain settings, and the
//! subcommands that run the pure core on files, or on evidence read live from AWS with
//! the user's own credentials ([`live`]).

pub mod diagnose;
pub mod gather;
pub mod input;
pub mod live;
pub mod readiness;
pub mod schema;
pub mod simulate;

use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Finds every permission a failed AWS Backup restore lacks, from an evidence file or
/// live from AWS.
#[derive(Debug, Parser)]
#[command(name = "restore-doctor", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate IAM requests against policies, as AWS would decide them.
    Simulate(SimulateArgs),
    /// Diagnose a failed restore from an evidence file (or a raw EventBridge event,
    /// `aws backup describe-restore-job` output, or `--message`), or live from AWS
    /// (`--restore-job-id`, `--cloudtrail-event`): every missing permission and blocker,
    /// and a verified least-privilege patch. Exit 0: nothing missing; 2: missing
    /// permissions or blockers found; 1: unreadable input or another error; 64: usage error.
    Diagnose(DiagnoseArgs),
    /// Read the evidence of a failure live from AWS, as the Lambda function does, and
    /// save it in the format `diagnose --evidence` reads: for later, for someone without
    /// access to the account, or (with `--redact`) for a bug report.
    Gather(GatherArgs),
    /// Would every protected resource of the account and Region restore now, with the
    /// role that would be used? Live, with your own credentials: a table of ready / not
    /// ready (findings, verified patch) / not verifiable (gaps). Exit 0: all ready (or
    /// not verifiable); 2: a resource is not ready; 1: an error; 64: usage error.
    Readiness(ReadinessArgs),
    /// Print the JSON Schema of the evidence or the report format.
    Schema {
        /// `evidence`, `report` or `readiness`.
        #[arg(value_enum)]
        kind: schema::SchemaKind,
    },
    /// Print the shell completion script for SHELL (e.g. `restore-doctor completions
    /// bash > /etc/bash_completion.d/restore-doctor`).
    Completions {
        /// `bash`, `elvish`, `fish`, `powershell` or `zsh`.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `restore-doctor diagnose`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .args(["evidence", "message", "restore_job_id", "cloudtrail_event"])
))]
#[command(group(ArgGroup::new("live").args(["restore_job_id", "cloudtrail_event"])))]
pub struct DiagnoseArgs {
    /// The evidence JSON (as the Lambda logs it; `schema/evidence.schema.json`), a raw
    /// EventBridge event, or `aws backup describe-restore-job` output; `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<String>,
    /// Only the failure's status message (e.g. "Insufficient privileges to perform this action").
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Live: read the evidence of this FAILED restore job from AWS, with your own
    /// credentials, as the Lambda function would for its failure event.
    #[arg(long, value_name = "ID")]
    pub restore_job_id: Option<String>,
    /// Live: the refused StartRestoreJob call in FILE (a CloudTrail record, `aws
    /// cloudtrail lookup-events` output, or the EventBridge event), evidence read from AWS.
    #[arg(long, value_name = "FILE")]
    pub cloudtrail_event: Option<String>,
    /// Live: the named profile of your AWS config and credentials files (SSO profiles too).
    #[arg(long, value_name = "NAME", requires = "live")]
    pub profile: Option<String>,
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
    /// Live: the Region to read from (default: the profile's, or AWS_REGION; for
    /// `--cloudtrail-event`, the call's). Also the Region the fixer runs in for
    /// `--auto-attach` (Lambda: its own Region); defaults to the evidence's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

impl DiagnoseArgs {
    /// The live target, when one was given.
    fn live_target(&self) -> Option<live::Target> {
        live_target(&self.restore_job_id, &self.cloudtrail_event)
    }
}

/// Options of `restore-doctor gather`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("live")
        .required(true)
        .args(["restore_job_id", "cloudtrail_event"])
))]
pub struct GatherArgs {
    /// Read the evidence of this FAILED restore job.
    #[arg(long, value_name = "ID")]
    pub restore_job_id: Option<String>,
    /// Read the evidence of the refused StartRestoreJob call in FILE (a CloudTrail
    /// record, `aws cloudtrail lookup-events` output, or the EventBridge event; `-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub cloudtrail_event: Option<String>,
    /// The named profile of your AWS config and credentials files (SSO profiles too).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The Region to read from (default: the profile's, or AWS_REGION; for
    /// `--cloudtrail-event`, the call's).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Where to write the evidence JSON (`-`: standard output).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: String,
    /// Replace account ids, IAM, vault, KMS alias and bucket names with pseudonyms (the
    /// same value, the same pseudonym throughout the file), for sharing the file.
    #[arg(long)]
    pub redact: bool,
}

/// Options of `restore-doctor readiness`.
#[derive(Debug, Args)]
pub struct ReadinessArgs {
    /// The named profile of your AWS config and credentials files (SSO profiles too).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The Region to check (default: the profile's, or AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The role a restore would run as when no restore testing selection names one for
    /// the resource type: `ARN` for every type, or `TYPE=ARN` (e.g. `EFS=arn:aws:iam::…`)
    /// for one; repeatable. Without it: AWS Backup's default service role, if present.
    #[arg(long, value_name = "[TYPE=]ARN")]
    pub restore_role: Vec<String>,
    /// `text` (a table), `json` (the readiness document) or `markdown` (for a ticket).
    #[arg(long, value_enum, default_value_t = readiness::ReadinessFormat::Text)]
    pub format: readiness::ReadinessFormat,
    /// Check this account (12 digits) instead of your own, through its reader role
    /// (deployed by member.yaml); repeatable, one table per account. Your credentials
    /// must be allowed `sts:AssumeRole` on the role and trusted by it.
    #[arg(long, value_name = "ID", conflicts_with = "organization")]
    pub account: Vec<String>,
    /// Check every active account of your organization (organizations:ListAccounts, from
    /// the management account or a delegated administrator), each through its reader
    /// role, yours with your own credentials.
    #[arg(long)]
    pub organization: bool,
    /// The name of the role assumed in each `--account`.
    #[arg(long, value_name = "NAME", default_value = readiness::DEFAULT_READER_ROLE)]
    pub reader_role: String,
}

fn live_target(job: &Option<String>, event: &Option<String>) -> Option<live::Target> {
    match (job, event) {
        (Some(id), _) => Some(live::Target::RestoreJob(id.clone())),
        (None, Some(path)) => Some(live::Target::CloudTrail(path.clone())),
        (None, None) => None,
    }
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
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "restore-doctor",
                &mut std::io::stdout().lock(),
            );
            Ok(EXIT_OK)
        }
        Command::Gather(args) => match live_target(&args.restore_job_id, &args.cloudtrail_event) {
            Some(target) => gather::run(&gather::Settings {
                target,
                connection: live::Connection {
                    profile: args.profile.clone(),
                    region: args.region.clone(),
                },
                output: args.output.clone(),
                redact: args.redact,
            })
            .map(|()| EXIT_OK)
            .map_err(anyhow::Error::from),
            None => Err(anyhow::anyhow!(
                "give `--restore-job-id` or `--cloudtrail-event`"
            )),
        },
        Command::Readiness(args) => readiness::parse_roles(&args.restore_role)
            .and_then(|roles| {
                readiness::run(&readiness::Settings {
                    connection: live::Connection {
                        profile: args.profile.clone(),
                        region: args.region.clone(),
                    },
                    roles,
                    format: args.format,
                    accounts: if args.organization {
                        readiness::Accounts::Organization
                    } else {
                        readiness::Accounts::Listed(readiness::parse_accounts(&args.account)?)
                    },
                    reader_role: readiness::parse_reader_role(&args.reader_role)?,
                })
            })
            .map(|(out, code)| {
                print!("{out}");
                code
            })
            .map_err(anyhow::Error::from),
        Command::Diagnose(args) => diagnose::run(
            &match (&args.message, args.live_target(), &args.evidence) {
                (Some(m), _, _) => diagnose::Source::Message(m.clone()),
                (None, Some(target), _) => diagnose::Source::Live(
                    target,
                    live::Connection {
                        profile: args.profile.clone(),
                        region: args.region.clone(),
                    },
                ),
                (None, None, e) => diagnose::Source::File(e.clone().unwrap_or_else(|| "-".into())),
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
