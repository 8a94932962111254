//! The policies that apply to an IAM role or user, and instance profiles, read with the
//! IAM read APIs. Documents come back URL-encoded (real IAM and moto alike): decoded here.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use futures::{stream, StreamExt};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::error::call_error;
use crate::diagnose::evidence::{
    EvidencePart, Gap, InstanceProfile, PolicyDoc, PolicyKind, Principal, RoleFacts,
};
use crate::diagnose::validated::{is_iam_name, RoleArn};

/// How many policy documents of one principal are read at once (IAM throttles bursts).
const DOCUMENT_CONCURRENCY: usize = 4;

/// A principal with everything that could be read, and what could not.
pub type Collected = Result<(Principal, Vec<Gap>), Gap>;

fn gap(part: EvidencePart, call: String, error: impl std::fmt::Display) -> Gap {
    Gap {
        part,
        call,
        error: error.to_string(),
    }
}

/// A policy document as IAM returns it: URL-encoded JSON (already-decoded JSON is
/// accepted too). A document that is not JSON is kept as a string, so the diagnosis can
/// say it could not read it instead of failing.
pub fn decode_document(raw: &str) -> Value {
    if let Ok(value) = serde_json::from_str(raw) {
        return value;
    }
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or_else(|_| Value::String(decoded.into_owned()))
}

fn managed_kind(arn: &str) -> PolicyKind {
    if arn.split(':').nth(4) == Some("aws") {
        PolicyKind::AwsManaged
    } else {
        PolicyKind::Managed
    }
}

/// GetPolicy (for the default version) then GetPolicyVersion.
async fn managed_policy(
    iam: &Client,
    arn: &str,
    kind: PolicyKind,
    part: EvidencePart,
) -> Result<PolicyDoc, Gap> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| gap(part, format!("iam:GetPolicy {arn}"), call_error(&e)))?;
    let policy = policy.policy();
    let name = policy
        .and_then(|p| p.policy_name())
        .map(str::to_owned)
        .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn).to_owned());
    let version = policy
        .and_then(|p| p.default_version_id())
        .ok_or_else(|| gap(part, format!("iam:GetPolicy {arn}"), "no default version"))?;
    let document = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| {
            gap(
                part,
                format!("iam:GetPolicyVersion {arn} {version}"),
                call_error(&e),
            )
        })?
        .policy_version()
        .and_then(|v| v.document())
        .map(decode_document)
        .ok_or_else(|| {
            gap(
                part,
                format!("iam:GetPolicyVersion {arn} {version}"),
                "no document returned",
            )
        })?;
    Ok(PolicyDoc {
        name,
        arn: Some(arn.to_owned()),
        kind,
        document,
    })
}

/// Reads documents a few at a time, keeping their order; failures become gaps.
async fn read_all<F>(futures: Vec<F>, docs: &mut Vec<PolicyDoc>, gaps: &mut Vec<Gap>)
where
    F: std::future::Future<Output = Result<PolicyDoc, Gap>>,
{
    let results: Vec<_> = stream::iter(futures)
        .buffered(DOCUMENT_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(doc) => docs.push(doc),
            Err(g) => gaps.push(g),
        }
    }
}

fn tags<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A role: GetRole (trust policy, permissions boundary, tags), its inline policies and its
/// attached managed policies. `Err` only when the role itself cannot be read.
pub async fn role(iam: &Client, name: &str, part: EvidencePart) -> Collected {
    if !is_iam_name(name) {
        return Err(gap(
            part,
            "iam:GetRole".into(),
            "not attempted: not an IAM role name",
        ));
    }
    let (got, inline, attached) = futures::join!(
        iam.get_role().role_name(name).send(),
        iam.list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
        iam.list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
    );
    let got = got.map_err(|e| gap(part, format!("iam:GetRole {name}"), call_error(&e)))?;
    let role = got
        .role()
        .ok_or_else(|| gap(part, format!("iam:GetRole {name}"), "no role returned"))?;

    let mut gaps = Vec::new();
    let mut policies = Vec::new();
    match inline {
        Ok(names) => {
            let reads = names
                .iter()
                .map(|policy| async move {
                    let out = iam
                        .get_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send()
                        .await
                        .map_err(|e| {
                            gap(
                                part,
                                format!("iam:GetRolePolicy {name} {policy}"),
                                call_error(&e),
                            )
                        })?;
                    Ok(PolicyDoc {
                        name: policy.clone(),
                        arn: None,
                        kind: PolicyKind::Inline,
                        document: decode_document(out.policy_document()),
                    })
                })
                .collect();
            read_all(reads, &mut policies, &mut gaps).await;
        }
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListRolePolicies {name}"),
            call_error(&e),
        )),
    }
    match attached {
        Ok(list) => {
            let arns: Vec<String> = list
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            let reads = arns
                .iter()
                .map(|arn| managed_policy(iam, arn, managed_kind(arn), part))
                .collect();
            read_all(reads, &mut policies, &mut gaps).await;
        }
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListAttachedRolePolicies {name}"),
            call_error(&e),
        )),
    }
    let permission_boundary = boundary(
        iam,
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        part,
        &mut gaps,
    )
    .await;
    let principal = Principal {
        arn: role.arn().to_owned(),
        session_arn: None,
        policies,
        permission_boundary,
        trust_policy: role.assume_role_policy_document().map(decode_document),
        tags: tags(role.tags().iter().map(|t| (t.key(), t.value()))),
    };
    Ok((principal, gaps))
}

