//! Which restore path a failed restore took, from validated evidence only: the resource
//! type, the form of the recovery point ARN and a few restore metadata keys. AWS runs
//! different calls for, say, a DynamoDB-native backup and an AWS Backup one, so the
//! requirements follow the path, not the resource type. When the evidence cannot tell
//! the paths apart, every candidate stays in the selection: the requirements are then
//! what all of them need, and the rest is reported as depending on the missing fact.

use std::collections::BTreeMap;

use super::evidence::EvidencePart;
use super::requirements;
use super::validated::Arn;

pub use super::requirements::{Dependency, Selection};

/// What the selection reads, each value still to be validated here.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathEvidence<'a> {
    pub recovery_point_arn: Option<&'a str>,
    pub source_resource_arn: Option<&'a str>,
    pub metadata: Option<&'a BTreeMap<String, String>>,
}

/// The form of a recovery point ARN, told only from a value that parses as an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PointKind {
    /// `arn:…:rds:…:snapshot:…`
    DbSnapshot,
    /// `arn:…:rds:…:cluster-snapshot:…`
    ClusterSnapshot,
    /// `arn:…:backup:…:recovery-point:continuous:…`
    Continuous,
    /// `arn:…:backup:…:recovery-point:…` (AWS Backup's own storage)
    BackupStorage,
    /// `arn:…:dynamodb:…:table/T/backup/B`
    DynamoDbBackup,
    Other,
}

fn point_kind(arn: Option<&str>) -> Option<PointKind> {
    let arn = Arn::parse(arn?).ok()?;
    let resource = arn.resource();
    Some(match arn.service() {
        "rds" if resource.starts_with("snapshot:") => PointKind::DbSnapshot,
        "rds" if resource.starts_with("cluster-snapshot:") => PointKind::ClusterSnapshot,
        "backup" if resource.starts_with("recovery-point:continuous:") => PointKind::Continuous,
        "backup" if resource.starts_with("recovery-point:") => PointKind::BackupStorage,
        "dynamodb" if resource.starts_with("table/") && resource.contains("/backup/") => {
            PointKind::DynamoDbBackup
        }
        _ => PointKind::Other,
    })
}

/// A restore metadata value, keys matched without regard to case, trimmed and lower-cased
/// (metadata is hostile input: only compared, never echoed from here).
fn meta(e: &PathEvidence<'_>, key: &str) -> Option<String> {
    e.metadata?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
}

