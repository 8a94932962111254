//! Readiness in the function, for its tests: CloudTrail change events as EventBridge
//! delivers them, and the state table in moto's DynamoDB (made as template.yaml makes it,
//! read back over HTTP).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::{json, Value};

use super::unique_guid;

/// A CloudTrail management event of `account` as EventBridge delivers it.
pub fn cloudtrail(
    account: &str,
    source: &str,
    name: &str,
    params: Value,
    principal: &str,
    time: &str,
) -> Value {
    json!({
        "version": "0",
        "id": unique_guid(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{}", source.split('.').next().unwrap()),
        "account": account,
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "arn": principal},
            "eventTime": time,
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": params,
            "responseElements": null,
            "eventID": unique_guid(),
            "recipientAccountId": account
        }
    })
}

/// The scheduled run's input as EventBridge Scheduler sends it at `time`
/// (tests/lambda_readiness.rs checks it is the template's).
pub fn scheduled(time: &str) -> Value {
    json!({"restore-doctor": "scheduled-readiness", "scheduledTime": time})
}

/// The state table: hash key `pk`, TTL on `expiresAt`, on-demand.
pub async fn state_table(sdk: &aws_config::SdkConfig, name: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The table as the test reads it back (a Scan over HTTP to moto): key -> item.
pub async fn table_items(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let out = ddb.scan().table_name(name).send().await.unwrap();
    out.items()
        .iter()
        .map(|i| (i["pk"].as_s().unwrap().clone(), i.clone()))
        .collect()
}

/// Asserts that nothing reaches the alert topic's queue within a few seconds.
pub async fn nothing_published(sdk: &aws_config::SdkConfig, queue_url: &str) {
    let got = super::scenario::receive(sdk, queue_url, 0, std::time::Duration::from_secs(3)).await;
    assert!(got.is_empty(), "{got:#?}");
}

/// The resources whose recovery points the fake listed by resource
/// (ListRecoveryPointsByResource) since its `before`-th request: what a change re-read.
pub fn relisted_since(stack: &super::Stack, before: usize) -> Vec<String> {
    let (_, body) = super::http(stack.fake.port, "GET", "/_fake/requests", None).unwrap();
    let served: Vec<Value> = serde_json::from_str(&body).unwrap();
    served[before..]
        .iter()
        .filter(|r| r["operation"] == "ListRecoveryPointsByResource")
        .map(|r| r["key"].as_str().unwrap_or_default().to_owned())
        .collect()
}
