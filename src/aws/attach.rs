//! Opt-in auto-remediation, the half that writes: the guard's decision
//! ([`decide`](crate::remedy::guard::decide)) carried out with iam:PutRolePolicy, and,
//! when asked for, the failed restore started again with backup:StartRestoreJob.
//!
//! Every outcome is an [`AutoAttach`] for the alert, never an error: a refused guardrail,
//! a failed write or a failed retry is a reason in the alert, and the alert still goes out.
//!
//! - The account the function runs in comes from its own ARN (or sts:GetCallerIdentity),
//!   never from the event, so a crafted event cannot make a foreign role look local.
//! - In organization mode a member account's role is written only through that
//!   account's `RestoreDoctorFixer` role ([`remediate_member`]), with the same guard,
//!   that account taking the place of the function's own: the function's own role can
//!   write nothing outside its account, and an account without the fixer role is not
//!   opted in.
//! - The policy is written only when it differs from the role's current
//!   `restore-doctor-fix`, read again just before writing: a second run over the same
//!   failure changes nothing, and a fix changed since the evidence was read is not
//!   overwritten.
//! - The retry carries an idempotency token derived from the failed job's id, so it
//!   starts at most one restore per failed job, whichever container runs it.

use std::time::Duration;

use serde_json::Value;

use super::accounts::MemberAccounts;
use super::config::AutoSettings;
use super::error::call_error;
use super::iam::decode_document;
use super::Clients;
use crate::diagnose::evidence::{Evidence, EvidencePart, PolicyKind};
use crate::diagnose::report::{AutoAttach, Report};
use crate::diagnose::validated::RoleArn;
use crate::event::trigger::Trigger;
use crate::remedy::guard::{decide, Decision, GuardSettings};
use crate::remedy::patch::POLICY_NAME;

/// Prefix of the idempotency token of a retried restore.
pub const RETRY_TOKEN_PREFIX: &str = "restore-doctor-retry-";
/// Time kept for backup:StartRestoreJob itself after the retry wait.
const RETRY_CALL_BUDGET: Duration = Duration::from_secs(5);
/// The longest idempotency token sent (the API documents no limit; this keeps it short).
pub const MAX_TOKEN_LEN: usize = 64;

/// The account the function runs in: from its invoked ARN, else sts:GetCallerIdentity.
/// `Err` says why it is unknown.
pub async fn own_account(
    sts: &aws_sdk_sts::Client,
    function_arn: Option<&str>,
) -> Result<String, String> {
    if let Some(account) = function_arn.and_then(account_of_arn) {
        return Ok(account);
    }
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("sts:GetCallerIdentity failed: {}", call_error(&e)))?;
    out.account()
        .filter(|a| is_account_id(a))
        .map(str::to_owned)
        .ok_or_else(|| "sts:GetCallerIdentity returned no account".into())
}

/// The 12-digit account of an ARN, if it has one.
pub fn account_of_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| is_account_id(a))
        .map(str::to_owned)
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The idempotency token of the retry of restore job `job_id`: the same for every run
/// over that job, different for different jobs, at most [`MAX_TOKEN_LEN`] characters.
pub fn retry_token(job_id: &str) -> String {
    let whole = format!("{RETRY_TOKEN_PREFIX}{job_id}");
    if whole.len() <= MAX_TOKEN_LEN {
        return whole;
    }
    // Too long: a prefix of the id plus a hash of all of it, so ids sharing a prefix
    // still get different tokens.
    let hash = format!("-{:08x}", crate::remedy::patch::digest(job_id));
    let room = MAX_TOKEN_LEN - RETRY_TOKEN_PREFIX.len() - hash.len();
    let prefix: String = job_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(room)
        .collect();
    format!("{RETRY_TOKEN_PREFIX}{prefix}{hash}")
}

/// Decides, attaches and retries as `settings` allow. `account` is the function's own
/// account ([`own_account`]).
pub async fn remediate(
    clients: &Clients,
    evidence: &Evidence,
    report: &Report,
    trigger: &Trigger,
    settings: &AutoSettings,
    account: Result<String, String>,
) -> AutoAttach {
    let far = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    remediate_until(clients, evidence, report, trigger, settings, account, far).await
}

