"""The provisioner with the real databricks-sdk against the workspace emulator."""

from __future__ import annotations

import time

import pytest
from databricks.sdk import WorkspaceClient

from dev.emulator.control import EmulatorControl
from shared.provisioning.diff import make_plan
from shared.provisioning.errors import PermanentProvisioningError, TransientProvisioningError
from shared.provisioning.gateway import DatabricksGateway
from shared.provisioning.plan import Plan
from shared.provisioning.steps import apply_plan, apply_step
from shared.share_pack_file.model import SharePackSpec, Strategy
from tests.support.builders import METASTORE_A, d2d, d2o, pack, share, table

TABLES = [f"sales.reporting.t{i:03}" for i in range(260)] + ["finance.ledger.entries", "finance.ledger.accounts"]
MUTATING = ("POST", "PATCH", "DELETE")


@pytest.fixture(autouse=True)
def tables(emulator: EmulatorControl) -> None:
    emulator.seed_tables(TABLES)


def plan_for(spec: SharePackSpec, gateway: DatabricksGateway) -> Plan:
    return make_plan(spec, gateway.read_state(spec))


def provision(spec: SharePackSpec, gateway: DatabricksGateway):
    return apply_plan(plan_for(spec, gateway), gateway)


def new_pack(objects: int = 250) -> SharePackSpec:
    return pack(
        Strategy.NEW,
        recipients=[
            d2o("acme", ips=["203.0.113.0/24", "198.51.100.7"], comment="ACME", expiry_days=30),
            d2d("partner", METASTORE_A),
        ],
        shares=[
            share("sales", TABLES[:objects], recipients=["acme", "partner"], comment="Sales data"),
            share("finance", [table("finance.ledger.entries", shared_as="ledger.entries_v1")], recipients=["acme"]),
        ],
    )


def objects_of(w: WorkspaceClient, name: str) -> set[tuple[str, str | None]]:
    return {(o.name, o.shared_as) for o in w.shares.get(name, include_shared_data=True).objects or ()}


def grantees_of(w: WorkspaceClient, name: str) -> set[str]:
    return {a.principal for a in w.shares.share_permissions(name).privilege_assignments or ()}


def mutations(emulator: EmulatorControl) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in MUTATING]


