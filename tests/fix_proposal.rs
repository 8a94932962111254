//! A fix that is safe to paste (issue #10): the proposed command, applied as printed,
//! leaves the role with every permission it had and every one the restore needs.
//!
//! - a role that already has `restore-doctor-fix` gets the merged document, said so,
//!   and verified as merged (the earlier fix replaced, as `put-role-policy` does);
//! - the words and the command agree: inline policy and `put-role-policy`, or a new
//!   customer managed policy and `create-policy` + `attach-role-policy`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use restore_doctor::diagnose::Evidence;
use restore_doctor::examine;
use restore_doctor::render::text::report_text;
use serde_json::{json, Value};

fn case(name: &str) -> Value {
    let path = format!(
        "{}/tests/cases/{name}/evidence.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn evidence(v: &Value) -> Evidence {
    Evidence::from_json(&v.to_string()).unwrap()
}

/// The role's inline policies: the EFS grant moved into an earlier `restore-doctor-fix`.
fn with_earlier_fix() -> Value {
    let mut v = case("efs-role-missing-kms");
    let policies = v["restoreRole"]["policies"].as_array_mut().unwrap();
    policies[0]["name"] = json!("restore-doctor-fix");
    v
}

/// The role as `put-role-policy` leaves it: `name`'s document replaced (or added).
fn apply_inline(mut v: Value, name: &str, document: &Value) -> Value {
    let policies = v["restoreRole"]["policies"].as_array_mut().unwrap();
    policies.retain(|p| p["name"] != name);
    policies.push(json!({"name": name, "kind": "inline", "document": document}));
    v
}

#[test]
fn an_earlier_fix_is_merged_into_the_proposal_not_replaced() {
    let before = with_earlier_fix();
    let earlier = before["restoreRole"]["policies"][0]["document"]["Statement"][0].clone();
    let report = examine(&evidence(&before));
    let patch = report.patch.clone().unwrap();
    assert!(patch.merged_with_existing, "{patch:#?}");
    assert!(!patch.managed);
    let statements = patch.document["Statement"].as_array().unwrap();
    assert!(
        statements.contains(&earlier),
        "the earlier EFS grant is kept: {statements:#?}"
    );
    assert!(
        statements
            .iter()
            .any(|s| s.to_string().contains("kms:Decrypt")),
        "and the missing KMS grant added"
    );
    // The command puts exactly that document.
    let doc_in_command = serde_json::to_string(&patch.document).unwrap();
    assert!(
        patch.command.contains("put-role-policy"),
        "{}",
        patch.command
    );
    assert!(patch.command.contains(&doc_in_command));
    assert!(patch
        .warnings
        .iter()
        .any(|w| w.contains("merges with the existing inline policy")));
    assert!(report.verified);
    let text = report_text(&report);
    assert!(
        text.contains("the earlier fix and the new statements, merged"),
        "{text}"
    );

    // Applied as printed, nothing is missing any more: the earlier grant survived.
    let after = apply_inline(before, "restore-doctor-fix", &patch.document);
    let again = examine(&evidence(&after));
    assert!(again.missing.is_empty(), "{:#?}", again.missing);
    assert!(again.patch.is_none());
}

/// What the old proposal did: only the new statements, which `put-role-policy` puts in
/// place of the earlier fix, dropping its EFS grant. Kept as the reason for the merge.
#[test]
fn the_new_statements_alone_would_drop_the_earlier_grant() {
    let before = with_earlier_fix();
    let patch = examine(&evidence(&before)).patch.unwrap();
    let new_only: Vec<Value> = patch.document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.to_string().contains("kms:"))
        .cloned()
        .collect();
    let after = apply_inline(
        before,
        "restore-doctor-fix",
        &json!({"Version": "2012-10-17", "Statement": new_only}),
    );
    let again = examine(&evidence(&after));
    assert!(
        again
            .missing
            .iter()
            .any(|f| f.action.starts_with("elasticfilesystem:")),
        "{:#?}",
        again.missing
    );
}

#[test]
fn without_an_earlier_fix_the_proposal_is_the_new_statements_and_says_inline() {
    let report = examine(&evidence(&case("efs-role-missing-kms")));
    let patch = report.patch.clone().unwrap();
    assert!(!patch.merged_with_existing && !patch.managed);
    assert!(patch.command.starts_with("aws iam put-role-policy"));
    let text = report_text(&report);
    assert!(
        text.contains("as inline policy `restore-doctor-fix`"),
        "{text}"
    );
    assert!(!text.contains("merged"), "{text}");
}

