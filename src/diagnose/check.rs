//! One required action on one resource, asked of the evaluator, turned into a finding.

use crate::policy::{
    evaluate, Decision, EvalError, Evaluation, Layer, LayerOutcome, NamedPolicy, PolicySet,
    Request, StatementRef,
};

use super::evidence::EvidencePart;
use super::principal::Subject;
use super::report::{Blocker, Finding, Unverified};
use super::requirements::Requirement;

/// Which resource policy stands in front of the requirement.
#[derive(Debug, Clone)]
pub enum ResourceGate {
    /// No resource policy matters (EFS, EC2, ... as used by a restore).
    None,
    /// A KMS key policy; `None` when it could not be read (then the default key
    /// policy, which delegates to IAM, is assumed and the gap is reported).
    KeyPolicy(Option<NamedPolicy>),
    /// The backup vault access policy.
    VaultPolicy(NamedPolicy),
}

/// A requirement checked for one subject.
#[derive(Debug, Clone)]
pub struct Check {
    pub requirement: Requirement,
    pub gate: ResourceGate,
    pub principal_arn: String,
    pub evaluation: Evaluation,
    pub finding: Option<Finding>,
    /// The identity part is missing: a grant in the subject's policies is needed.
    pub needs_identity_grant: bool,
    /// Why the evaluator refused to decide (a request or policies past the limits AWS
    /// enforces, or too much matching work). The check then has no finding, its
    /// `evaluation` is a placeholder that allows nothing, and it must be reported as
    /// unverified.
    pub undecided: Option<EvalError>,
}

/// A check the evaluator would not decide.
fn undecided(subject: &Subject, req: &Requirement, gate: &ResourceGate, err: EvalError) -> Check {
    Check {
        requirement: req.clone(),
        gate: gate.clone(),
        principal_arn: subject.arn.clone(),
        evaluation: Evaluation {
            decision: Decision::ImplicitlyDenied,
            blocked_by: Vec::new(),
            layers: Vec::new(),
            missing_context_keys: Vec::new(),
            allow_depends_on: Vec::new(),
            deny_depends_on: Vec::new(),
            hard_rule: None,
        },
        finding: None,
        needs_identity_grant: false,
        undecided: Some(err),
    }
}

/// Builds the evaluator request for a requirement.
pub fn request_for(
    subject: &Subject,
    req: &Requirement,
    resource_account: Option<&str>,
) -> Request {
    let mut context = subject.context.clone();
    context.extend(req.context.clone());
    Request {
        principal: subject.request_principal.clone(),
        action: req.action.clone(),
        resource: req.resource.clone(),
        resource_account: resource_account.map(str::to_string),
        context,
    }
}

/// An identity policy allowing exactly `req`: what a role patch would add.
fn granted(req: &Requirement) -> Option<NamedPolicy> {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": req.action, "Resource": req.resource}]
    });
    crate::policy::Policy::from_value(&doc)
        .ok()
        .map(|policy| NamedPolicy {
            name: "what a patch would grant".into(),
            policy,
        })
}

fn default_key_policy(account: &str, partition: &str) -> Option<NamedPolicy> {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    crate::policy::Policy::from_value(&doc)
        .ok()
        .map(|policy| NamedPolicy {
            name: "assumed default key policy".into(),
            policy,
        })
}

fn denying_statements(eval: &Evaluation) -> Vec<StatementRef> {
    eval.layers
        .iter()
        .flat_map(|l| l.denied_by.iter().cloned())
        .collect()
}

fn explicit_layers(eval: &Evaluation) -> Vec<Layer> {
    let mut layers: Vec<Layer> = eval
        .layers
        .iter()
        .filter(|l| l.outcome == LayerOutcome::ExplicitlyDenied || !l.denied_by.is_empty())
        .map(|l| l.layer)
        .collect();
    layers.sort();
    layers.dedup();
    layers
}

/// The services whose resources RCPs bound, as "Resource control policies (RCPs)" lists
/// them (AWS Organizations User Guide,
/// <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>;
/// the same five in AWS Control Tower's "Controls implemented with RCPs"). Services AWS
/// added to that list later are not verified here, so their RCPs are not evaluated (an
/// RCP only denies: leaving one out can hide a deny, never invent one).
pub const RCP_SERVICES: [&str; 5] = ["s3", "sts", "kms", "sqs", "secretsmanager"];

/// Whether RCPs bound `action` (`service:Operation`).
pub fn rcp_applies(action: &str) -> bool {
    action
        .split_once(':')
        .is_some_and(|(service, _)| RCP_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service)))
}

