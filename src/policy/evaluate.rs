//! AWS's policy evaluation logic, with the evidence for the decision.
//!
//! 1. An explicit deny in any applicable layer wins.
//! 2. Every SCP level must allow (IAM callers only, not service-linked roles); RCPs
//!    only deny (AWS attaches an allow-all RCP at every level).
//! 3. Same account: an identity-policy allow, or a resource-policy allow that names
//!    the caller, suffices. A grant to the caller's role (rather than its session) or
//!    through identity policies is limited by the permissions boundary and the session
//!    policy; a grant naming the caller itself is limited by the session policy only.
//! 4. Cross account: the resource policy and the caller's own policies must both allow.
//! 5. KMS keys and role trust policies must allow themselves: identity policies only
//!    count when the resource policy delegates to the caller's account.
//!
//! Before all of that, AWS's own rules ([`super::hard_rules`]) deny what no policy can
//! allow. After it, a statement whose outcome hinges on context keys the request lacks
//! is tried both ways: when the decision changes, the keys are reported in
//! [`Evaluation::allow_depends_on`] or [`Evaluation::deny_depends_on`].

use std::cell::RefCell;

use super::arn::{arn_covers, arn_matches_in, arn_matches_tokens, arn_overlaps, Arn};
use super::condition::conditions_hold;
use super::context::Context;
use super::document::{ActionBlock, Effect, PrincipalBlock, ResourceBlock, Statement};
use super::error::EvalError;
use super::hard_rules::hard_rule;
use super::limits::MAX_MATCH_STEPS;
use super::principal::{names, Caller, Named};
use super::types::check_request;
use super::types::{
    Decision, Evaluation, Layer, LayerOutcome, LayerResult, NamedPolicy, OrgLevel, PolicySet,
    Request, StatementRef,
};
use super::variables::{expand, has_variables};
use super::wildcard::{action_matches_in, tokens, Budget, Tok};

/// How `*` and `?` in [`Request::resource`] are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResourceWildcards {
    /// Literally: `*` is the resource of actions without resource-level permissions.
    #[default]
    Literal,
    /// As a set of resources (a simulator question): an Allow counts when it applies
    /// to some resource of the set, a Deny only when it applies to all of them.
    Pattern,
}

/// Knobs of [`evaluate_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvaluateOptions {
    pub resource_wildcards: ResourceWildcards,
}

/// Decides a request the way AWS does and explains the decision.
///
/// Fails, rather than deciding, on a request larger than AWS accepts or one whose
/// decision would take more than [`MAX_MATCH_STEPS`] matching steps (see
/// [`super::limits`]); the caller reports such a request as unverified.
pub fn evaluate(request: &Request, policies: &PolicySet) -> Result<Evaluation, EvalError> {
    evaluate_with(request, policies, &EvaluateOptions::default())
}

/// [`evaluate`] with options.
pub fn evaluate_with(
    request: &Request,
    policies: &PolicySet,
    options: &EvaluateOptions,
) -> Result<Evaluation, EvalError> {
    check_request(request)?;
    if let Some(rule) = hard_rule(&request.action, &request.resource) {
        return Ok(Evaluation {
            decision: Decision::ExplicitlyDenied,
            blocked_by: Vec::new(),
            layers: Vec::new(),
            missing_context_keys: Vec::new(),
            allow_depends_on: Vec::new(),
            deny_depends_on: Vec::new(),
            hard_rule: Some(rule.into()),
        });
    }
    let too_complex = || EvalError::TooComplex {
        max: MAX_MATCH_STEPS,
    };
    let (mut evaluation, exhausted, unknown) = decide(request, policies, options, Force::default());
    // Answers given after the budget ran out are void, whichever way they went.
    if exhausted {
        return Err(too_complex());
    }
    // A statement that hinges on unknown context matters only when forcing it one way
    // or the other changes the decision.
    let hinges = |force_false: Force, force_true: Force| -> Result<bool, EvalError> {
        let (low, low_exhausted, _) = decide(request, policies, options, force_false);
        let (high, high_exhausted, _) = decide(request, policies, options, force_true);
        if low_exhausted || high_exhausted {
            return Err(too_complex());
        }
        // Which kind of deny does not matter: only whether the request is allowed.
        Ok((low.decision == Decision::Allowed) != (high.decision == Decision::Allowed))
    };
    if !unknown.allow.is_empty()
        && hinges(
            Force {
                allow: Some(false),
                deny: None,
            },
            Force {
                allow: Some(true),
                deny: None,
            },
        )?
    {
        evaluation.allow_depends_on = sorted_keys(unknown.allow);
    }
    if !unknown.deny.is_empty()
        && hinges(
            Force {
                allow: None,
                deny: Some(false),
            },
            Force {
                allow: None,
                deny: Some(true),
            },
        )?
    {
        evaluation.deny_depends_on = sorted_keys(unknown.deny);
    }
    Ok(evaluation)
}

/// How statements that hinge on unknown context are taken, per effect: `None` as AWS's
/// rules for absent keys say, else as applying (`true`) or not.
#[derive(Debug, Clone, Copy, Default)]
struct Force {
    allow: Option<bool>,
    deny: Option<bool>,
}

/// The context keys of the statements that hinge on them, by effect.
#[derive(Debug, Default)]
struct Unknown {
    allow: Vec<String>,
    deny: Vec<String>,
}

fn sorted_keys(mut keys: Vec<String>) -> Vec<String> {
    keys.sort_by_key(|k| k.to_ascii_lowercase());
    keys.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    keys
}

/// The decision, and whether the matching budget ran out while making it.
fn decide(
    request: &Request,
    policies: &PolicySet,
    options: &EvaluateOptions,
    force: Force,
) -> (Evaluation, bool, Unknown) {
    let caller = Caller::classify(&request.principal);
    let resource_account = resource_account(request, &caller);
    let resource_pattern = match options.resource_wildcards {
        ResourceWildcards::Pattern if request.resource.contains(['*', '?']) => {
            Some(tokens(&request.resource))
        }
        _ => None,
    };
    let req = Req {
        caller,
        action: &request.action,
        resource: &request.resource,
        resource_pattern,
        ctx: Context::new(request, &caller, &resource_account),
        force,
        unknown: RefCell::new(Unknown::default()),
    };
    let mut missing = Vec::new();

    // Calling sts:GetCallerIdentity needs no permission and cannot be denied.
    if request.action.eq_ignore_ascii_case("sts:GetCallerIdentity") {
        return (
            Evaluation {
                decision: Decision::Allowed,
                blocked_by: Vec::new(),
                layers: Vec::new(),
                missing_context_keys: Vec::new(),
                allow_depends_on: Vec::new(),
                deny_depends_on: Vec::new(),
                hard_rule: None,
            },
            false,
            Unknown::default(),
        );
    }

    let is_iam = matches!(caller, Caller::Iam(_));
    let service_linked = caller.is_service_linked_role();
    let boundaries = is_iam && !policies.permission_boundaries.is_empty();
    let aws_owned = resource_account == AWS_OWNED;

    let mut layers = Vec::new();

    // Organization policies.
    let scps = if is_iam && !service_linked {
        org_levels(Layer::Scp, &policies.scps, &req, &mut missing)
    } else {
        not_applicable_levels(Layer::Scp, &policies.scps)
    };
    let rcps = if !service_linked && !aws_owned {
        org_levels(Layer::Rcp, &policies.rcps, &req, &mut missing)
    } else {
        not_applicable_levels(Layer::Rcp, &policies.rcps)
    };

    // The resource policy names principals; the other layers apply to the caller.
    let rp = match &policies.resource_policy {
        Some(p) => {
            let mut acc = Acc::default();
            scan(p, &req, Scope::Named { boundaries }, &mut acc, &mut missing);
            Some(acc)
        }
        None => None,
    };
    let identity = is_iam.then(|| scan_all(&policies.identity, &req, &mut missing));
    let boundary = if boundaries {
        let mut acc = Acc::default();
        let mut every = true;
        for p in &policies.permission_boundaries {
            let before = acc.allowed_by.len();
            scan(p, &req, Scope::Caller, &mut acc, &mut missing);
            every &= acc.allowed_by.len() > before;
        }
        Some((acc, every))
    } else {
        None
    };
    let session = match (&policies.session_policy, is_iam) {
        (Some(p), true) => {
            let mut acc = Acc::default();
            scan(p, &req, Scope::Caller, &mut acc, &mut missing);
            Some(acc)
        }
        _ => None,
    };

    // 1. Explicit denies.
    let mut denied: Vec<Layer> = Vec::new();
    if scps
        .iter()
        .any(|l| l.outcome == LayerOutcome::ExplicitlyDenied)
    {
        denied.push(Layer::Scp);
    }
    if rcps
        .iter()
        .any(|l| l.outcome == LayerOutcome::ExplicitlyDenied)
    {
        denied.push(Layer::Rcp);
    }
    for (layer, acc) in [
        (Layer::ResourcePolicy, rp.as_ref()),
        (Layer::Identity, identity.as_ref()),
        (Layer::PermissionBoundary, boundary.as_ref().map(|(a, _)| a)),
        (Layer::SessionPolicy, session.as_ref()),
    ] {
        if acc.is_some_and(|a| !a.denied_by.is_empty()) {
            denied.push(layer);
        }
    }

    // 2-5. What allows.
    let rp_named = rp.as_ref().map_or(Named::No, |a| a.best);
    let grants = Grants {
        identity: identity.as_ref().is_some_and(|a| !a.allowed_by.is_empty()),
        boundary: boundary.as_ref().is_none_or(|(_, every)| *every),
        session: session.as_ref().is_none_or(|a| !a.allowed_by.is_empty()),
        rp_direct: rp.as_ref().is_some_and(|a| a.direct),
        rp_role: rp.as_ref().is_some_and(|a| a.role),
        rp_account: rp.as_ref().is_some_and(|a| a.account),
    };
    let mut blocked: Vec<Layer> = Vec::new();
    if scps
        .iter()
        .any(|l| l.outcome == LayerOutcome::ImplicitlyDenied)
    {
        blocked.push(Layer::Scp);
    }
    let resource_arn = Arn::parse(&request.resource);
    let needs_own_grant = resource_arn.is_some_and(|arn| guards_itself(&arn, &request.action));
    match caller {
        Caller::Anonymous | Caller::Service(_) => {
            if rp_named == Named::No {
                blocked.push(Layer::ResourcePolicy);
            }
        }
        Caller::Iam(c) => {
            if aws_owned {
                if !is_read_action(&request.action) {
                    blocked.push(Layer::ResourcePolicy);
                }
                grants.caller_side(&mut blocked);
            } else if c.account == resource_account {
                grants.same_account(needs_own_grant, &mut blocked);
            } else {
                if rp_named == Named::No {
                    blocked.push(Layer::ResourcePolicy);
                }
                grants.caller_side(&mut blocked);
            }
        }
    }
    blocked.sort();
    blocked.dedup();

    // Explanation, in evaluation order.
    layers.extend(scps);
    layers.extend(rcps);
    let mut rp_result = layer_result(Layer::ResourcePolicy, rp, None);
    if rp_result.outcome == LayerOutcome::NotApplicable && blocked.contains(&Layer::ResourcePolicy)
    {
        // Absent, but this request needed one.
        rp_result.outcome = LayerOutcome::ImplicitlyDenied;
    }
    layers.push(rp_result);
    layers.push(layer_result(Layer::Identity, identity, None));
    let every = boundary.as_ref().map(|(_, every)| *every);
    layers.push(layer_result(
        Layer::PermissionBoundary,
        boundary.map(|(a, _)| a),
        every,
    ));
    layers.push(layer_result(Layer::SessionPolicy, session, None));

    missing.sort_by_key(|k| k.to_ascii_lowercase());
    missing.dedup_by(|a, b| a.eq_ignore_ascii_case(b));

    let (decision, blocked_by) = if !denied.is_empty() {
        (Decision::ExplicitlyDenied, denied)
    } else if !blocked.is_empty() {
        (Decision::ImplicitlyDenied, blocked)
    } else {
        (Decision::Allowed, Vec::new())
    };
    let exhausted = req.ctx.budget().exhausted();
    (
        Evaluation {
            decision,
            blocked_by,
            layers,
            missing_context_keys: missing,
            allow_depends_on: Vec::new(),
            deny_depends_on: Vec::new(),
            hard_rule: None,
        },
        exhausted,
        req.unknown.into_inner(),
    )
}

