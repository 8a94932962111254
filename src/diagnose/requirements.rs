//! What a restore needs: the catalog of requirements per restore path
//! (`data/restore-requirements.json`; each requirement pairs one action list with one
//! resource and cites the managed-policy statement or AWS page it comes from), plus the
//! context-dependent ones: KMS on the keys involved and iam:PassRole on the
//! instance-profile role. Which path a restore took is chosen in [`super::restore_path`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

use super::evidence::EvidencePart;
use super::validated::{Arn, BucketName, EksClusterName, KeyArn};
use crate::policy::ContextValue;

/// The catalog, embedded at build time so the Lambda and the CLI agree.
const CATALOG_JSON: &str = include_str!("../../data/restore-requirements.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Catalog {
    resource_types: BTreeMap<String, TypeEntry>,
    paths: BTreeMap<String, PathEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeEntry {
    #[serde(default)]
    paths: Vec<String>,
    /// Why a type AWS Backup restores has no sourced requirements here.
    not_covered: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathEntry {
    resource_type: String,
    title: String,
    recognised_by: String,
    requirements: Vec<Entry>,
    kms: Option<KmsEntry>,
    /// The service a role passed during the restore goes to.
    pass_role: Option<String>,
    /// The restore metadata key naming that role (EKS: `clusterRole`); without one, the
    /// roles are those of the restored instance's profiles (EC2).
    pass_role_from_metadata: Option<String>,
    /// Where the pass-role requirement comes from, when it is not the EC2 one.
    pass_role_source: Option<String>,
    notes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    actions: Vec<String>,
    resource: String,
    #[serde(default)]
    context: BTreeMap<String, String>,
    #[serde(default)]
    condition: Option<serde_json::Value>,
    why: String,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KmsEntry {
    via_service: String,
    actions: Vec<String>,
    source: String,
}

fn catalog() -> Option<&'static Catalog> {
    static CATALOG: OnceLock<Option<Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| serde_json::from_str(CATALOG_JSON).ok())
        .as_ref()
}

/// One action the restore needs on one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub action: String,
    pub resource: String,
    /// Context keys AWS sets on this request (used for evaluation).
    pub context: BTreeMap<String, ContextValue>,
    /// The condition block the patch puts on the grant to keep it narrow.
    pub condition: Option<serde_json::Value>,
    /// Why the restore needs it.
    pub why: String,
    /// The action has no resource-level permissions: the patch must use `*`.
    pub wildcard_only: bool,
}

/// Facts that fill the catalog's placeholders, each already validated: a placeholder
/// with no value leaves its requirement out (reported as unknown), never a wildcard.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub partition: String,
    pub region: Option<String>,
    pub account: Option<String>,
    pub bucket: Option<BucketName>,
    pub image_arn: Option<Arn>,
    /// The EKS cluster a restore targets (restore metadata `clusterName`).
    pub eks_cluster: Option<EksClusterName>,
}

/// A placeholder the evidence could not fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unknown {
    Region,
    Account,
    Bucket,
    Image,
    EksCluster,
}

impl Unknown {
    /// Words for the report.
    pub fn words(self) -> &'static str {
        match self {
            Unknown::Region => "the Region of the restore",
            Unknown::Account => "the account of the restore",
            Unknown::Bucket => {
                "the target S3 bucket (a valid `DestinationBucketName` in the restore metadata)"
            }
            Unknown::Image => "the AMI of the recovery point",
            Unknown::EksCluster => {
                "the target EKS cluster (a valid `clusterName` in the restore metadata)"
            }
        }
    }
}

impl Scope {
    /// The template with every placeholder filled, or the first placeholder that has no
    /// validated value.
    pub fn fill(&self, template: &str) -> Result<String, Unknown> {
        let mut out = template.replace("${Partition}", &self.partition);
        let slots: [(&str, Option<&str>, Unknown); 5] = [
            ("${Region}", self.region.as_deref(), Unknown::Region),
            ("${Account}", self.account.as_deref(), Unknown::Account),
            (
                "${Bucket}",
                self.bucket.as_ref().map(BucketName::as_str),
                Unknown::Bucket,
            ),
            (
                "${ImageArn}",
                self.image_arn.as_ref().map(Arn::as_str),
                Unknown::Image,
            ),
            (
                "${EksCluster}",
                self.eks_cluster.as_ref().map(EksClusterName::as_str),
                Unknown::EksCluster,
            ),
        ];
        for (placeholder, value, unknown) in slots {
            if out.contains(placeholder) {
                out = out.replace(placeholder, value.ok_or(unknown)?);
            }
        }
        Ok(out)
    }

