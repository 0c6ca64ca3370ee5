"""Reports count what was recorded, for the tenants the caller sees only, and export the same numbers.

Each test writes rows with known values and times (this week, so inside the report window) for two tenants
and reads the reports back; the expected numbers are worked out by hand from those rows.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from shared.access.policy import Visibility
from shared.models import JobMetric, Pipeline, Project, ProjectCost, Tenant
from shared.models.history import History
from shared.use_cases.reports import cost_report, pack_report, pipeline_run_report
from tests.integration.monitoring.test_views import approval_run, completed_run, write_history

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def tenant_with_project(session: Session, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    tenant = History(session, Tenant).create(created_by="test", business_line_name=f"{name}-{uuid.uuid4().hex[:6]}")
    project = History(session, Project).create(created_by="test", project_name=name, tenant_id=tenant.tenant_id)
    return tenant.tenant_id, project.project_id


def owned_by(session: Session, pack_id: uuid.UUID, tenant: uuid.UUID, project: uuid.UUID) -> None:
    """Give every version of a written pack history its tenant and project."""
    session.execute(text("UPDATE deltashare.share_packs SET tenant_id = :t, project_id = :p WHERE share_pack_id = :i"),
                    {"t": tenant, "p": project, "i": pack_id})


def test_pack_report_counts_outcomes_and_durations_of_the_callers_tenants(session: Session):
    mine, my_project = tenant_with_project(session, "mine")
    theirs, their_project = tenant_with_project(session, "theirs")
    start = TODAY + timedelta(hours=1)
    ours = [
        write_history(session, completed_run(seconds_per_step=10, queue_wait=5), start=start, name="a"),  # 75 s
        write_history(session, completed_run(seconds_per_step=5, queue_wait=5), start=start, name="b"),  # 40 s
        write_history(session, approval_run("DECLINED"), start=start, name="c"),
    ]
    failed = completed_run()
    failed[-1] = (failed[-1][0], "FAILED", "Step 7/8: Pipelines", "broken")
    ours.append(write_history(session, failed, start=start, name="d"))
    for pack in ours:
        owned_by(session, pack, mine, my_project)
    owned_by(session, write_history(session, completed_run(), start=start, name="x"), theirs, their_project)

    report = pack_report(session, days=7, visible=Visibility(frozenset([mine]), frozenset()))

    assert report.totals["Runs"] == 4
    assert report.totals["ByOutcome"] == {"COMPLETED": 2, "DECLINED": 1, "FAILED": 1}
    assert report.totals["ApprovalWaitSecondsP50"] == 600
    assert [row["share_pack_name"] for row in report.to_json()["Tables"]["recent_failures"]] == ["d"]
    daily = report.to_json()["Daily"]
    today = daily["Days"].index(TODAY.date().isoformat())
    assert (daily["COMPLETED"][today], daily["FAILED"][today], daily["DECLINED"][today]) == (2, 1, 1)
    assert len(daily["Days"]) == 7
    assert pack_report(session, days=7, visible=None).totals["Runs"] >= 5  # administrators see all
    assert pack_report(session, days=7, visible=Visibility(frozenset(), frozenset())).totals["Runs"] == 0


def test_pipeline_report_groups_runs_per_pipeline_of_visible_packs(session: Session):
    mine, my_project = tenant_with_project(session, "mine")
    theirs, their_project = tenant_with_project(session, "theirs")
    for tenant, project, name in ((mine, my_project, "orders_feed"), (theirs, their_project, "their_feed")):
        pack = write_history(session, completed_run(), start=TODAY, name=name)
        owned_by(session, pack, tenant, project)
        History(session, Pipeline).create(created_by="test", share_pack_id=pack, pipeline_name=name,
                                          workspace_url=f"https://{name}.example.com",
                                          databricks_pipeline_id=f"dbx-{name}")
    runs = [("orders_feed", 60, "SUCCESS"), ("orders_feed", 120, "SUCCESS"), ("orders_feed", 90, "FAILED"),
            ("their_feed", 10, "SUCCESS")]
    session.execute(insert(JobMetric), [
        {"pipeline_name": name, "databricks_pipeline_id": f"dbx-{name}", "run_id": uuid.uuid4().hex,
         "start_time": TODAY + timedelta(minutes=i), "duration_seconds": seconds, "status": status}
        for i, (name, seconds, status) in enumerate(runs)
    ])

    report = pipeline_run_report(session, days=3, visible=Visibility(frozenset([mine]), frozenset()))

    [row] = report.to_json()["Tables"]["pipelines"]
    assert (row["pipeline_name"], row["runs"], row["failed"], row["duration_seconds_p50"]) == ("orders_feed", 3, 1, 90)
    assert row["last_status"] == "FAILED" and round(row["success_rate"], 3) == 0.667
    assert report.totals == {"Runs": 3, "Failed": 1, "Pipelines": 1, "DurationSecondsP50": 90.0}


def test_cost_report_sums_the_newest_figure_of_each_day_per_project(session: Session):
    mine, my_project = tenant_with_project(session, "mine")
    theirs, their_project = tenant_with_project(session, "theirs")
    yesterday = TODAY - timedelta(days=1)
    rows = [
        (my_project, mine, yesterday, "10.00", TODAY),  # collected twice: the newest figure counts
        (my_project, mine, yesterday, "12.50", TODAY + timedelta(hours=1)),
        (my_project, mine, TODAY, "3.25", TODAY + timedelta(hours=1)),
        (their_project, theirs, TODAY, "99.00", TODAY),
    ]
    session.execute(insert(ProjectCost), [
        {"project_id": p, "tenant_id": t, "period_start": day, "period_end": day + timedelta(days=1),
         "period_type": "DAILY", "databricks_cost": Decimal(cost), "collected_at": collected}
        for p, t, day, cost, collected in rows
    ])

    report = cost_report(session, days=3, visible=Visibility(frozenset([mine]), frozenset()))

    assert report.totals == {"DatabricksCost": 15.75, "Currency": "USD", "Projects": 1}
    daily = report.to_json()["Daily"]
    by_day = dict(zip(daily["Days"], daily["mine"], strict=True))
    assert (by_day[yesterday.date().isoformat()], by_day[TODAY.date().isoformat()]) == (12.5, 3.25)
    sheets = pd.read_excel(io.BytesIO(report.to_xlsx()), sheet_name=None, engine="openpyxl")
    assert list(sheets) == ["projects", "daily"] and sheets["projects"]["databricks_cost"].tolist() == [15.75]
    assert report.to_csv().decode().splitlines() == ["project_name,currency,databricks_cost", "mine,USD,15.75"]


def test_a_window_outside_the_limits_is_refused(session: Session):
    with pytest.raises(ValueError, match="between 1 and 366"):
        pack_report(session, days=0, visible=None)
