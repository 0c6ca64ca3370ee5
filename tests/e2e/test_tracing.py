"""One trace from the upload's request span, through the queue message, to the worker's job and step spans."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.platform import tracing
from shared.platform.settings import Settings
from tests.e2e.test_provisioning import pack
from worker.bootstrap import build_worker

_exporter: InMemorySpanExporter | None = None


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """An in-memory exporter on this process's tracer provider (added once: a provider keeps its processors)."""
    global _exporter
    if _exporter is None:
        _exporter = InMemorySpanExporter()
        tracing.configure(Settings(), "tests").add_span_processor(SimpleSpanProcessor(_exporter))
    _exporter.clear()
    return _exporter


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [s for s in spans if s.name == name]
    assert len(matching) == 1, [s.name for s in spans]
    return matching[0]


def test_the_upload_trace_reaches_the_worker_job_and_its_steps(stack, spans):
    share_pack_id = stack.upload(pack())
    # The worker in this process (its spans reach the same exporter), reading the same queue.
    worker = build_worker(Settings.from_env(stack.worker_env, dotenv_path=None))
    deadline = time.monotonic() + 60
    while stack.status(share_pack_id)["Status"] == "IN_PROGRESS" and time.monotonic() < deadline:
        worker.consumer.process_next(worker.job.run)
    assert stack.status(share_pack_id)["Status"] == "COMPLETED"

    finished = list(spans.get_finished_spans())
    request = _one(finished, "POST /workflow/sharepack/upload")
    job = _one(finished, "provision share pack")
    steps = [s for s in finished if s.name.startswith("step ")]
    assert request.kind == SpanKind.SERVER and job.kind == SpanKind.CONSUMER
    assert job.context.trace_id == request.context.trace_id
    assert job.parent is not None and job.parent.span_id == request.context.span_id
    assert job.attributes["share_pack_id"] == share_pack_id
    assert job.attributes["request_id"] == request.attributes["request_id"]
    assert steps and all(s.parent is not None and s.parent.span_id == job.context.span_id for s in steps)
    assert {s.context.trace_id for s in steps} == {request.context.trace_id}
