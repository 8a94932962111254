//! Opt-in auto-remediation: whether the verified patch may be attached to the restore
//! role without a human, and the exact policy that would be attached.
//!
//! The most conservative code in the project: it writes IAM policies on its own. It
//! attaches only when every one of these holds, and names each one that does not:
//! - the trigger is a restore AWS Backup ran and reported FAILED (never a refused
//!   StartRestoreJob, whose every field its caller wrote);
//! - the role read from IAM is exactly the role the restore ran as, is opted in (tag
//!   or pattern, both checked on that ARN), lives in the fixer's own account, and its
//!   trust policy trusts `backup.amazonaws.com` and nothing else;
//! - nothing about the role, the caller, the keys, the metadata or an instance
//!   profile is unverified;
//! - the patch is verified and only adds missing allows to that role's identity
//!   policies;
//! - every statement is a plain Allow of catalog actions for this resource type, on
//!   resources that are either exact ARNs of this account and Region (S3 buckets held to
//!   this account by `s3:ResourceAccount`; KMS keys that AWS reported), or exactly one
//!   of the catalog's templates for resources the restore creates, filled with the
//!   fixer's own account and Region; `*` only for actions without resource-level
//!   permissions;
//! - iam:PassRole only on one exact role, for one named service, and only to a role
//!   that is itself opted in and whose trust policy trusts that service;
//! - the merged policy fits IAM's inline size limit.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::diagnose::evidence::{Evidence, EvidencePart, PolicyKind, RoleFacts};
use crate::diagnose::principal::policy_size;
use crate::diagnose::report::{AutoAttach, Blocker, Report};
use crate::diagnose::requirements::{self, Scope};
use crate::diagnose::validated::{Arn, KeyArn, RoleArn};
use crate::policy::arn_matches;
use crate::policy::hard_rules::{hard_rule, NO_PATCH};

use super::patch::{shell_quote, POLICY_NAME, ROLE_INLINE_LIMIT};

/// The only service a restore role may trust (AWS Backup assumes it; Developer Guide,
/// "Creating a restore role" / `AWSBackupDefaultServiceRole` trust policy).
pub const BACKUP_SERVICE: &str = "backup.amazonaws.com";

/// Unverified parts that do not stop auto-attach: none of them can widen the patch.
/// An SCP, an RCP or a vault policy can only deny (the restore then still fails, and says so);
/// an undecoded message leaves the catalog checks, which the patch is built from, whole.
const HARMLESS_GAPS: [EvidencePart; 4] = [
    EvidencePart::ServiceControlPolicies,
    EvidencePart::ResourceControlPolicies,
    EvidencePart::VaultAccessPolicy,
    EvidencePart::DecodedMessage,
];

/// The tag that opts a role in, with value `true`.
pub const DEFAULT_OPT_IN_TAG: &str = "restore-doctor:auto-attach";

/// Guard settings; the Lambda reads them from its environment
/// (`AUTO_ATTACH`, `AUTO_ATTACH_TAG`, `AUTO_ATTACH_ROLE_PATTERNS`), the CLI from flags of
/// the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// Off by default: propose only.
    pub enabled: bool,
    /// A role carrying this tag with value `true` is opted in.
    pub opt_in_tag: String,
    /// Role ARN patterns (with `*`/`?`) that are opted in without a tag.
    pub role_patterns: Vec<String>,
    /// The account the fixer runs in; only roles and resources of this account qualify.
    pub account: Option<String>,
    /// The Region the fixer runs in; only resources of this Region qualify.
    pub region: Option<String>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            enabled: false,
            opt_in_tag: DEFAULT_OPT_IN_TAG.to_string(),
            role_patterns: vec![],
            account: None,
            region: None,
        }
    }
}

/// The decision, with the merged policy when attaching.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub report: AutoAttach,
    /// When attaching: role name and the full inline policy to put.
    pub put: Option<(String, Value)>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// Decides whether the report's patch may be attached automatically.
pub fn decide(evidence: &Evidence, report: &Report, settings: &GuardSettings) -> Decision {
    let refuse = |reasons: Vec<String>| Decision {
        report: AutoAttach::refused(reasons),
        put: None,
    };
    if !settings.enabled {
        return refuse(vec!["auto-attach is off (propose-only mode)".into()]);
    }
    let mut reasons = Vec::new();
    if report.restore.trigger != "restoreJobFailed" {
        reasons.push("auto-attach runs only for a restore AWS Backup ran and reported FAILED (Restore Job State Change), never for a refused StartRestoreJob call, whose every field its caller wrote".into());
    }
    for u in &report.unverified {
        if !u.part.is_some_and(|p| HARMLESS_GAPS.contains(&p)) {
            reasons.push(format!("not verified: {} ({})", u.what, u.why));
        }
    }
    let Some(patch) = report.patch.as_ref() else {
        let earlier = evidence.restore_role.as_ref().is_some_and(|r| {
            r.policies
                .iter()
                .any(|p| p.kind == PolicyKind::Inline && p.name == POLICY_NAME)
        });
        let why = match (report.missing.is_empty(), earlier) {
            (true, true) => format!("nothing to attach: no patch is needed, and the role already carries `{POLICY_NAME}` from an earlier fix"),
            (true, false) if reasons.is_empty() => "nothing to attach: no patch is needed".into(),
            (true, false) => "nothing to attach: nothing missing was found in what could be verified".into(),
            (false, _) => "nothing to attach: what is missing is not fixable by a role patch (see the blockers)".into(),
        };
        reasons.push(why);
        return refuse(reasons);
    };

    // The role: read from IAM, exactly the one the restore ran as, before any opt-in
    // check; everything after (opt-in, trust, the write) is about this ARN only.
    let restore_role_arn = report.restore.role_arn.as_deref();
    let role = evidence.restore_role.as_ref();
    let role_arn = match (role, restore_role_arn) {
        (None, _) => {
            reasons.push("the restore role was not read from IAM (its policies, tags and trust policy are unknown)".into());
            None
        }
        (Some(_), None) => {
            reasons.push("the restore names no valid role".into());
            None
        }
        (Some(r), Some(expected)) if r.arn != expected => {
            reasons.push(format!(
                "the role read from IAM (`{}`) is not exactly the role the restore ran as (`{expected}`)",
                r.arn
            ));
            None
        }
        (Some(r), Some(_)) => match RoleArn::parse(&r.arn) {
            Ok(arn) => Some(arn),
            Err(e) => {
                reasons.push(format!("the restore role: {e}"));
                None
            }
        },
    };
    if Some(patch.principal_arn.as_str()) != restore_role_arn
        || !patch.principal_arn.contains(":role/")
    {
        reasons.push(format!("the patch is for `{}`, not the restore role: only restore roles are patched automatically", patch.principal_arn));
    }
    if !report.other_patches.is_empty() {
        reasons.push("more than one principal needs a patch".into());
    }
    if !report.verified {
        reasons.push("re-evaluation does not show the patch fixing every requirement".into());
    }
    for f in &report.missing {
        if !(f.fixable_by_patch && f.blocked_by == [Blocker::IdentityPolicy]) {
            reasons.push(format!(
                "`{}` on `{}` is not a missing allow in the role's identity policies: explained, not patched",
                f.action, f.resource
            ));
        }
    }

    // The same rule the evaluator applies to iam:PutRolePolicy on this role.
    if let Some(rule) = role_arn
        .as_ref()
        .and_then(|a| hard_rule("iam:PutRolePolicy", a.as_str()))
    {
        reasons.push(format!(
            "the role is under a path which only AWS may change: {NO_PATCH} ({}; source: {})",
            rule.why, rule.source
        ));
    }
    if let (Some(r), Some(arn)) = (role, role_arn.as_ref()) {
        if !opted_in(&r.tags, arn.as_str(), settings) {
            reasons.push(format!(
                "the role is not opted in (tag `{}=true` or a matching role pattern)",
                settings.opt_in_tag
            ));
        }
        match r.trust_policy.as_ref().map(|t| trusts_only(t, BACKUP_SERVICE)) {
            None => reasons.push("the restore role's trust policy was not read".into()),
            Some(Err(why)) => reasons.push(format!("the restore role's trust policy {why}: only a role that AWS Backup alone can assume is patched automatically")),
            Some(Ok(())) => {}
        }
    }

    // Same account and Region only, from the fixer's own identity.
    let account = settings.account.as_deref();
    let region = settings.region.as_deref();
    match account {
        None => {
            reasons.push("the fixer's account is unknown, so same-account cannot be proven".into())
        }
        Some(acct) => {
            if role_arn.as_ref().is_some_and(|r| r.account() != acct) {
                reasons.push(format!("the role is not in this account ({acct})"));
            }
        }
    }
    if region.is_none() {
        reasons.push("the fixer's Region is unknown, so same-Region cannot be proven".into());
    }

    let resource_type = report
        .restore
        .resource_type
        .as_deref()
        .and_then(requirements::canonical_type);
    let (allowed_actions, wildcard_only) = match &resource_type {
        Some(t) => requirements::catalog_actions(t),
        None => {
            reasons.push("the resource type is not in the restore catalog".into());
            (BTreeSet::new(), BTreeSet::new())
        }
    };
    // The wildcard resources the catalog itself names, filled with the fixer's own
    // account and Region: the only patterns accepted.
    let templates: Vec<String> = match (&resource_type, account, region, role_arn.as_ref()) {
        (Some(t), Some(acct), Some(reg), Some(role)) => requirements::catalog_resources(
            t,
            &Scope {
                partition: role.arn().partition().to_string(),
                region: Some(reg.to_string()),
                account: Some(acct.to_string()),
                // The validated target bucket: its object template is accepted only
                // with the bucket-owner condition checked below.
                bucket: crate::diagnose::target_bucket(evidence).ok().flatten(),
                image_arn: None,
                // The validated target cluster: its access-entry template names it.
                eks_cluster: crate::diagnose::target_eks_cluster(evidence).ok().flatten(),
            },
        ),
        _ => vec![],
    };
    let fixer = Fixer {
        account: account.unwrap_or(""),
        region: region.unwrap_or(""),
        partition: role_arn.as_ref().map_or("", |r| r.arn().partition()),
        templates: &templates,
        evidence,
        settings,
    };
    for stmt in patch
        .document
        .get("Statement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        fixer.check_statement(stmt, &allowed_actions, &wildcard_only, &mut reasons);
    }

    // Merge with the earlier fix and check IAM's aggregate inline limit.
    let existing = role.and_then(|r| {
        r.policies
            .iter()
            .find(|p| p.kind == PolicyKind::Inline && p.name == POLICY_NAME)
    });
    let merged = super::patch::merge(existing.map(|p| &p.document), &patch.document);
    let other_inline: usize = role
        .map(|r| {
            r.policies
                .iter()
                .filter(|p| p.kind == PolicyKind::Inline && p.name != POLICY_NAME)
                .map(|p| policy_size(&p.document))
                .sum()
        })
        .unwrap_or(0);
    let merged_size = policy_size(&merged);
    if merged_size + other_inline > ROLE_INLINE_LIMIT {
        reasons.push(format!(
            "the merged policy ({merged_size} characters) and the role's other inline policies ({other_inline}) exceed IAM's {ROLE_INLINE_LIMIT}-character limit"
        ));
    }

    let mut seen = BTreeSet::new();
    reasons.retain(|r| seen.insert(r.clone()));
    let Some(role_arn) = role_arn.filter(|_| reasons.is_empty()) else {
        return refuse(reasons);
    };
    let name = role_arn.name().to_string();
    let undo = match existing {
        None => format!(
            "aws iam delete-role-policy --role-name {} --policy-name {POLICY_NAME}",
            shell_quote(&name)
        ),
        Some(previous) => format!(
            "aws iam put-role-policy --role-name {} --policy-name {POLICY_NAME} --policy-document {}",
            shell_quote(&name),
            shell_quote(&serde_json::to_string(&previous.document).unwrap_or_default())
        ),
    };
    let unchanged = existing.is_some_and(|p| p.document == merged);
    Decision {
        report: AutoAttach {
            decision: "attach".into(),
            reasons: vec![if unchanged {
                "every guardrail holds; the role already has these statements, nothing changes"
                    .into()
            } else {
                "every guardrail holds".into()
            }],
            policy_name: Some(POLICY_NAME.into()),
            role_arn: Some(role_arn.as_str().to_string()),
            attached_document: Some(merged.clone()),
            undo_command: Some(undo),
            attached: false,
            retry_restore_job_id: None,
        },
        put: Some((name, merged)),
    }
}

