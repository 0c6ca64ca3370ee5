"""Running the pre-flight: read the workspace (read-only, batched), check the pack, preview the plan.

Reads are batched: one ``tables.list`` per schema the pack names (not one call per table), run at most
``concurrency`` at a time alongside the metastore summary, the share list and the planner's own read.
`preflight_within` bounds the whole run in time for the upload route: a workspace that cannot be read in
time is not a reason to refuse an upload (the worker's plan is the final word), only a warning. The upload
reads through `cache.CachedCatalogReader` (a few seconds' memory per workspace); its refusals are confirmed
by a live read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from shared.platform.errors import ConfigurationError
from shared.platform.logging import get_logger
from shared.preflight.cache import CachedCatalogReader
from shared.preflight.checks import CatalogFacts, check_pack, schemas_to_read, tables_sharing_parts
from shared.preflight.in_flight import IN_FLIGHT
from shared.provisioning.diff import make_plan
from shared.provisioning.errors import ProvisioningError
from shared.provisioning.gateway import MetastoreSharing, TableSharingFacts
from shared.provisioning.plan import Plan
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import Issue, SharePackSpec

log = get_logger(__name__)

DEFAULT_CONCURRENCY = 16
T = TypeVar("T")
#: Makes the plan a preview shows: `make_plan`, or one limited to what the caller's project owns.
Planner = Callable[[SharePackSpec, WorkspaceState], Plan]


class CatalogReader(Protocol):
    """The read-only gateway calls the pre-flight makes (`DatabricksGateway` implements them)."""

    def read_state(self, spec: SharePackSpec) -> WorkspaceState: ...

    def list_tables(self, catalog: str, schema: str) -> dict[str, str] | None: ...

    def table_sharing_facts(self, full_name: str) -> TableSharingFacts | None: ...

    def metastore_sharing(self) -> MetastoreSharing: ...

    def share_names(self) -> set[str]: ...


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of a pre-flight: errors refuse the pack, warnings do not; ``plan`` is None when skipped."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    plan: Plan | None = None

    @property
    def skipped(self) -> bool:
        return self.plan is None


def read_facts(spec: SharePackSpec, reader: CatalogReader, *, concurrency: int = DEFAULT_CONCURRENCY) -> CatalogFacts:
    """Read what the checks need, concurrently."""
    schemas = sorted(schemas_to_read(spec))
    if isinstance(reader, CachedCatalogReader) and reader.has_facts(spec, schemas):
        concurrency = 0  # all kept: read in this thread (a pool's threads cost more than the reads)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) if concurrency else _InThread() as pool:
        state = pool.submit(reader.read_state, spec)
        sharing = pool.submit(reader.metastore_sharing)
        share_names = pool.submit(reader.share_names)
        listings = list(pool.map(lambda s: reader.list_tables(*s.split(".", 1)), schemas))
        shared_parts = sorted(tables_sharing_parts(spec))
        table_facts = dict(zip(shared_parts, pool.map(reader.table_sharing_facts, shared_parts), strict=True))
        tables: dict[str, str] = {}
        missing: set[str] = set()
        for schema, listing in zip(schemas, listings, strict=True):
            if listing is None:
                missing.add(schema)
            else:
                tables.update(listing)
        return CatalogFacts(
            tables=tables,
            missing_schemas=frozenset(missing),
            sharing=sharing.result(),
            share_count=len(share_names.result()),
            state=state.result(),
            table_facts={name: found for name, found in table_facts.items() if found is not None},
        )


def preflight(
    spec: SharePackSpec,
    reader: CatalogReader,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    planner: Planner = make_plan,
) -> PreflightReport:
    """Check ``pack`` against the workspace and preview its plan, reading only.

    Raises:
        ProvisioningError: the workspace could not be read (classified: transient or permanent).
    """
    facts = read_facts(spec, reader, concurrency=concurrency)
    plan = planner(spec, facts.state)
    errors, warnings = check_pack(spec, facts, plan)
    if errors and isinstance(reader, CachedCatalogReader) and not reader.fresh:
        # Cached answers may only let a pack through: a refusal is what the live workspace says.
        return preflight(spec, reader.refreshing(), concurrency=concurrency)
    return PreflightReport(errors=errors, warnings=warnings, plan=plan)


class _InThread:
    """The part of `ThreadPoolExecutor` `read_facts` uses, running each call at once in this thread."""

    def __enter__(self) -> _InThread:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def map(self, fn: Callable[..., T], items: Iterable[Any]) -> Iterator[T]:
        return map(fn, items)


class WorkspaceUnreadable(Exception):
    """The workspace could not be read within the budget; ``reason`` says why, for a warning."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_within(read: Callable[[], T], *, budget_seconds: float) -> T:
    """Run a read of a workspace, waiting at most ``budget_seconds`` for it.

    Raises:
        WorkspaceUnreadable: it took longer, or the workspace could not be read (a classified failure).
    """
    future = IN_FLIGHT.submit(read)
    try:
        return future.result(timeout=budget_seconds)
    except FutureTimeout:
        raise WorkspaceUnreadable(f"the workspace could not be read within {budget_seconds:g} s") from None
    except (ProvisioningError, ConfigurationError) as exc:
        raise WorkspaceUnreadable(f"the workspace could not be read: {exc.message}") from exc


def preflight_within(
    spec: SharePackSpec,
    reader_for: Callable[[], CatalogReader],
    *,
    budget_seconds: float,
    concurrency: int = DEFAULT_CONCURRENCY,
    planner: Planner = make_plan,
) -> PreflightReport:
    """`preflight` bounded in time; a workspace that cannot be read (in time) yields a skipped report with a
    warning instead of an error."""
    try:
        return read_within(lambda: preflight(spec, reader_for(), concurrency=concurrency, planner=planner),
                           budget_seconds=budget_seconds)
    except WorkspaceUnreadable as exc:
        log.warning("preflight.skipped", reason=exc.reason)
        return PreflightReport(warnings=[Issue(path="", message=f"Pre-flight check skipped: {exc.reason}")])
