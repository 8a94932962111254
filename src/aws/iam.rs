//! The policies that apply to an IAM role or user, and instance profiles, read with the
//! IAM read APIs. Documents come back URL-encoded (real IAM and moto alike): decoded here.
//!
//! Each read starts as soon as what it needs is known: a role's inline policies as soon
//! as ListRolePolicies answers, its managed policies as soon as
//! ListAttachedRolePolicies answers, its boundary as soon as GetRole answers; none waits
//! for the others. So a role with inline, managed and boundary policies costs three
//! dependent calls (list, get, get version), whatever its shape.

use std::collections::BTreeMap;

use std::future::Future;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::AttachedPolicy;
use aws_sdk_iam::Client;
use futures::future::join_all;
use futures::FutureExt;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::budget::{InLane, Lanes, Once, Service};
use super::error::call_error;
use crate::diagnose::evidence::{
    EvidencePart, Gap, InstanceProfile, PolicyDoc, PolicyKind, Principal, RoleFacts,
};
use crate::diagnose::validated::{is_iam_name, RoleArn};

/// A principal with everything that could be read, and what could not.
pub type Collected = Result<(Principal, Vec<Gap>), Gap>;

/// A managed policy's name and default version's document, or the call that failed and
/// why: shared by every principal it is attached to, each of which turns a failure
/// into its own gap.
type ManagedRead = Result<(String, Value), (String, String)>;

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

fn tags<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Documents in the order asked, failures as gaps.
fn sorted_out(
    results: Vec<Result<PolicyDoc, Gap>>,
    docs: &mut Vec<PolicyDoc>,
    gaps: &mut Vec<Gap>,
) {
    for r in results {
        match r {
            Ok(doc) => docs.push(doc),
            Err(g) => gaps.push(g),
        }
    }
}

/// The IAM reads of one gathering: every call in the IAM lane, and each managed policy
/// read once however many principals (or groups) it is attached to.
pub struct Reads<'a> {
    iam: &'a Client,
    lanes: &'a Lanes,
    managed: Once<'a, ManagedRead>,
}

impl<'a> Reads<'a> {
    pub fn new(iam: &'a Client, lanes: &'a Lanes) -> Self {
        Reads {
            iam,
            lanes,
            managed: Once::default(),
        }
    }

    /// GetPolicy (for the default version) then GetPolicyVersion, once per ARN.
    async fn managed_policy(
        &self,
        arn: &str,
        kind: PolicyKind,
        part: EvidencePart,
    ) -> Result<PolicyDoc, Gap> {
        let (iam, lanes) = (self.iam, self.lanes);
        let owned = arn.to_owned();
        let read = self
            .managed
            .get(arn, move || read_managed(iam, lanes, owned).boxed())
            .await;
        match read {
            Ok((name, document)) => Ok(PolicyDoc {
                name,
                arn: Some(arn.to_owned()),
                kind,
                document,
            }),
            Err((call, error)) => Err(gap(part, call, error)),
        }
    }

    /// The managed policies at `arns`, in that order.
    async fn managed_policies(
        &self,
        arns: &[String],
        part: EvidencePart,
    ) -> Vec<Result<PolicyDoc, Gap>> {
        join_all(
            arns.iter()
                .map(|arn| self.managed_policy(arn, managed_kind(arn), part)),
        )
        .await
    }

    /// One identity's inline policies: the names `list` returns, then every document
    /// `get` reads, all at once, each call in the IAM lane. `calls` names the identity
    /// kind's two operations for the gaps; `doc_name` how a document is listed.
    async fn inline_policies<E1, E2, G, F>(
        &self,
        part: EvidencePart,
        (list_call, get_call): (&str, &str),
        name: &str,
        doc_name: impl Fn(&str) -> String,
        list: impl Future<Output = Result<Vec<String>, SdkError<E1, HttpResponse>>>,
        get: G,
    ) -> Result<Vec<Result<PolicyDoc, Gap>>, Gap>
    where
        E1: ProvideErrorMetadata + std::error::Error + 'static,
        E2: ProvideErrorMetadata + std::error::Error + 'static,
        G: Fn(String) -> F,
        F: Future<Output = Result<String, SdkError<E2, HttpResponse>>>,
    {
        let names = list
            .lane(self.lanes, Service::Iam)
            .await
            .map_err(|e| gap(part, format!("{list_call} {name}"), call_error(&e)))?;
        let doc_name = &doc_name;
        Ok(join_all(names.into_iter().map(|policy| {
            let read = get(policy.clone()).lane(self.lanes, Service::Iam);
            async move {
                let document = read.await.map_err(|e| {
                    gap(part, format!("{get_call} {name} {policy}"), call_error(&e))
                })?;
                Ok(PolicyDoc {
                    name: doc_name(&policy),
                    arn: None,
                    kind: PolicyKind::Inline,
                    document: decode_document(&document),
                })
            }
        }))
        .await)
    }