/// The account of AWS-owned resources such as AWS managed policies.
const AWS_OWNED: &str = "aws";

/// Which allows were found, for the allow rules.
struct Grants {
    identity: bool,
    boundary: bool,
    session: bool,
    rp_direct: bool,
    rp_role: bool,
    rp_account: bool,
}

impl Grants {
    /// The caller's own side: identity policies within boundary and session policy.
    fn caller_side(&self, blocked: &mut Vec<Layer>) {
        if !self.identity {
            blocked.push(Layer::Identity);
        }
        self.limits(blocked);
    }

    fn limits(&self, blocked: &mut Vec<Layer>) {
        if !self.boundary {
            blocked.push(Layer::PermissionBoundary);
        }
        if !self.session {
            blocked.push(Layer::SessionPolicy);
        }
    }

    fn same_account(&self, needs_own_grant: bool, blocked: &mut Vec<Layer>) {
        // A grant to the caller's role adds to its identity policies.
        let through_identity = if needs_own_grant {
            (self.identity && self.rp_account) || self.rp_role
        } else {
            self.identity || self.rp_role
        };
        let identity_path = through_identity && self.boundary && self.session;
        let direct_path = self.rp_direct && self.session;
        if identity_path || direct_path {
            return;
        }
        if through_identity || self.rp_direct {
            self.limits(blocked);
            return;
        }
        if needs_own_grant && !self.rp_account {
            blocked.push(Layer::ResourcePolicy);
        }
        if !self.identity {
            blocked.push(Layer::Identity);
        }
        self.limits(blocked);
    }
}

