"""The numbers people want to look at: pack throughput and durations, pipeline runs, costs, recent failures.

Each report reads what the service already records (`monitoring.pack_runs`, `job_metrics`,
`project_costs`) for the packs a caller may see, and shapes it with pandas: group-bys, percentiles and
daily series are what pandas is for, and the same frames export to CSV and Excel for people who take the
numbers elsewhere. Every report covers the last `days` days and what the caller's `Visibility` shows (their
tenants' and projects' packs; None: all, for administrators). Durations are seconds; money is the
currency the billing tables give (list prices).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Select, column, or_, select, table
from sqlalchemy.orm import Session

from shared.access.policy import Visibility
from shared.models import JobMetric, Pipeline, Project, ProjectCost, SharePack

MAX_DAYS = 366
FAILED_OUTCOMES = ("FAILED", "VALIDATION_FAILED")
# A pipeline run's status is its Jobs result state (jobs.RunResultState); anything but SUCCESS went wrong.
RUN_SUCCEEDED = "SUCCESS"
RECENT_FAILURES = 20


@dataclass(frozen=True)
class Report:
    """One report: headline figures, the tables behind it and a daily series for its chart."""

    title: str
    totals: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    daily: pd.DataFrame  # one row per day (UTC), one column per series

    def to_json(self) -> dict[str, Any]:
        """JSON-able: tables as lists of records, the daily series as {date: [...], series: [...]}."""
        return {
            "Title": self.title,
            "Totals": self.totals,
            "Tables": {name: _records(frame) for name, frame in self.tables.items()},
            "Daily": {"Days": [d.date().isoformat() for d in self.daily.index],
                      **{str(c): [_plain(v) for v in self.daily[c]] for c in self.daily.columns}},
        }

    def to_csv(self) -> bytes:
        """The report's main table (its first) as CSV."""
        name = next(iter(self.tables))
        return self.tables[name].to_csv(index=False).encode()

    def to_xlsx(self) -> bytes:
        """Every table and the daily series, one sheet each."""
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            for name, frame in {**self.tables, "daily": self.daily.reset_index(names="day")}.items():
                _without_timezones(frame).to_excel(writer, sheet_name=name[:31], index=False)
        return buffer.getvalue()


def pack_report(session: Session, *, days: int, visible: Visibility | None) -> Report:
    """Pack runs: how many finished how, how long they took (waiting for approval apart), recent failures."""
    since = _since(days)
    runs = table("pack_runs", *(column(c) for c in (
        "share_pack_id", "share_pack_name", "workspace_url", "submitted_at", "finished_at", "outcome",
        "duration_seconds", "processing_seconds", "queue_wait_seconds", "approval_wait_seconds", "last_status",
        "error_message", "tenant_id", "project_id")), schema="monitoring")
    query = select(runs).where(runs.c.submitted_at >= since)
    if visible is not None:
        query = query.where(or_(runs.c.tenant_id.in_(sorted(visible.tenant_ids)),
                                runs.c.project_id.in_(sorted(visible.project_ids))))
    frame = _frame(session, query)
    finished = frame[frame["finished_at"].notna()] if not frame.empty else frame
    outcomes = frame["outcome"].value_counts().to_dict() if not frame.empty else {}
    totals = {
        "Runs": len(frame),
        "ByOutcome": {str(k): int(v) for k, v in sorted(outcomes.items())},
        "DurationSecondsP50": _quantile(finished, "duration_seconds", 0.5),
        "DurationSecondsP95": _quantile(finished, "duration_seconds", 0.95),
        "ProcessingSecondsP50": _quantile(finished, "processing_seconds", 0.5),
        "ApprovalWaitSecondsP50": _quantile(frame, "approval_wait_seconds", 0.5),
    }
    daily = _daily(finished, "finished_at", "outcome", since)
    failures = frame[frame["outcome"].isin(FAILED_OUTCOMES)] if not frame.empty else frame
    failures = failures.sort_values("finished_at", ascending=False).head(RECENT_FAILURES) if not failures.empty \
        else failures
    columns = ["share_pack_id", "share_pack_name", "workspace_url", "finished_at", "outcome", "last_status",
               "error_message"]
    return Report(
        title="Share pack runs",
        totals=totals,
        tables={"runs": _columns(frame, [*columns[:3], "submitted_at", *columns[3:5], "duration_seconds"]),
                "recent_failures": _columns(failures, columns)},
        daily=daily,
    )


