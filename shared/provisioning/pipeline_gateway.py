"""The Lakeflow half of `DatabricksGateway`: pipelines (``/api/2.0/pipelines``) and their jobs (``/api/2.2/jobs``).

Pipelines are found by name and recognised as ours by their ``sharepack.*`` configuration; a pipeline's
schedule is the job named `schedule_name`. Each pipeline publishes to the catalog and schema of its target
table (``catalog`` + ``schema``, the Unity Catalog publishing mode; ``target`` is the deprecated form,
https://docs.databricks.com/api/workspace/pipelines/create).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import CronSchedule, JobEmailNotifications, JobSettings, PipelineTask, Task
from databricks.sdk.service.pipelines import NotebookLibrary, Notifications, PipelineLibrary
from databricks.sdk.service.workspace import ImportFormat, Language

from shared.provisioning.errors import ObjectDoesNotExist, PermanentProvisioningError
from shared.provisioning.pipeline_state import (
    CONFIG_PREFIX,
    PIPELINE_SOURCE,
    SOURCE_FOLDER,
    PipelineState,
    ScheduleState,
    schedule_name,
    source_path,
)

T = TypeVar("T")
TASK_KEY = "refresh"
#: Pipeline alerts that e-mail the notification list (https://docs.databricks.com/api/workspace/pipelines/create).
FAILURE_ALERTS = ["on-update-failure", "on-update-fatal-failure", "on-flow-failure"]


class LakeflowCalls:
    """Pipeline and job calls; mixed into `DatabricksGateway`, which supplies ``_client`` and ``_call``."""

    _client: WorkspaceClient
    _concurrency: int

    def _call(self, concerning: str, fn: Callable[[], T]) -> T:  # pragma: no cover - supplied by the gateway
        raise NotImplementedError

    def read_pipelines(self) -> dict[str, PipelineState]:
        """Return every pipeline this service made, by name, each with its schedule (if any)."""
        statuses = self._call("pipelines", lambda: list(self._client.pipelines.list_pipelines(max_results=100)))
        ids = [status.pipeline_id for status in statuses if status.pipeline_id and status.name]
        # One get and one jobs list per pipeline: run them side by side, as read_state does for shares.
        with ThreadPoolExecutor(max_workers=max(1, min(self._concurrency, len(ids) or 1))) as pool:
            states = list(pool.map(self._pipeline_state, ids))
        return {state.name: state for state in states if state is not None}

    def find_pipeline(self, name: str) -> PipelineState | None:
        """Return our pipeline of this name with its schedule, or None."""
        quoted = name.replace("'", "''")
        statuses = self._call(
            f"pipeline '{name}'",
            lambda: list(self._client.pipelines.list_pipelines(filter=f"name LIKE '{quoted}'", max_results=100)),
        )
        for status in statuses:
            if status.name == name and status.pipeline_id:
                return self._pipeline_state(status.pipeline_id)
        return None

    def _pipeline_state(self, pipeline_id: str) -> PipelineState | None:
        info = self._call(f"pipeline {pipeline_id}", lambda: self._client.pipelines.get(pipeline_id))
        spec = info.spec
        config = (spec.configuration if spec else None) or {}
        if spec is None or f"{CONFIG_PREFIX}target_table" not in config or not spec.name:
            return None  # not ours
        emails = sorted({e for n in spec.notifications or () for e in n.email_recipients or ()})
        keys = config.get(f"{CONFIG_PREFIX}key_columns", "")
        return PipelineState(
            name=spec.name,
            source_table=config.get(f"{CONFIG_PREFIX}source_table", ""),
            target_table=config[f"{CONFIG_PREFIX}target_table"],
            scd_type=config.get(f"{CONFIG_PREFIX}scd_type", "1"),
            share=config.get(f"{CONFIG_PREFIX}share") or None,
            key_columns=tuple(k for k in keys.split(",") if k),
            continuous=bool(spec.continuous),
            serverless=spec.serverless is not False,
            notification_list=tuple(emails),
            tags=dict(spec.tags or {}),
            pipeline_id=pipeline_id,
            schedule=self._schedule(spec.name),
        )

    def _schedule(self, pipeline: str) -> ScheduleState | None:
        name = schedule_name(pipeline)
        jobs = self._call(f"schedule of '{pipeline}'", lambda: list(self._client.jobs.list(name=name, limit=100)))
        for job in jobs:
            settings = job.settings
            # The name filter is case-insensitive ("the exact (case insensitive) job name", jobs.py of
            # databricks-sdk): the job of pipeline `orders` is listed for `Orders` too, so compare exactly.
            if job.job_id is None or settings is None or settings.schedule is None or settings.name != name:
                continue
            emails = settings.email_notifications.on_failure if settings.email_notifications else None
            return ScheduleState(
                cron=settings.schedule.quartz_cron_expression,
                timezone=settings.schedule.timezone_id,
                notification_list=tuple(sorted(emails or ())),
                job_id=job.job_id,
            )
        return None

    def create_source_folder(self) -> None:
        """Make the folder of the pipelines' source notebooks; ``mkdirs`` succeeds on an existing folder
        (https://docs.databricks.com/api/workspace/workspace/mkdirs), so one call per step is enough."""
        self._call("pipeline sources", lambda: self._client.workspace.mkdirs(SOURCE_FOLDER))

    def create_pipeline(self, pipeline: PipelineState) -> str:
        """Upload the pipeline's source, then create the pipeline; return its id (the source folder must exist)."""
        self._upload_source(pipeline.name)
        response = self._call(f"pipeline '{pipeline.name}'",
                              lambda: self._client.pipelines.create(**_pipeline_fields(pipeline)))
        return str(response.pipeline_id)

    def update_pipeline(self, pipeline_id: str, pipeline: PipelineState) -> None:
        """Re-upload the pipeline's source (this release's source), then replace its whole spec (the edit
        API is a PUT: what is not resent is dropped). The source folder must exist."""
        self._upload_source(pipeline.name)
        self._call(f"pipeline '{pipeline.name}'",
                   lambda: self._client.pipelines.update(pipeline_id, **_pipeline_fields(pipeline)))

    def delete_pipeline(self, pipeline_id: str, name: str) -> None:
        """Delete a pipeline's source notebook (at `source_path` of its name), then the pipeline.

        The source goes first: after a crash in between, the next plan still finds the pipeline (by name)
        and deletes it, whereas a notebook left behind by a deleted pipeline would never be found again.
        """
        self._delete_source(source_path(name))
        self._call(f"pipeline {pipeline_id}", lambda: self._client.pipelines.delete(pipeline_id))

    def _upload_source(self, pipeline: str) -> None:
        """Import the generated DLT source as the pipeline's notebook: ``overwrite`` replaces an earlier
        copy, so a retry after a crash re-imports cleanly
        (https://docs.databricks.com/api/workspace/workspace/import)."""
        path = source_path(pipeline)
        content = base64.b64encode(PIPELINE_SOURCE.encode("utf-8")).decode("ascii")
        self._call(f"pipeline source '{pipeline}'", lambda: self._client.workspace.import_(
            path, content=content, format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True,
        ))

    def _delete_source(self, path: str) -> None:
        with contextlib.suppress(ObjectDoesNotExist):  # RESOURCE_DOES_NOT_EXIST: already gone, as we want
            self._call(f"pipeline source '{path}'", lambda: self._client.workspace.delete(path))

    def create_schedule(
        self, pipeline: str, pipeline_id: str, schedule: ScheduleState, *, tags: Mapping[str, str]
    ) -> int:
        """Create the job that runs ``pipeline`` on ``schedule``; return its id."""
        settings = _job_settings(pipeline, pipeline_id, schedule, tags)
        response = self._call(f"schedule of '{pipeline}'", lambda: self._client.jobs.create(
            name=settings.name, tasks=settings.tasks, schedule=settings.schedule,
            email_notifications=settings.email_notifications, tags=settings.tags, max_concurrent_runs=1,
        ))
        return int(response.job_id or 0)

    def reset_schedule(
        self, job_id: int, pipeline: str, pipeline_id: str, schedule: ScheduleState, *, tags: Mapping[str, str]
    ) -> None:
        """Replace a job's settings (``jobs/reset`` replaces all of them, so cleared e-mails are cleared);
        raise `ObjectDoesNotExist` if the job is gone (confirmed as in `delete_schedule`)."""
        settings = _job_settings(pipeline, pipeline_id, schedule, tags)
        try:
            self._call(f"schedule of '{pipeline}'", lambda: self._client.jobs.reset(job_id, settings))
        except PermanentProvisioningError as refused:
            self._raise_if_gone(job_id, refused)
            raise

    def delete_schedule(self, job_id: int) -> None:
        """Delete a job; raise `ObjectDoesNotExist` if it is already gone.

        The Jobs API refuses a call naming a missing job with 400 INVALID_PARAMETER_VALUE ("Job N does not
        exist."), which databricks-sdk turns into not-found only for ``jobs/get`` and ``jobs/runs/get``
        (databricks/sdk/errors/overrides.py). So a refused deletion is confirmed with ``jobs.get``: only
        its not-found says the job is gone; otherwise the refusal stands, whatever its code.
        """
        try:
            self._call(f"job {job_id}", lambda: self._client.jobs.delete(job_id))
        except PermanentProvisioningError as refused:
            self._raise_if_gone(job_id, refused)
            raise

    def _raise_if_gone(self, job_id: int, refused: PermanentProvisioningError) -> None:
        """Raise `ObjectDoesNotExist` if ``jobs.get`` finds no job ``job_id``; return if it exists."""
        if isinstance(refused, ObjectDoesNotExist):
            raise refused
        try:
            self._call(f"job {job_id}", lambda: self._client.jobs.get(job_id))
        except ObjectDoesNotExist as gone:
            raise gone from refused


def _pipeline_fields(pipeline: PipelineState) -> dict[str, Any]:
    catalog, schema, _ = pipeline.target_table.split(".")
    notifications = (
        [Notifications(email_recipients=list(pipeline.notification_list), alerts=FAILURE_ALERTS)]
        if pipeline.notification_list else None
    )
    return {
        "name": pipeline.name,
        "catalog": catalog,
        "schema": schema,
        "serverless": pipeline.serverless,
        "continuous": pipeline.continuous,
        "libraries": [PipelineLibrary(notebook=NotebookLibrary(path=source_path(pipeline.name)))],
        "configuration": pipeline.configuration(),
        "notifications": notifications,
        "tags": dict(pipeline.tags) or None,
    }


def _job_settings(pipeline: str, pipeline_id: str, schedule: ScheduleState, tags: Mapping[str, str]) -> JobSettings:
    return JobSettings(
        name=schedule_name(pipeline),
        tasks=[Task(task_key=TASK_KEY, pipeline_task=PipelineTask(pipeline_id=pipeline_id))],
        schedule=CronSchedule(quartz_cron_expression=schedule.cron, timezone_id=schedule.timezone),
        email_notifications=JobEmailNotifications(on_failure=list(schedule.notification_list))
        if schedule.notification_list else None,
        tags=dict(tags) or None,
        max_concurrent_runs=1,
    )
