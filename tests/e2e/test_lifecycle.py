"""A pack's whole life end to end: pipelines and schedules, revisions, retry and rollback."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shared.models import Pipeline, SharePack

HEAD = """
metadata:
  requestor: jane.doe@example.com
  project_name: Partner Analytics
  business_line: Finance
  strategy: {strategy}
"""
ACME = """
  - name: acme
    type: D2O
    email: data@acme.example.com
"""
#: acme as later configurations declare it: restricted to some addresses, with a comment.
ACME_RESTRICTED = ACME + """    allowed_ips: [203.0.113.0/24, 198.51.100.7]
    comment: Acme, restricted
"""
GLOBEX = """
  - name: globex
    type: D2O
    email: data@globex.example.com
"""
PIPELINES = """
pipelines:
  - name: orders_nightly
    source_table: raw.sales.orders
    target_table: sales.reporting.orders
    scd_type: 2
    key_columns: [order_id]
    schedule: "30 2 * * *"
    notification_list: [ops@example.com]
  - name: customers_live
    source_table: raw.sales.customers
    target_table: sales.reporting.customers
    schedule: continuous
"""


def pack(strategy: str, *, recipients: str = ACME, shares: str, pipelines: str = "") -> str:
    return HEAD.format(strategy=strategy) + "recipient:" + recipients + "share:" + shares + pipelines


def sales(tables: str, recipients: str = "[acme]", comment: str | None = None) -> str:
    return f"""
  - name: sales
    recipients: {recipients}
    data_objects: {tables}