/// [`remediate`], with the restore started again only if the retry wait ends well before
/// `deadline` (the invocation's, less the time the alert needs).
pub async fn remediate_until(
    clients: &Clients,
    evidence: &Evidence,
    report: &Report,
    trigger: &Trigger,
    settings: &AutoSettings,
    account: Result<String, String>,
    deadline: tokio::time::Instant,
) -> AutoAttach {
    let account = match account {
        Ok(a) => a,
        Err(why) => {
            return AutoAttach::refused(vec![format!(
                "the function's own account is unknown ({why}), so same-account cannot be proven"
            )])
        }
    };
    // The Region the function's own clients are configured for (Lambda's AWS_REGION),
    // never the event's.
    let region = clients.backup.config().region().map(|r| r.to_string());
    let write = match decide_write(evidence, report, settings, account, region) {
        Ok(write) => write,
        Err(auto) => return *auto,
    };
    let mut auto = write_fix(&clients.iam, &clients.iam, write).await;
    if !auto.attached {
        return auto;
    }
    if settings.retry_restore {
        match retry_restore(
            clients,
            evidence,
            trigger,
            &auto,
            settings.retry_wait,
            deadline,
        )
        .await
        {
            Ok(job_id) => auto.retry_restore_job_id = Some(job_id),
            Err(why) => auto
                .reasons
                .push(format!("the restore was not started again: {why}")),
        }
    }
    auto
}

/// Organization mode: the failure's account is a member account, read through its
/// reader role.
pub struct MemberAccount<'a> {
    pub members: &'a MemberAccounts,
    /// The member account: the one whose reader role gathered the evidence (the event's
    /// account, checked), so the only account the guard accepts a role or a resource of.
    pub account: &'a str,
    /// The reader role's clients, in the Region the evidence was read in; `None` when the
    /// account could not be read (the guard then refuses: nothing about the role is known).
    pub reader: Option<&'a Clients>,
    /// The partition of the function's ARN, which the member roles' ARNs are in.
    pub partition: &'a str,
}

/// [`remediate`] for a role of a member account: the same guard, with that account and
/// the Region its evidence was read in as the fixer's own; the write goes through the
/// account's fixer role (member.yaml with `AutoAttach=true`), never the function's own
/// role, and the fixer role is assumed only once every guardrail holds. That role can
/// only put a role policy, so the read just before writing goes through the reader role,
/// and a failed restore is not started again there.
pub async fn remediate_member(
    member: MemberAccount<'_>,
    evidence: &Evidence,
    report: &Report,
    settings: &AutoSettings,
) -> AutoAttach {
    let account = member.account;
    let Some(fixer_role) = member.members.fixer_role_name() else {
        return AutoAttach::refused(vec![format!(
            "auto-attach in member accounts is not set up (no MEMBER_FIXER_ROLE): the fix for account {account}'s role is proposed, not attached"
        )]);
    };
    let region = member
        .reader
        .and_then(|c| c.backup.config().region())
        .map(|r| r.to_string());
    let write = match decide_write(
        evidence,
        report,
        settings,
        account.to_owned(),
        region.clone(),
    ) {
        Ok(write) => write,
        Err(auto) => return *auto,
    };
    let Some(reader) = member.reader else {
        return AutoAttach::refused(vec![format!(
            "account {account} could not be read: nothing written"
        )]);
    };
    let fixer = match member
        .members
        .fixer_clients(account, region.as_deref(), member.partition)
        .await
    {
        Ok((clients, _)) => clients,
        Err((role_arn, error)) => {
            let role = role_arn.unwrap_or_else(|| fixer_role.to_owned());
            return AutoAttach::refused(vec![format!(
                "sts:AssumeRole {role} failed ({error}): nothing written. Auto-attach in account {account} goes only through its own {fixer_role} role: \
                 deploy the member stack (member.yaml) in account {account} with AutoAttach=true (a StackSet parameter override for that account), \
                 which creates {fixer_role} trusting only this function's role"
            )]);
        }
    };
    let mut auto = write_fix(&reader.iam, &fixer.iam, write).await;
    if auto.attached && settings.retry_restore {
        auto.reasons.push(format!(
            "the restore was not started again: in a member account restore-doctor only puts the fix ({fixer_role} cannot start restores or pass roles); start it again in account {account}"
        ));
    }
    auto
}

/// What the guard allows writing, checked once more against the role as read from IAM.
struct Write<'e> {
    auto: AutoAttach,
    role_name: String,
    document: Value,
    earlier: Option<&'e Value>,
}