    /// [`Scope::fill`] on every string inside a JSON value (a condition block).
    fn fill_json(&self, v: &serde_json::Value) -> Result<serde_json::Value, Unknown> {
        Ok(match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.fill(s)?),
            serde_json::Value::Array(a) => serde_json::Value::Array(
                a.iter()
                    .map(|x| self.fill_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.fill_json(x)?)))
                    .collect::<Result<_, Unknown>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// The catalog name of an AWS Backup resource type (matched without regard to case),
/// or `None` when the catalog has no sourced requirements for it.
pub fn canonical_type(resource_type: &str) -> Option<String> {
    catalog()?
        .resource_types
        .iter()
        .find(|(k, t)| k.eq_ignore_ascii_case(resource_type) && !t.paths.is_empty())
        .map(|(k, _)| k.clone())
}

/// Every resource type the catalog covers (has at least one sourced path for).
pub fn supported_types() -> Vec<String> {
    catalog()
        .map(|c| {
            c.resource_types
                .iter()
                .filter(|(_, t)| !t.paths.is_empty())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Why the catalog does not cover a type AWS Backup restores, when it says.
pub fn not_covered_reason(resource_type: &str) -> Option<&'static str> {
    catalog()?
        .resource_types
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(resource_type))
        .and_then(|(_, t)| t.not_covered.as_deref())
}

/// The path ids of a covered type, in catalog order.
pub fn path_ids(resource_type: &str) -> Vec<String> {
    canonical_type(resource_type)
        .and_then(|t| catalog()?.resource_types.get(&t))
        .map(|t| t.paths.clone())
        .unwrap_or_default()
}

/// Every path id of the catalog.
pub fn all_paths() -> Vec<String> {
    catalog()
        .map(|c| c.paths.keys().cloned().collect())
        .unwrap_or_default()
}

/// What the README and the tests show of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathInfo {
    pub id: String,
    pub resource_type: String,
    pub title: String,
    pub recognised_by: String,
    /// The sources of its requirements (and KMS), deduplicated.
    pub sources: Vec<String>,
    pub notes: Option<String>,
}

/// The description of one path.
pub fn path_info(id: &str) -> Option<PathInfo> {
    let p = catalog()?.paths.get(id)?;
    let mut sources: Vec<String> = Vec::new();
    for s in p
        .requirements
        .iter()
        .map(|e| &e.source)
        .chain(p.kms.iter().map(|k| &k.source))
        .chain(p.pass_role_source.iter())
    {
        if !sources.contains(s) {
            sources.push(s.clone());
        }
    }
    Some(PathInfo {
        id: id.to_string(),
        resource_type: p.resource_type.clone(),
        title: p.title.clone(),
        recognised_by: p.recognised_by.clone(),
        sources,
        notes: p.notes.clone(),
    })
}

/// The source the catalog cites for `action` on `resource` of a path (filled template).
pub fn source_of(id: &str, action: &str, resource: &str, scope: &Scope) -> Option<String> {
    let p = catalog()?.paths.get(id)?;
    p.requirements
        .iter()
        .find(|e| {
            e.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
                && scope.fill(&e.resource).is_ok_and(|r| r == resource)
        })
        .map(|e| e.source.clone())
        .or_else(|| {
            action
                .eq_ignore_ascii_case("iam:PassRole")
                .then(|| p.pass_role_source.clone())
                .flatten()
        })
}

/// The requirements of one path, each with the placeholder it lacked when it could not
/// be filled.
fn path_requirements(id: &str, scope: &Scope) -> (Vec<Requirement>, Vec<Unknown>) {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    let Some(p) = catalog().and_then(|c| c.paths.get(id)) else {
        return (out, unknown);
    };
    for e in &p.requirements {
        let filled = (|| -> Result<_, Unknown> {
            let context: BTreeMap<String, ContextValue> = e
                .context
                .iter()
                .map(|(k, v)| Ok((k.clone(), ContextValue::One(scope.fill(v)?))))
                .collect::<Result<_, Unknown>>()?;
            let condition = e
                .condition
                .as_ref()
                .map(|c| scope.fill_json(c))
                .transpose()?;
            Ok((scope.fill(&e.resource)?, context, condition))
        })();
        let (resource, context, condition) = match filled {
            Ok(f) => f,
            Err(u) => {
                unknown.push(u);
                continue;
            }
        };
        for action in &e.actions {
            out.push(Requirement {
                action: action.clone(),
                wildcard_only: resource == "*",
                resource: resource.clone(),
                context: context.clone(),
                condition: condition.clone(),
                why: e.why.clone(),
            });
        }
    }
    (out, unknown)
}

fn same(a: &Requirement, b: &Requirement) -> bool {
    a.action.eq_ignore_ascii_case(&b.action)
        && a.resource == b.resource
        && a.condition == b.condition
}

/// What a selection of paths certainly needs, and what depends on which path it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathRequirements {
    /// Needed by every candidate path: checked and, when missing, patched.
    pub requirements: Vec<Requirement>,
    /// Placeholders without a validated value: their requirements were left out.
    pub unknown: Vec<Unknown>,
    /// Needed by some candidates only: neither checked nor granted.
    pub depends: Vec<Requirement>,
}

