//! SDK errors turned into the short text an evidence gap or a log line carries.

use aws_sdk_backup::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// What went wrong with one call, reduced to what the diagnosis and a human need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The service's error code (`AccessDeniedException`, `NoSuchEntity`, ...), when the
    /// service answered.
    pub code: Option<String>,
    /// `Code: message`, or the transport failure.
    pub text: String,
}

impl CallError {
    /// The resource does not exist (or has no such policy).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NoSuchEntity" | "NotFoundException")
        )
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads any SDK error (every AWS SDK crate shares the same error type).
pub fn call_error<E, R>(err: &SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_owned);
            let text = match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => DisplayErrorContext(err).to_string(),
            };
            CallError { code, text }
        }
        SdkError::TimeoutError(_) => CallError {
            code: None,
            text: "timed out".into(),
        },
        other => CallError {
            code: None,
            text: DisplayErrorContext(other).to_string(),
        },
    }
}
