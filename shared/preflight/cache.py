"""A few seconds' memory of a workspace's reads, so a burst of uploads reads the workspace once, not per upload.

The upload's pre-flight is advice: the worker reads the workspace again and plans against it before it
applies anything. So what the pre-flight reads may be a few seconds old, with one rule that keeps its
meaning: cached answers may only let a pack through. When the checks on cached facts find an error,
`preflight` reads again, live, and only what the live workspace says refuses the upload (and refreshes the
cache). A table created a second ago is therefore never refused because of an old listing, and a missing
table is still refused whenever the workspace answers in time.

Each read is kept under its own key (the recipients list, the shares list, one share, its grants, one
schema's tables, the metastore summary) for ``ttl_seconds``; concurrent misses of one key share a single
call, so sixteen uploads arriving together make one shares list between them, and an expired answer is read
again on the in-flight pool while every caller uses it a little longer (`ReadCache`). Failures are not kept.
Writes this process makes through `CachedCatalogReader.invalidate` (or a new entry replacing an old one)
end the old answers at once; the worker's writes, in another process, are seen within ``ttl_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from shared.platform.logging import get_logger
from shared.preflight.in_flight import IN_FLIGHT
from shared.provisioning.gateway import MetastoreSharing, TableSharingFacts
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import SharePackSpec, Strategy

if TYPE_CHECKING:
    from shared.preflight.run import CatalogReader

#: How long a read is reused: long enough to serve a burst of uploads, short enough that the plan preview
#: and quota warnings stay current (a refusal is always confirmed live, whatever its age).
DEFAULT_TTL_SECONDS = 5.0
T = TypeVar("T")
log = get_logger(__name__)


class ReadCache:
    """Values by key for ``ttl_seconds``, one loader call per key at a time; thread-safe.

    When a value has expired less than ``ttl_seconds`` ago, it is read again once, and until that read ends
    every caller takes the expired value instead of queueing behind it: with ``refresh_in`` (a way to run the
    read elsewhere, e.g. `IN_FLIGHT.submit`) even the caller that found it expired, otherwise that caller
    reads it itself. Each request that paid for a refresh was in the uploads' 99th percentile. No value older
    than twice the TTL is ever served, a failed read keeps nothing, and `invalidate` ends them all at once.
    """

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, *, clock: Callable[[], float] = time.monotonic,
                 refresh_in: Callable[[Callable[[], None]], object] | None = None):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._refresh_in = refresh_in
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, Future[Any]] = {}
        self._generation = 0

    def get(self, key: Hashable, load: Callable[[], T], *, fresh: bool = False,
            keep: Callable[[T], bool] | None = None) -> T:
        """Return the kept value of ``key``, or load it (``fresh``: load it whatever is kept, and keep it;
        ``keep``: whether a loaded value may be kept, e.g. not "the directory could not answer")."""
        with self._lock:
            kept, now = self._values.get(key), self._clock()
            if not fresh and kept is not None and kept[0] > now:
                return kept[1]  # type: ignore[no-any-return]
            usable = not fresh and kept is not None and kept[0] + self.ttl_seconds > now
            pending = None if fresh else self._loading.get(key)
            if pending is not None and usable:
                return kept[1]  # type: ignore[index, no-any-return]  # being read again: the last answer meanwhile
            if pending is not None:
                owner = False
            else:
                pending = self._loading[key] = Future()
                generation, owner = self._generation, True
        if not owner:
            return pending.result()  # type: ignore[no-any-return]
        if usable and self._refresh_in is not None:
            try:
                self._refresh_in(lambda: self._load_quietly(key, load, pending, generation, keep))
            except RuntimeError:  # the pool is shut down (the process is stopping): read it here
                return self._load(key, load, pending, generation, keep)
            return kept[1]  # type: ignore[index, no-any-return]
        return self._load(key, load, pending, generation, keep)

    def _load(self, key: Hashable, load: Callable[[], T], pending: Future[Any], generation: int,
              keep: Callable[[T], bool] | None) -> T:
        try:
            value = load()
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                if self._loading.get(key) is pending:
                    del self._loading[key]
        with self._lock:
            if generation == self._generation and (keep is None or keep(value)):  # not invalidated meanwhile
                self._values[key] = (self._clock() + self.ttl_seconds, value)
        pending.set_result(value)
        return value

    def _load_quietly(self, key: Hashable, load: Callable[[], T], pending: Future[Any], generation: int,
                      keep: Callable[[T], bool] | None) -> None:
        """A refresh nobody waits for: a failure keeps nothing, and a caller after the grace reads again."""
        try:
            self._load(key, load, pending, generation, keep)
        except Exception as exc:
            log.info("read_cache.refresh_failed", key=str(key), error=str(exc))

    def has(self, key: Hashable) -> bool:
        """Whether `get` of ``key`` answers at once from what is kept: the value is fresh, or expired less than
        ``ttl_seconds`` ago and read again elsewhere (``refresh_in``)."""
        with self._lock:
            kept = self._values.get(key)
            if kept is None:
                return False
            grace = self.ttl_seconds if self._refresh_in is not None else 0.0
            return kept[0] + grace > self._clock()

    def invalidate(self) -> None:
        """Forget everything (and what is being loaded right now will not be kept)."""
        with self._lock:
            self._values.clear()
            self._generation += 1


class CachedCatalogReader:
    """A `CatalogReader` that answers from a `ReadCache` and reads through ``reader`` on a miss.

    Args:
        reader: the live reader (`DatabricksGateway`).
        cache: this workspace's cache (shared by every upload of the process).
        fresh: read live and refresh the cache instead of answering from it (see `refreshing`).
    """

    def __init__(self, reader: CatalogReader, cache: ReadCache, *, concurrency: int = 8, fresh: bool = False):
        self.live = reader
        self._cache = cache
        self._concurrency = max(1, concurrency)
        self.fresh = fresh

    def refreshing(self) -> CachedCatalogReader:
        """The same reader reading live, keeping what it reads for the next uploads."""
        return CachedCatalogReader(self.live, self._cache, concurrency=self._concurrency, fresh=True)

    def invalidate(self) -> None:
        """Forget this workspace's reads: this process has just changed it."""
        self._cache.invalidate()

    def _get(self, key: Hashable, load: Callable[[], T]) -> T:
        return self._cache.get(key, load, fresh=self.fresh)

    def read_state(self, spec: SharePackSpec) -> WorkspaceState:
        """What the planner sees, from the kept lists, shares and grants; reads nothing twice.

        A DELETE (which reads each doomed recipient's grants) and a pack that may own pipelines are rare
        and read live.
        """
        strategy = spec.metadata.strategy
        if spec.pipelines or (strategy is not Strategy.NEW and spec.shares) or strategy is Strategy.DELETE:
            return self.live.read_state(spec)
        recipients = self._get(("recipients",), self.live.list_recipients)  # type: ignore[attr-defined]
        existing = self.share_names()
        named = [share.name for share in spec.shares if share.name in existing]
        reads: list[tuple[Hashable, Callable[[], Any]]] = []
        for name in named:
            reads.append((("share", name), lambda n=name: self.live.get_share(n)))  # type: ignore[attr-defined]
            reads.append((("grants", name), lambda n=name: self.live.get_share_grantees(n)))  # type: ignore[attr-defined]
        values = self._all(reads)
        shares = {name: values[("share", name)] for name in named}
        grants = {name: values[("grants", name)] or frozenset() for name in named}
        return WorkspaceState(
            recipients=recipients,
            shares={name: share for name, share in shares.items() if share is not None},
            grants=grants,
        )

    def _all(self, reads: list[tuple[Hashable, Callable[[], Any]]]) -> dict[Hashable, Any]:
        """Every read's value; the misses run side by side (at most ``concurrency`` at once)."""
        missing = [(key, load) for key, load in reads if self.fresh or not self._cache.has(key)]
        values: dict[Hashable, Any] = {}
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=min(self._concurrency, len(missing))) as pool:
                futures = {key: pool.submit(self._get, key, load) for key, load in missing}
                values = {key: future.result() for key, future in futures.items()}
        return {key: values[key] if key in values else self._get(key, load) for key, load in reads}

    def has_facts(self, spec: SharePackSpec, schemas: list[str]) -> bool:
        """Whether every read a pre-flight of ``share_pack`` makes is kept (then it needs no threads)."""
        if self.fresh or not all(self._cache.has(key) for key in (("recipients",), ("shares",), ("metastore",))):
            return False
        existing = self.share_names()
        keys = [(kind, share.name) for share in spec.shares if share.name in existing
                for kind in ("share", "grants")]
        keys += [("tables", *schema.lower().split(".", 1)) for schema in schemas]
        return all(self._cache.has(key) for key in keys)

    def list_tables(self, catalog: str, schema: str) -> dict[str, str] | None:
        return self._get(("tables", catalog.lower(), schema.lower()), lambda: self.live.list_tables(catalog, schema))

    def metastore_sharing(self) -> MetastoreSharing:
        return self._get(("metastore",), self.live.metastore_sharing)

    def table_sharing_facts(self, full_name: str) -> TableSharingFacts | None:
        return self._get(("table", full_name.lower()), lambda: self.live.table_sharing_facts(full_name))

    def share_names(self) -> set[str]:
        return self._get(("shares",), self.live.share_names)


class CachedReaders:
    """A process's workspace readers: called, the live reader of a workspace (what a dry run, a rollback's
    preview and the worker use); `cached`, the same behind that workspace's `ReadCache` (the upload's)."""

    def __init__(self, reader_for: Callable[[str], CatalogReader], *, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 concurrency: int = 8) -> None:
        self._reader_for = reader_for
        self._ttl_seconds = ttl_seconds
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._caches: dict[str, ReadCache] = {}

    def __call__(self, workspace_url: str) -> CatalogReader:
        return self._reader_for(workspace_url)

    def cached(self, workspace_url: str) -> CachedCatalogReader:
        """The workspace's reader answering from its cache."""
        with self._lock:
            cache = self._caches.get(workspace_url)
            if cache is None:
                cache = self._caches[workspace_url] = ReadCache(self._ttl_seconds, refresh_in=IN_FLIGHT.submit)
        return CachedCatalogReader(self._reader_for(workspace_url), cache, concurrency=self._concurrency)

    def invalidate(self, workspace_url: str) -> None:
        """Forget a workspace's reads (this process has changed it)."""
        with self._lock:
            cache = self._caches.get(workspace_url)
        if cache is not None:
            cache.invalidate()