/// The service-side requirements of a restore (not KMS or PassRole). With one path,
/// all of it; with several candidates, only what every one of them needs, so that no
/// role is asked for an action its restore does not use. A requirement whose resource
/// or condition needs a value the scope lacks is left out and its placeholder returned,
/// so the report can say what was not checked instead of granting a wildcard.
pub fn service_requirements(selection: &Selection, scope: &Scope) -> PathRequirements {
    let mut per_path = selection
        .paths
        .iter()
        .map(|id| path_requirements(id, scope));
    let Some((first, mut unknown)) = per_path.next() else {
        return PathRequirements::default();
    };
    let mut common = first.clone();
    let mut union = first;
    for (reqs, u) in per_path {
        common.retain(|c| reqs.iter().any(|r| same(c, r)));
        for r in reqs {
            if !union.iter().any(|x| same(x, &r)) {
                union.push(r);
            }
        }
        unknown.extend(u);
    }
    unknown.sort();
    unknown.dedup();
    let depends = union
        .into_iter()
        .filter(|r| !common.iter().any(|c| same(c, r)))
        .collect();
    PathRequirements {
        requirements: common,
        unknown,
        depends,
    }
}

/// Every resource the catalog names for a type, filled from `scope`: the only
/// wildcard resources auto-attach accepts (resources a restore creates, whose ARN
/// cannot be known before), and only when the scope is the fixer's own account and
/// Region.
pub fn catalog_resources(resource_type: &str, scope: &Scope) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in path_ids(resource_type) {
        for r in path_requirements(&id, scope).0 {
            if !out.contains(&r.resource) {
                out.push(r.resource);
            }
        }
    }
    out
}

/// KMS requirements of a restore on one key, with `kms:ViaService` set to the restored
/// service in this Region and `kms:GrantIsForAWSResource` for grants. Only the actions
/// every candidate path has: a path that does not use the key (or where it is not
/// verified that it does) asks for none.
pub fn kms_requirements(selection: &Selection, key_arn: &KeyArn, role: &str) -> Vec<Requirement> {
    let Some(c) = catalog() else {
        return vec![];
    };
    let entries: Vec<Option<&KmsEntry>> = selection
        .paths
        .iter()
        .map(|id| c.paths.get(id).and_then(|p| p.kms.as_ref()))
        .collect();
    let Some(Some(kms)) = entries.first().copied() else {
        return vec![];
    };
    let shared = |action: &String| {
        entries.iter().all(|e| {
            e.is_some_and(|k| {
                k.via_service == kms.via_service
                    && k.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
            })
        })
    };
    // The restored service calls KMS in the key's own Region.
    let region = key_arn.arn().region();
    let via = format!("{}.{region}.amazonaws.com", kms.via_service);
    kms.actions
        .iter()
        .filter(|a| shared(a))
        .map(|action| {
            // AWS Backup reads the key itself (kms:DescribeKey, granted on `*` without
            // conditions in the managed policy); the other calls come through the
            // restored service or are grants for it.
            let narrowing = if action.eq_ignore_ascii_case("kms:DescribeKey") {
                None
            } else if action.eq_ignore_ascii_case("kms:CreateGrant") {
                Some(("kms:GrantIsForAWSResource", "true".to_string(), "Bool"))
            } else {
                Some(("kms:ViaService", via.clone(), "StringEquals"))
            };
            let mut context = BTreeMap::new();
            if let Some((key, value, _)) = &narrowing {
                context.insert(key.to_string(), ContextValue::One(value.clone()));
            }
            Requirement {
                action: action.clone(),
                resource: key_arn.as_str().to_string(),
                context,
                condition: narrowing
                    .map(|(key, value, operator)| serde_json::json!({ operator: { key: value } })),
                why: format!("{role}: use the KMS key that encrypts the data"),
                wildcard_only: false,
            }
        })
        .collect()
}

