//! The live command line (issue #13, "Live CLI"): the real `restore-doctor` binary,
//! with credentials, Region and endpoints from the standard AWS variables and files
//! (`AWS_ENDPOINT_URL*` point it at moto and at the fake in `tests/fakes/aws_fake.py`,
//! which serves the Backup restore-job reads and the STS calls moto lacks:
//! DescribeRestoreJob, GetRestoreJobMetadata, DescribeRecoveryPoint,
//! GetBackupVaultAccessPolicy, DecodeAuthorizationMessage, GetCallerIdentity).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_is_printed_by_the_tool_and_every_subcommand() {
    let want = format!("restore-doctor {}", env!("CARGO_PKG_VERSION"));
    let top = binary().arg("--version").output().unwrap();
    assert_eq!(top.status.code(), Some(0));
    assert_eq!(text(&top.stdout).trim(), want);
    for sub in ["diagnose", "gather", "simulate", "schema", "completions"] {
        let out = binary().args([sub, "--version"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(env!("CARGO_PKG_VERSION")),
            "{sub}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell_and_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = binary().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for word in [
            "diagnose",
            "gather",
            "simulate",
            "--restore-job-id",
            "--redact",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let unknown = binary().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(64));
}

#[test]
fn a_live_source_is_one_of_the_four_and_gather_needs_one() {
    for args in [
        &["diagnose", "--restore-job-id", "J", "--evidence", "e.json"][..],
        &[
            "diagnose",
            "--restore-job-id",
            "J",
            "--cloudtrail-event",
            "e.json",
        ],
        &["diagnose", "--evidence", "e.json", "--profile", "p"],
        &["gather"],
        &[
            "gather",
            "--restore-job-id",
            "J",
            "--cloudtrail-event",
            "e.json",
        ],
    ] {
        let out = binary().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// Without the `aws` feature the live options exist (the help is the same) and say
/// what they need.
#[cfg(not(feature = "aws"))]
#[test]
fn without_the_aws_feature_live_commands_say_they_need_it() {
    for args in [
        &["diagnose", "--restore-job-id", "J"][..],
        &["gather", "--cloudtrail-event", "e.json"],
    ] {
        let out = binary().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("`aws` feature"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[cfg(feature = "aws")]
mod support;

#[cfg(feature = "aws")]
mod live {
    use super::support::{scenario, stack, unique, Stack, ACCOUNT, REGION};
    use super::*;
    use std::path::Path;
    use std::process::Output;

    use restore_doctor::aws::gather::gather;
    use restore_doctor::diagnose::Report;
    use restore_doctor::event::trigger;
    use serde_json::{json, Value};

    /// A profile in a config file of its own, with the test credentials.
    const PROFILE: &str = "restore-doctor-live";

    /// How to run the binary with nothing of the machine's AWS setup: endpoints at moto
    /// and the fake, and credentials and Region either from `--profile PROFILE` (files in
    /// `home`) or from the environment.
    struct Aws {
        env: Vec<(&'static str, std::ffi::OsString)>,
        profile: bool,
    }

    fn aws(stack: &Stack, home: &Path, profile: bool) -> Aws {
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        std::fs::write(
            home.join(".aws/config"),
            format!("[profile {PROFILE}]\nregion = {REGION}\n"),
        )
        .unwrap();
        std::fs::write(
            home.join(".aws/credentials"),
            format!("[{PROFILE}]\naws_access_key_id = testing\naws_secret_access_key = testing\n"),
        )
        .unwrap();
        let mut env: Vec<(&'static str, std::ffi::OsString)> = vec![
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("HOME", home.into()),
            ("AWS_CONFIG_FILE", home.join(".aws/config").into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join(".aws/credentials").into(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_MAX_ATTEMPTS", "1".into()),
            ("AWS_ENDPOINT_URL", stack.moto.url.clone().into()),
            ("AWS_ENDPOINT_URL_BACKUP", stack.fake.url.clone().into()),
            ("AWS_ENDPOINT_URL_STS", stack.fake.url.clone().into()),
        ];
        if !profile {
            env.push(("AWS_ACCESS_KEY_ID", "testing".into()));
            env.push(("AWS_SECRET_ACCESS_KEY", "testing".into()));
            env.push(("AWS_REGION", REGION.into()));
        }
        Aws { env, profile }
    }

    fn home(stack: &Stack) -> std::path::PathBuf {
        stack.dir.join(unique("home"))
    }

    fn run(aws: Aws, args: &[&str]) -> Output {
        let mut cmd = binary();
        cmd.env_clear().envs(aws.env).args(args);
        if aws.profile {
            cmd.args(["--profile", PROFILE]);
        }
        cmd.output().unwrap()
    }

    /// `gather --restore-job-id JOB [extra] -o FILE`, which must succeed quietly on
    /// standard output: the file and what was said on standard error.
    fn gather_job(
        stack: &Stack,
        dir: &Path,
        profile: bool,
        job: &str,
        extra: &[&str],
    ) -> (std::path::PathBuf, String) {
        let file = dir.join(unique("evidence"));
        let mut args = vec![
            "gather",
            "--restore-job-id",
            job,
            "-o",
            file.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = run(aws(stack, dir, profile), &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        (file, text(&out.stderr))
    }

    /// What the Lambda's pipeline makes of the same failure event: gather, examine.
    async fn lambda_report(stack: &Stack, event: &Value) -> Report {
        let parsed = trigger::parse(event).unwrap();
        let evidence = gather(&stack.clients().await, &parsed).await;
        restore_doctor::examine(&evidence)
    }

    fn report(out: &Output) -> Report {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn diagnose_a_restore_job_by_id_gives_the_lambdas_report() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let case = scenario::efs_case(stack, &sdk).await;
        let dir = home(stack);

        let out = run(
            aws(stack, &dir, true),
            &[
                "diagnose",
                "--restore-job-id",
                &case.job_id,
                "--format",
                "json",
            ],
        );
        let live = report(&out);
        assert!(
            text(&out.stderr).contains(&format!("account {ACCOUNT}, Region {REGION}")),
            "{}",
            text(&out.stderr)
        );
        // The findings AWS's reads support: the role lacks the EFS and KMS permissions.
        assert_eq!(
            live.restore.role_arn.as_deref(),
            Some(case.role_arn.as_str())
        );
        assert_eq!(
            live.restore.restore_job_id.as_deref(),
            Some(case.job_id.as_str())
        );
        assert!(live
            .missing
            .iter()
            .any(|f| f.action == "kms:Decrypt" && f.resource == case.target_key_arn));
        assert!(
            live.unverified.iter().all(|u| !u.why.contains("not read")),
            "{:#?}",
            live.unverified
        );
        // And it is the report the function's pipeline gives for the failure event.
        let lambda = lambda_report(stack, &case.event).await;
        assert_eq!(
            serde_json::to_value(&live).unwrap(),
            serde_json::to_value(&lambda).unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_job_that_did_not_fail_or_does_not_exist_is_an_error() {
        let stack = stack();
        let dir = home(stack);
        let missing = run(
            aws(stack, &dir, false),
            &["diagnose", "--restore-job-id", "NO-SUCH-JOB"],
        );
        assert_eq!(missing.status.code(), Some(1));
        assert!(
            text(&missing.stderr).contains("cannot read restore job `NO-SUCH-JOB`"),
            "{}",
            text(&missing.stderr)
        );
        let job = unique("COMPLETED").to_uppercase();
        stack.fake_scenario(&json!({"restoreJobs": {&job: {"describe": {
            "AccountId": ACCOUNT, "RestoreJobId": &job, "Status": "COMPLETED", "ResourceType": "EFS"
        }}}}));
        let done = run(
            aws(stack, &dir, false),
            &["gather", "--restore-job-id", &job],
        );
        assert_eq!(done.status.code(), Some(1));
        assert!(
            text(&done.stderr).contains("is COMPLETED, not FAILED"),
            "{}",
            text(&done.stderr)
        );
        assert!(done.stdout.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gathered_evidence_diagnosed_offline_gives_the_same_report() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let case = scenario::efs_case(stack, &sdk).await;
        let dir = home(stack);
        let (file, _) = gather_job(stack, &dir, false, &case.job_id, &[]);
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(saved["restoreRole"]["arn"], case.role_arn.as_str());
        assert_eq!(saved["restoreJob"]["restoreJobId"], case.job_id.as_str());

        let offline = binary()
            .args(["diagnose", "--evidence", file.to_str().unwrap()])
            .output()
            .unwrap();
        let live = run(
            aws(stack, &dir, false),
            &["diagnose", "--restore-job-id", &case.job_id],
        );
        assert_eq!(offline.status.code(), Some(2), "{}", text(&offline.stderr));
        assert_eq!(live.status.code(), Some(2), "{}", text(&live.stderr));
        assert_eq!(text(&offline.stdout), text(&live.stdout));
        assert!(text(&live.stdout).contains(&case.target_key_arn));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redacted_evidence_keeps_no_account_or_name_and_diagnoses_the_same() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let case = scenario::efs_case(stack, &sdk).await;
        let dir = home(stack);
        let (file, stderr) = gather_job(stack, &dir, true, &case.job_id, &["--redact"]);
        assert!(stderr.contains("redacted 1 account id"), "{stderr}");
        assert!(!stderr.contains("warning"), "{stderr}");
        let redacted = std::fs::read_to_string(&file).unwrap();
        let role_name = case.role_arn.rsplit('/').next().unwrap();
        // Resource ids (the job, the recovery point, the keys) are kept: they name nothing.
        for secret in [ACCOUNT, role_name, case.vault.as_str()] {
            assert!(!redacted.contains(secret), "`{secret}` left in {redacted}");
        }
        assert!(redacted.contains("redacted-role-1"));

        let offline = |path: &Path| {
            binary()
                .args([
                    "diagnose",
                    "--format",
                    "json",
                    "--evidence",
                    path.to_str().unwrap(),
                ])
                .output()
                .unwrap()
        };
        let after = report(&offline(&file));
        let before = lambda_report(stack, &case.event).await;
        assert_eq!(after.cause, before.cause);
        assert_eq!(after.verified, before.verified);
        let actions = |r: &Report| {
            let mut a: Vec<String> = r
                .missing
                .iter()
                .map(|f| format!("{} {:?}", f.action, f.blocked_by))
                .collect();
            a.sort();
            a
        };
        assert_eq!(actions(&after), actions(&before));
        assert!(after
            .missing
            .iter()
            .all(|f| f.principal.contains("redacted-role-1") && !f.principal.contains(ACCOUNT)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_start_restore_job_is_diagnosed_from_its_cloudtrail_record() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let case = scenario::user_case(&sdk).await;
        let dir = home(stack);
        std::fs::create_dir_all(&dir).unwrap();
        // The record alone, as the console's event history shows it.
        let record = dir.join("record.json");
        std::fs::write(&record, case.event["detail"].to_string()).unwrap();

        let out = run(
            aws(stack, &dir, false),
            &[
                "diagnose",
                "--format",
                "json",
                "--cloudtrail-event",
                record.to_str().unwrap(),
            ],
        );
        let live = report(&out);
        assert_eq!(live.restore.trigger, "startRestoreJobDenied");
        assert_eq!(
            live.restore.caller_arn.as_deref(),
            Some(case.user_arn.as_str())
        );
        assert!(live
            .missing
            .iter()
            .any(|f| f.action == "backup:StartRestoreJob" && f.principal == case.user_arn));
        let lambda = lambda_report(stack, &case.event).await;
        assert_eq!(
            serde_json::to_value(&live).unwrap(),
            serde_json::to_value(&lambda).unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_call_of_another_account_or_region_is_refused_before_any_read() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let case = scenario::user_case(&sdk).await;
        let dir = home(stack);
        std::fs::create_dir_all(&dir).unwrap();
        let mut other = case.event.clone();
        other["account"] = json!("444455556666");
        other["detail"]["recipientAccountId"] = json!("444455556666");
        let file = dir.join("other-account.json");
        std::fs::write(&file, other.to_string()).unwrap();
        let out = run(
            aws(stack, &dir, false),
            &["gather", "--cloudtrail-event", file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains(&format!(
                "from account 444455556666, but the credentials are of account {ACCOUNT}"
            )),
            "{}",
            text(&out.stderr)
        );
        let file = dir.join("event.json");
        std::fs::write(&file, case.event.to_string()).unwrap();
        let out = run(
            aws(stack, &dir, false),
            &[
                "gather",
                "--region",
                "us-east-2",
                "--cloudtrail-event",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains(&format!("--region {REGION}")),
            "{}",
            text(&out.stderr)
        );
    }
}