/// Resources whose own policy must allow: KMS keys (key policy) and roles being
/// assumed (trust policy).
fn guards_itself(arn: &Arn<'_>, action: &str) -> bool {
    match arn.service {
        "kms" => arn.resource.starts_with("key/"),
        "iam" => {
            arn.resource.starts_with("role/")
                && [
                    "sts:AssumeRole",
                    "sts:AssumeRoleWithSAML",
                    "sts:AssumeRoleWithWebIdentity",
                    "sts:TagSession",
                    "sts:SetSourceIdentity",
                    "sts:SetContext",
                ]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(action))
        }
        _ => false,
    }
}

/// Read-only actions, which every account may call on AWS-owned resources.
fn is_read_action(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Get", "List", "Describe", "Generate", "Simulate"]
        .iter()
        .any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
}

/// The account that owns the resource: AWS for AWS-owned ARNs, else the request's
/// word, else the ARN's account, else the caller's.
fn resource_account(request: &Request, caller: &Caller<'_>) -> String {
    let arn_account = Arn::parse(&request.resource).map(|a| a.account);
    if arn_account == Some(AWS_OWNED) {
        return AWS_OWNED.to_owned();
    }
    request
        .resource_account
        .as_deref()
        .filter(|a| !a.is_empty())
        .or(arn_account.filter(|a| !a.is_empty()))
        .or(caller.account())
        .unwrap_or_default()
        .to_owned()
}

/// The request, prepared once.
struct Req<'a> {
    caller: Caller<'a>,
    action: &'a str,
    resource: &'a str,
    /// Set when the resource holds wildcards read as a set of resources.
    resource_pattern: Option<Vec<Tok>>,
    ctx: Context<'a>,
    force: Force,
    /// Statements found hinging on unknown context, filled while scanning.
    unknown: RefCell<Unknown>,
}

/// What a layer found.
#[derive(Default)]
struct Acc {
    allowed_by: Vec<StatementRef>,
    denied_by: Vec<StatementRef>,
    /// How the best allow named the caller (resource policies).
    best: Named,
    direct: bool,
    role: bool,
    account: bool,
}

