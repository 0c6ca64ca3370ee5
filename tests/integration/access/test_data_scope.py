"""Data scoping and the `external` rule, as the attacker's steps: Jane configures Finance and tries to share data
outside what Finance (or her project) may share, or to reach a metastore that is not Finance's own.

Each refusal is a 403 naming the object, where it is in the file, and the rule; nothing but the rejection's
audit row is stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_project,
    put_tenant,
)
from shared.access.data_scope import OutsideDataScope
from shared.models import AuditEntry, SharePack
from shared.platform.errors import InvalidInput
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.submit import UploadRules
from shared.use_cases.transitions import Workflow
from tests.integration.access.conftest import ADMIN, CONFIGURATOR, D2D_ONLY, WORKSPACE, as_, sample
from tests.integration.access.test_four_eyes import approve, finish


def workflow_of(session_factory) -> Workflow:
    return Workflow(session_factory, ViaOutbox("access-tests", lambda _: None),
                    rules=UploadRules(max_bytes=1_000_000))


def set_tenant(session_factory, access_of, settings, **changes) -> None:
    put_tenant(
        session_factory,
        access_of(ADMIN),
        settings,
        TenantSpec(
            "Finance",
            workspaces={"EMEA": WORKSPACE},
            configurator_groups=["finance-configurators"],
            approval_required="external",
            **changes,
        ),
    )


def stored(session_factory) -> tuple[int, int]:
    with session_factory() as session:
        return (session.scalar(select(func.count()).select_from(SharePack)),
                session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "REJECTED")))


def test_a_pack_sharing_a_catalog_outside_the_tenants_scope_is_refused_naming_object_and_rule(
    session_factory, submit, finance, access_of, settings
):
    set_tenant(session_factory, access_of, settings, shareable_scope=["Sales.Reporting"])

    with pytest.raises(OutsideDataScope) as refused:
        submit(CONFIGURATOR, sample())  # shares sales.reporting.* and finance.ledger.*

    assert str(refused.value).startswith(
        "share[1].data_objects[0]: finance.ledger.entries is outside the data scope of business line 'Finance', "
        "which may share only sales.reporting; share[1].data_objects[1]: finance.ledger.accounts is outside"
    )
    assert "sales.reporting.orders" not in str(refused.value)
    assert stored(session_factory) == (0, 1)


def test_a_project_narrows_its_tenants_scope(session_factory, submit, finance, access_of, settings):
    set_tenant(session_factory, access_of, settings, shareable_scope=["sales", "finance"])
    put_project(
        session_factory,
        access_of(ADMIN),
        ProjectSpec(
            "Finance",
            "Partner analytics",
            approver_groups=["finance-approvers"],
            configurator_groups=[],
            shareable_scope=["sales"],
        ),
    )

    with pytest.raises(OutsideDataScope, match="outside the data scope of project 'Partner analytics', which may "
                                               "share only sales"):
        submit(CONFIGURATOR, sample())
    assert stored(session_factory)[0] == 0


def test_a_pipeline_reading_outside_the_scope_is_refused(session_factory, submit, finance, access_of, settings):
    set_tenant(session_factory, access_of, settings, shareable_scope=["sales"])
    piped = D2D_ONLY + b"""pipelines:
- name: orders_nightly
  source_table: hr.payroll.salaries
  target_table: sales.reporting.orders
"""
    with pytest.raises(OutsideDataScope, match=r"^pipelines\[0\]\.source_table: hr\.payroll\.salaries is outside"):
        submit(CONFIGURATOR, piped)


def test_inside_the_scope_is_accepted_and_omitting_the_fields_keeps_the_scope(
    session_factory, submit, finance, access_of, settings
):
    set_tenant(session_factory, access_of, settings, shareable_scope=["sales.reporting"])
    set_tenant(session_factory, access_of, settings)  # a PUT without the fields changes neither
    assert submit(CONFIGURATOR, D2D_ONLY).status == "IN_PROGRESS"
    with pytest.raises(OutsideDataScope):
        submit(CONFIGURATOR, sample())


def test_a_d2d_recipient_outside_the_tenants_own_metastores_is_external(session_factory, submit, finance, access_of,
                                                                         settings):
    elsewhere = D2D_ONLY.replace(b"6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", b"00000000-0000-4000-8000-000000000001")
    assert submit(CONFIGURATOR, elsewhere).status == "PENDING_APPROVAL"
    set_tenant(session_factory, access_of, settings, own_metastores=[])
    assert submit(CONFIGURATOR, D2D_ONLY).status == "PENDING_APPROVAL"


@pytest.mark.parametrize("bad", [{"shareable_scope": ["sales.*"]}, {"shareable_scope": ["a.b.c"]},
                                 {"own_metastores": ["not a metastore"]}])
def test_malformed_scopes_are_refused(session_factory, finance, access_of, settings, bad):
    with pytest.raises(InvalidInput):
        set_tenant(session_factory, access_of, settings, **bad)


def test_a_rollback_to_a_configuration_outside_todays_scope_is_refused(
    session_factory, submit, finance, access_of, settings
):
    first = submit(CONFIGURATOR, sample())  # shares sales.reporting.* and finance.ledger.*
    approve(workflow_of(session_factory), session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    workflow_of(session_factory).revise(as_(CONFIGURATOR), first.share_pack_id, D2D_ONLY, "narrower.yaml")
    finish(session_factory, first.share_pack_id)
    set_tenant(session_factory, access_of, settings, shareable_scope=["sales"])  # finance.ledger is out now
    before = stored(session_factory)[0]  # share pack versions

    with pytest.raises(OutsideDataScope, match=r"finance\.ledger\.entries is outside the data scope"):
        workflow_of(session_factory).rollback(as_(CONFIGURATOR), first.share_pack_id, 1)
    assert stored(session_factory)[0] == before  # no new version: nothing was stored or queued
