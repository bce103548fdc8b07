//! Where spans go, from the standard OpenTelemetry variables.
//!
//! Tracing is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, or `OTEL_TRACES_EXPORTER=otlp`
//! (then to the protocol's default endpoint); off when none is, or with
//! `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`. The protocol is
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`:
//! `http/protobuf` (the specification's default, port 4318) or `grpc`
//! (port 4317). The exporter itself reads the endpoint, `…_HEADERS`,
//! `…_TIMEOUT`; the SDK reads `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on), and the
//! batch processor's `OTEL_BSP_*`.

use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The configured exporter's provider, `None` when tracing is off.
pub(super) fn provider(service: &'static str) -> Result<Option<SdkTracerProvider>, String> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
    match var("OTEL_TRACES_EXPORTER").as_deref() {
        None if endpoint.is_none() => return Ok(None),
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other}: only otlp and none are supported"
            ));
        }
    }
    let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    let exporter = match protocol.as_deref().unwrap_or("http/protobuf") {
        "grpc" => SpanExporter::builder().with_tonic().build(),
        "http/protobuf" => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        other => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other}: grpc and http/protobuf are supported"
            ));
        }
    }
    .map_err(|e| format!("the OTLP exporter could not be built: {e}"))?;
    let mut resource = Resource::builder();
    let named = var("OTEL_SERVICE_NAME").is_some()
        || var("OTEL_RESOURCE_ATTRIBUTES")
            .is_some_and(|a| a.split(',').any(|kv| kv.trim_start().starts_with("service.name=")));
    if !named {
        resource = resource.with_service_name(service);
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}