/// The service a role passed during the restore goes to (EC2: `ec2.amazonaws.com`),
/// when every candidate path passes one to the same service.
pub fn pass_role_service(selection: &Selection) -> Option<String> {
    let c = catalog()?;
    let mut services = selection
        .paths
        .iter()
        .map(|id| c.paths.get(id).and_then(|p| p.pass_role.clone()));
    let first = services.next()??;
    services
        .all(|s| s.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// The restore metadata key that names the role a decided path passes (EKS new cluster:
/// `clusterRole`); `None` when the roles come from the restored instance's profiles or
/// the path passes none.
pub fn pass_role_metadata_key(selection: &Selection) -> Option<String> {
    let c = catalog()?;
    let id = selection.decided()?;
    c.paths.get(id)?.pass_role_from_metadata.clone()
}

/// Lower-cased actions the catalog lists for a type on any of its paths (service, KMS,
/// PassRole), and those of them without resource-level permissions.
pub fn catalog_actions(resource_type: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut wildcard_only = BTreeSet::new();
    let Some(c) = catalog() else {
        return (all, wildcard_only);
    };
    for p in path_ids(resource_type)
        .iter()
        .filter_map(|id| c.paths.get(id))
    {
        for e in &p.requirements {
            for a in &e.actions {
                let a = a.to_ascii_lowercase();
                if e.resource == "*" {
                    wildcard_only.insert(a.clone());
                }
                all.insert(a);
            }
        }
        for a in p.kms.iter().flat_map(|k| &k.actions) {
            all.insert(a.to_ascii_lowercase());
        }
        if p.pass_role.is_some() {
            all.insert("iam:passrole".into());
        }
    }
    (all, wildcard_only)
}

/// iam:PassRole on exactly one role, for one service.
pub fn pass_role_requirement(role_arn: &str, service: &str, why: &str) -> Requirement {
    let mut context = BTreeMap::new();
    context.insert(
        "iam:PassedToService".to_string(),
        ContextValue::One(service.to_string()),
    );
    Requirement {
        action: "iam:PassRole".into(),
        resource: role_arn.to_string(),
        context,
        condition: Some(serde_json::json!({"StringEquals": {"iam:PassedToService": service}})),
        why: why.to_string(),
        wildcard_only: false,
    }
}

/// The candidate paths of one restore, chosen by [`super::restore_path::select`] (ids of `data/restore-requirements.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The catalog name of the resource type.
    pub resource_type: String,
    /// One path when the evidence decides it; several when it does not.
    pub paths: Vec<String>,
    /// What would tell the candidates apart.
    pub depends_on: Option<Dependency>,
}

/// The missing fact that leaves several paths possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The part of the evidence that would have said it.
    pub part: EvidencePart,
    /// Worded for the report ("whether ...").
    pub what: String,
}

