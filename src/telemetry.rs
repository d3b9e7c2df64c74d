//! Logging to stderr (plain text, or JSON with `SG_LOG_FORMAT=json`), one line per GraphQL
//! operation ([`OperationLog`]), and with the `otel` feature, tracing spans exported over OTLP/HTTP to
//! the collector at `SG_OTLP_ENDPOINT` (e.g. `http://127.0.0.1:4318/v1/traces`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Sets up logging (and span export when built with `otel` and `SG_OTLP_ENDPOINT` is set).
pub fn init() -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    use std::io::IsTerminal;
    type Filtered = tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>;
    let fmt = tracing_subscriber::fmt::layer().with_target(false).with_writer(std::io::stderr);
    let fmt: Box<dyn tracing_subscriber::Layer<Filtered> + Send + Sync> = if json_format() {
        Box::new(fmt.json().flatten_event(true))
    } else {
        Box::new(fmt.with_ansi(std::io::stderr().is_terminal()))
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    let endpoint = std::env::var("SG_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty());
    #[cfg(feature = "otel")]
    if let Some(endpoint) = endpoint {
        match otlp(&endpoint) {
            Ok((layer, provider)) => {
                registry.with(layer).init();
                tracing::info!(endpoint = %endpoint, "exporting spans over OTLP");
                return Telemetry { provider: Some(provider) };
            }
            Err(e) => {
                registry.init();
                tracing::error!(error.detail = %e, "OTLP exporter not started");
                return Telemetry { provider: None };
            }
        }
    }
    registry.init();
    #[cfg(not(feature = "otel"))]
    if endpoint.is_some() {
        tracing::warn!("SG_OTLP_ENDPOINT is set but this build has no `otel` feature; spans are not exported");
    }
    Telemetry {
        #[cfg(feature = "otel")]
        provider: None,
    }
}

/// The OTLP/HTTP span exporter and the tracing layer that feeds it.
#[cfg(feature = "otel")]
pub fn otlp<S>(
    endpoint: &str,
) -> Result<(impl tracing_subscriber::Layer<S>, opentelemetry_sdk::trace::SdkTracerProvider), String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("support-gateway").build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("support-gateway"));
    Ok((layer, provider))
}

/// One log line per GraphQL operation, written when it is over: answered, refused before it
/// ran, stopped by the timeout, or (a subscription) ended. It names the operation, its kind,
/// the agent and partner, the duration and the codes of its errors, with the rule where a rule
/// refused it (`POLICY_REFUSED:R14+R12+R9`), so that any answer a user got can be found in the log.
#[derive(Debug)]
pub struct OperationLog {
    started: std::time::Instant,
    name: Option<String>,
    kind: &'static str,
    agent: Option<String>,
    partner: Option<String>,
    errors: Vec<String>,
}

impl Default for OperationLog {
    fn default() -> Self {
        OperationLog::start()
    }
}

impl OperationLog {
    /// An operation begins (its duration counts from here).
    pub fn start() -> OperationLog {
        OperationLog {
            started: std::time::Instant::now(),
            name: None,
            kind: "-",
            agent: None,
            partner: None,
            errors: Vec::new(),
        }
    }

    pub fn operation(&mut self, name: Option<&str>, kind: &'static str) {
        self.name = name.map(str::to_owned);
        self.kind = kind;
    }

    pub fn caller(&mut self, caller: &crate::auth::Caller) {
        self.agent = Some(caller.agent_email.clone());
        self.partner = Some(caller.partner_id.clone());
    }

    /// The errors of a response (each code once).
    pub fn response(&mut self, response: &async_graphql::Response) {
        for error in &response.errors {
            let ext = error.extensions.as_ref();
            let text = |key: &str| match ext.and_then(|e| e.get(key)) {
                Some(async_graphql::Value::String(s)) => Some(s.clone()),
                Some(async_graphql::Value::Enum(s)) => Some(s.to_string()),
                _ => None,
            };
            let code = text("code").unwrap_or_else(|| "UNCODED".to_owned());
            // Every rule that refused it, not only the first: `POLICY_REFUSED:R14+R12+R9`.
            let rules: Vec<String> = match ext.and_then(|e| e.get("violations")) {
                Some(async_graphql::Value::List(list)) => list
                    .iter()
                    .filter_map(|v| match v {
                        async_graphql::Value::Object(o) => match o.get("rule") {
                            Some(async_graphql::Value::String(r)) => Some(r.clone()),
                            Some(async_graphql::Value::Enum(r)) => Some(r.to_string()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect(),
                _ => text("rule").into_iter().collect(),
            };
            let entry = if rules.is_empty() { code } else { format!("{code}:{}", rules.join("+")) };
            self.refused(&entry);
        }
    }

    /// A refusal outside any response (authentication, the timeout).
    pub fn refused(&mut self, code: &str) {
        if !self.errors.iter().any(|e| e == code) {
            self.errors.push(code.to_owned());
        }
    }
}

impl Drop for OperationLog {
    fn drop(&mut self) {
        tracing::info!(
            target: "support_gateway::operation",
            operation = self.name.as_deref().unwrap_or("-"),
            kind = self.kind,
            agent = self.agent.as_deref().unwrap_or("-"),
            partner = self.partner.as_deref().unwrap_or("-"),
            duration_ms = (self.started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            errors = %self.errors.join(","),
            "graphql operation"
        );
    }
}

/// The log format: `SG_LOG_FORMAT=json` writes one JSON object a line for log shippers;
/// anything else (`text`, the default) writes plain lines, coloured only on a terminal.
fn json_format() -> bool {
    match std::env::var("SG_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") | Ok("") | Err(_) => false,
        Ok(other) => {
            eprintln!("SG_LOG_FORMAT={other} is neither `text` nor `json`; writing text");
            false
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    #[test]
    fn the_exporter_builds_and_records_spans() {
        use tracing_subscriber::layer::SubscriberExt;
        let (layer, provider) =
            super::otlp::<tracing_subscriber::Registry>("http://127.0.0.1:9/v1/traces").expect("builds");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("graphql", operation = "Test", kind = "query");
            let _entered = span.enter();
        });
        // Nothing listens on port 9: the flush fails, which must not panic.
        let _ = provider.shutdown();
    }
}