async fn boundary(
    iam: &Client,
    arn: Option<&str>,
    part: EvidencePart,
    gaps: &mut Vec<Gap>,
) -> Option<PolicyDoc> {
    let arn = arn?;
    match managed_policy(iam, arn, PolicyKind::PermissionBoundary, part).await {
        Ok(doc) => Some(doc),
        Err(g) => {
            gaps.push(g);
            None
        }
    }
}

/// A user: GetUser (boundary, tags), its inline and attached policies, and the inline and
/// attached policies of its groups (group inline policies are named `group/<group>/<policy>`).
pub async fn user(iam: &Client, name: &str, part: EvidencePart) -> Collected {
    if !is_iam_name(name) {
        return Err(gap(
            part,
            "iam:GetUser".into(),
            "not attempted: not an IAM user name",
        ));
    }
    let (got, inline, attached, groups) = futures::join!(
        iam.get_user().user_name(name).send(),
        iam.list_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
        iam.list_attached_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
        iam.list_groups_for_user()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
    );
    let got = got.map_err(|e| gap(part, format!("iam:GetUser {name}"), call_error(&e)))?;
    let user = got
        .user()
        .ok_or_else(|| gap(part, format!("iam:GetUser {name}"), "no user returned"))?;

    let mut gaps = Vec::new();
    let mut policies = Vec::new();
    let mut managed: BTreeSet<String> = BTreeSet::new();
    match inline {
        Ok(names) => {
            let reads = names
                .iter()
                .map(|policy| async move {
                    let out = iam
                        .get_user_policy()
                        .user_name(name)
                        .policy_name(policy)
                        .send()
                        .await
                        .map_err(|e| {
                            gap(
                                part,
                                format!("iam:GetUserPolicy {name} {policy}"),
                                call_error(&e),
                            )
                        })?;
                    Ok(PolicyDoc {
                        name: policy.clone(),
                        arn: None,
                        kind: PolicyKind::Inline,
                        document: decode_document(out.policy_document()),
                    })
                })
                .collect();
            read_all(reads, &mut policies, &mut gaps).await;
        }
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListUserPolicies {name}"),
            call_error(&e),
        )),
    }
    match attached {
        Ok(list) => managed.extend(
            list.iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned)),
        ),
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListAttachedUserPolicies {name}"),
            call_error(&e),
        )),
    }
    match groups {
        Ok(groups) => {
            let names: Vec<String> = groups.iter().map(|g| g.group_name().to_owned()).collect();
            // A user is in at most 10 groups (IAM quotas); read two at a time all the same.
            let per_group: Vec<_> = stream::iter(names.iter().map(|g| group(iam, g, part)))
                .buffered(2)
                .collect()
                .await;
            for (docs, arns, group_gaps) in per_group {
                policies.extend(docs);
                managed.extend(arns);
                gaps.extend(group_gaps);
            }
        }
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListGroupsForUser {name}"),
            call_error(&e),
        )),
    }
    let reads = managed
        .iter()
        .map(|arn| managed_policy(iam, arn, managed_kind(arn), part))
        .collect();
    read_all(reads, &mut policies, &mut gaps).await;
    let permission_boundary = boundary(
        iam,
        user.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        part,
        &mut gaps,
    )
    .await;
    let principal = Principal {
        arn: user.arn().to_owned(),
        session_arn: None,
        policies,
        permission_boundary,
        trust_policy: None,
        tags: tags(user.tags().iter().map(|t| (t.key(), t.value()))),
    };
    Ok((principal, gaps))
}

