//! Logging to stderr, and with the `otel` feature, tracing spans exported over OTLP/HTTP to
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
    let fmt = tracing_subscriber::fmt::layer().with_target(false).with_writer(std::io::stderr);
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
