//! What a restore needs: the catalog of required actions per AWS Backup resource type
//! (`data/restore-requirements.json`, derived from AWSBackupServiceRolePolicyForRestores),
//! plus the context-dependent ones: KMS on the keys involved and iam:PassRole on the
//! instance-profile role.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

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

/// Facts from the evidence that fill the catalog's placeholders.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub partition: String,
    pub region: Option<String>,
    pub account: Option<String>,
    pub bucket: Option<String>,
    pub image_arn: Option<String>,
}

impl Scope {
    fn fill(&self, template: &str) -> String {
        let region = self.region.as_deref().unwrap_or("*");
        let account = self.account.as_deref().unwrap_or("*");
        let image_fallback = format!("arn:{}:ec2:{region}::image/*", self.partition);
        template
            .replace(
                "${ImageArn}",
                self.image_arn.as_deref().unwrap_or(&image_fallback),
            )
            .replace("${Partition}", &self.partition)
            .replace("${Region}", region)
            .replace("${Account}", account)
            .replace("${Bucket}", self.bucket.as_deref().unwrap_or("*"))
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
pub fn service_requirements(resource_type: &str, scope: &Scope) -> Vec<Requirement> {
    let Some(entry) = type_entry(resource_type) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in &entry.requirements {
        let context: BTreeMap<String, ContextValue> = e
            .context
            .iter()
            .map(|(k, v)| (k.clone(), ContextValue::One(v.clone())))
            .collect();
        for action in &e.actions {
            for resource in &e.resources {
                let resource = scope.fill(resource);
                out.push(Requirement {
                    action: action.clone(),
                    wildcard_only: resource == "*",
                    resource,
                    context: context.clone(),
                    condition: e.condition.clone(),
                    why: e.why.clone(),
                });
            }
        }
    }
    out
}

/// KMS requirements of a restore on one key, with `kms:ViaService` set to the restored
/// service in this Region and `kms:GrantIsForAWSResource` for grants.
pub fn kms_requirements(
    resource_type: &str,
    key_arn: &str,
    scope: &Scope,
    role: &str,
) -> Vec<Requirement> {
    let Some(kms) = type_entry(resource_type).and_then(|e| e.kms.as_ref()) else {
        return vec![];
    };
    let region = scope.region.as_deref().unwrap_or("*");
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
                resource: key_arn.to_string(),
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
        let reqs = service_requirements("EFS", &scope());
        assert!(reqs
            .iter()
            .any(|r| r.action == "elasticfilesystem:CreateFileSystem"
                && r.resource == "arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/*"));
        assert!(reqs.iter().all(|r| !r.wildcard_only));
    }

    #[test]
    fn unknown_placeholders_fall_back_to_wildcards() {
        let reqs = service_requirements(
            "EC2",
            &Scope {
                partition: "aws".into(),
                ..Default::default()
            },
        );
        assert!(reqs.iter().any(|r| r.resource == "arn:aws:ec2:*::image/*"));
        assert!(reqs
            .iter()
            .any(|r| r.resource == "arn:aws:ec2:*:*:instance/*"));
    }

    #[test]
    fn kms_requirements_carry_narrowing_context() {
        let reqs = kms_requirements(
            "EFS",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            &scope(),
            "EFS restore",
        );
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
