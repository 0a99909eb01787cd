"""OpenTelemetry: spans are always created (cheap no-ops); an exporter only when asked."""

from __future__ import annotations

from opentelemetry import trace


def configure_tracing(exporter: str, service_name: str = "context-service-refactored") -> None:
    if exporter == "none" or isinstance(trace.get_tracer_provider(), _sdk_provider_type()):
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:  # otlp: needs the opentelemetry-exporter-otlp package
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def _sdk_provider_type() -> type:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider
