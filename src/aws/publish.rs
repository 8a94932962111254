//! Publishing the alert: one SNS Publish with `MessageStructure=json`.

use aws_sdk_sns::types::MessageAttributeValue;

use super::error::call_error;
use crate::render::alert::Alert;

/// The alert could not be published (after the SDK's retries).
#[derive(Debug, thiserror::Error)]
#[error("could not publish the alert to `{topic}`: {reason}")]
pub struct PublishError {
    pub topic: String,
    pub reason: String,
}

/// Publishes `alert` to `topic_arn` and returns the SNS message id.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    alert: &Alert,
) -> Result<String, PublishError> {
    let fail = |reason: String| PublishError {
        topic: topic_arn.to_owned(),
        reason,
    };
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&alert.subject)
        .message(&alert.message)
        .message_structure("json");
    for (name, value) in &alert.attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| fail(format!("message attribute `{name}`: {e}")))?;
        request = request.message_attributes(name, attribute);
    }
    let out = request
        .send()
        .await
        .map_err(|e| fail(call_error(&e).text))?;
    Ok(out.message_id().unwrap_or_default().to_owned())
}
