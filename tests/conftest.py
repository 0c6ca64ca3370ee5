"""Suite-wide fixtures: real services started once per session (PostgreSQL, Azurite, the workspace emulator).

Under pytest-xdist each worker is its own session, so each starts its own services (the database is named
after PYTEST_XDIST_WORKER as well). Tiers are marked by folder here and nowhere else, so `-m` can pick them
(`make test-fast`): ``unit``, ``integration``, ``e2e``, ``browser``, ``containers`` (left out unless asked
for: they need the built images), plus ``slow`` for the few tests that take many seconds each.

No test may leave work running behind it (`tests.support.leftovers` fails the test that does).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression  # how `-m` reads its expression (pytest has no public one)

#: The services' fixtures, loaded in each process that runs tests (`pytest_configure`). Not in pytest-xdist's
#: controller, which runs none: their imports (the databricks SDK, SQLAlchemy, Alembic, Flask) took it ~1.9 s
#: before it started a single worker.
SERVICE_PLUGINS = (
    "tests.support.leftovers",  # first: tests.support.azurite imports it
    "tests.support.postgres",
    "tests.support.azurite",
    "tests.support.emulator",
    "tests.support.smtp",
    "tests.support.graph_emulator",
)
# Their asserts are rewritten however they are first imported (a folder's conftest may import them early).
pytest.register_assert_rewrite(*SERVICE_PLUGINS)

# The suite's heap is large (every module, thousands of collected tests, an app per test), and CPython's default
# thresholds (700, 10, 10) ran a full collection of it twenty times in the API tests alone, ~0.3 s each: 16% of
# their CPU. A larger young generation, and freezing what collection built (it lives until the end), cut the
# collector's time from 7.8 s to 2.7 s there (https://docs.python.org/3/library/gc.html#gc.freeze).
gc.set_threshold(10_000, 10, 10)


def pytest_configure(config: pytest.Config) -> None:
    if _hands_tests_to_workers(config):
        return
    for plugin in SERVICE_PLUGINS:
        config.pluginmanager.import_plugin(plugin)


def _hands_tests_to_workers(config: pytest.Config) -> bool:
    """True in pytest-xdist's controller (`-n N`), which collects and runs nothing itself; False in its workers
    (they have `workerinput`) and in a run without xdist."""
    if hasattr(config, "workerinput"):
        return False
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


def pytest_collection_finish() -> None:
    gc.freeze()


TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "browser", "containers")
#: Tests of many seconds each, left out of `make test-fast` (a file, or a test of it by name prefix): every
#: end-to-end test (the API, queue, worker and emulator together), hostile files sent to gunicorn and to
#: `sharepack validate` (the parser's own refusals stay), the parsers' fuzzing, the big packs, whole processes
#: started and stopped (the `make run` stack, each entry point, a fresh interpreter importing the worker, the
#: sync service, checkov, uv regenerating the lock, docker-compose once per required secret: 7 s of CPU),
#: services stopped and waited for (Azurite, the emulator killed), migrations run on fresh databases, and
#: deliveries waited out past their visibility delay; and the schemathesis run of the whole API, which is quick
#: to run but builds its examples while it is collected, on every xdist worker: 2.5 s of each worker's 6 s of
#: collection. Measured with `pytest --durations`, `--collect-only` and each file's CPU (bench/README.md, "The
#: suite").
SLOW = (
    "e2e/",
    "integration/api/test_gunicorn_connections.py",
    "integration/api/test_hostile_uploads.py",
    "integration/api/test_openapi_properties.py",
    "integration/dev/devstack/test_shutdown.py",
    "integration/entrypoints/test_configuration_errors.py",
    "integration/platform/test_migrations.py",
    "integration/monitoring/test_version_table.py",
    "integration/platform/test_app_roles.py::test_an_owner_without_createrole",
    "integration/sync/test_service.py::test_two_instances_never_overlap",
    "integration/sync/test_service.py::test_sigterm_during_a_run",
    "unit/deploy/test_azure.py::test_checkov",
    "unit/deploy/test_requirements_lock.py::test_lock_is_what_make_lock_generates",
    "unit/deploy/test_containers.py::test_compose_has_no_default_secrets",
    "unit/test_fuzz_parsers.py",
    "unit/test_worker_imports.py",
    "unit/share_pack_file/test_hostile.py::test_sharepack_validate_refuses_a_hostile_file_quickly",
    "unit/share_pack_file/test_limits.py::test_a_share_may_list_thousands_of_recipients",
    "integration/queue/test_outbox.py::test_an_upload_while_the_queue_is_down",
    "integration/queue/test_outbox.py::test_a_failed_send_is_recorded_and_the_relay_publishes_it",
    "integration/queue/test_contract.py::test_azure_stopped_service",
    "integration/worker/test_consumer.py::test_transient_failures_beyond_the_dequeue_budget",
    "integration/monitoring/test_readiness.py::test_heartbeats_beat",
    "integration/dev/emulator/test_persistence.py::test_every_change_survives_kill_9",
    "integration/drift/test_sync_job.py::test_a_run_syncs_every_workspace",
)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A file whose every test is slow is not even imported by a run that leaves slow tests out (`-m` with
    `not slow`): deselecting its tests after collecting them would still cost every worker its collection."""
    markexpr = config.option.markexpr
    relative = _relative(collection_path)
    if not markexpr or relative is None or collection_path.is_dir() or not relative.startswith(SLOW):
        return None
    selects_slow_tests = Expression.compile(markexpr).evaluate(lambda name, **_: name in (_tier(relative), "slow"))
    return None if selects_slow_tests else True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = _relative(item.path)
        if relative is None:
            continue
        if _tier(relative) in TIERS:
            item.add_marker(_tier(relative))
        if f"{relative}::{item.name}".startswith(SLOW):
            item.add_marker("slow")


def _relative(path: Path) -> str | None:
    """`path` relative to tests/ (None: outside it)."""
    try:
        return path.resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return None


def _tier(relative: str) -> str:
    return relative.split("/", 1)[0]