def pipeline_run_report(session: Session, *, days: int, visible: Visibility | None) -> Report:
    """Pipeline runs per pipeline: how often they ran and failed, and how long a run takes."""
    since = _since(days)
    query: Select[Any] = (
        select(JobMetric.pipeline_name, JobMetric.databricks_pipeline_id, JobMetric.start_time,
               JobMetric.duration_seconds, JobMetric.status, JobMetric.error_message)
        .where(JobMetric.start_time >= since)
    )
    if visible is not None:
        owned = (
            select(Pipeline.databricks_pipeline_id)
            .join(SharePack, (SharePack.share_pack_id == Pipeline.share_pack_id) & SharePack.is_current)
            .where(Pipeline.is_current, visible.where())
        )
        query = query.where(JobMetric.databricks_pipeline_id.in_(owned))
    frame = _frame(session, query)
    if frame.empty:
        per_pipeline = pd.DataFrame(columns=["pipeline_name", "runs", "failed", "success_rate",
                                             "duration_seconds_p50", "duration_seconds_p95", "last_run",
                                             "last_status"])
    else:
        frame = frame.sort_values("start_time")
        grouped = frame.groupby("pipeline_name")
        per_pipeline = pd.DataFrame({
            "runs": grouped.size(),
            "failed": grouped["status"].apply(lambda s: int((s != RUN_SUCCEEDED).sum())),
            "duration_seconds_p50": grouped["duration_seconds"].median(),
            "duration_seconds_p95": grouped["duration_seconds"].quantile(0.95),
            "last_run": grouped["start_time"].last(),
            "last_status": grouped["status"].last(),
        }).reset_index()
        per_pipeline["success_rate"] = 1 - per_pipeline["failed"] / per_pipeline["runs"]
    totals = {
        "Runs": len(frame),
        "Failed": int((frame["status"] != RUN_SUCCEEDED).sum()) if not frame.empty else 0,
        "Pipelines": len(per_pipeline),
        "DurationSecondsP50": _quantile(frame, "duration_seconds", 0.5),
    }
    return Report(
        title="Pipeline runs",
        totals=totals,
        tables={"pipelines": per_pipeline},
        daily=_daily(frame, "start_time", "status", since),
    )


def cost_report(session: Session, *, days: int, visible: Visibility | None) -> Report:
    """Daily Databricks list cost per project (from `system.billing`, collected by PROJECT_COSTS).

    Only `databricks_cost` can be filled from the billing tables; `azure_cost`, `network_cost` and
    `io_cost` stay 0 (no source reports them per project) and are left out of the report.
    """
    since = _since(days)
    query: Select[Any] = (
        select(Project.project_name, ProjectCost.period_start, ProjectCost.databricks_cost, ProjectCost.currency,
               ProjectCost.collected_at)
        .join(Project, (Project.project_id == ProjectCost.project_id) & Project.is_current)
        .where(ProjectCost.period_start >= since)
    )
    if visible is not None:
        query = query.where(or_(Project.tenant_id.in_(sorted(visible.tenant_ids)),
                                Project.project_id.in_(sorted(visible.project_ids))))
    frame = _frame(session, query)
    if not frame.empty:
        # A day collected twice keeps its newest figure (costs of a day grow until it is over).
        frame = frame.sort_values("collected_at").drop_duplicates(["project_name", "period_start"], keep="last")
        frame["databricks_cost"] = frame["databricks_cost"].astype(float)
        per_project = (frame.groupby(["project_name", "currency"], as_index=False)["databricks_cost"].sum()
                       .sort_values("databricks_cost", ascending=False))
        daily = frame.pivot_table(index="period_start", columns="project_name", values="databricks_cost",
                                  aggfunc="sum").fillna(0.0)
        daily.index = pd.to_datetime(daily.index, utc=True).normalize()
        daily = daily.reindex(_days(since), fill_value=0.0)
    else:
        per_project = pd.DataFrame(columns=["project_name", "currency", "databricks_cost"])
        daily = pd.DataFrame(index=_days(since))
    currencies = sorted(set(per_project["currency"])) if not per_project.empty else []
    totals = {
        "DatabricksCost": round(float(per_project["databricks_cost"].sum()), 2) if not per_project.empty else 0.0,
        "Currency": currencies[0] if len(currencies) == 1 else ("mixed" if currencies else None),
        "Projects": len(per_project),
    }
    return Report(title="Costs", totals=totals, tables={"projects": per_project}, daily=daily.round(2))


# -- helpers -------------------------------------------------------------------------------------------


def _since(days: int) -> datetime:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def _days(since: datetime) -> pd.DatetimeIndex:
    return pd.date_range(since, datetime.now(UTC), freq="D", normalize=True, name="day")


def _frame(session: Session, query: Any) -> pd.DataFrame:
    result = session.execute(query)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _daily(frame: pd.DataFrame, when: str, by: str, since: datetime) -> pd.DataFrame:
    """Counts per day (UTC) and per value of `by`, every day of the window present."""
    if frame.empty:
        return pd.DataFrame(index=_days(since))
    days = pd.to_datetime(frame[when], utc=True).dt.normalize()
    counts = frame.assign(day=days).groupby(["day", by]).size().unstack(fill_value=0)
    return counts.reindex(_days(since), fill_value=0).astype(int)


def _quantile(frame: pd.DataFrame, name: str, q: float) -> float | None:
    if frame.empty or frame[name].dropna().empty:
        return None
    return round(float(frame[name].dropna().astype(float).quantile(q)), 1)


def _columns(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    return frame[names].copy() if not frame.empty else pd.DataFrame(columns=names)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """A JSON-able scalar: timestamps as ISO text, NaN as None, numpy numbers as Python numbers."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def _without_timezones(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no time zones: write UTC times as naive UTC."""
    frame = frame.copy()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
        elif frame[name].dtype == object:
            frame[name] = [_plain(v) if isinstance(v, uuid.UUID) else v for v in frame[name]]
    return frame