def test_a_new_pack_creates_recipients_shares_objects_in_batches_and_grants(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    results = provision(new_pack(), gateway)

    acme = workspace_client.recipients.get("acme")
    assert acme.authentication_type.value == "TOKEN"
    assert sorted(acme.ip_access_list.allowed_ip_addresses) == ["198.51.100.7", "203.0.113.0/24"]
    assert 29 * 86_400_000 < acme.expiration_time - time.time() * 1000 <= 30 * 86_400_000
    partner = workspace_client.recipients.get("partner")
    assert (partner.authentication_type.value, partner.data_recipient_global_metastore_id) == (
        "DATABRICKS",
        METASTORE_A,
    )
    assert len(objects_of(workspace_client, "sales")) == 250
    assert objects_of(workspace_client, "finance") == {("finance.ledger.entries", "ledger.entries_v1")}
    assert grantees_of(workspace_client, "sales") == {"acme", "partner"}
    assert grantees_of(workspace_client, "finance") == {"acme"}
    share_patches = emulator.requests(method="PATCH", path_contains="/shares/sales")
    assert [len(r["body"]["updates"]) for r in share_patches if "updates" in r["body"]] == [100, 100, 50]
    links = results[0].activation_links
    assert set(links) == {"acme"} and "retrieve_config.html?" in links["acme"]
    assert links["acme"] not in str([r.to_dict() for r in results])


def test_running_the_same_new_pack_again_changes_nothing(gateway: DatabricksGateway, emulator: EmulatorControl) -> None:
    provision(new_pack(), gateway)
    emulator.clear_requests()

    plan = plan_for(new_pack(), gateway)
    results = apply_plan(plan, gateway)

    assert plan.is_empty and plan.can_apply, plan.conflicts
    assert all(r.changes == () for r in results)
    assert mutations(emulator) == []


def test_update_adds_and_removes_objects_recipients_and_grants(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    provision(new_pack(objects=10), gateway)
    updated = pack(
        Strategy.UPDATE,
        recipients=[d2o("acme", ips=["192.0.2.1"]), d2o("globex", comment="new")],
        shares=[share("sales", TABLES[5:15], recipients=["acme", "globex"], comment="Sales data")],
    )
    emulator.clear_requests()

    plan = plan_for(updated, gateway)
    apply_plan(plan, gateway)

    assert plan.summary()["data_object_remove"] == 5 and plan.summary()["data_object_add"] == 5
    assert {name for name, _ in objects_of(workspace_client, "sales")} == set(TABLES[5:15])
    assert grantees_of(workspace_client, "sales") == {"acme", "globex"}
    assert workspace_client.recipients.get("acme").ip_access_list.allowed_ip_addresses == ["192.0.2.1"]
    assert workspace_client.recipients.get("partner").name == "partner"  # not named: untouched
    assert grantees_of(workspace_client, "finance") == {"acme"}
    patches = emulator.requests(method="PATCH", path_contains="/shares/sales")
    body = next(r["body"] for r in patches if "updates" in r["body"])
    assert [u["action"] for u in body["updates"]] == ["REMOVE"] * 5 + ["ADD"] * 5
    assert plan_for(updated, gateway).is_empty


def test_delete_revokes_then_removes_shares_and_recipients(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    provision(new_pack(objects=3), gateway)
    doomed = pack(Strategy.DELETE, recipients=[d2o("acme")], shares=[share("sales"), share("never_existed")])
    emulator.clear_requests()

    apply_plan(plan_for(doomed, gateway), gateway)

    assert [s.name for s in workspace_client.shares.list_shares()] == ["finance"]
    assert [r.name for r in workspace_client.recipients.list()] == ["partner"]
    assert grantees_of(workspace_client, "finance") == set()
    calls = [(r["method"], r["path"].rsplit("/unity-catalog/", 1)[1]) for r in mutations(emulator)]
    assert calls == [
        ("PATCH", "shares/finance/permissions"),
        ("PATCH", "shares/sales/permissions"),
        ("DELETE", "shares/sales"),
        ("DELETE", "recipients/acme"),
    ] or calls == [
        ("PATCH", "shares/sales/permissions"),
        ("PATCH", "shares/finance/permissions"),
        ("DELETE", "shares/sales"),
        ("DELETE", "recipients/acme"),
    ]
    assert plan_for(doomed, gateway).is_empty


def test_a_429_storm_is_waited_out(gateway: DatabricksGateway, emulator: EmulatorControl) -> None:
    emulator.inject_fault(
        method="PATCH",
        path_regex=r"/shares/sales$",
        status=429,
        error_code="REQUEST_LIMIT_EXCEEDED",
        message="Request limit exceeded",
        retry_after=0,
        times=3,
    )

    provision(new_pack(objects=20), gateway)

    assert [f["hits"] for f in emulator.faults()] == [3]
    assert plan_for(new_pack(objects=20), gateway).is_empty


def test_throttling_that_outlasts_the_retry_budget_is_transient(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    plan = plan_for(new_pack(objects=5), gateway)
    emulator.inject_fault(
        method="POST",
        path_regex=r"/recipients$",
        status=429,
        error_code="REQUEST_LIMIT_EXCEEDED",
        retry_after=0,
        times=None,
    )

    with pytest.raises(TransientProvisioningError) as caught:
        apply_step("recipients", plan, gateway)

    assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert caught.value.retryable
    assert "Timed out after" in caught.value.databricks_message


def test_a_table_the_share_owner_cannot_read_fails_permanently_with_databricks_message(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    emulator.seed_tables(["secret.hr.salaries"], owner_lacks_select=True)
    share_pack = pack(Strategy.NEW, shares=[share("hr", ["secret.hr.salaries"])])
    plan = plan_for(share_pack, gateway)
    apply_step("shares", plan, gateway)

    with pytest.raises(PermanentProvisioningError) as caught:
        apply_step("data_objects", plan, gateway)

    assert caught.value.error_code == "PERMISSION_DENIED"
    assert caught.value.databricks_message == (
        "Share owner does not have SELECT privilege on Table 'secret.hr.salaries'."
    )
    assert caught.value.concerning == "share 'hr'"
    assert caught.value.partial_result.changes == ()


def test_a_missing_table_fails_permanently(gateway: DatabricksGateway) -> None:
    share_pack = pack(Strategy.NEW, shares=[share("s", ["sales.reporting.missing"])])
    with pytest.raises(PermanentProvisioningError) as caught:
        provision(share_pack, gateway)
    assert caught.value.error_code == "TABLE_DOES_NOT_EXIST"


def test_an_existing_recipient_with_another_definition_is_a_conflict(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    provision(pack(Strategy.NEW, recipients=[d2d("acme", METASTORE_A)]), gateway)
    emulator.clear_requests()

    plan = plan_for(new_pack(), gateway)

    assert not plan.can_apply
    assert any(c.startswith("recipient acme already exists with type D2D instead of D2O") for c in plan.conflicts)
    assert any("metastore" in c and "partner" in c for c in plan.conflicts)  # one recipient per metastore
    assert plan.to_dict()["conflicts"] == list(plan.conflicts)
    assert mutations(emulator) == []


@pytest.mark.parametrize("error_code_style", ["specific", "canonical"])
def test_a_partly_applied_pack_converges_after_re_planning(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient, error_code_style: str
) -> None:
    emulator.configure(error_code_style=error_code_style)
    plan = plan_for(new_pack(), gateway)
    apply_step("recipients", plan, gateway)
    apply_step("shares", plan, gateway)
    # the worker is killed half way through the objects step: one batch of "sales" made it
    first_batch = [c.data_object() for c in plan.changes_for("data_objects")[:100]]
    gateway.update_share_objects("sales", add=first_batch)

    replan = plan_for(new_pack(), gateway)
    results = apply_plan(replan, gateway)

    assert replan.can_apply, replan.conflicts
    assert replan.summary()["data_object_add"] == 151
    assert replan.pending_activations == ("acme",)  # the link is delivered again
    assert set(results[0].activation_links) == {"acme"}
    assert len(objects_of(workspace_client, "sales")) == 250
    assert plan_for(new_pack(), gateway).is_empty


def test_re_applying_a_stale_plan_treats_what_exists_as_done(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.configure(error_code_style="canonical")
    plan = plan_for(new_pack(objects=120), gateway)
    apply_plan(plan, gateway)

    results = apply_plan(plan, gateway)  # every create meets an existing object

    assert len(results[2].changes) == 121
    assert len(objects_of(workspace_client, "sales")) == 120
    assert set(results[0].activation_links) == {"acme"}


def test_a_lost_reply_to_an_object_batch_is_recovered(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    # the batch is applied but its reply is a 503: the SDK retries, meets "already exists", and the
    # engine reads the share back and sees the batch is done
    emulator.lose_replies(method="PATCH", path_regex=r"/shares/sales$", status=503, retry_after=0, times=1)

    provision(new_pack(objects=30), gateway)

    statuses = [r["status"] for r in emulator.requests(method="PATCH", path_contains="/shares/sales")]
    assert statuses[:2] == [503, 409]
    assert len(objects_of(workspace_client, "sales")) == 30
    assert plan_for(new_pack(objects=30), gateway).is_empty


def test_clients_are_built_once_per_workspace(clients, emulator: EmulatorControl) -> None:
    assert clients.client(emulator.url) is clients.client(emulator.url + "/")
    assert clients.slots(emulator.url) is clients.slots(emulator.url + "/")