fn flag(e: &PathEvidence<'_>, key: &str) -> Option<bool> {
    match meta(e, key)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The restore metadata keys only a file-level (item) restore of a snapshot carries.
const FILE_LEVEL_KEYS: &[&str] = &["restoreType", "pathsToRestore"];

fn has_key(e: &PathEvidence<'_>, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| meta(e, k).is_some_and(|v| !v.is_empty()))
}

/// The restore paths of `resource_type` the evidence leaves possible; `None` when the
/// catalog does not cover the type.
pub fn select(resource_type: &str, e: &PathEvidence<'_>) -> Option<Selection> {
    let canonical = requirements::canonical_type(resource_type)?;
    let all = requirements::path_ids(&canonical);
    let one = |p: &str| (vec![p.to_string()], None);
    let undecided = |part: EvidencePart, what: &str| {
        (
            all.clone(),
            Some(Dependency {
                part,
                what: what.to_string(),
            }),
        )
    };
    let by_metadata = EvidencePart::RestoreMetadata;
    let by_point = EvidencePart::RecoveryPoint;
    let kind = point_kind(e.recovery_point_arn);
    let (paths, depends_on) = match canonical.as_str() {
        "EFS" => match flag(e, "newFileSystem") {
            Some(true) => one("efs-new-file-system"),
            Some(false) => one("efs-existing-file-system"),
            None => undecided(by_metadata, "whether the restore creates a new file system (restore metadata `newFileSystem`)"),
        },
        "S3" => match flag(e, "NewBucket") {
            Some(true) => one("s3-new-bucket"),
            Some(false) => one("s3-existing-bucket"),
            None => undecided(by_metadata, "whether the restore creates the target bucket (restore metadata `NewBucket`)"),
        },
        // A recovery point of another form (an RDS Multi-AZ cluster snapshot, say) is a
        // path the catalog does not cover: asking for the instance actions would be a guess.
        "RDS" => match kind {
            Some(PointKind::DbSnapshot) => one("rds-instance-from-snapshot"),
            Some(PointKind::Continuous) => one("rds-instance-to-point-in-time"),
            Some(_) => return None,
            None => undecided(by_point, "whether the recovery point is a DB snapshot or a continuous backup (its ARN)"),
        },
        "Aurora" => match kind {
            Some(PointKind::ClusterSnapshot) => one("aurora-cluster-from-snapshot"),
            Some(PointKind::Continuous) => one("aurora-cluster-to-point-in-time"),
            Some(_) => return None,
            None => undecided(by_point, "whether the recovery point is a cluster snapshot or a continuous backup (its ARN)"),
        },
        "DynamoDB" => match kind {
            Some(PointKind::DynamoDbBackup) => one("dynamodb-native"),
            Some(PointKind::BackupStorage) => one("dynamodb-aws-backup"),
            Some(_) => return None,
            None => undecided(by_point, "whether the backup is a DynamoDB-native backup or an AWS Backup one (the recovery point ARN)"),
        },
        "FSx" => {
            let volume = e
                .source_resource_arn
                .and_then(|a| Arn::parse(a).ok())
                .is_some_and(|a| a.service() == "fsx" && a.resource().starts_with("volume/"));
            match meta(e, "FileSystemType").as_deref() {
                Some("lustre") => one("fsx-lustre"),
                Some("windows") => one("fsx-windows"),
                Some("openzfs") => one("fsx-openzfs"),
                Some("ontap") => one("fsx-ontap-volume"),
                _ if volume => one("fsx-ontap-volume"),
                _ => undecided(by_metadata, "which FSx file system type is restored (restore metadata `FileSystemType`)"),
            }
        }
        "Redshift" => {
            if has_key(e, &["SourceTableName", "NewTableName"]) {
                one("redshift-table")
            } else if e.metadata.is_some() {
                one("redshift-cluster")
            } else {
                undecided(by_metadata, "whether one table or the whole cluster is restored (the restore metadata was not read)")
            }
        }
        "Redshift Serverless" => {
            if has_key(e, &["SourceTableName", "NewTableName"]) {
                one("redshift-serverless-table")
            } else {
                // A whole-namespace restore is not in the catalog: nothing to check.
                return None;
            }
        }
        // `newCluster` says whether AWS Backup creates the target cluster (restoring-eks.html,
        // "Optional metadata"); its default when absent is not documented, so an absent
        // value leaves both paths open.
        "EKS" => match flag(e, "newCluster") {
            Some(true) => one("eks-new-cluster"),
            Some(false) => one("eks-existing-cluster"),
            None => undecided(by_metadata, "whether AWS Backup creates a new cluster for the restore (restore metadata `newCluster`)"),
        },
        // A file-level restore carries `restoreType` (required for it) and `pathsToRestore`
        // (restoring-ebs.html, "File level restore specifications"); a volume restore
        // carries neither.
        "EBS" => match e.metadata {
            Some(_) if has_key(e, FILE_LEVEL_KEYS) => one("ebs-file-level-to-s3"),
            Some(_) => one("ebs-volume"),
            None => undecided(by_metadata, "whether the snapshot is restored as a volume or file by file into S3 (restore metadata `restoreType`, `pathsToRestore`; the restore metadata was not read)"),
        },
        // restoring-ec2.html documents no file-level restore: an EC2 restore carrying the
        // EBS file-level keys is a path the catalog does not cover, not an instance launch.
        "EC2" if has_key(e, FILE_LEVEL_KEYS) => return None,
        "DocumentDB" | "Neptune" => match kind {
            Some(PointKind::ClusterSnapshot) | None => (all.clone(), None),
            Some(_) => return None,
        },
        _ => (all.clone(), None),
    };
    // A type with one path needs no evidence to decide it.
    let depends_on = if paths.len() > 1 { depends_on } else { None };
    Some(Selection {
        resource_type: canonical,
        paths,
        depends_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn recovery_point_arn_decides_rds_and_dynamodb_paths() {
        let pick = |t: &str, rp: &str| {
            select(
                t,
                &PathEvidence {
                    recovery_point_arn: Some(rp),
                    ..Default::default()
                },
            )
            .and_then(|s| s.decided().map(str::to_string))
        };
        assert_eq!(
            pick(
                "RDS",
                "arn:aws:rds:eu-west-1:111122223333:snapshot:awsbackup:job-1"
            )
            .as_deref(),
            Some("rds-instance-from-snapshot")
        );
        assert_eq!(
            pick(
                "Aurora",
                "arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:awsbackup:job-1"
            )
            .as_deref(),
            Some("aurora-cluster-from-snapshot")
        );
        assert_eq!(
            pick(
                "dynamodb",
                "arn:aws:dynamodb:eu-west-1:111122223333:table/T/backup/01234567890123-abcdefgh"
            )
            .as_deref(),
            Some("dynamodb-native")
        );
        assert_eq!(
            pick("DynamoDB", "arn:aws:backup:eu-west-1:111122223333:recovery-point:0b7d1c2e-5a4f-4f3e-9c1d-2a3b4c5d6e7f")
                .as_deref(),
            Some("dynamodb-aws-backup")
        );
    }

    /// A malformed recovery point ARN decides nothing: both paths stay candidates.
    #[test]
    fn hostile_recovery_point_leaves_the_path_undecided() {
        let s = select(
            "DynamoDB",
            &PathEvidence {
                recovery_point_arn: Some("arn:aws:dynamodb:x:table/T/backup/B\n"),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.paths.len(), 2);
        let on = s.depends_on.unwrap();
        assert!(on.what.contains("DynamoDB-native"));
        assert_eq!(on.part, EvidencePart::RecoveryPoint);
    }

    /// An RDS Multi-AZ cluster snapshot is not an instance restore: not covered, rather
    /// than asked for the instance actions.
    #[test]
    fn recovery_point_of_another_form_is_not_covered() {
        let e = PathEvidence {
            recovery_point_arn: Some(
                "arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:awsbackup:job-1",
            ),
            ..Default::default()
        };
        assert!(select("RDS", &e).is_none());
        assert_eq!(
            select("Neptune", &e)
                .and_then(|s| s.decided().map(str::to_string))
                .as_deref(),
            Some("neptune-cluster-from-snapshot")
        );
        let e = PathEvidence {
            recovery_point_arn: Some("arn:aws:rds:eu-west-1:111122223333:snapshot:awsbackup:job-1"),
            ..Default::default()
        };
        assert!(select("Aurora", &e).is_none());
        assert!(select("DocumentDB", &e).is_none());
    }

    #[test]
    fn metadata_flags_decide_efs_and_s3_paths() {
        let m = with_meta(&[("NEWFILESYSTEM", " False ")]);
        let s = select(
            "EFS",
            &PathEvidence {
                metadata: Some(&m),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.decided(), Some("efs-existing-file-system"));
        let m = with_meta(&[("NewBucket", "maybe")]);
        let s = select(
            "S3",
            &PathEvidence {
                metadata: Some(&m),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.paths, ["s3-new-bucket", "s3-existing-bucket"]);
    }

    fn with(t: &str, pairs: Option<&[(&str, &str)]>) -> Option<Selection> {
        let m = pairs.map(with_meta);
        select(
            t,
            &PathEvidence {
                metadata: m.as_ref(),
                ..Default::default()
            },
        )
    }

    /// `newCluster` (restoring-eks.html) decides the EKS path, trimmed and without regard
    /// to case; absent or not a boolean, both paths stay open and the difference is
    /// reported as depending on it.
    #[test]
    fn new_cluster_flag_decides_the_eks_path() {
        let decided = |pairs: &[(&str, &str)]| {
            with("EKS", Some(pairs)).and_then(|s| s.decided().map(str::to_string))
        };
        assert_eq!(
            decided(&[("newCluster", "true\n"), ("clusterName", "`x`")]).as_deref(),
            Some("eks-new-cluster")
        );
        assert_eq!(
            decided(&[("NEWCLUSTER", " False ")]).as_deref(),
            Some("eks-existing-cluster")
        );
        for open in [
            with("eks", None),
            with("EKS", Some(&[("newCluster", "yes")])),
        ] {
            let s = open.unwrap();
            assert_eq!(s.paths, ["eks-existing-cluster", "eks-new-cluster"]);
            assert!(s.depends_on.unwrap().what.contains("`newCluster`"));
        }
    }

    /// The file-level keys of restoring-ebs.html make an EBS restore a file-level one;
    /// an EC2 restore carrying them is not covered rather than checked as a launch.
    #[test]
    fn file_level_keys_decide_the_ebs_path() {
        let decided = |t: &str, pairs: &[(&str, &str)]| {
            with(t, Some(pairs)).and_then(|s| s.decided().map(str::to_string))
        };
        assert_eq!(
            decided("EBS", &[("restoreType", "x")]).as_deref(),
            Some("ebs-file-level-to-s3")
        );
        assert_eq!(
            decided("EBS", &[("PathsToRestore", "[\"/a\"]")]).as_deref(),
            Some("ebs-file-level-to-s3")
        );
        // An empty value names nothing; a volume restore's own keys decide nothing else.
        assert_eq!(
            decided(
                "EBS",
                &[("pathsToRestore", " "), ("availabilityZone", "eu-west-1a")]
            )
            .as_deref(),
            Some("ebs-volume")
        );
        let unread = with("EBS", None).unwrap();
        assert_eq!(unread.paths, ["ebs-volume", "ebs-file-level-to-s3"]);
        assert!(unread.depends_on.is_some());
        assert!(with("EC2", Some(&[("restoreType", "x")])).is_none());
        assert_eq!(
            decided("EC2", &[("InstanceType", "t3.micro")]).as_deref(),
            Some("ec2-instance")
        );
    }

    #[test]
    fn uncovered_types_have_no_selection() {
        assert!(select("Quantum", &PathEvidence::default()).is_none());
        assert!(select("Redshift Serverless", &PathEvidence::default()).is_none());
    }
}