/// Whether a role is opted in: the tag with value `true`, or an ARN pattern.
fn opted_in(
    tags: &std::collections::BTreeMap<String, String>,
    arn: &str,
    settings: &GuardSettings,
) -> bool {
    tags.get(&settings.opt_in_tag)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || settings.role_patterns.iter().any(|p| arn_matches(p, arn))
}

/// The principals a trust policy's Allow statements name, as `(kind, value)` pairs;
/// `Err` for a form that cannot be read narrowly (NotPrincipal, a `*` principal, no
/// statement).
fn trusted(doc: &Value) -> Result<Vec<(String, String)>, String> {
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(other @ Value::Object(_)) => vec![other.clone()],
        _ => return Err("has no statements".into()),
    };
    let mut out = Vec::new();
    for stmt in statements {
        if stmt.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if stmt.get("NotPrincipal").is_some() || stmt.get("NotAction").is_some() {
            return Err("uses NotPrincipal or NotAction".into());
        }
        match stmt.get("Principal") {
            Some(Value::Object(m)) => {
                for (kind, v) in m {
                    for value in strings(v) {
                        out.push((kind.clone(), value));
                    }
                }
            }
            _ => return Err("has an Allow whose principal is not named (`*` or missing)".into()),
        }
    }
    Ok(out)
}