impl Selection {
    /// The one path the evidence decided, if it did.
    pub fn decided(&self) -> Option<&str> {
        match self.paths.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::restore_path::Selection;

    fn scope() -> Scope {
        Scope {
            partition: "aws".into(),
            region: Some("us-east-1".into()),
            account: Some("111122223333".into()),
            ..Default::default()
        }
    }

    fn on(t: &str, paths: &[&str]) -> Selection {
        Selection {
            resource_type: t.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            depends_on: None,
        }
    }

    #[test]
    fn catalog_parses_and_every_path_belongs_to_its_type() {
        let types = supported_types();
        for t in [
            "EFS", "EC2", "EBS", "RDS", "Aurora", "DynamoDB", "S3", "FSx",
        ] {
            assert!(types.iter().any(|x| x == t), "{t} missing from catalog");
        }
        assert_eq!(canonical_type("aurora").as_deref(), Some("Aurora"));
        assert_eq!(canonical_type("efs").as_deref(), Some("EFS"));
        assert_eq!(canonical_type("Quantum"), None);
        assert_eq!(canonical_type("eks").as_deref(), Some("EKS"));
        assert!(not_covered_reason("eks").is_none());
        assert!(not_covered_reason("Quantum").is_none());
        let mut listed = 0;
        for t in &types {
            for id in path_ids(t) {
                let info = path_info(&id).unwrap();
                assert_eq!(&info.resource_type, t, "{id}");
                assert!(!info.sources.is_empty(), "{id} has no source");
                listed += 1;
            }
        }
        assert_eq!(listed, all_paths().len(), "a path no type lists");
    }

    /// The EKS grant keeps the managed policy's condition: AWS Backup's restore access
    /// policy, cluster-wide, and no other access policy on the entry.
    #[test]
    fn eks_access_policy_requirement_keeps_its_condition() {
        // Without a valid `clusterName` nothing is asked on a cluster: no wildcard in its place.
        let bare = service_requirements(&on("EKS", &["eks-existing-cluster"]), &scope());
        assert!(bare.requirements.is_empty());
        assert_eq!(bare.unknown, [Unknown::EksCluster]);
        let s = Scope {
            eks_cluster: Some(EksClusterName::parse("prod").unwrap()),
            ..scope()
        };
        let needs = service_requirements(&on("EKS", &["eks-existing-cluster"]), &s);
        assert!(needs.unknown.is_empty() && needs.depends.is_empty());
        let assoc = needs
            .requirements
            .iter()
            .find(|r| r.action == "eks:AssociateAccessPolicy")
            .unwrap();
        assert_eq!(
            assoc.resource,
            "arn:aws:eks:us-east-1:111122223333:access-entry/prod/*"
        );
        let policy = "arn:aws:eks::aws:cluster-access-policy/AWSBackupFullAccessPolicyForRestore";
        assert_eq!(
            assoc.condition,
            Some(serde_json::json!({"StringEquals": {
                "eks:policyArn": policy,
                "eks:accessScope": "cluster"
            }}))
        );
        assert_eq!(
            assoc.context.get("eks:policyArn"),
            Some(&ContextValue::One(policy.into()))
        );
        // A new-cluster restore's actions are not asked of every EKS restore.
        assert!(!needs
            .requirements
            .iter()
            .any(|r| r.action == "eks:CreateCluster" || r.action == "iam:PassRole"));
    }

    /// Every requirement cites a managed-policy statement or an AWS page.
    #[test]
    fn every_requirement_cites_its_source() {
        let c = catalog().unwrap();
        for (id, p) in &c.paths {
            for e in &p.requirements {
                assert!(
                    e.source.contains(" Sid ")
                        || e.source.contains(" statement ")
                        || e.source.contains("https://"),
                    "{id}: `{}` cites nothing usable",
                    e.source
                );
            }
        }
    }

    #[test]
    fn efs_requirements_are_scoped_to_account_and_region() {
        let needs = service_requirements(&on("EFS", &["efs-new-file-system"]), &scope());
        assert!(needs.unknown.is_empty() && needs.depends.is_empty());
        assert!(needs
            .requirements
            .iter()
            .any(|r| r.action == "elasticfilesystem:CreateFileSystem"
                && r.resource == "arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/*"));
        assert!(needs.requirements.iter().all(|r| !r.wildcard_only));
    }

    /// Regression (#9): every RDS restore was asked for instance and cluster actions on
    /// both `db:*` and `cluster:*` (e.g. rds:DescribeDBInstances on a cluster).
    #[test]
    fn requirements_pair_each_action_with_its_own_resource() {
        let needs =
            service_requirements(&on("Aurora", &["aurora-cluster-from-snapshot"]), &scope());
        assert!(needs
            .requirements
            .iter()
            .all(|r| !r.resource.contains(":db:")));
        assert!(!needs
            .requirements
            .iter()
            .any(|r| r.action.starts_with("rds:RestoreDBInstance")
                || r.action == "rds:CreateDBInstance"));
        assert!(needs
            .requirements
            .iter()
            .any(|r| r.action == "rds:DescribeDBClusterSnapshots"
                && r.resource == "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:*"));
    }

    /// Undecided paths: only what both need is required, the rest is reported.
    #[test]
    fn undecided_paths_require_the_intersection() {
        let both = on("S3", &["s3-new-bucket", "s3-existing-bucket"]);
        let s = Scope {
            bucket: Some(BucketName::parse("restore-target").unwrap()),
            ..scope()
        };
        let needs = service_requirements(&both, &s);
        assert!(!needs
            .requirements
            .iter()
            .any(|r| r.action == "s3:CreateBucket"));
        assert!(needs
            .requirements
            .iter()
            .any(|r| r.action == "s3:PutObject"));
        let depends: BTreeSet<&str> = needs.depends.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            depends,
            [
                "s3:CreateBucket",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketVersioning"
            ]
            .into_iter()
            .collect()
        );
        let efs = on("EFS", &["efs-new-file-system", "efs-existing-file-system"]);
        let key = KeyArn::parse(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        // The existing-file-system path asks no KMS: neither does the intersection.
        assert!(kms_requirements(&efs, &key, "EFS restore").is_empty());
    }

    /// Regression (#8): an unknown account, Region, bucket or AMI used to become `*` in
    /// the grant (`arn:aws:s3:::*/*`, `arn:aws:ec2:*:*:instance/*`).
    #[test]
    fn unknown_placeholders_leave_their_requirements_out() {
        let bare = Scope {
            partition: "aws".into(),
            ..Default::default()
        };
        let ec2 = on("EC2", &["ec2-instance"]);
        let needs = service_requirements(&ec2, &bare);
        assert!(
            needs.requirements.iter().all(|r| r.resource == "*"),
            "{needs:#?}"
        );
        assert!(
            needs.unknown.contains(&Unknown::Region) && needs.unknown.contains(&Unknown::Image)
        );
        let needs = service_requirements(&ec2, &scope());
        assert_eq!(needs.unknown, [Unknown::Image]);
        assert!(needs
            .requirements
            .iter()
            .any(|r| r.action == "ec2:RunInstances"
                && r.resource == "arn:aws:ec2:us-east-1:111122223333:instance/*"));
        assert!(!needs
            .requirements
            .iter()
            .any(|r| r.resource.contains("image/")));
        let needs = service_requirements(&on("S3", &["s3-new-bucket"]), &scope());
        assert!(needs.requirements.is_empty(), "{needs:#?}");
        assert_eq!(needs.unknown, [Unknown::Bucket]);
    }

    #[test]
    fn s3_grants_carry_the_bucket_owner_condition() {
        let s = Scope {
            bucket: Some(BucketName::parse("restore-target").unwrap()),
            ..scope()
        };
        let needs = service_requirements(&on("S3", &["s3-existing-bucket"]), &s);
        let put = needs
            .requirements
            .iter()
            .find(|r| r.action == "s3:PutObject")
            .unwrap();
        assert_eq!(put.resource, "arn:aws:s3:::restore-target/*");
        assert_eq!(
            put.context.get("s3:ResourceAccount"),
            Some(&ContextValue::One("111122223333".into()))
        );
        assert_eq!(
            put.condition,
            Some(serde_json::json!({"StringEquals": {"s3:ResourceAccount": "111122223333"}}))
        );
        // Every S3 grant but CreateBucket (the bucket is not there yet) is held to the owner.
        let new = service_requirements(&on("S3", &["s3-new-bucket"]), &s);
        for r in new
            .requirements
            .iter()
            .filter(|r| r.action != "s3:CreateBucket")
        {
            assert!(
                r.condition.is_some(),
                "{} lacks the owner condition",
                r.action
            );
        }
    }

    #[test]
    fn kms_requirements_carry_narrowing_context() {
        let key = KeyArn::parse(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        let reqs = kms_requirements(&on("EFS", &["efs-new-file-system"]), &key, "EFS restore");
        let grant = reqs.iter().find(|r| r.action == "kms:CreateGrant").unwrap();
        assert_eq!(
            grant.context.get("kms:GrantIsForAWSResource"),
            Some(&ContextValue::One("true".into()))
        );
        let decrypt = reqs.iter().find(|r| r.action == "kms:Decrypt").unwrap();
        assert_eq!(
            decrypt.context.get("kms:ViaService"),
            Some(&ContextValue::One(
                "elasticfilesystem.us-east-1.amazonaws.com".into()
            ))
        );
    }
}
