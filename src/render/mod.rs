//! Turning a [`Report`](crate::diagnose::Report) into what people read: the CLI/email
//! text, the Slack (AWS Chatbot) notification and the SNS alert that carries them.

pub mod alert;
pub mod escape;
pub mod facts;
pub mod readiness;
pub mod readiness_alert;
pub mod slack;
pub mod text;
