//! Structured JSON logs with the keys AWS Lambda Powertools uses (`level`, `location`,
//! `message`, `timestamp`, `service`, `cold_start`, `function_name`,
//! `function_memory_size`, `function_request_id`, `xray_trace_id`, `correlation_id`), so
//! existing dashboards and Logs Insights queries work unchanged.
//!
//! Fields of the enclosing spans are lifted to the top level of every line: the handler
//! opens one span per invocation with the request id, trace id and correlation id.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

/// Crates whose info-level chatter is not worth a log line per call.
const QUIET: &str = "aws_config=warn,aws_smithy_runtime=warn,aws_smithy_runtime_api=warn,hyper=warn,hyper_util=warn,rustls=warn,lambda_runtime=warn,lambda_runtime_api_client=warn";

/// Installs the JSON logger as the global subscriber (once; later calls do nothing).
/// The level comes from `RUST_LOG`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else INFO.
pub fn init(service: &str) {
    let directive = level_directive(
        std::env::var("RUST_LOG").ok(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
    );
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = PowertoolsLayer::new(service, std::io::stdout).with_lambda_environment();
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

fn level_directive(rust_log: Option<String>, lambda_level: Option<String>) -> String {
    if let Some(directive) = rust_log.filter(|s| !s.trim().is_empty()) {
        return directive;
    }
    let level = match lambda_level
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("trace") => "trace",
        Some("debug") => "debug",
        Some("warn") => "warn",
        Some("error" | "fatal") => "error",
        _ => "info",
    };
    format!("{level},{QUIET}")
}

/// A [`Layer`] writing one Powertools-style JSON object per event.
pub struct PowertoolsLayer<W> {
    fixed: Map<String, Value>,
    make_writer: W,
}

impl<W> PowertoolsLayer<W> {
    pub fn new(service: &str, make_writer: W) -> Self {
        let mut fixed = Map::new();
        fixed.insert("service".into(), Value::from(service));
        PowertoolsLayer { fixed, make_writer }
    }

    /// Adds `function_name`, `function_memory_size` and `function_version` from the
    /// Lambda environment, when set.
    pub fn with_lambda_environment(mut self) -> Self {
        for (key, var) in [
            ("function_name", "AWS_LAMBDA_FUNCTION_NAME"),
            ("function_memory_size", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            ("function_version", "AWS_LAMBDA_FUNCTION_VERSION"),
        ] {
            if let Ok(v) = std::env::var(var) {
                let value = v.parse::<i64>().map(Value::from).unwrap_or(Value::from(v));
                self.fixed.insert(key.into(), value);
            }
        }
        self
    }
}

/// The recorded fields of a span.
struct SpanFields(Map<String, Value>);

struct Visitor<'a>(&'a mut Map<String, Value>);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

impl<S, W> Layer<S> for PowertoolsLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = Map::new();
            attrs.record(&mut Visitor(&mut fields));
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<SpanFields>() {
                values.record(&mut Visitor(&mut fields.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("level".into(), Value::from(level_name(meta.level())));
        line.insert(
            "location".into(),
            Value::from(format!(
                "{}:{}",
                meta.module_path().unwrap_or(meta.target()),
                meta.line().unwrap_or(0)
            )),
        );
        line.insert("message".into(), Value::from(""));
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        for (k, v) in &self.fixed {
            line.insert(k.clone(), v.clone());
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if span.metadata().target().starts_with("lambda_runtime") {
                    continue;
                }
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut Visitor(&mut line));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // Logging is best effort: a closed stdout must not fail the invocation.
        let _ = self.make_writer.make_writer().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn span_fields_are_lifted_to_powertools_keys() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(PowertoolsLayer::new("restore-doctor", buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "invocation",
                function_request_id = "req-1",
                xray_trace_id = "Root=1-abc",
                correlation_id = tracing::field::Empty,
                cold_start = true
            );
            let _guard = span.enter();
            span.record("correlation_id", "evt-1");
            tracing::warn!(reason = "status `COMPLETED` is not FAILED", "event skipped");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "event skipped");
        assert_eq!(line["service"], "restore-doctor");
        assert_eq!(line["function_request_id"], "req-1");
        assert_eq!(line["xray_trace_id"], "Root=1-abc");
        assert_eq!(line["correlation_id"], "evt-1");
        assert_eq!(line["cold_start"], true);
        assert_eq!(line["reason"], "status `COMPLETED` is not FAILED");
        assert!(line["location"].as_str().unwrap().contains("logging"));
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn the_level_comes_from_rust_log_then_lambda() {
        assert_eq!(
            level_directive(Some("debug".into()), Some("ERROR".into())),
            "debug"
        );
        assert!(level_directive(None, Some("FATAL".into())).starts_with("error,"));
        assert!(level_directive(None, None).starts_with("info,"));
    }
}