/// A group's inline policies (read) and attached policy ARNs (read by the caller, once).
async fn group(
    iam: &Client,
    name: &str,
    part: EvidencePart,
) -> (Vec<PolicyDoc>, Vec<String>, Vec<Gap>) {
    let (inline, attached) = futures::join!(
        iam.list_group_policies()
            .group_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
        iam.list_attached_group_policies()
            .group_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect(),
    );
    let mut docs = Vec::new();
    let mut gaps = Vec::new();
    match inline {
        Ok(names) => {
            let reads = names
                .iter()
                .map(|policy| async move {
                    let out = iam
                        .get_group_policy()
                        .group_name(name)
                        .policy_name(policy)
                        .send()
                        .await
                        .map_err(|e| {
                            gap(
                                part,
                                format!("iam:GetGroupPolicy {name} {policy}"),
                                call_error(&e),
                            )
                        })?;
                    Ok(PolicyDoc {
                        name: format!("group/{name}/{policy}"),
                        arn: None,
                        kind: PolicyKind::Inline,
                        document: decode_document(out.policy_document()),
                    })
                })
                .collect();
            read_all(reads, &mut docs, &mut gaps).await;
        }
        Err(e) => gaps.push(gap(
            part,
            format!("iam:ListGroupPolicies {name}"),
            call_error(&e),
        )),
    }
    let arns = match attached {
        Ok(list) => list
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect(),
        Err(e) => {
            gaps.push(gap(
                part,
                format!("iam:ListAttachedGroupPolicies {name}"),
                call_error(&e),
            ));
            Vec::new()
        }
    };
    (docs, arns, gaps)
}

/// iam:GetRole of `role` for its trust policy (URL-decoded) and tags, without its
/// permissions. The role is read by name, so IAM's answer counts only when its ARN is
/// exactly `role` (path included).
pub async fn role_facts(
    iam: &Client,
    role: &RoleArn,
    part: EvidencePart,
) -> Result<RoleFacts, Gap> {
    let name = role.name();
    let call = || format!("iam:GetRole {name}");
    let out = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| gap(part, call(), call_error(&e)))?;
    let got = out
        .role()
        .ok_or_else(|| gap(part, call(), "no role returned"))?;
    if got.arn() != role.as_str() {
        return Err(gap(
            part,
            call(),
            format!(
                "IAM's role of that name is not `{}`: not used",
                role.as_str()
            ),
        ));
    }
    Ok(RoleFacts {
        arn: role.as_str().to_owned(),
        trust_policy: got.assume_role_policy_document().map(decode_document),
        tags: tags(got.tags().iter().map(|t| (t.key(), t.value()))),
    })
}

/// iam:GetInstanceProfile, by name (checked with [`is_iam_name`] first: no call for a
/// name IAM could not hold).
pub async fn instance_profile(iam: &Client, name: &str) -> Result<InstanceProfile, Gap> {
    let call = || format!("iam:GetInstanceProfile {name}");
    if !is_iam_name(name) {
        return Err(gap(
            EvidencePart::InstanceProfile,
            call(),
            "not attempted: not an IAM name",
        ));
    }
    let out = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| gap(EvidencePart::InstanceProfile, call(), call_error(&e)))?;
    let profile = out.instance_profile().ok_or_else(|| {
        gap(
            EvidencePart::InstanceProfile,
            call(),
            "no instance profile returned",
        )
    })?;
    Ok(InstanceProfile {
        arn: profile.arn().to_owned(),
        name: profile.instance_profile_name().to_owned(),
        role_arns: profile.roles().iter().map(|r| r.arn().to_owned()).collect(),
        roles: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_encoded_and_plain_documents_decode_to_the_same_json() {
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/100%"}]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F100%25%22%7D%5D%7D";
        assert_eq!(decode_document(plain), decode_document(encoded));
        assert_eq!(
            decode_document(encoded)["Statement"][0]["Resource"],
            json!("arn:aws:s3:::b/100%")
        );
    }

    #[test]
    fn a_document_that_is_not_json_is_kept_as_text() {
        assert_eq!(decode_document("%7Bnot json"), json!("{not json"));
    }

    #[test]
    fn aws_managed_policies_are_told_apart_by_the_account_field() {
        assert_eq!(
            managed_kind(
                "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
            ),
            PolicyKind::AwsManaged
        );
        assert_eq!(
            managed_kind("arn:aws:iam::111122223333:policy/Mine"),
            PolicyKind::Managed
        );
    }
}
