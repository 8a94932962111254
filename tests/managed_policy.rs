//! A role with the AWS managed policies for its resource type
//! (AWSBackupServiceRolePolicyForRestores, plus the S3 restore policy for S3 and
//! AWSBackupRestoreAccessForSAPHANA for SAP HANA) must get no missing identity
//! permission on any catalog path: the catalog must not demand more than AWS's own
//! policies grant.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod path_evidence;

use path_evidence::*;
use restore_doctor::diagnose::report::Blocker;
use restore_doctor::diagnose::requirements::{all_paths, path_info};
use restore_doctor::examine;

#[test]
fn managed_restore_policies_satisfy_every_path() {
    let paths = all_paths();
    assert!(paths.len() >= 25, "{paths:?}");
    for p in paths {
        let t = path_info(&p).unwrap().resource_type;
        let report = examine(&evidence_for(&p, managed_policies_for(&t)));
        let identity: Vec<String> = report
            .missing
            .iter()
            .filter(|f| f.blocked_by.contains(&Blocker::IdentityPolicy))
            .map(|f| format!("{} on {}", f.action, f.resource))
            .collect();
        assert!(
            identity.is_empty(),
            "{p}: the managed policy lacks {identity:#?}"
        );
        assert!(report.patch.is_none(), "{p}: unexpected patch");
        // Nothing was left out for want of a value: the check covered every requirement.
        assert!(
            report.unverified.is_empty(),
            "{p}: not everything was checked: {:#?}",
            report.unverified
        );
    }
}

#[test]
fn without_the_managed_policy_every_path_has_missing_permissions() {
    // The same check must be able to fail: a role without policies.
    for p in all_paths() {
        let report = examine(&evidence_for(&p, vec![]));
        assert!(
            !report.missing.is_empty(),
            "{p}: nothing reported missing for a bare role"
        );
        assert!(report.verified, "{p}: patch does not verify");
    }
}