/// The guard's decision for a fixer in `account` and `region`, and the write it allows:
/// `Err` is the refusal to put in the alert.
fn decide_write<'e>(
    evidence: &'e Evidence,
    report: &Report,
    settings: &AutoSettings,
    account: String,
    region: Option<String>,
) -> Result<Write<'e>, Box<AutoAttach>> {
    let guard = GuardSettings {
        enabled: settings.attach,
        opt_in_tag: settings.opt_in_tag.clone(),
        role_patterns: settings.role_patterns.clone(),
        account: Some(account),
        region,
    };
    let Decision { report: auto, put } = decide(evidence, report, &guard);
    let Some((role_name, document)) = put else {
        return Err(Box::new(auto));
    };
    // Written only by a checked role ARN, and only to the restore role as IAM itself
    // named it when read (gathering keeps a role only when IAM's ARN for the name is
    // exactly the restore's): the name written is that ARN's name, nothing else.
    let target = match auto.role_arn.as_deref().map(RoleArn::parse) {
        Some(Ok(t)) => t,
        _ => {
            return Err(Box::new(AutoAttach::refused(vec![
                "the role to write is not a valid IAM role ARN: nothing written".into(),
            ])))
        }
    };
    let read_from_iam = evidence.restore_role.as_ref().map(|r| r.arn.as_str());
    if target.name() != role_name || read_from_iam != Some(target.as_str()) {
        return Err(Box::new(AutoAttach::refused(vec![format!(
            "the role to write (`{}`) is not the restore role as read from IAM: nothing written",
            target.as_str()
        )])));
    }
    let earlier = earlier_fix(evidence, target.as_str());
    Ok(Write {
        role_name: target.name().to_owned(),
        auto,
        document,
        earlier,
    })
}

/// Carries out `w` with the `write` client after reading the role's current fix with
/// `read`: the decision as attached, or a refusal saying why nothing was written.
async fn write_fix(
    read: &aws_sdk_iam::Client,
    write: &aws_sdk_iam::Client,
    w: Write<'_>,
) -> AutoAttach {
    let mut auto = w.auto;
    match put_fix(read, write, &w.role_name, &w.document, w.earlier).await {
        Ok(Written::Now) => auto.attached = true,
        Ok(Written::Already) => {
            auto.attached = true;
            auto.reasons.push(format!(
                "the role's `{POLICY_NAME}` policy is already exactly this document: iam:PutRolePolicy was not called"
            ));
        }
        Err(reason) => return AutoAttach::refused(vec![reason]),
    }
    auto
}

/// The role's `restore-doctor-fix` as the evidence read it (what the guard merged with).
fn earlier_fix<'a>(evidence: &'a Evidence, role_arn: &str) -> Option<&'a Value> {
    evidence
        .restore_role
        .as_ref()
        .filter(|r| r.arn == role_arn)?
        .policies
        .iter()
        .find(|p| p.kind == PolicyKind::Inline && p.name == POLICY_NAME)
        .map(|p| &p.document)
}

enum Written {
    Now,
    Already,
}

/// Puts `document` as the role's `restore-doctor-fix` unless it is already exactly that:
/// read with `read`, written with `write` (in a member account, its reader and fixer
/// roles).
async fn put_fix(
    read: &aws_sdk_iam::Client,
    write: &aws_sdk_iam::Client,
    role: &str,
    document: &Value,
    earlier: Option<&Value>,
) -> Result<Written, String> {
    let current = match read
        .get_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => Some(decode_document(out.policy_document())),
        Err(e) => {
            let err = call_error(&e);
            if !err.is_not_found() {
                return Err(format!(
                    "iam:GetRolePolicy failed, so the role's current `{POLICY_NAME}` could not be compared: {err}"
                ));
            }
            None
        }
    };
    if current.as_ref() == Some(document) {
        return Ok(Written::Already);
    }
    if current.as_ref() != earlier {
        return Err(format!(
            "the role's `{POLICY_NAME}` policy changed after the evidence was read: not overwritten"
        ));
    }
    let text = serde_json::to_string(document)
        .map_err(|e| format!("the policy could not be serialized: {e}"))?;
    write
        .put_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .policy_document(text)
        .send()
        .await
        .map_err(|e| format!("iam:PutRolePolicy failed: {}", call_error(&e)))?;
    Ok(Written::Now)
}