#[test]
fn a_full_inline_quota_gets_a_managed_policy_and_the_words_say_so() {
    let mut v = case("efs-role-missing-kms");
    // Inline policies near IAM's 10,240-character aggregate limit.
    let filler: Vec<Value> = (0..70)
        .map(|i| {
            json!({"Sid": format!("Filler{i}"), "Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": format!("arn:aws:s3:::some-long-bucket-name-for-filling-{i:04}/prefix/*")})
        })
        .collect();
    v["restoreRole"]["policies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "filler", "kind": "inline", "document": {"Version": "2012-10-17", "Statement": filler}}));
    // Within IAM's limit as read (IAM counts without white space), full once the patch is added.
    let inline: usize = v["restoreRole"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::to_string(&p["document"]).unwrap().len())
        .sum();
    assert!(inline <= 10_240, "{inline}");
    let report = examine(&evidence(&v));
    let patch = report.patch.clone().unwrap();
    assert!(patch.managed, "{patch:#?}");
    assert!(
        patch.command.contains("aws iam create-policy"),
        "{}",
        patch.command
    );
    assert!(patch.command.contains("attach-role-policy"));
    assert!(!patch.command.contains("put-role-policy"));
    let text = report_text(&report);
    assert!(
        text.contains("as the new customer managed policy"),
        "{text}"
    );
    assert!(!text.contains("as inline policy"), "{text}");
    assert!(patch
        .command
        .contains(&format!("--policy-name '{}'", patch.policy_name)));
}

/// The email of the combined EFS case (role, KMS and vault policy all at fault) fits a
/// phone: cause, one line per principal and resource, the commands, then the links,
/// under 40 lines; "Could not verify" comes before the fix, and each command says the
/// account it must run in (and its Region where the API is regional).
#[test]
fn the_combined_efs_email_fits_a_phone() {
    use restore_doctor::render::alert::{email_text, AlertContext};
    let report = examine(&evidence(&case("efs-combined-role-kms-vault")));
    let ctx = AlertContext {
        correlation_id: "7c1d0f3e-5b2a-4c8e-9f10-2a6b8d4e1f01".into(),
        dedup_key: "111122223333:us-east-1:restore-job:4A3B2C1D".into(),
        log_group: None,
    };
    let email = email_text(&report, &ctx);
    let lines = email.lines().count();
    assert!(lines < 40, "{lines} lines:\n{email}");
    // Each document once: in its command, not pretty-printed again.
    let sid = report.patch.as_ref().unwrap().document["Statement"][0]["Sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(email.matches(&sid).count(), 1, "{email}");
    assert!(email.contains("# run in account 111122223333"));
    assert!(email.contains("put-backup-vault-access-policy --region us-east-1"));
    insta::assert_snapshot!("efs-combined-email", email);
}

#[test]
fn could_not_verify_comes_before_the_fix() {
    let report = examine(&evidence(&case("efs-evidence-gaps")));
    let text = report_text(&report);
    let (Some(gaps), Some(fix)) = (text.find("Could not verify"), text.find("\nFix (")) else {
        panic!("{text}")
    };
    assert!(gaps < fix, "{text}");
}

/// A permissions boundary that blocks the restore: the report gives its owner the
/// boundary change (the statements it must allow, as a new default version that keeps
/// every earlier statement), and the role patch plus that change, applied as printed,
/// leave nothing missing.
#[test]
fn a_blocking_boundary_gets_the_boundary_change_which_with_the_patch_fixes_the_restore() {
    let before = case("efs-boundary-blocks-kms");
    let report = examine(&evidence(&before));
    let fix = report.boundary_fix.clone().expect("a boundary change");
    assert!(!fix.statements_only);
    assert!(fix.command.starts_with("aws iam create-policy-version --policy-arn 'arn:aws:iam::111122223333:policy/DevBoundary' --set-as-default"), "{}", fix.command);
    let earlier = before["restoreRole"]["permissionBoundary"]["document"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let statements = fix.document["Statement"].as_array().unwrap();
    assert!(
        earlier.iter().all(|s| statements.contains(s)),
        "the boundary keeps its statements"
    );
    assert!(report_text(&report).contains("Permissions boundary change"));

    let patch = report.patch.unwrap();
    let mut after = apply_inline(before, "restore-doctor-fix", &patch.document);
    after["restoreRole"]["permissionBoundary"]["document"] = fix.document.clone();
    let again = examine(&evidence(&after));
    assert!(again.missing.is_empty(), "{:#?}", again.missing);
    assert!(again.boundary_fix.is_none());
}

#[test]
fn no_boundary_change_when_no_boundary_blocks() {
    let report = examine(&evidence(&case("efs-role-missing-kms")));
    assert!(report.boundary_fix.is_none());
}
