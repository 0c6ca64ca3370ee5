"""The DATABRICKS_OBJECTS job of the sync service: one `sync_jobs` row per run with counts per workspace."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.drift.sync import DatabricksObjectsSync
from shared.models import SyncJob
from shared.platform.status import SyncStatus
from sync.jobs.base import JobContext
from sync.jobs.databricks_objects import DatabricksObjectsJob
from sync.runner import SyncRunner

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the read fails fast


def test_a_run_syncs_every_workspace_and_records_one_row(
    engine: Engine,
    session_factory: sessionmaker[Session],
    sync: DatabricksObjectsSync,
    emulator: EmulatorControl,
    workspace_client,
):
    workspace_client.shares.create("sales")
    job = DatabricksObjectsJob(sync, workspaces=lambda: [emulator.url, UNREACHABLE])

    outcome = SyncRunner(engine, session_factory).run(job, JobContext(threading.Event()))

    assert outcome is not None and outcome.status is SyncStatus.COMPLETED
    with session_factory() as session:
        row = session.get_one(SyncJob, outcome.sync_job_id)
    assert row.sync_type == "DATABRICKS_OBJECTS" and row.status == "COMPLETED"
    assert (row.records_processed, row.records_created, row.records_failed) == (1, 1, 1)
    per_workspace = row.details["workspaces"]
    assert per_workspace[emulator.url]["objects"] == 1
    assert "error" in per_workspace[UNREACHABLE]


def test_without_credentials_the_run_says_so(engine: Engine, session_factory: sessionmaker[Session]):
    job = DatabricksObjectsJob(None, workspaces=lambda: ["https://adb-1.azuredatabricks.net"])

    outcome = SyncRunner(engine, session_factory).run(job, JobContext(threading.Event()))

    with session_factory() as session:
        row = session.get_one(SyncJob, outcome.sync_job_id)
    assert row.status == "COMPLETED" and "no Databricks credentials" in row.details["skipped"]