    /// The ARNs of the managed policies `list` (a ListAttached*Policies call) returns.
    async fn attached_arns<E>(
        &self,
        part: EvidencePart,
        list_call: &str,
        name: &str,
        list: impl Future<Output = Result<Vec<AttachedPolicy>, SdkError<E, HttpResponse>>>,
    ) -> Result<Vec<String>, Gap>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let attached = list
            .lane(self.lanes, Service::Iam)
            .await
            .map_err(|e| gap(part, format!("{list_call} {name}"), call_error(&e)))?;
        Ok(attached
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect())
    }

    /// The permissions boundary at `arn`, if any; a failure is a gap.
    async fn boundary(
        &self,
        arn: Option<String>,
        part: EvidencePart,
    ) -> (Option<PolicyDoc>, Option<Gap>) {
        let Some(arn) = arn else {
            return (None, None);
        };
        match self
            .managed_policy(&arn, PolicyKind::PermissionBoundary, part)
            .await
        {
            Ok(doc) => (Some(doc), None),
            Err(g) => (None, Some(g)),
        }
    }

    /// A role: GetRole (trust policy, permissions boundary, tags), its inline policies and
    /// its attached managed policies. `Err` only when the role itself cannot be read.
    pub async fn role(&self, name: &str, part: EvidencePart) -> Collected {
        if !is_iam_name(name) {
            return Err(gap(
                part,
                "iam:GetRole".into(),
                "not attempted: not an IAM role name",
            ));
        }
        let (iam, lanes) = (self.iam, self.lanes);
        let role_and_boundary = async {
            let got = iam
                .get_role()
                .role_name(name)
                .send()
                .lane(lanes, Service::Iam)
                .await
                .map_err(|e| gap(part, format!("iam:GetRole {name}"), call_error(&e)))?;
            let role = got
                .role()
                .ok_or_else(|| gap(part, format!("iam:GetRole {name}"), "no role returned"))?
                .clone();
            let boundary_arn = role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_owned);
            let boundary = self.boundary(boundary_arn, part).await;
            Ok::<_, Gap>((role, boundary))
        };
        let inline = self.inline_policies(
            part,
            ("iam:ListRolePolicies", "iam:GetRolePolicy"),
            name,
            str::to_owned,
            async {
                iam.list_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
            },
            |policy| async move {
                iam.get_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map(|o| o.policy_document().to_owned())
            },
        );
        let attached = async {
            let arns = self
                .attached_arns(part, "iam:ListAttachedRolePolicies", name, async {
                    iam.list_attached_role_policies()
                        .role_name(name)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                })
                .await?;
            Ok::<_, Gap>(self.managed_policies(&arns, part).await)
        };
        let (role_and_boundary, inline, attached) =
            futures::join!(role_and_boundary, inline, attached);
        let (role, (permission_boundary, boundary_gap)) = role_and_boundary?;

        let mut gaps = Vec::new();
        let mut policies = Vec::new();
        for docs in [inline, attached] {
            match docs {
                Ok(results) => sorted_out(results, &mut policies, &mut gaps),
                Err(g) => gaps.push(g),
            }
        }
        gaps.extend(boundary_gap);
        let principal = Principal {
            arn: role.arn().to_owned(),
            session_arn: None,
            policies,
            permission_boundary,
            trust_policy: role.assume_role_policy_document().map(decode_document),
            tags: tags(role.tags().iter().map(|t| (t.key(), t.value()))),
            read_from: None,
        };
        Ok((principal, gaps))
    }

    /// A user: GetUser (boundary, tags), its inline and attached policies, and the inline
    /// and attached policies of its groups (group inline policies are named
    /// `group/<group>/<policy>`). A managed policy attached to the user and a group is
    /// read once and listed once.
    pub async fn user(&self, name: &str, part: EvidencePart) -> Collected {
        if !is_iam_name(name) {
            return Err(gap(
                part,
                "iam:GetUser".into(),
                "not attempted: not an IAM user name",
            ));
        }
        let (iam, lanes) = (self.iam, self.lanes);
        let user_and_boundary = async {
            let got = iam
                .get_user()
                .user_name(name)
                .send()
                .lane(lanes, Service::Iam)
                .await
                .map_err(|e| gap(part, format!("iam:GetUser {name}"), call_error(&e)))?;
            let user = got
                .user()
                .ok_or_else(|| gap(part, format!("iam:GetUser {name}"), "no user returned"))?
                .clone();
            let boundary_arn = user
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_owned);
            let boundary = self.boundary(boundary_arn, part).await;
            Ok::<_, Gap>((user, boundary))
        };
        let inline = self.inline_policies(
            part,
            ("iam:ListUserPolicies", "iam:GetUserPolicy"),
            name,
            str::to_owned,
            async {
                iam.list_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
            },
            |policy| async move {
                iam.get_user_policy()
                    .user_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map(|o| o.policy_document().to_owned())
            },
        );
        let attached = async {
            let arns = self
                .attached_arns(part, "iam:ListAttachedUserPolicies", name, async {
                    iam.list_attached_user_policies()
                        .user_name(name)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                })
                .await?;
            let docs = self.managed_policies(&arns, part).await;
            Ok::<_, Gap>(arns.into_iter().zip(docs).collect::<Vec<_>>())
        };
        let groups = async {
            let groups: Vec<_> = iam
                .list_groups_for_user()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .lane(lanes, Service::Iam)
                .await
                .map_err(|e| {
                    gap(
                        part,
                        format!("iam:ListGroupsForUser {name}"),
                        call_error(&e),
                    )
                })?;
            let names: Vec<String> = groups.iter().map(|g| g.group_name().to_owned()).collect();
            // A user is in at most 10 groups (IAM quotas); the IAM lane bounds the calls.
            Ok::<_, Gap>(join_all(names.iter().map(|g| self.group(g, part))).await)
        };
        let (user_and_boundary, inline, attached, groups) =
            futures::join!(user_and_boundary, inline, attached, groups);
        let (user, (permission_boundary, boundary_gap)) = user_and_boundary?;

        let mut gaps = Vec::new();
        let mut policies = Vec::new();
        match inline {
            Ok(results) => sorted_out(results, &mut policies, &mut gaps),
            Err(g) => gaps.push(g),
        }
        // Managed policies: once each, by ARN, whoever they are attached to.
        let mut managed: BTreeMap<String, Result<PolicyDoc, Gap>> = BTreeMap::new();
        let mut group_gaps = Vec::new();
        match groups {
            Ok(per_group) => {
                for (docs, attached, gs) in per_group {
                    policies.extend(docs);
                    managed.extend(attached);
                    group_gaps.extend(gs);
                }
            }
            Err(g) => group_gaps.push(g),
        }
        match attached {
            Ok(attached) => managed.extend(attached),
            Err(g) => gaps.push(g),
        }
        gaps.extend(group_gaps);
        sorted_out(managed.into_values().collect(), &mut policies, &mut gaps);
        gaps.extend(boundary_gap);
        let principal = Principal {
            arn: user.arn().to_owned(),
            session_arn: None,
            policies,
            permission_boundary,
            trust_policy: None,
            tags: tags(user.tags().iter().map(|t| (t.key(), t.value()))),
            read_from: None,
        };
        Ok((principal, gaps))
    }

    /// A group's inline policies and its attached managed policies (by ARN), read.
    async fn group(
        &self,
        name: &str,
        part: EvidencePart,
    ) -> (
        Vec<PolicyDoc>,
        Vec<(String, Result<PolicyDoc, Gap>)>,
        Vec<Gap>,
    ) {
        let iam = self.iam;
        let inline = self.inline_policies(
            part,
            ("iam:ListGroupPolicies", "iam:GetGroupPolicy"),
            name,
            |policy| format!("group/{name}/{policy}"),
            async {
                iam.list_group_policies()
                    .group_name(name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
            },
            |policy| async move {
                iam.get_group_policy()
                    .group_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map(|o| o.policy_document().to_owned())
            },
        );
        let attached = async {
            let arns = self
                .attached_arns(part, "iam:ListAttachedGroupPolicies", name, async {
                    iam.list_attached_group_policies()
                        .group_name(name)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                })
                .await?;
            let docs = self.managed_policies(&arns, part).await;
            Ok::<_, Gap>(arns.into_iter().zip(docs).collect::<Vec<_>>())
        };
        let (inline, attached) = futures::join!(inline, attached);
        let mut docs = Vec::new();
        let mut gaps = Vec::new();
        match inline {
            Ok(results) => sorted_out(results, &mut docs, &mut gaps),
            Err(g) => gaps.push(g),
        }
        let attached = attached.unwrap_or_else(|g| {
            gaps.push(g);
            Vec::new()
        });
        (docs, attached, gaps)
    }

    /// iam:GetRole of `role` for its trust policy (URL-decoded) and tags, without its
    /// permissions. The role is read by name, so IAM's answer counts only when its ARN is
    /// exactly `role` (path included).
    pub async fn role_facts(&self, role: &RoleArn, part: EvidencePart) -> Result<RoleFacts, Gap> {
        let name = role.name();
        let call = || format!("iam:GetRole {name}");
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .lane(self.lanes, Service::Iam)
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
    pub async fn instance_profile(&self, name: &str) -> Result<InstanceProfile, Gap> {
        let call = || format!("iam:GetInstanceProfile {name}");
        if !is_iam_name(name) {
            return Err(gap(
                EvidencePart::InstanceProfile,
                call(),
                "not attempted: not an IAM name",
            ));
        }
        let out = self
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .lane(self.lanes, Service::Iam)
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
}

/// GetPolicy (for the default version) then GetPolicyVersion.
async fn read_managed(iam: &Client, lanes: &Lanes, arn: String) -> ManagedRead {
    let policy = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .lane(lanes, Service::Iam)
        .await
        .map_err(|e| (format!("iam:GetPolicy {arn}"), call_error(&e).to_string()))?;
    let policy = policy.policy();
    let name = policy
        .and_then(|p| p.policy_name())
        .map(str::to_owned)
        .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(&arn).to_owned());
    let version = policy.and_then(|p| p.default_version_id()).ok_or_else(|| {
        (
            format!("iam:GetPolicy {arn}"),
            "no default version".to_owned(),
        )
    })?;
    let call = || format!("iam:GetPolicyVersion {arn} {version}");
    let document = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .lane(lanes, Service::Iam)
        .await
        .map_err(|e| (call(), call_error(&e).to_string()))?
        .policy_version()
        .and_then(|v| v.document())
        .map(decode_document)
        .ok_or_else(|| (call(), "no document returned".to_owned()))?;
    Ok((name, document))
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
