"""Report routes: pack runs, pipeline runs and costs over the last days, as JSON, CSV or an Excel workbook.

`GET /workflow/reports/{packs,pipeline-runs,costs}?days=30&format=json|csv|xlsx`. A caller sees the packs,
pipelines and projects of the tenants they may see (administrators: all), like every other listing.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from api.context import access, services
from api.errors import ROUTE_ERRORS, documents_errors
from api.permissions import authenticated_caller
from shared.use_cases.reports import MAX_DAYS, Report, cost_report, pack_report, pipeline_run_report

blp = Blueprint("reports", __name__, url_prefix="/workflow/reports",
                description="Pack runs, pipeline runs and costs, for the tenants the caller sees")

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORTS: dict[str, Callable[..., Report]] = {
    "packs": pack_report,
    "pipeline-runs": pipeline_run_report,
    "costs": cost_report,
}


@blp.before_request
def _authenticate() -> None:
    """401 before anything else: a caller without credentials learns nothing about the input rules."""
    authenticated_caller()


class ReportQuerySchema(Schema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=MAX_DAYS),
                          metadata={"description": "How many days back, today included (UTC)."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")),
                           metadata={"description": "json (default), csv (the main table) or xlsx (every table)."})


class ReportSchema(Schema):
    Title = fields.String()
    Days = fields.Integer()
    Totals = fields.Dict(metadata={"description": "Headline figures; durations in seconds."})
    Tables = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()))
    Daily = fields.Dict(metadata={"description": "Days (ISO dates) and one list of values per series."})


def build_report(name: str, session: Session, days: int) -> Report:
    """The report `name` for the caller: the tenants they see, over the last `days` days."""
    return REPORTS[name](session, days=days, visible=access().visible(session))


def _respond(name: str, args: dict[str, Any]) -> Response | dict[str, Any]:
    with services().session_factory() as session:
        report = build_report(name, session, args["days"])
    if args["format"] == "csv":
        return Response(report.to_csv(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}-{args["days"]}d.csv"'})
    if args["format"] == "xlsx":
        return Response(report.to_xlsx(), mimetype=XLSX_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}-{args["days"]}d.xlsx"'})
    return {**report.to_json(), "Days": args["days"]}


def _route(name: str, summary: str) -> None:
    class ReportView(MethodView):
        @blp.arguments(ReportQuerySchema, location="query")
        @documents_errors(blp, *ROUTE_ERRORS)
        @blp.response(HTTPStatus.OK, ReportSchema)
        @blp.doc(summary=summary, operationId=f"report_{name.replace('-', '_')}", responses={"200": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Report"}},
            "text/csv": {"schema": {"type": "string", "description": "format=csv: the report's main table"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary",
                                         "description": "format=xlsx: every table, one sheet each"}},
        }}})
        def get(self, args: dict[str, Any]) -> Response | dict[str, Any]:
            return _respond(name, args)

    ReportView.__name__ = f"Report_{name.replace('-', '_')}"
    blp.route(f"/{name}")(ReportView)


_route("packs", "Pack runs: outcomes, durations (approval wait apart), daily counts and recent failures")
_route("pipeline-runs", "Pipeline runs per pipeline: runs, failures, success rate and durations")
_route("costs", "Daily Databricks list cost per project, from the billing system tables")
