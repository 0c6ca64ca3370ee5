"""Lakeflow pipelines (DLT) and Jobs: the endpoints the worker uses, with their real shapes and errors.

Pipelines are ``/api/2.0/pipelines`` (https://docs.databricks.com/api/workspace/pipelines); jobs are
``/api/2.2/jobs`` (databricks-sdk 0.162 sends every job call there; ``/api/2.1`` is served too,
https://docs.databricks.com/reference/jobs-api-updates.html). Runs never start by themselves: a test
hook adds them (as if a schedule fired), and a run either finishes at once or after N seconds, so a
test can watch a RUNNING run become TERMINATED without sleeping on the emulator's behalf.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dev.emulator.errors import ApiError, invalid_parameter
from dev.emulator.routes import Call, Route, Router
from dev.emulator.workspace_files import WorkspaceFiles

PIPELINES = "/api/2.0/pipelines"
MAX_PIPELINE_PAGE = 100  # list_pipelines: "max_results ... cannot exceed 100"
MAX_JOB_PAGE = 100
MAX_RUN_PAGE = 24  # "less than 25"
RESULT_STATES = ("SUCCESS", "FAILED", "TIMEDOUT", "CANCELED")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _not_found(kind: str, identifier: object) -> ApiError:
    """The answer to a call naming a pipeline, job or run that does not exist.

    Pipelines: 404 RESOURCE_DOES_NOT_EXIST (the Databricks CLI's test server, libs/testserver/pipelines.go).
    Jobs and runs: the real Jobs API answers 400 INVALID_PARAMETER_VALUE "Job N does not exist." (recorded in
    https://github.com/databricks/terraform-provider-databricks/pull/2225), which databricks-sdk turns into
    ResourceDoesNotExist only for ``jobs/get`` and ``jobs/runs/get`` (databricks/sdk/errors/overrides.py); every
    other job endpoint is answered the same way here, the stricter reading where no recording exists.
    """
    if kind == "pipeline":
        return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"The specified pipeline {identifier} was not found.")
    noun = "Run" if kind == "run" else "Job"
    return ApiError(400, "INVALID_PARAMETER_VALUE", f"{noun} {identifier} does not exist.")


# -- Quartz cron, as Jobs validates it -------------------------------------------------------------

_QUARTZ_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-#LW]+$")


def quartz_problem(expression: str) -> str | None:
    """Return why a Quartz cron expression is invalid for Jobs, or None (http://www.quartz-scheduler.org/
    documentation/quartz-2.3.0/tutorials/crontrigger.html: 6 or 7 fields, exactly one of day-of-month and
    day-of-week is ``?``)."""
    parts = expression.split()
    if len(parts) not in (6, 7):
        return f"'{expression}' has {len(parts)} fields; a Quartz cron expression has 6 or 7"
    if any(not _QUARTZ_FIELD.match(part) for part in parts):
        return f"'{expression}' holds characters a Quartz cron expression cannot"
    if (parts[3] == "?") == (parts[5] == "?"):
        return f"'{expression}': exactly one of day-of-month and day-of-week must be '?'"
    return None


# -- the model -------------------------------------------------------------------------------------


@dataclass
class PipelineRecord:
    """One pipeline: its spec as sent, plus what the server adds."""

    pipeline_id: str
    spec: dict[str, Any]
    creator: str
    last_modified: int = field(default_factory=_now_ms)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        latest = [
            {"update_id": u["update_id"], "state": u["state"], "creation_time": str(u["creation_time"])}
            for u in reversed(self.updates[-5:])
        ]
        return {
            "pipeline_id": self.pipeline_id,
            "name": self.spec.get("name"),
            "state": "IDLE",
            "health": "HEALTHY",
            "creator_user_name": self.creator,
            "run_as_user_name": self.creator,
            "last_modified": self.last_modified,
            "spec": {**self.spec, "id": self.pipeline_id},
            "latest_updates": latest,
        }


@dataclass
class RunRecord:
    """One job run; its state is derived from the clock, so a run can "take N seconds"."""

    run_id: int
    job_id: int
    number_in_job: int
    run_name: str
    start_time: int
    result: str | None = None  # the result it ends with
    ends_at: int | None = None  # None: running until a hook finishes it
    message: str = ""
    trigger: str = "PERIODIC"

    def finished(self, now: int) -> bool:
        return self.result is not None and self.ends_at is not None and now >= self.ends_at

    def describe(self, now: int) -> dict[str, Any]:
        done = self.finished(now)
        end = self.ends_at if done and self.ends_at is not None else 0
        state: dict[str, Any] = {"life_cycle_state": "TERMINATED" if done else "RUNNING", "state_message": ""}
        status: dict[str, Any] = {"state": "TERMINATED" if done else "RUNNING"}
        if done:
            state["result_state"] = self.result
            state["state_message"] = self.message
            kind = "SUCCESS" if self.result == "SUCCESS" else "CLIENT_ERROR"
            status["termination_details"] = {"code": self.result, "type": kind, "message": self.message}
        return {
            "run_id": self.run_id,
            "job_id": self.job_id,
            "number_in_job": self.number_in_job,
            "run_name": self.run_name,
            "start_time": self.start_time,
            "end_time": end,
            "run_duration": (end - self.start_time) if done else now - self.start_time,
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
            "trigger": self.trigger,
            "state": state,
            "status": status,
            "run_page_url": f"https://emulator/#job/{self.job_id}/run/{self.run_id}",
        }


@dataclass
class JobRecord:
    job_id: int
    settings: dict[str, Any]
    creator: str
    created_time: int = field(default_factory=_now_ms)
    name_key: str = field(init=False, default="")  # the name as the list filter compares it

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "settings":  # keep the filter's key with the settings it is derived from
            super().__setattr__("name_key", str(value.get("name", "")).casefold())

    def describe(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "creator_user_name": self.creator,
            "run_as_user_name": self.creator,
            "created_time": self.created_time,
            "settings": self.settings,
        }


class Lakeflow:
    """Pipelines, jobs and runs of one workspace, safe for the threaded HTTP server."""

    def __init__(self, *, clock: Callable[[], int] = _now_ms, files: WorkspaceFiles | None = None) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._files = files
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.pipelines: dict[str, PipelineRecord] = {}
            self.jobs: dict[int, JobRecord] = {}
            self.runs: dict[int, RunRecord] = {}
            self._ids = itertools.count(1_000_001)

    # -- pipelines ----------------------------------------------------------------------------------

    def create_pipeline(self, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        spec = _pipeline_spec(body)
        with self._lock:
            if not body.get("allow_duplicate_names") and self._pipeline_named(spec["name"]) is not None:
                raise ApiError(
                    409, "RESOURCE_CONFLICT", f"Pipeline with name '{spec['name']}' already exists."
                )
            if body.get("dry_run"):
                return {"effective_settings": spec}
            pipeline = PipelineRecord(str(uuid.uuid4()), spec, caller)
            self.pipelines[pipeline.pipeline_id] = pipeline
            return {"pipeline_id": pipeline.pipeline_id, "effective_settings": spec}

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        with self._lock:
            return self._pipeline(pipeline_id).describe()

    def edit_pipeline(self, pipeline_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        spec = _pipeline_spec(body)
        with self._lock:
            pipeline = self._pipeline(pipeline_id)
            expected = body.get("expected_last_modified")
            if expected is not None and int(expected) != pipeline.last_modified:
                raise ApiError(409, "RESOURCE_CONFLICT", f"Pipeline {pipeline_id} was modified meanwhile.")
            other = self._pipeline_named(spec["name"])
            if other is not None and other.pipeline_id != pipeline_id and not body.get("allow_duplicate_names"):
                raise ApiError(409, "RESOURCE_CONFLICT", f"Pipeline with name '{spec['name']}' already exists.")
            pipeline.spec = spec  # PUT replaces the whole spec
            pipeline.last_modified = max(self._clock(), pipeline.last_modified + 1)
            return {}

    def delete_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        with self._lock:
            self._pipeline(pipeline_id)
            del self.pipelines[pipeline_id]
            return {}

    def list_pipelines(self, query: Mapping[str, str]) -> dict[str, Any]:
        size = _page_size(query.get("max_results"), default=25, limit=MAX_PIPELINE_PAGE)
        wanted = _like_filter(query.get("filter"))
        with self._lock:
            rows = [
                {k: v for k, v in p.describe().items() if k in ("pipeline_id", "name", "state", "health",
                                                                   "creator_user_name", "latest_updates")}
                for p in self.pipelines.values()
                if wanted is None or wanted(p.spec.get("name", ""))
            ]
        return _paged(rows, "statuses", query.get("page_token"), size)

    def start_update(self, pipeline_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            pipeline = self._pipeline(pipeline_id)
            if any(u["state"] not in ("COMPLETED", "FAILED", "CANCELED") for u in pipeline.updates):
                raise ApiError(409, "RESOURCE_CONFLICT", f"An active update exists for pipeline {pipeline_id}.")
            missing = self._missing_library(pipeline.spec)
            update = {
                "update_id": str(uuid.uuid4()),
                "pipeline_id": pipeline_id,
                "state": "COMPLETED" if missing is None else "FAILED",
                "cause": "API_CALL",
                "creation_time": self._clock(),
                "full_refresh": bool(body.get("full_refresh")),
            }
            pipeline.updates.append(update)
            return {"update_id": update["update_id"]}

    def list_updates(self, pipeline_id: str) -> dict[str, Any]:
        with self._lock:
            return {"updates": [dict(u) for u in reversed(self._pipeline(pipeline_id).updates)]}

    def _missing_library(self, spec: Mapping[str, Any]) -> str | None:
        """Return why an update cannot find the pipeline's source (a notebook or file library that is not
        in the workspace), or None. Create and edit accept such a spec, as the real service does: the
        source is read by the update, which then fails."""
        if self._files is None:
            return None
        for library in spec.get("libraries") or ():
            for kind in ("notebook", "file"):
                path = (library.get(kind) or {}).get("path") if isinstance(library, Mapping) else None
                if path is not None and not self._files.exists(str(path)):
                    return f"The {kind} library path '{path}' does not exist in the workspace."
        return None

    def _pipeline(self, pipeline_id: str) -> PipelineRecord:
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _not_found("pipeline", pipeline_id)
        return pipeline

    def _pipeline_named(self, name: str) -> PipelineRecord | None:
        return next((p for p in self.pipelines.values() if p.spec.get("name") == name), None)

    # -- jobs ---------------------------------------------------------------------------------------

    def create_job(self, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        settings = self._job_settings(body)
        with self._lock:
            job = JobRecord(next(self._ids), settings, caller)
            self.jobs[job.job_id] = job
            return {"job_id": job.job_id}

    def get_job(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            return self._job(_job_id(query.get("job_id"))).describe()

    def list_jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        # "This value must be greater than 0 and less or equal to 100. The default value is 20." (jobs.py)
        size = _page_size(query.get("limit"), default=20, limit=MAX_JOB_PAGE, zero_means_limit=False)
        # "A filter on the list based on the exact (case insensitive) job name" (jobs.py of databricks-sdk).
        name = query.get("name")
        wanted = name.casefold() if name is not None else None
        with self._lock:
            rows = [j.describe() for j in sorted(self.jobs.values(), key=lambda j: j.job_id)
                    if wanted is None or j.name_key == wanted]
        if query.get("expand_tasks", "").lower() != "true":
            # "expand_tasks: Whether to include task and cluster details in the response" (jobs.py): a list
            # without it carries the other settings but no tasks or job clusters.
            rows = [{**row, "settings": {k: v for k, v in row["settings"].items()
                                         if k not in ("tasks", "job_clusters")}} for row in rows]
        return _paged(rows, "jobs", query.get("page_token"), size, has_more=True)

    def reset_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        settings = self._job_settings(body.get("new_settings") or {})
        with self._lock:
            self._job(_job_id(body.get("job_id"))).settings = settings
            return {}

    def update_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self._job(_job_id(body.get("job_id")))
            merged = {**job.settings, **(body.get("new_settings") or {})}
            if "tasks" in (body.get("new_settings") or {}):  # tasks merge by task_key
                by_key = {t["task_key"]: t for t in job.settings.get("tasks", [])}
                by_key.update({t["task_key"]: t for t in body["new_settings"]["tasks"]})
                merged["tasks"] = list(by_key.values())
            for name in body.get("fields_to_remove") or ():
                merged.pop(name, None)
            job.settings = self._job_settings(merged)
            return {}

    def delete_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            job_id = _job_id(body.get("job_id"))
            self._job(job_id)
            del self.jobs[job_id]
            return {}

    def run_now(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self.add_run(_job_id(body.get("job_id")), result=None, trigger="ONE_TIME")
            return {"run_id": run.run_id, "number_in_job": run.number_in_job}

    def list_runs(self, query: Mapping[str, str]) -> dict[str, Any]:
        # "greater than 0 and less than 25 ... a limit of 0 [means] the maximum limit" (jobs.py, list_runs)
        size = _page_size(query.get("limit"), default=20, limit=MAX_RUN_PAGE)
        job_id = _job_id(query["job_id"]) if query.get("job_id") else None
        now = self._clock()
        with self._lock:
            if job_id is not None:
                self._job(job_id)  # no recording settles a missing job here: the stricter answer, a refusal
            runs = sorted(
                (r for r in self.runs.values() if job_id is None or r.job_id == job_id),
                key=lambda r: (r.start_time, r.run_id),
                reverse=True,  # newest first, as the Jobs API lists them
            )
            if query.get("completed_only", "").lower() == "true":
                runs = [r for r in runs if r.finished(now)]
            if query.get("active_only", "").lower() == "true":
                runs = [r for r in runs if not r.finished(now)]
            rows = [r.describe(now) for r in runs]
        return _paged(rows, "runs", query.get("page_token"), size, has_more=True)

    def get_run(self, query: Mapping[str, str]) -> dict[str, Any]:
        run_id = _job_id(query.get("run_id"), noun="run_id")
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                raise _not_found("run", run_id)
            return run.describe(self._clock())

    def add_run(
        self,
        job_id: int,
        *,
        result: str | None,
        duration_s: float = 0,
        message: str = "",
        trigger: str = "PERIODIC",
        started_s_ago: float = 0,
    ) -> RunRecord:
        """Start a run of a job; it ends with ``result`` after ``duration_s`` (None: runs until finished)."""
        if result is not None and result not in RESULT_STATES:
            raise invalid_parameter(f"result must be one of {RESULT_STATES}")
        with self._lock:
            job = self._job(job_id)
            start = self._clock() - int(started_s_ago * 1000)
            number = sum(1 for r in self.runs.values() if r.job_id == job_id) + 1
            run = RunRecord(
                run_id=next(self._ids),
                job_id=job_id,
                number_in_job=number,
                run_name=str(job.settings.get("name", "")),
                start_time=start,
                result=result,
                ends_at=None if result is None else start + int(duration_s * 1000),
                message=message,
                trigger=trigger,
            )
            self.runs[run.run_id] = run
            return run

    def finish_run(self, run_id: int, *, result: str, message: str = "") -> dict[str, Any]:
        """End a running run now (the hook for run-now runs)."""
        if result not in RESULT_STATES:
            raise invalid_parameter(f"result must be one of {RESULT_STATES}")
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                raise _not_found("run", run_id)
            run.result, run.ends_at, run.message = result, self._clock(), message
            return run.describe(self._clock())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pipelines": [p.describe() for p in self.pipelines.values()],
                "jobs": [j.describe() for j in self.jobs.values()],
            }

    def _job(self, job_id: int) -> JobRecord:
        job = self.jobs.get(job_id)
        if job is None:
            raise _not_found("job", job_id)
        return job

    def _job_settings(self, body: Mapping[str, Any]) -> dict[str, Any]:
        settings = {k: v for k, v in body.items() if k != "job_id"}
        for task in settings.get("tasks") or ():
            if not isinstance(task, Mapping) or not task.get("task_key"):
                raise invalid_parameter("Each task needs a task_key.")
            pipeline_task = task.get("pipeline_task")
            if pipeline_task is not None:
                pipeline_id = pipeline_task.get("pipeline_id")
                with self._lock:
                    if pipeline_id not in self.pipelines:
                        raise invalid_parameter(f"Pipeline {pipeline_id} does not exist.")
        schedule = settings.get("schedule")
        if schedule is not None:
            cron = str(schedule.get("quartz_cron_expression") or "")
            problem = quartz_problem(cron) if cron else "quartz_cron_expression is required"
            if problem:
                raise invalid_parameter(f"Invalid quartz_cron_expression: {problem}")
            zone = schedule.get("timezone_id")
            if not zone or not _known_zone(str(zone)):
                raise invalid_parameter(f"Invalid timezone_id '{zone}'.")
            if schedule.get("pause_status", "UNPAUSED") not in ("PAUSED", "UNPAUSED"):
                raise invalid_parameter("pause_status must be PAUSED or UNPAUSED.")
        return settings


def _known_zone(zone: str) -> bool:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _pipeline_spec(body: Mapping[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_parameter("Pipeline name must be specified.")
    target = body.get("target")
    if isinstance(target, str) and "." in target:
        raise invalid_parameter(f"'{target}' is not a valid name.")
    if body.get("schema") and not body.get("catalog"):
        raise invalid_parameter("A pipeline that publishes to a schema needs a catalog.")
    if body.get("serverless") and body.get("clusters"):
        raise invalid_parameter("Serverless pipelines cannot have clusters.")
    if len(body.get("tags") or {}) > 25:
        raise invalid_parameter("A pipeline has at most 25 tags.")
    ignored = {"allow_duplicate_names", "dry_run", "expected_last_modified", "pipeline_id", "id"}
    return {k: v for k, v in body.items() if k not in ignored}


def _job_id(raw: Any, *, noun: str = "job_id") -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid {noun}: '{raw}'") from None


def _page_size(raw: str | None, *, default: int, limit: int, zero_means_limit: bool = True) -> int:
    """The page size a list call asked for, ``default`` if none; 400 outside ``0..limit`` (``1..limit`` when
    0 is not documented as "the maximum")."""
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid_parameter(f"Invalid page size '{raw}'") from None
    lowest = 0 if zero_means_limit else 1
    if size < lowest or size > limit:
        raise invalid_parameter(f"Page size must be between {lowest} and {limit} (got {size}).")
    return size or limit


def _paged(rows: list[dict[str, Any]], key: str, token: str | None, size: int, *, has_more: bool = False) -> dict:
    start = int(token) if token and token.isdigit() else 0
    page = rows[start:start + size]
    answer: dict[str, Any] = {key: page} if page else {}
    more = start + size < len(rows)
    if more:
        answer["next_page_token"] = str(start + size)
    if has_more:
        answer["has_more"] = more
    return answer


def _like_filter(text: str | None) -> Callable[[str], bool] | None:
    """Support the documented ``name LIKE '%x%'`` filter of list_pipelines."""
    if not text:
        return None
    found = re.fullmatch(r"\s*name\s+LIKE\s+'(.*)'\s*", text, flags=re.IGNORECASE)
    if found is None:
        raise invalid_parameter(f"Unsupported filter '{text}'.")
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in found.group(1))
    regex = re.compile(f"^{pattern}$", flags=re.IGNORECASE)
    return lambda name: bool(regex.match(name))


# -- routes -----------------------------------------------------------------------------------------


def router(lakeflow: Lakeflow) -> Router:
    """Return the routes of pipelines and jobs (2.2 and 2.1) bound to one ``Lakeflow``."""
    routes = [
        Route("POST", PIPELINES, lambda c: lakeflow.create_pipeline(c.body, caller=c.caller)),
        Route("GET", PIPELINES, lambda c: lakeflow.list_pipelines(c.query)),
        Route("GET", f"{PIPELINES}/{{id}}", lambda c: lakeflow.get_pipeline(c.params["id"])),
        Route("PUT", f"{PIPELINES}/{{id}}", lambda c: lakeflow.edit_pipeline(c.params["id"], c.body)),
        Route("DELETE", f"{PIPELINES}/{{id}}", lambda c: lakeflow.delete_pipeline(c.params["id"])),
        Route("POST", f"{PIPELINES}/{{id}}/updates", lambda c: lakeflow.start_update(c.params["id"], c.body)),
        Route("GET", f"{PIPELINES}/{{id}}/updates", lambda c: lakeflow.list_updates(c.params["id"])),
    ]
    for version in ("2.2", "2.1"):
        jobs = f"/api/{version}/jobs"
        routes += [
            Route("POST", f"{jobs}/create", lambda c: lakeflow.create_job(c.body, caller=c.caller)),
            Route("GET", f"{jobs}/get", lambda c: lakeflow.get_job(c.query)),
            Route("GET", f"{jobs}/list", lambda c: lakeflow.list_jobs(c.query)),
            Route("POST", f"{jobs}/reset", lambda c: lakeflow.reset_job(c.body)),
            Route("POST", f"{jobs}/update", lambda c: lakeflow.update_job(c.body)),
            Route("POST", f"{jobs}/delete", lambda c: lakeflow.delete_job(c.body)),
            Route("POST", f"{jobs}/run-now", lambda c: lakeflow.run_now(c.body)),
            Route("GET", f"{jobs}/runs/list", lambda c: lakeflow.list_runs(c.query)),
            Route("GET", f"{jobs}/runs/get", lambda c: lakeflow.get_run(c.query)),
        ]
    return Router(routes)


def hook(lakeflow: Lakeflow, method: str, route: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Serve ``/__emulator/lakeflow/...``: ``POST runs`` adds a run to a job
    (``{"job_id", "result", "duration_s", "message", "started_s_ago"}``), ``POST runs/{id}/finish``
    ends a running one (``{"result", "message"}``), ``GET state`` lists pipelines and jobs."""
    if (method, route) == ("GET", "state"):
        return lakeflow.snapshot()
    if (method, route) == ("POST", "runs"):
        result = data.get("result", "SUCCESS")
        run = lakeflow.add_run(
            _job_id(data.get("job_id")),
            result=None if result is None else str(result),
            duration_s=float(data.get("duration_s") or 0),
            message=str(data.get("message") or ""),
            started_s_ago=float(data.get("started_s_ago") or 0),
        )
        return {"run_id": run.run_id}
    found = re.fullmatch(r"runs/(\d+)/finish", route)
    if method == "POST" and found:
        return lakeflow.finish_run(int(found.group(1)), result=str(data.get("result", "SUCCESS")),
                                   message=str(data.get("message") or ""))
    raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No emulator hook for '{method} lakeflow/{route}'")


__all__ = ["Call", "Lakeflow", "hook", "quartz_problem", "router"]
