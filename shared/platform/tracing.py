"""OpenTelemetry traces: one trace from the API's request, through the queue, to the worker's job and its steps.

The API's request span is the root (or continues a caller's W3C `traceparent` header). The upload's queue
message carries the `traceparent` of that span (https://www.w3.org/TR/trace-context/#traceparent-header),
so the worker's job span continues the same trace, and each provisioning step is a child span of the job.

Export: with `applicationinsights_connection_string` set, spans go to Application Insights through
`AzureMonitorTraceExporter` (https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-enable?tabs=python),
behind `MaskingSpanExporter`: every string a span carries (its name, attributes, status and events, such as
a recorded exception's message and stack trace, ours or an instrumentation's) is masked like a log line
before the exporter turns it into an envelope. Without it, spans are made but go nowhere; a test adds an
in-memory exporter with `add_span_processor`. OpenTelemetry allows one tracer provider per process, so
`configure` acts once and later calls return it.

Logs do not go through OpenTelemetry (no log handler or logger provider is installed). The Azure Monitor
distro's log handler would ship each
record's raw message, extra fields and exception text, bypassing the masking that runs in our stdout
formatter (`shared.platform.logging`); and Container Apps already ship stdout to the Log Analytics workspace that
Application Insights is built on, so a second copy would double the ingestion for nothing. Each log line
carries the `trace_id` and `span_id` of the span it was written in, which are the `OperationId` and `Id`
of the request in Application Insights, so a line and its request join in one query.

A request span carries the HTTP semantic-convention attributes
(https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server): the exporter reads
`http.request.method`, `url.full`, `http.route`, `http.response.status_code` and `user_agent.original` to
fill the request's name, URL, result code and success in Application Insights.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.platform.logging import get_logger, mask_field, mask_secrets
from shared.platform.settings import Settings

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
        provider = TracerProvider(resource=resource)
        trace.set_tracer_provider(provider)
        if settings.applicationinsights_connection_string:
            _export_to_azure_monitor(provider, settings.applicationinsights_connection_string)
            log.info("tracing.configured", exporter="azure_monitor", service=service)
        else:
            log.info("tracing.configured", exporter="none", service=service)
        if trace.get_tracer_provider() is not provider:  # another library installed a provider first
            raise RuntimeError(f"expected our TracerProvider, found {type(trace.get_tracer_provider()).__name__}")
        _configured = provider
        return provider


def _export_to_azure_monitor(provider: TracerProvider, connection_string: str) -> None:
    """Masked spans to Application Insights, with spans of the outgoing HTTP calls (Databricks, Graph, Azure).

    Not `configure_azure_monitor()`: its trace pipeline takes no exporter wrapper, and in
    azure-monitor-opentelemetry 1.8 its `disable_logging=True` is overwritten by the `OTEL_LOGS_EXPORTER`
    default, so it would add its unmasked log handler to the root logger whatever we pass; it also turns
    on live metrics, which would see none of our spans. So the pieces we want are put together here.
    """
    from azure.core.settings import settings as azure_core_settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    exporter = AzureMonitorTraceExporter(connection_string=connection_string)
    provider.add_span_processor(BatchSpanProcessor(MaskingSpanExporter(exporter)))
    azure_core_settings.tracing_implementation = OpenTelemetrySpan  # the Azure SDK's own client spans
    # The API makes its own request span (ServerSpan below), so Flask is not instrumented.
    for instrumentor in (RequestsInstrumentor(), URLLib3Instrumentor(), URLLibInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)


class MaskingSpanExporter(SpanExporter):
    """Masks every string of each span (as `shared.platform.logging` masks a log line), then hands it to `inner`."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([masked_span(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def masked_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` whose name, attributes, status description and events are masked."""
    return ReadableSpan(
        name=mask_secrets(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked_attributes(span.attributes),
        events=[Event(e.name, _masked_attributes(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, mask_secrets(span.status.description or "") or None),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _masked_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    masked = {}
    for key, value in (attributes or {}).items():
        masked[key] = tuple(value) if isinstance(value := mask_field(key, value), list) else value
    return masked


def tracer() -> trace.Tracer:
    """Our tracer, from the tracer provider of the moment (the one `configure` installed, once it has)."""
    return _tracer_of(trace.get_tracer_provider())


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    # `get_tracer` builds a new tracer on each call: ~1% of an upload's CPU when the API asked for one per request.
    return provider.get_tracer(TRACER_NAME)


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


# https://opentelemetry.io/docs/specs/semconv/http/http-spans/#common-attributes: any other method is "_OTHER".
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})


@dataclass(frozen=True)
class HttpRequest:
    """What a server span records of an HTTP request (as the WSGI app sees it, after the trusted proxy hops).

    The query string is left out of `url.full`: it can carry credentials (an OAuth authorization code
    on the console's sign-in callback), and the route and path name the request well enough.
    """

    method: str
    scheme: str
    host: str
    path: str
    route: str | None
    headers: Mapping[str, str]
    client_address: str | None = None

    def attributes(self) -> dict[str, str | int]:
        address, _, port = self.host.rpartition(":")
        if not port.isdigit() or not address:  # no port, or an IPv6 literal without one ("[::1]")
            address, port = self.host, ""
        found: dict[str, str | int | None] = {
            "http.request.method": self.method if self.method in KNOWN_METHODS else "_OTHER",
            "url.scheme": self.scheme,
            "url.path": self.path,
            "url.full": f"{self.scheme}://{self.host}{self.path}",
            "http.route": self.route,
            "server.address": address,
            "server.port": int(port) if port else None,
            "user_agent.original": self.headers.get("User-Agent"),
            "client.address": self.client_address,
        }
        return {key: value for key, value in found.items() if value not in (None, "")}


@dataclass
class ServerSpan:
    """The span of one HTTP request, opened in a before-request hook and closed in the teardown hook."""

    span: Span
    token: object

    @classmethod
    def start(cls, request: HttpRequest, **attributes: str | int) -> ServerSpan:
        """Open the server span of `request`, continuing the caller's `traceparent` if it sent one."""
        parent = _PROPAGATOR.extract(dict(request.headers))
        name = f"{request.method} {request.route}" if request.route else request.method
        opened = tracer().start_span(name, context=parent, kind=SpanKind.SERVER,
                                     attributes={**request.attributes(), **attributes})
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