/// Evaluates `req` for `subject` and explains the result as a finding (none when allowed).
pub fn check(
    subject: &Subject,
    req: &Requirement,
    gate: &ResourceGate,
    account: &str,
    partition: &str,
) -> Check {
    let mut set: PolicySet = subject.policies.clone();
    // The resource's own account when its ARN names one (a key in the central backup
    // account is cross-account: its key policy must allow too), else the restore's.
    let owner = crate::diagnose::validated::Arn::parse(&req.resource)
        .ok()
        .map(|a| a.account().to_string())
        .filter(|a| crate::diagnose::validated::is_account_id(a));
    let resource_account = Some(owner.as_deref().unwrap_or(account));
    // The RCPs known are those above the restore's account: they bound its resources
    // only, and only for the services RCPs apply to.
    if resource_account != Some(account) || !rcp_applies(&req.action) {
        set.rcps.clear();
    }
    let mut key_blocks = false;
    match gate {
        ResourceGate::None => {}
        ResourceGate::VaultPolicy(p) => set.resource_policy = Some(p.clone()),
        ResourceGate::KeyPolicy(policy) => {
            // An unread key policy is assumed to be the default one, which delegates to
            // the key's own account: for a key in another account that is no grant
            // to this one.
            let policy = policy
                .clone()
                .or_else(|| default_key_policy(owner.as_deref().unwrap_or(account), partition));
            if let Some(policy) = &policy {
                // A key policy that neither names the principal nor delegates to its
                // account cannot be fixed from the role's side: asked with an identity
                // grant of exactly this request (what a role patch could add), it still
                // refuses. Same account or not: a key in the central backup account whose
                // policy delegates to the restore's account is fixed by the patch.
                let direct = PolicySet {
                    identity: granted(req).into_iter().collect(),
                    resource_policy: Some(policy.clone()),
                    ..Default::default()
                };
                key_blocks = match evaluate(&request_for(subject, req, resource_account), &direct) {
                    Ok(e) => e.decision != Decision::Allowed,
                    Err(err) => return undecided(subject, req, gate, err),
                };
            }
            set.resource_policy = policy;
        }
    }
    let evaluation = match evaluate(&request_for(subject, req, resource_account), &set) {
        Ok(e) => e,
        Err(err) => return undecided(subject, req, gate, err),
    };
    let mut result = Check {
        requirement: req.clone(),
        gate: gate.clone(),
        principal_arn: subject.arn.clone(),
        evaluation: evaluation.clone(),
        finding: None,
        needs_identity_grant: false,
        undecided: None,
    };
    if evaluation.decision == Decision::Allowed {
        // Allowed only while context the evidence lacks stays absent, or denied by a
        // Deny that hinges on it: no finding (nothing is missing), but not proven either;
        // the verification and the report's gaps say so (see `depends_on`).
        return result;
    }
    if let Some(rule) = &evaluation.hard_rule {
        result.finding = Some(Finding {
            action: req.action.clone(),
            resource: req.resource.clone(),
            principal: subject.arn.clone(),
            fixable_by_patch: false,
            blocked_by: vec![Blocker::AwsRule],
            denied_by: vec![],
            why: req.why.clone(),
            who_must_act: Some(hard_rule_words(rule)),
            assumed_context: vec![],
        });
        return result;
    }
    let resource_blocker = match gate {
        ResourceGate::VaultPolicy(_) => Blocker::VaultAccessPolicy,
        _ => Blocker::KeyPolicy,
    };
    let to_blocker = |layer: Layer| match layer {
        Layer::ResourcePolicy => resource_blocker,
        other => Blocker::from(other),
    };
    let (blocked_by, denied_by, needs_identity) =
        if evaluation.decision == Decision::ExplicitlyDenied {
            let blockers = explicit_layers(&evaluation)
                .into_iter()
                .map(|l| match l {
                    Layer::Identity => Blocker::IdentityDeny,
                    other => to_blocker(other),
                })
                .collect::<Vec<_>>();
            (blockers, denying_statements(&evaluation), false)
        } else {
            let mut blockers: Vec<Blocker> = evaluation
                .blocked_by
                .iter()
                .filter(|l| **l != Layer::ResourcePolicy || key_blocks)
                .map(|l| to_blocker(*l))
                .collect();
            if key_blocks && !blockers.contains(&Blocker::KeyPolicy) {
                blockers.push(Blocker::KeyPolicy);
            }
            // With a key policy that delegates to the account, what is missing is the
            // identity grant even when the evaluator names the resource layer.
            let resource_only = evaluation
                .blocked_by
                .iter()
                .all(|l| *l == Layer::ResourcePolicy);
            if blockers.is_empty() || (resource_only && !key_blocks) {
                blockers.push(Blocker::IdentityPolicy);
            }
            blockers.sort_by_key(|b| *b as u8);
            blockers.dedup();
            // A key policy of this account that neither names the role nor delegates to
            // the account ignores identity grants: the key policy change alone fixes it
            // (the corrected key policy names the role), so the patch adds nothing that
            // could not take effect. A key in another account needs both.
            let same_account_key = owner.as_deref().is_none_or(|o| o == account);
            let needs_identity =
                blockers.contains(&Blocker::IdentityPolicy) && !(key_blocks && same_account_key);
            (blockers, vec![], needs_identity)
        };
    // An allow conditional on context the evidence lacks may already hold: granting the
    // action without that condition would prove nothing and widen the role, so no grant.
    let conditional = !evaluation.allow_depends_on.is_empty();
    let needs_identity = needs_identity && !conditional;
    let fixable = needs_identity && blocked_by.iter().all(|b| *b == Blocker::IdentityPolicy);
    let who_must_act = if conditional {
        Some(depends_words(&req.action, &evaluation.allow_depends_on))
    } else {
        (!fixable).then(|| match owner.as_deref() {
            // A key of another account: name that account and what its policy must say.
            Some(o) if o != account && blocked_by.contains(&Blocker::KeyPolicy) => format!(
                "the administrators of the key in account {o}: its key policy must allow `{}` (or account {account}) the KMS actions listed (see the key policy fix)",
                subject.arn
            ),
            _ => who_must_act(&blocked_by),
        })
    };
    let mut assumed_context = evaluation.allow_depends_on.clone();
    assumed_context.extend(evaluation.deny_depends_on.iter().cloned());
    result.needs_identity_grant = needs_identity;
    result.finding = Some(Finding {
        action: req.action.clone(),
        resource: req.resource.clone(),
        principal: subject.arn.clone(),
        fixable_by_patch: fixable,
        blocked_by,
        denied_by,
        why: req.why.clone(),
        who_must_act,
        assumed_context,
    });
    result
}

/// The context keys a check's outcome hinges on, when it is not proven because of
/// them: those of a conditional allow, then those of a conditional deny.
pub fn depends_on(c: &Check) -> Vec<String> {
    let mut keys = c.evaluation.allow_depends_on.clone();
    keys.extend(c.evaluation.deny_depends_on.iter().cloned());
    keys
}

/// Checks with no finding that are still not proven: allowed only while context the
/// evidence lacks stays absent, or open to a Deny that hinges on it ("may be denied").
/// Gaps, never passes.
pub fn unproven(checks: &[Check], role_arn: Option<&str>) -> Vec<Unverified> {
    checks
        .iter()
        .filter(|c| c.finding.is_none() && c.undecided.is_none())
        // A finding on the same request (e.g. from the decoded message's context) says more.
        .filter(|c| {
            !checks.iter().any(|o| {
                o.finding.is_some()
                    && o.principal_arn == c.principal_arn
                    && o.requirement.resource == c.requirement.resource
                    && o.requirement.action.eq_ignore_ascii_case(&c.requirement.action)
            })
        })
        .filter_map(|c| {
            let shown = keys_shown;
            let why = if !c.evaluation.allow_depends_on.is_empty() {
                format!(
                    "the allow depends on {}, which the evidence does not carry: it holds only if that context is absent",
                    shown(&c.evaluation.allow_depends_on)
                )
            } else if !c.evaluation.deny_depends_on.is_empty() {
                format!(
                    "it may be denied: a Deny depends on {}, which the evidence does not carry",
                    shown(&c.evaluation.deny_depends_on)
                )
            } else {
                return None;
            };
            let part = if Some(c.principal_arn.as_str()) == role_arn {
                EvidencePart::RestoreRole
            } else {
                EvidencePart::Caller
            };
            Some(Unverified::new(
                part,
                format!(
                    "`{}` on `{}` for `{}`",
                    super::validated::shown(&c.requirement.action),
                    super::validated::shown(&c.requirement.resource),
                    super::validated::shown(&c.principal_arn)
                ),
                why,
            ))
        })
        .collect()
}

/// What to do about an allow that depends on unknown context.
pub fn depends_words(action: &str, keys: &[String]) -> String {
    format!(
        "the role owner: the allow of `{}` depends on {}, which the evidence does not carry; check that value on the request and the resource (restore-doctor does not grant around the condition)",
        super::validated::shown(action),
        keys_shown(keys)
    )
}

/// Context keys (hostile text) for a sentence: each shown safely, in backticks.
pub fn keys_shown(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("`{}`", super::validated::shown(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sentence for a request one of AWS's own rules denies.
pub fn hard_rule_words(rule: &crate::policy::hard_rules::AwsRule) -> String {
    format!(
        "no one: {} ({}; source: {})",
        crate::policy::hard_rules::NO_PATCH,
        rule.why,
        rule.source
    )
}

/// Who can remove a blocker that no role patch fixes.
pub fn who_must_act(blockers: &[Blocker]) -> String {
    let mut who: Vec<&str> = blockers
        .iter()
        .filter_map(|b| match b {
            Blocker::IdentityPolicy => None,
            Blocker::IdentityDeny => Some("the owner of the denying identity policy (remove or narrow the Deny statement)"),
            Blocker::PermissionBoundary => Some("whoever manages the role's permissions boundary"),
            Blocker::Scp => Some("the organization's administrators (SCPs are managed in the management account)"),
            Blocker::Rcp => Some("the organization's administrators (RCPs are managed in the management account)"),
            Blocker::SessionPolicy => Some("whoever passes the session policy"),
            Blocker::KeyPolicy => Some("the KMS key administrators (the key policy must allow the role or delegate to the account)"),
            Blocker::VaultAccessPolicy => Some("the backup vault owner (edit the vault access policy)"),
            Blocker::TrustPolicy => Some("the role owner (edit the trust policy)"),
            Blocker::AwsRule => Some("no one: AWS does not allow this: no patch can fix it"),
        })
        .collect();
    who.dedup();
    who.join("; ")
}
