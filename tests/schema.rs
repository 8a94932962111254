//! The committed JSON Schemas under `schema/` are the ones the code generates: a change
//! to the evidence or report types must come with its schema (and a version bump when
//! it breaks readers).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use restore_doctor::cli::schema::{schema_json, SchemaKind};

fn committed(name: &str) -> String {
    std::fs::read_to_string(format!("{}/schema/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn evidence_schema_is_current() {
    assert!(
        committed("evidence.schema.json") == schema_json(SchemaKind::Evidence),
        "schema/evidence.schema.json is stale: run `restore-doctor schema evidence > schema/evidence.schema.json`"
    );
}

#[test]
fn report_schema_is_current() {
    assert!(
        committed("report.schema.json") == schema_json(SchemaKind::Report),
        "schema/report.schema.json is stale: run `restore-doctor schema report > schema/report.schema.json`"
    );
}

#[test]
fn readiness_schema_is_current() {
    assert!(
        committed("readiness.schema.json") == schema_json(SchemaKind::Readiness),
        "schema/readiness.schema.json is stale: run `restore-doctor schema readiness > schema/readiness.schema.json`"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&schema_json(SchemaKind::Readiness)).unwrap();
    // One account's run, or `accounts`: one run per account given with `--account`.
    let shapes: Vec<&str> = schema["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        shapes,
        ["#/$defs/ReadinessAccounts", "#/$defs/ReadinessRun"]
    );
    for field in ["schemaVersion", "resources", "accountId", "region", "gaps"] {
        assert!(
            schema["$defs"]["ReadinessRun"]["properties"]
                .get(field)
                .is_some(),
            "lacks `{field}`"
        );
    }
    let accounts = &schema["$defs"]["ReadinessAccounts"];
    assert_eq!(
        accounts["properties"]["accounts"]["items"]["$ref"],
        "#/$defs/ReadinessRun"
    );
    assert_eq!(
        accounts["required"],
        serde_json::json!(["schemaVersion", "accounts"])
    );
    let resource = &schema["$defs"]["ResourceReadiness"]["properties"];
    for field in ["verdict", "summary", "gaps", "report"] {
        assert!(resource.get(field).is_some(), "resource lacks `{field}`");
    }
}

#[test]
fn schemas_name_the_documented_fields() {
    let report: serde_json::Value = serde_json::from_str(&schema_json(SchemaKind::Report)).unwrap();
    for field in [
        "missing",
        "patch",
        "verified",
        "unverified",
        "cause",
        "summary",
    ] {
        assert!(
            report["properties"].get(field).is_some(),
            "report schema lacks `{field}`"
        );
    }
    let finding = &report["$defs"]["Finding"]["properties"];
    for field in [
        "action",
        "resource",
        "principal",
        "fixableByPatch",
        "blockedBy",
    ] {
        assert!(
            finding.get(field).is_some(),
            "finding schema lacks `{field}`"
        );
    }
    let evidence: serde_json::Value =
        serde_json::from_str(&schema_json(SchemaKind::Evidence)).unwrap();
    assert_eq!(evidence["required"], serde_json::json!(["trigger"]));
}
