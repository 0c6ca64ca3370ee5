"""OpenTelemetry traces: one trace from the API's request, through the queue, to the worker's job and its steps.

The API's request span is the root (or continues a caller's W3C `traceparent` header). The upload's queue
message carries the `traceparent` of that span (https://www.w3.org/TR/trace-context/#traceparent-header),
so the worker's job span continues the same trace, and each provisioning step is a child span of the job.

Export: with `applicationinsights_connection_string` set, `azure-monitor-opentelemetry` sends the spans to
Application Insights (https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-enable?tabs=python).
Without it, spans are made but go nowhere; a test adds an in-memory exporter with `add_span_processor`.
OpenTelemetry allows one tracer provider per process, so `configure` acts once and later calls return it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)

TRACER_NAME = "sharepack"
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_configured: TracerProvider | None = None


def configure(settings: Settings, service: str) -> TracerProvider:
    """Install this process's tracer provider (once); export to Azure Monitor when configured."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        resource = Resource.create({SERVICE_NAME: service})
        if settings.applicationinsights_connection_string:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string,
                resource=resource,
                # The API makes its own request span (below); Flask's instrumentation would make a second one.
                instrumentation_options={"flask": {"enabled": False}},
            )
            provider = trace.get_tracer_provider()
            log.info("tracing.configured", exporter="azure_monitor", service=service)
        else:
            provider = TracerProvider(resource=resource)
            trace.set_tracer_provider(provider)
            log.info("tracing.configured", exporter="none", service=service)
        if not isinstance(provider, TracerProvider):  # another library installed a provider we cannot extend
            raise RuntimeError(f"expected an OpenTelemetry SDK TracerProvider, found {type(provider).__name__}")
        _configured = provider
        return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, for a queue message (None outside any recorded span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(name: str, **attributes: str | int) -> Iterator[Span]:
    """A child span of the current one (e.g. one provisioning step)."""
    with tracer().start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextmanager
def continued(name: str, traceparent: str | None, **attributes: str | int) -> Iterator[Span]:
    """A consumer span continuing the trace of `traceparent` (a new trace when it is absent or malformed)."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER,
                                        attributes=attributes) as current:
        yield current


@dataclass
class ServerSpan:
    """The span of one HTTP request, opened in a before-request hook and closed in the teardown hook."""

    span: Span
    token: object

    @classmethod
    def start(cls, name: str, headers: Mapping[str, str], **attributes: str | int) -> ServerSpan:
        parent = _PROPAGATOR.extract(dict(headers))
        opened = tracer().start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        return cls(opened, context.attach(trace.set_span_in_context(opened)))

    def finish(self, status_code: int | None, error: BaseException | None = None) -> None:
        if status_code is not None:
            self.span.set_attribute("http.response.status_code", status_code)
        if error is not None:
            self.span.record_exception(error)
        if error is not None or (status_code or 0) >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()
        context.detach(self.token)  # type: ignore[arg-type]