/// Whose principal element counts.
#[derive(Clone, Copy)]
enum Scope {
    /// Policies attached to the caller: `Principal` is ignored.
    Caller,
    /// Resource policies: the statement must name the caller. With a permissions
    /// boundary, a `Deny` with `NotPrincipal` applies to everyone (AWS documents this).
    Named { boundaries: bool },
    /// RCPs: a principal element, when present, must match.
    Org,
}

fn scan_all(policies: &[NamedPolicy], req: &Req<'_>, missing: &mut Vec<String>) -> Acc {
    let mut acc = Acc::default();
    for p in policies {
        scan(p, req, Scope::Caller, &mut acc, missing);
    }
    acc
}

fn scan(
    policy: &NamedPolicy,
    req: &Req<'_>,
    scope: Scope,
    acc: &mut Acc,
    missing: &mut Vec<String>,
) {
    let variables = policy.policy.uses_variables();
    let budget = req.ctx.budget();
    for (index, st) in policy.policy.statements().iter().enumerate() {
        if budget.exhausted() {
            return;
        }
        if !action_applies(&st.action, req.action, budget) {
            continue;
        }
        let named = match scope {
            Scope::Caller => Named::Directly,
            Scope::Org if st.principal.is_none() => Named::Directly,
            Scope::Org => names(st.principal.as_ref(), &req.caller),
            Scope::Named { boundaries } => {
                let denies_all = boundaries
                    && st.effect == Effect::Deny
                    && matches!(st.principal, Some(PrincipalBlock::NotPrincipal(_)));
                if denies_all {
                    Named::Directly
                } else {
                    names(st.principal.as_ref(), &req.caller)
                }
            }
        };
        if named == Named::No {
            continue;
        }
        let before = missing.len();
        let applies = resource_applies(st, req, variables, missing)
            && conditions_hold(&st.condition, &req.ctx, variables, missing);
        let tested_unknown = missing.get(before..).unwrap_or_default().to_vec();
        let applies = if tested_unknown.is_empty() {
            applies
        } else {
            settle(st, req, variables, applies, tested_unknown)
        };
        if !applies {
            continue;
        }
        let sref = StatementRef {
            policy: policy.name.clone(),
            sid: st.sid.clone(),
            index,
        };
        match st.effect {
            Effect::Deny => acc.denied_by.push(sref),
            Effect::Allow => {
                acc.allowed_by.push(sref);
                acc.best = acc.best.max(named);
                match named {
                    Named::Directly => acc.direct = true,
                    Named::Role => acc.role = true,
                    Named::Account => acc.account = true,
                    Named::No => {}
                }
            }
        }
    }
}

/// Whether a statement that tested keys the request lacks applies: when the unknown
/// keys can make it go either way it is recorded as hinging on them, and taken as the
/// evaluation's [`Force`] says (by AWS's rules for absent keys unless forced).
fn settle(
    st: &Statement,
    req: &Req<'_>,
    variables: bool,
    by_absence: bool,
    keys: Vec<String>,
) -> bool {
    let mut scratch = Vec::new();
    let mut outcome = |assumed: bool| {
        req.ctx.assume(Some(assumed));
        let applies = resource_applies(st, req, variables, &mut scratch)
            && conditions_hold(&st.condition, &req.ctx, variables, &mut scratch);
        req.ctx.assume(None);
        applies
    };
    let could_apply = outcome(true);
    let could_not = !outcome(false);
    if !(could_apply && could_not) {
        return by_absence;
    }
    let mut unknown = req.unknown.borrow_mut();
    let forced = match st.effect {
        Effect::Allow => {
            unknown.allow.extend(keys);
            req.force.allow
        }
        Effect::Deny => {
            unknown.deny.extend(keys);
            req.force.deny
        }
    };
    forced.unwrap_or(by_absence)
}

fn action_applies(block: &ActionBlock, action: &str, budget: &Budget) -> bool {
    let any = |v: &super::document::Values| {
        v.iter()
            .take_while(|_| !budget.exhausted())
            .any(|p| action_matches_in(p, action, budget))
    };
    match block {
        ActionBlock::Action(v) => any(v),
        ActionBlock::NotAction(v) => !any(v),
    }
}

/// How one policy resource value relates to the requested resource.
#[derive(Clone, Copy)]
enum Relation {
    /// Applies to some of the requested resources.
    Some,
    /// Applies to all of them.
    All,
}

fn resource_applies(
    st: &Statement,
    req: &Req<'_>,
    variables: bool,
    missing: &mut Vec<String>,
) -> bool {
    let allow = st.effect == Effect::Allow;
    match &st.resource {
        None => true,
        Some(ResourceBlock::Resource(values)) => {
            let rel = if allow { Relation::Some } else { Relation::All };
            values
                .iter()
                .any(|v| resource_value_matches(v, rel, req, variables, missing))
        }
        Some(ResourceBlock::NotResource(values)) => {
            // An Allow applies unless the excluded values cover every requested
            // resource; a Deny only when they cover none of them.
            let rel = if allow { Relation::All } else { Relation::Some };
            !values
                .iter()
                .any(|v| resource_value_matches(v, rel, req, variables, missing))
        }
    }
}

fn resource_value_matches(
    value: &str,
    rel: Relation,
    req: &Req<'_>,
    variables: bool,
    missing: &mut Vec<String>,
) -> bool {
    let expanded;
    let toks: Option<&[Tok]> = if variables && has_variables(value) {
        match expand(value, &req.ctx, true, missing) {
            Some(t) => {
                expanded = t;
                Some(&expanded)
            }
            None => return false,
        }
    } else {
        None
    };
    let budget = req.ctx.budget();
    match &req.resource_pattern {
        None => match toks {
            Some(t) => arn_matches_tokens(t, req.resource, budget),
            None => arn_matches_in(value, req.resource, budget),
        },
        Some(request) => {
            let owned;
            let pattern = match toks {
                Some(t) => t,
                None => {
                    owned = tokens(value);
                    &owned
                }
            };
            match rel {
                Relation::Some => arn_overlaps(pattern, request, budget),
                Relation::All => arn_covers(pattern, request, budget),
            }
        }
    }
}

fn org_levels(
    layer: Layer,
    levels: &[OrgLevel],
    req: &Req<'_>,
    missing: &mut Vec<String>,
) -> Vec<LayerResult> {
    levels
        .iter()
        .map(|level| {
            let mut acc = Acc::default();
            let scope = if layer == Layer::Rcp {
                Scope::Org
            } else {
                Scope::Caller
            };
            for p in &level.policies {
                scan(p, req, scope, &mut acc, missing);
            }
            // AWS attaches RCPFullAWSAccess at every level: RCPs only deny.
            let allowed = !acc.allowed_by.is_empty() || layer == Layer::Rcp;
            concluded(layer, Some(level.org_identifier.clone()), acc, allowed)
        })
        .collect()
}

fn not_applicable_levels(layer: Layer, levels: &[OrgLevel]) -> Vec<LayerResult> {
    levels
        .iter()
        .map(|level| not_applicable(layer, Some(level.org_identifier.clone())))
        .collect()
}

/// `every`: for boundaries, whether every boundary allowed.
fn layer_result(layer: Layer, acc: Option<Acc>, every: Option<bool>) -> LayerResult {
    match acc {
        Some(acc) => {
            let allowed = every.unwrap_or(!acc.allowed_by.is_empty());
            concluded(layer, None, acc, allowed)
        }
        None => not_applicable(layer, None),
    }
}

fn concluded(layer: Layer, org_identifier: Option<String>, acc: Acc, allowed: bool) -> LayerResult {
    let outcome = if !acc.denied_by.is_empty() {
        LayerOutcome::ExplicitlyDenied
    } else if allowed {
        LayerOutcome::Allowed
    } else {
        LayerOutcome::ImplicitlyDenied
    };
    LayerResult {
        layer,
        outcome,
        org_identifier,
        allowed_by: acc.allowed_by,
        denied_by: acc.denied_by,
    }
}

fn not_applicable(layer: Layer, org_identifier: Option<String>) -> LayerResult {
    LayerResult {
        outcome: LayerOutcome::NotApplicable,
        ..concluded(layer, org_identifier, Acc::default(), false)
    }
}