/// A trust policy whose every Allow trusts `service` and nothing else.
fn trusts_only(doc: &Value, service: &str) -> Result<(), String> {
    let principals = trusted(doc)?;
    if principals.is_empty() {
        return Err(format!("does not trust `{service}`"));
    }
    match principals
        .iter()
        .find(|(kind, value)| kind != "Service" || value != service)
    {
        Some((kind, value)) => Err(format!("also trusts {kind} `{value}`")),
        None => Ok(()),
    }
}

/// A trust policy that lets `service` assume the role.
fn trusts(doc: &Value, service: &str) -> bool {
    trusted(doc).is_ok_and(|p| p.iter().any(|(k, v)| k == "Service" && v == service))
}

/// What the statements of the patch are held against.
struct Fixer<'a> {
    account: &'a str,
    region: &'a str,
    partition: &'a str,
    templates: &'a [String],
    evidence: &'a Evidence,
    settings: &'a GuardSettings,
}

impl Fixer<'_> {
    fn check_statement(
        &self,
        stmt: &Value,
        allowed_actions: &BTreeSet<String>,
        wildcard_only: &BTreeSet<String>,
        reasons: &mut Vec<String>,
    ) {
        if stmt.get("Effect").and_then(Value::as_str) != Some("Allow")
            || ["NotAction", "NotResource", "Principal", "NotPrincipal"]
                .iter()
                .any(|k| stmt.get(*k).is_some())
        {
            reasons.push("a statement is not a plain Allow of actions on resources".into());
        }
        let actions = strings(stmt.get("Action").unwrap_or(&Value::Null));
        let resources = strings(stmt.get("Resource").unwrap_or(&Value::Null));
        if actions.is_empty() || resources.is_empty() {
            reasons.push("a statement names no action or no resource".into());
        }
        for a in &actions {
            if a.contains(['*', '?']) {
                reasons.push(format!("wildcard action `{a}`"));
            } else if !allowed_actions.contains(&a.to_ascii_lowercase()) {
                reasons.push(format!(
                    "`{a}` is not an action the restore catalog requires for this resource type"
                ));
            }
        }
        let only_create_bucket = actions
            .iter()
            .all(|a| a.eq_ignore_ascii_case("s3:CreateBucket"));
        let bucket_owner = stmt
            .pointer("/Condition/StringEquals/s3:ResourceAccount")
            .and_then(Value::as_str);
        for r in &resources {
            for a in &actions {
                if let Some(rule) = hard_rule(a, r) {
                    reasons.push(format!(
                        "`{a}` on `{r}`: {NO_PATCH} ({}; source: {})",
                        rule.why, rule.source
                    ));
                }
            }
            if r == "*" {
                for a in &actions {
                    if !wildcard_only.contains(&a.to_ascii_lowercase()) {
                        reasons.push(format!("`{a}` would be granted on every resource (`*`)"));
                    }
                }
                continue;
            }
            // S3 ARNs carry no account: only the condition proves the bucket is ours.
            // CreateBucket alone needs none (a name another account holds fails).
            if r.split(':').nth(2) == Some("s3")
                && !only_create_bucket
                && bucket_owner != Some(self.account)
            {
                reasons.push(format!(
                    "S3 resource `{r}` is not proven to be in this account (no `s3:ResourceAccount` condition naming it)"
                ));
            }
            if r.contains(['*', '?']) {
                if !self.templates.iter().any(|t| t == r) {
                    reasons.push(format!(
                        "resource `{r}` is a pattern, and not one of the catalog's templates for resources the restore creates, filled with this account and Region"
                    ));
                }
                continue;
            }
            let arn = match Arn::parse(r) {
                Ok(a) => a,
                Err(e) => {
                    reasons.push(format!("resource {e}"));
                    continue;
                }
            };
            if arn.partition() != self.partition {
                reasons.push(format!("resource `{r}` is in another partition"));
            }
            if !arn.region().is_empty() && arn.region() != self.region {
                reasons.push(format!("resource `{r}` is in another Region"));
            }
            match arn.account() {
                "" if arn.service() == "s3" => {}
                "" => reasons.push(format!("resource `{r}` is not scoped to an account")),
                acct if acct != self.account => {
                    reasons.push(format!("resource `{r}` is in another account"))
                }
                _ => {}
            }
            if arn.service() == "kms" && !self.key_read_from_aws(r) {
                reasons.push(format!(
                    "KMS key `{r}` was not reported by AWS (recovery point, kms:DescribeKey or kms:GetKeyPolicy)"
                ));
            }
        }
        if actions
            .iter()
            .any(|a| a.eq_ignore_ascii_case("iam:PassRole"))
        {
            self.check_pass_role(stmt, &resources, reasons);
        }
    }

    /// Whether AWS itself reported this key: the recovery point's key, a key
    /// kms:DescribeKey resolved, or a key whose policy was read.
    fn key_read_from_aws(&self, key: &str) -> bool {
        let e = self.evidence;
        KeyArn::parse(key).is_ok()
            && (e
                .recovery_point
                .as_ref()
                .and_then(|rp| rp.encryption_key_arn.as_deref())
                == Some(key)
                || e.kms_keys.iter().any(|k| k.key_arn == key)
                || e.key_policies.iter().any(|k| k.key_arn == key))
    }

    fn check_pass_role(&self, stmt: &Value, resources: &[String], reasons: &mut Vec<String>) {
        let service = stmt
            .pointer("/Condition/StringEquals/iam:PassedToService")
            .and_then(Value::as_str);
        let exact = resources.len() == 1 && resources.iter().all(|r| RoleArn::parse(r).is_ok());
        let (Some(service), true) = (service, exact) else {
            reasons.push(
                "iam:PassRole must be on one exact role with an `iam:PassedToService` condition"
                    .into(),
            );
            return;
        };
        for r in resources {
            let facts: Option<&RoleFacts> = self
                .evidence
                .instance_profiles
                .iter()
                .flat_map(|p| &p.roles)
                .find(|f| f.arn == *r);
            match facts {
                None => reasons.push(format!(
                    "iam:PassRole on `{r}`: the role's tags and trust policy were not read (iam:GetRole)"
                )),
                Some(f) => {
                    if !opted_in(&f.tags, r, self.settings) {
                        reasons.push(format!(
                            "iam:PassRole on `{r}`: that role is not itself opted in (tag `{}=true` or a matching role pattern)",
                            self.settings.opt_in_tag
                        ));
                    }
                    if !f.trust_policy.as_ref().is_some_and(|t| trusts(t, service)) {
                        reasons.push(format!(
                            "iam:PassRole on `{r}`: its trust policy does not trust `{service}`"
                        ));
                    }
                }
            }
        }
    }
}