""" + (f"    comment: {comment}\n" if comment else "")


def revise(stack, share_pack_id: str, yaml_text: str) -> dict[str, Any]:
    response = stack.client.post(
        f"/workflow/sharepack/{share_pack_id}/upload", data={"file": (io.BytesIO(yaml_text.encode()), "rev.yaml")},
        headers=stack.headers, content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    assert response.json["SharePackId"] == share_pack_id
    return response.json


def completed(stack, share_pack_id: str) -> dict[str, Any]:
    final = stack.wait_final(share_pack_id)
    assert final["Status"] == "COMPLETED", final
    return final


def lakeflow(stack) -> dict[str, Any]:
    state = stack.emulator.lakeflow_state()
    return {
        "pipelines": {p["name"]: p["spec"]["configuration"] for p in state["pipelines"]},
        "jobs": {j["settings"]["name"]: j["settings"]["schedule"] for j in state["jobs"]},
    }


#: What the server fills in on every change: never part of a definition.
SERVER_FILLED = frozenset({"updated_at", "updated_by", "added_at", "added_by"})


def definition(value: Any) -> Any:
    """``value`` without server-filled fields, with "no comment" spelled one way (None, as the gateway reads it)."""
    if isinstance(value, dict):
        return {key: (item or None) if key == "comment" else definition(item)
                for key, item in value.items() if key not in SERVER_FILLED}
    if isinstance(value, list):
        return [definition(item) for item in value]
    return value


def sharing(stack) -> dict[str, Any]:
    """The emulator's recipients and shares, whole (IP lists, comments, objects), and grants: what a
    rollback must restore."""
    state = stack.emulator.state()
    return {
        "recipients": {r["name"]: definition(r) for r in state["recipients"]},
        "shares": {s["name"]: definition(s) for s in state["shares"]},
        "objects": {s["name"]: sorted(o["name"] for o in s["objects"].values()) for s in state["shares"]},
        "grants": {share: sorted(p for p, privileges in g.items() if "SELECT" in privileges)
                   for share, g in state["grants"].items() if g},
    }


def test_two_pipelines_one_scheduled_one_continuous_reach_completed(stack, engine: Engine) -> None:
    stack.start_worker()
    share_pack_id = stack.upload(pack("NEW", shares=sales("[sales.reporting.orders, sales.reporting.customers]"),
                                      pipelines=PIPELINES))
    final = completed(stack, share_pack_id)
    assert final["ProvisioningStatus"].startswith("Step 8/8: Completed")

    ws = lakeflow(stack)
    assert set(ws["pipelines"]) == {"orders_nightly", "customers_live"}
    assert ws["jobs"] == {"orders_nightly_schedule": {
        "quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "UTC"}}
    with Session(engine) as session:
        rows = {p.pipeline_name: p for p in session.scalars(select(Pipeline).where(Pipeline.is_current))}
    assert set(rows) == {"orders_nightly", "customers_live"}
    assert rows["orders_nightly"].databricks_pipeline_id and rows["orders_nightly"].databricks_job_id
    assert rows["customers_live"].schedule_type == "CONTINUOUS" and rows["customers_live"].databricks_job_id is None


def test_a_revision_that_drops_a_table_drops_its_pipeline(stack, engine: Engine) -> None:
    stack.start_worker()
    both = sales("[sales.reporting.orders, sales.reporting.customers]")
    share_pack_id = stack.upload(pack("NEW", shares=both, pipelines=PIPELINES))
    completed(stack, share_pack_id)

    only_customers = PIPELINES.split("  - name: customers_live")[1]
    revise(stack, share_pack_id, pack("UPDATE", shares=sales("[sales.reporting.customers]"),
                                      pipelines="\npipelines:\n  - name: customers_live" + only_customers))
    completed(stack, share_pack_id)

    assert lakeflow(stack) == {"pipelines": {"customers_live": lakeflow(stack)["pipelines"]["customers_live"]},
                               "jobs": {}}
    assert sharing(stack)["objects"] == {"sales": ["sales.reporting.customers"]}
    with Session(engine) as session:
        current = session.scalars(select(Pipeline.pipeline_name).where(Pipeline.is_current,
                                                                       Pipeline.is_deleted.is_(False))).all()
    assert current == ["customers_live"]


def test_a_failed_pack_retried_after_its_cause_is_fixed_completes(stack) -> None:
    stack.start_worker()
    share_pack_id = stack.upload(pack("NEW", shares=sales("[sales.reporting.orders, sales.reporting.late]")))
    failed = stack.wait_final(share_pack_id)
    assert failed["Status"] == "FAILED" and "sales.reporting.late" in failed["ErrorMessage"]

    stack.emulator.seed_tables(["sales.reporting.late"])  # the cause is fixed
    response = stack.client.post(f"/workflow/sharepack/{share_pack_id}/retry", headers=stack.headers)
    assert response.status_code == 202, response.json
    completed(stack, share_pack_id)

    assert sharing(stack)["objects"] == {"sales": ["sales.reporting.late", "sales.reporting.orders"]}
    again = stack.client.post(f"/workflow/sharepack/{share_pack_id}/retry", headers=stack.headers)
    assert again.status_code == 409 and "only a FAILED pack" in again.json["Message"]
    reasons = [v["ChangeReason"] for v in stack.history(share_pack_id)]
    assert "retry" in reasons


def test_rollback_from_the_third_configuration_to_the_first_restores_the_workspace(stack) -> None:
    stack.start_worker()
    first = pack("NEW", shares=sales("[sales.reporting.orders, sales.reporting.customers]"), pipelines=PIPELINES)
    share_pack_id = stack.upload(first)
    completed(stack, share_pack_id)
    as_first = (sharing(stack), lakeflow(stack))

    # configuration 2: the customers table (and its pipeline) goes, a second recipient comes, acme gets an
    # IP list and a comment, the share a comment
    second = pack("UPDATE", recipients=ACME_RESTRICTED + GLOBEX,
                  shares=sales("[sales.reporting.orders]", "[acme, globex]", comment="Sales v2"),
                  pipelines=PIPELINES.split("  - name: customers_live")[0])
    revise(stack, share_pack_id, second)
    completed(stack, share_pack_id)
    # configuration 3: another share and the returns table; acme's IP list narrows, comments change
    third = pack("UPDATE", recipients=ACME_RESTRICTED.replace(", 198.51.100.7", "").replace("restricted", "v3")
                 + GLOBEX, shares=sales("[sales.reporting.orders]", "[acme, globex]", comment="Sales v3")
                 + "\n  - name: extra\n    recipients: [globex]\n    data_objects: [sales.reporting.returns]\n")
    revise(stack, share_pack_id, third)
    completed(stack, share_pack_id)
    acme = sharing(stack)["recipients"]["acme"]
    assert acme["ip_access_list"] == ["203.0.113.0/24"] and acme["comment"] == "Acme, v3"
    assert sharing(stack)["shares"]["sales"]["comment"] == "Sales v3"

    history = stack.history(share_pack_id)
    configurations = [v["Version"] for v in history if v["IsConfiguration"]]
    assert len(configurations) == 3 and configurations[0] == 1
    response = stack.client.post(f"/workflow/sharepack/{share_pack_id}/rollback", json={"ToVersion": 1},
                                 headers=stack.headers)
    assert response.status_code == 202, response.json
    completed(stack, share_pack_id)

    assert sharing(stack) == as_first[0]  # acme open again and without a comment, the share without one
    assert lakeflow(stack) == as_first[1]
    plan = stack.client.get(f"/workflow/sharepack/{share_pack_id}/plan", headers=stack.headers).json["Plan"]
    assert plan["summary"]["share_delete"] == 1 and plan["summary"]["recipient_delete"] == 1
    assert plan["summary"]["pipeline_create"] == 1
    assert stack.history(share_pack_id)[-1]["IsConfiguration"] is False  # the final status row
    assert any(v["ChangeReason"] == "rollback to v1" and v["IsConfiguration"] for v in stack.history(share_pack_id))


def test_rollback_refuses_a_version_that_is_not_a_configuration(stack) -> None:
    stack.start_worker()
    share_pack_id = stack.upload(pack("NEW", shares=sales("[sales.reporting.orders]")))
    completed(stack, share_pack_id)
    status_only = next(v["Version"] for v in stack.history(share_pack_id) if not v["IsConfiguration"])

    response = stack.client.post(f"/workflow/sharepack/{share_pack_id}/rollback", json={"ToVersion": status_only},
                                 headers=stack.headers)
    assert response.status_code == 400 and "is not a configuration" in response.json["Message"]
    bad = stack.client.post(f"/workflow/sharepack/{share_pack_id}/rollback", json={"ToVersion": "one"},
                            headers=stack.headers)
    assert 400 <= bad.status_code < 500


def lakeflow_definitions(stack) -> dict[str, Any]:
    """Every pipeline's spec and every job's settings in the emulator, server ids replaced by names."""
    state = stack.emulator.lakeflow_state()
    names = {p["pipeline_id"]: p["name"] for p in state["pipelines"]}
    jobs = {}
    for job in state["jobs"]:
        settings = dict(job["settings"])
        settings["tasks"] = [
            {**task, "pipeline_task": {"pipeline": names.get(task["pipeline_task"]["pipeline_id"])}}
            for task in settings["tasks"]
        ]
        jobs[settings["name"]] = settings
    pipelines = {p["name"]: {k: v for k, v in p["spec"].items() if k != "id"} for p in state["pipelines"]}
    return {"pipelines": pipelines, "jobs": jobs}


def test_rollback_replaces_a_pipeline_whose_source_and_scd_type_changed_since(stack, engine: Engine) -> None:
    stack.start_worker()
    tables = "[sales.reporting.orders, sales.reporting.customers]"
    share_pack_id = stack.upload(pack("NEW", shares=sales(tables), pipelines=PIPELINES))
    completed(stack, share_pack_id)
    as_first = lakeflow_definitions(stack)

    # configuration 2 drops the orders table, and with it its pipeline ...
    customers_only = "\npipelines:\n  - name: customers_live" + PIPELINES.split("  - name: customers_live")[1]
    revise(stack, share_pack_id, pack("UPDATE", shares=sales("[sales.reporting.customers]"),
                                      pipelines=customers_only))
    completed(stack, share_pack_id)
    # ... so configuration 3 may declare it again from another source, as SCD 1, on another schedule
    changed = (PIPELINES.replace("raw.sales.orders", "raw.erp.orders").replace("scd_type: 2", "scd_type: 1")
               .replace('"30 2 * * *"', '"0 4 * * *"'))
    revise(stack, share_pack_id, pack("UPDATE", shares=sales(tables), pipelines=changed))
    completed(stack, share_pack_id)
    assert lakeflow_definitions(stack) != as_first
    replaced_id = next(p["pipeline_id"] for p in stack.emulator.lakeflow_state()["pipelines"]
                       if p["name"] == "orders_nightly")

    response = stack.client.post(f"/workflow/sharepack/{share_pack_id}/rollback", json={"ToVersion": 1},
                                 headers=stack.headers)
    assert response.status_code == 202, response.json
    final = stack.wait_final(share_pack_id)
    assert final["Status"] == "COMPLETED", stack.worker_logs()[-8000:]

    assert lakeflow_definitions(stack) == as_first  # definitions, not only names
    plan = stack.client.get(f"/workflow/sharepack/{share_pack_id}/plan", headers=stack.headers).json["Plan"]
    assert plan["summary"]["pipeline_replace"] == 1 and plan["summary"]["schedule_create"] == 1
    state = stack.emulator.lakeflow_state()
    orders = next(p for p in state["pipelines"] if p["name"] == "orders_nightly")
    assert orders["pipeline_id"] != replaced_id
    with Session(engine) as session:
        row = session.scalars(select(Pipeline).where(Pipeline.is_current, Pipeline.pipeline_name == "orders_nightly",
                                                     Pipeline.is_deleted.is_(False))).one()
        [job] = [j for j in state["jobs"] if j["settings"]["name"] == "orders_nightly_schedule"]
        assert (row.source_table, row.scd_type) == ("raw.sales.orders", "2")
        assert (row.databricks_pipeline_id, row.databricks_job_id) == (orders["pipeline_id"], str(job["job_id"]))
        pack_row = session.scalars(select(SharePack).where(SharePack.is_current,
                                                           SharePack.share_pack_id == share_pack_id)).one()
        assert row.workspace_url == pack_row.workspace_url
