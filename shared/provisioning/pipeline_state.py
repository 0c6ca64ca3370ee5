"""The pipelines and schedules a share pack declares, in workspace terms.

A pipeline is a Lakeflow (DLT) pipeline that feeds one shared table; its schedule is a Jobs job with one
pipeline task. We recognise our pipelines by the ``sharepack.*`` keys of their ``configuration`` (which the
shared DLT source also reads, see `source_path`), and a pipeline's job by its name, `schedule_name`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.share_pack_file.model import PipelineSpec

#: The folder holding each pipeline's DLT source notebook (see `source_path`). Every pipeline runs the
#: same source; its ``configuration`` says what it reads and writes (read with ``spark.conf.get``, as the
#: AUTO CDC examples at https://docs.databricks.com/aws/en/dlt/cdc do). One notebook per pipeline, so
#: deleting a pipeline deletes its source without touching another's.
SOURCE_FOLDER = "/Shared/share_pack_workflow/pipelines"
CONFIG_PREFIX = "sharepack."
#: The tag naming the project on every pipeline and job, so billing rows can be summed per project.
PROJECT_TAG = "share_pack_project"

#: The generated source at `source_path`: SCD 1/2 through AUTO CDC, full refresh as a materialised view.
PIPELINE_SOURCE = '''\
from pyspark import pipelines as dp
from pyspark.sql.functions import col

conf = spark.conf  # noqa: F821 (provided by the pipeline runtime)
source, target = conf.get("sharepack.source_table"), conf.get("sharepack.target_table").split(".")[-1]
scd_type = conf.get("sharepack.scd_type")

if scd_type == "full_refresh":
    @dp.materialized_view(name=target)
    def full_copy():
        return spark.read.table(source)  # noqa: F821
else:
    @dp.temporary_view
    def changes():
        return spark.readStream.table(source)  # noqa: F821

    dp.create_streaming_table(target)
    dp.create_auto_cdc_flow(
        target=target, source="changes", keys=conf.get("sharepack.key_columns").split(","),
        sequence_by=col(conf.get("sharepack.sequence_by", "_commit_timestamp")),
        stored_as_scd_type=int(scd_type),
    )
'''


def source_path(pipeline: str) -> str:
    """Return the workspace path of a pipeline's source notebook: its name with characters a workspace
    path cannot hold replaced, plus a digest of the name when anything was replaced (so two names
    never share a notebook)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", pipeline)
    if safe != pipeline:
        safe = f"{safe}-{hashlib.sha256(pipeline.encode()).hexdigest()[:8]}"
    return f"{SOURCE_FOLDER}/{safe}"


def schedule_name(pipeline: str) -> str:
    """Return the name of the job that schedules a pipeline."""
    return f"{pipeline}_schedule"


@dataclass(frozen=True)
class ScheduleState:
    """A pipeline's job: its Quartz cron, time zone and who is e-mailed when a run fails."""

    cron: str
    timezone: str = "UTC"
    notification_list: tuple[str, ...] = ()
    job_id: int | None = None

    def describe(self) -> dict[str, Any]:
        """Return the definition (no server id), JSON-able."""
        return {"cron": self.cron, "timezone": self.timezone, "notification_list": list(self.notification_list)}


@dataclass(frozen=True)
class PipelineIds:
    """The Databricks ids of a pipeline (None: it does not exist) and of its schedule job (None: none)."""

    pipeline_id: str | None = None
    job_id: int | None = None


@dataclass(frozen=True)
class PipelineState:
    """A pipeline as the workspace holds it (ids set when read back) or as a pack declares it."""

    name: str
    source_table: str
    target_table: str
    scd_type: str
    share: str | None = None
    key_columns: tuple[str, ...] = ()
    continuous: bool = False
    serverless: bool = True
    notification_list: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    pipeline_id: str | None = None
    schedule: ScheduleState | None = None

    def describe(self) -> dict[str, Any]:
        """Return the definition (no server ids, no schedule), JSON-able and comparable."""
        return {
            "source_table": self.source_table,
            "target_table": self.target_table,
            "scd_type": self.scd_type,
            "share": self.share,
            "key_columns": list(self.key_columns),
            "continuous": self.continuous,
            "serverless": self.serverless,
            "notification_list": list(self.notification_list),
            "tags": dict(sorted(self.tags.items())),
        }

    def configuration(self) -> dict[str, str]:
        """Return the pipeline's ``configuration``: what the shared source reads, and our marker."""
        return {
            f"{CONFIG_PREFIX}source_table": self.source_table,
            f"{CONFIG_PREFIX}target_table": self.target_table,
            f"{CONFIG_PREFIX}scd_type": self.scd_type,
            f"{CONFIG_PREFIX}key_columns": ",".join(self.key_columns),
            f"{CONFIG_PREFIX}share": self.share or "",
        }

    @classmethod
    def from_definition(
        cls, name: str, values: Mapping[str, Any], *, schedule: Mapping[str, Any] | None = None
    ) -> PipelineState:
        """Rebuild a state from `describe()` output (and a schedule's)."""
        return cls(
            name=name,
            source_table=values["source_table"],
            target_table=values["target_table"],
            scd_type=values["scd_type"],
            share=values.get("share"),
            key_columns=tuple(values.get("key_columns") or ()),
            continuous=bool(values.get("continuous")),
            serverless=values.get("serverless", True) is not False,
            notification_list=tuple(values.get("notification_list") or ()),
            tags=dict(values.get("tags") or {}),
            schedule=schedule_from(schedule),
        )


def schedule_from(values: Mapping[str, Any] | None) -> ScheduleState | None:
    """Rebuild a schedule from `ScheduleState.describe()` output."""
    if not values:
        return None
    return ScheduleState(values["cron"], values.get("timezone") or "UTC", tuple(values.get("notification_list") or ()))


def desired_pipeline(spec: PipelineSpec, share: str | None, *, project: str | None = None) -> PipelineState:
    """Return the pipeline (and schedule) a pack declares; ``share`` holds its target table and
    ``project`` is put in the `PROJECT_TAG` tag."""
    schedule = None
    if spec.schedule and not spec.continuous:
        schedule = ScheduleState(spec.schedule, spec.timezone, tuple(spec.notification_list))
    return PipelineState(
        name=spec.name,
        source_table=spec.source_table or "",
        target_table=spec.target_table or "",
        scd_type=spec.scd_type.value,
        share=share,
        key_columns=tuple(spec.key_columns),
        continuous=spec.continuous,
        serverless=spec.serverless,
        notification_list=tuple(spec.notification_list),
        tags={**spec.tags, **({PROJECT_TAG: project} if project else {})},
        schedule=schedule,
    )
