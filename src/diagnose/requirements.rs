//! What a restore needs: the catalog of required actions per AWS Backup resource type
//! (`data/restore-requirements.json`, derived from AWSBackupServiceRolePolicyForRestores),
//! plus the context-dependent ones: KMS on the keys involved and iam:PassRole on the
//! instance-profile role.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

use super::validated::{Arn, BucketName, KeyArn};
use crate::policy::ContextValue;

/// The catalog, embedded at build time so the Lambda and the CLI agree.
const CATALOG_JSON: &str = include_str!("../../data/restore-requirements.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Catalog {
    aliases: BTreeMap<String, String>,
    resource_types: BTreeMap<String, TypeEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeEntry {
    requirements: Vec<Entry>,
    kms: Option<KmsEntry>,
    pass_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    actions: Vec<String>,
    resources: Vec<String>,
    #[serde(default)]
    context: BTreeMap<String, String>,
    #[serde(default)]
    condition: Option<serde_json::Value>,
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KmsEntry {
    via_service: String,
    actions: Vec<String>,
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
}

/// A placeholder the evidence could not fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unknown {
    Region,
    Account,
    Bucket,
    Image,
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
        }
    }
}

impl Scope {
    /// The template with every placeholder filled, or the first placeholder that has no
    /// validated value.
    pub fn fill(&self, template: &str) -> Result<String, Unknown> {
        let mut out = template.replace("${Partition}", &self.partition);
        let slots: [(&str, Option<&str>, Unknown); 4] = [
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

/// The canonical catalog name of an AWS Backup resource type (`Aurora` → `RDS`), or
/// `None` when the catalog does not know it.
pub fn canonical_type(resource_type: &str) -> Option<String> {
    let catalog = catalog()?;
    let name = catalog
        .resource_types
        .keys()
        .chain(catalog.aliases.keys())
        .find(|k| k.eq_ignore_ascii_case(resource_type))?;
    let canonical = catalog.aliases.get(name).unwrap_or(name);
    catalog
        .resource_types
        .contains_key(canonical)
        .then(|| canonical.clone())
}

/// Every resource type the catalog covers.
pub fn supported_types() -> Vec<String> {
    catalog()
        .map(|c| c.resource_types.keys().cloned().collect())
        .unwrap_or_default()
}

/// The service-side requirements of a restore of `resource_type` (not KMS or PassRole).
/// A requirement whose resource or condition needs a value the scope lacks is left out
/// and its placeholder returned in the second list, so the report can say what was not
/// checked instead of granting a wildcard in its place.
pub fn service_requirements(
    resource_type: &str,
    scope: &Scope,
) -> (Vec<Requirement>, Vec<Unknown>) {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    let Some(entry) = type_entry(resource_type) else {
        return (out, unknown);
    };
    for e in &entry.requirements {
        let shared = (|| -> Result<_, Unknown> {
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
            Ok((context, condition))
        })();
        let (context, condition) = match shared {
            Ok(f) => f,
            Err(u) => {
                unknown.push(u);
                continue;
            }
        };
        // Each resource on its own: an unknown AMI leaves out the grant on the image,
        // not the grants on the instance the restore creates.
        let mut resources = Vec::new();
        for r in &e.resources {
            match scope.fill(r) {
                Ok(r) => resources.push(r),
                Err(u) => unknown.push(u),
            }
        }
        for action in &e.actions {
            for resource in &resources {
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
    }
    unknown.sort();
    unknown.dedup();
    (out, unknown)
}

/// Every resource the catalog names for a type, filled from `scope`: the only
/// wildcard resources auto-attach accepts (resources a restore creates, whose ARN
/// cannot be known before), and only when the scope is the fixer's own account and
/// Region.
pub fn catalog_resources(resource_type: &str, scope: &Scope) -> Vec<String> {
    service_requirements(resource_type, scope)
        .0
        .into_iter()
        .map(|r| r.resource)
        .collect()
}

/// KMS requirements of a restore on one key, with `kms:ViaService` set to the restored
/// service in this Region and `kms:GrantIsForAWSResource` for grants.
pub fn kms_requirements(resource_type: &str, key_arn: &KeyArn, role: &str) -> Vec<Requirement> {
    let Some(kms) = type_entry(resource_type).and_then(|e| e.kms.as_ref()) else {
        return vec![];
    };
    // The restored service calls KMS in the key's own Region.
    let region = key_arn.arn().region();
    let via = format!("{}.{region}.amazonaws.com", kms.via_service);
    kms.actions
        .iter()
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

/// The service a role passed during the restore goes to (EC2: `ec2.amazonaws.com`).
pub fn pass_role_service(resource_type: &str) -> Option<String> {
    type_entry(resource_type).and_then(|e| e.pass_role.clone())
}

/// Lower-cased actions the catalog lists for a type (service, KMS, PassRole), and
/// those of them without resource-level permissions.
pub fn catalog_actions(resource_type: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut wildcard_only = BTreeSet::new();
    let Some(entry) = type_entry(resource_type) else {
        return (all, wildcard_only);
    };
    for e in &entry.requirements {
        for a in &e.actions {
            let a = a.to_ascii_lowercase();
            if e.resources.iter().any(|r| r == "*") {
                wildcard_only.insert(a.clone());
            }
            all.insert(a);
        }
    }
    for a in entry.kms.iter().flat_map(|k| &k.actions) {
        all.insert(a.to_ascii_lowercase());
    }
    if entry.pass_role.is_some() {
        all.insert("iam:passrole".into());
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

fn type_entry(resource_type: &str) -> Option<&'static TypeEntry> {
    let canonical = canonical_type(resource_type)?;
    catalog()?.resource_types.get(&canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            partition: "aws".into(),
            region: Some("us-east-1".into()),
            account: Some("111122223333".into()),
            ..Default::default()
        }
    }

    #[test]
    fn catalog_parses_and_covers_the_required_types() {
        let types = supported_types();
        for t in ["EFS", "EC2", "EBS", "RDS", "DynamoDB", "S3", "FSx"] {
            assert!(types.iter().any(|x| x == t), "{t} missing from catalog");
        }
        assert_eq!(canonical_type("aurora").as_deref(), Some("RDS"));
        assert_eq!(canonical_type("efs").as_deref(), Some("EFS"));
        assert_eq!(canonical_type("Quantum"), None);
    }

    #[test]
    fn efs_requirements_are_scoped_to_account_and_region() {
        let (reqs, unknown) = service_requirements("EFS", &scope());
        assert!(unknown.is_empty());
        assert!(reqs
            .iter()
            .any(|r| r.action == "elasticfilesystem:CreateFileSystem"
                && r.resource == "arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/*"));
        assert!(reqs.iter().all(|r| !r.wildcard_only));
    }

    /// Regression (#8): an unknown account, Region, bucket or AMI used to become `*` in
    /// the grant (`arn:aws:s3:::*/*`, `arn:aws:ec2:*:*:instance/*`).
    #[test]
    fn unknown_placeholders_leave_their_requirements_out() {
        let bare = Scope {
            partition: "aws".into(),
            ..Default::default()
        };
        let (reqs, unknown) = service_requirements("EC2", &bare);
        assert!(reqs.iter().all(|r| r.resource == "*"), "{reqs:#?}");
        assert!(unknown.contains(&Unknown::Region) && unknown.contains(&Unknown::Image));
        let (reqs, unknown) = service_requirements("EC2", &scope());
        assert_eq!(unknown, [Unknown::Image]);
        assert!(reqs.iter().any(|r| r.action == "ec2:RunInstances"
            && r.resource == "arn:aws:ec2:us-east-1:111122223333:instance/*"));
        assert!(!reqs.iter().any(|r| r.resource.contains("image/")));
        let (reqs, unknown) = service_requirements("S3", &scope());
        assert!(reqs.is_empty(), "{reqs:#?}");
        assert_eq!(unknown, [Unknown::Bucket]);
    }

    #[test]
    fn s3_grants_carry_the_bucket_owner_condition() {
        let s = Scope {
            bucket: Some(BucketName::parse("restore-target").unwrap()),
            ..scope()
        };
        let (reqs, _) = service_requirements("S3", &s);
        let put = reqs.iter().find(|r| r.action == "s3:PutObject").unwrap();
        assert_eq!(put.resource, "arn:aws:s3:::restore-target/*");
        assert_eq!(
            put.context.get("s3:ResourceAccount"),
            Some(&ContextValue::One("111122223333".into()))
        );
        assert_eq!(
            put.condition,
            Some(serde_json::json!({"StringEquals": {"s3:ResourceAccount": "111122223333"}}))
        );
    }

    #[test]
    fn kms_requirements_carry_narrowing_context() {
        let key = KeyArn::parse(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        let reqs = kms_requirements("EFS", &key, "EFS restore");
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