/// Starts the failed restore job again with its own recovery point, role, resource type
/// and metadata, after `wait` for IAM to propagate the fix. Returns the new job id.
async fn retry_restore(
    clients: &Clients,
    evidence: &Evidence,
    trigger: &Trigger,
    auto: &AutoAttach,
    wait: Duration,
    deadline: tokio::time::Instant,
) -> Result<String, String> {
    let Trigger::RestoreJobFailed(failed) = trigger else {
        return Err("only a failed restore job is started again (a refused StartRestoreJob call is for its caller to repeat)".into());
    };
    let job_id = failed
        .restore_job_id
        .as_deref()
        .ok_or("the failed job's id is not known (the event's id was not valid)")?;
    // The wait plus the call must end before the deadline, or the alert would not go out.
    if tokio::time::Instant::now() + wait + RETRY_CALL_BUDGET > deadline {
        return Err(format!(
            "waiting {}s for IAM and starting the restore would pass the invocation's deadline",
            wait.as_secs()
        ));
    }
    let job = evidence.restore_job.as_ref();
    let pick = |from_job: Option<&String>, from_event: &Option<String>| {
        from_job.cloned().or_else(|| from_event.clone())
    };
    let recovery_point = pick(
        job.and_then(|j| j.recovery_point_arn.as_ref()),
        &failed.recovery_point_arn,
    )
    .ok_or("the recovery point of the failed job is unknown")?;
    let role = pick(
        job.and_then(|j| j.iam_role_arn.as_ref()),
        &failed.iam_role_arn,
    )
    .ok_or("the restore role of the failed job is unknown")?;
    if auto.role_arn.as_deref() != Some(role.as_str()) {
        return Err(format!(
            "the failed job ran as `{role}`, not as the role that was fixed"
        ));
    }
    let resource_type = pick(
        job.and_then(|j| j.resource_type.as_ref()),
        &failed.resource_type,
    );
    let metadata = evidence
        .restore_metadata
        .as_ref()
        .filter(|m| !m.is_empty())
        .ok_or(
            "the failed job's restore metadata could not be read (backup:GetRestoreJobMetadata)",
        )?;
    // Started again only with the metadata exactly as the failed job had it: with an
    // entry dropped by a check, the new restore would not be the same restore.
    if evidence
        .gaps
        .iter()
        .any(|g| g.part == EvidencePart::RestoreMetadata)
    {
        return Err(
            "part of the failed job's restore metadata failed its checks, so the same restore cannot be started again".into(),
        );
    }

    tokio::time::sleep(wait).await;
    let token = retry_token(job_id);
    let mut request = clients
        .backup
        .start_restore_job()
        .recovery_point_arn(&recovery_point)
        .iam_role_arn(&role)
        .idempotency_token(&token)
        .set_resource_type(resource_type);
    for (k, v) in metadata {
        request = request.metadata(k, v);
    }
    let out = request
        .send()
        .await
        .map_err(|e| format!("backup:StartRestoreJob failed: {}", call_error(&e)))?;
    out.restore_job_id()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "backup:StartRestoreJob returned no job id".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_comes_from_the_functions_arn() {
        assert_eq!(
            account_of_arn("arn:aws:lambda:eu-west-1:111122223333:function:restore-doctor")
                .as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of_arn("arn:aws:lambda:eu-west-1:111122223333:function:f:live").as_deref(),
            Some("111122223333")
        );
        assert_eq!(account_of_arn("arn:aws:lambda:eu-west-1::function:f"), None);
        assert_eq!(account_of_arn("not an arn"), None);
    }

    #[test]
    fn the_retry_token_is_stable_per_job_and_bounded() {
        let id = "4f2a6c1e-2b7d-4a1c-9e3f-5d6c7b8a9e0f";
        assert_eq!(retry_token(id), format!("restore-doctor-retry-{id}"));
        assert_eq!(retry_token(id), retry_token(id));
        let long_a = format!("{}A", "x".repeat(100));
        let long_b = format!("{}B", "x".repeat(100));
        for t in [retry_token(&long_a), retry_token(&long_b)] {
            assert!(t.len() <= MAX_TOKEN_LEN, "{t}");
            assert!(t.starts_with(RETRY_TOKEN_PREFIX));
        }
        assert_ne!(retry_token(&long_a), retry_token(&long_b));
    }
}
