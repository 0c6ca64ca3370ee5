"""The upload route runs the pre-flight within its time budget: errors refuse, an unreadable workspace warns."""

from __future__ import annotations

from sqlalchemy import func, select

from dev.emulator.control import EmulatorControl
from shared.models import Project, SharePack, Tenant, TenantRegion
from shared.models.history import History
from tests.integration.api.conftest import committing_sessions  # noqa: F401 (fixture)
from tests.integration.preflight.conftest import EXAMPLE_TABLES, make_settings, post_file, sample


def pack_count(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(SharePack))


def test_upload_naming_a_missing_table_answers_400_and_names_it(
    api, headers, emulator: EmulatorControl, session_factory
):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if t != "finance.ledger.entries"])
    before = pack_count(session_factory)

    response = post_file(api(), "upload", headers, sample())

    assert response.status_code == 400
    errors = response.json["ValidationErrors"]
    assert any("finance.ledger.entries" in e["message"] for e in errors)
    assert pack_count(session_factory) == before


def test_upload_of_a_pack_the_workspace_can_take_is_accepted(api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)

    response = post_file(api(), "upload", headers, sample())

    assert response.status_code == 202, response.json
    assert not any("skipped" in w["message"] for w in response.json["ValidationWarnings"])


def test_packs_record_the_project_their_first_upload_created(api, headers, emulator: EmulatorControl, session_factory):
    """The first upload creates the project in its storing transaction; the next takes the pre-flight's verdict."""
    emulator.seed_tables(EXAMPLE_TABLES)
    client = api()

    first, second = (post_file(client, "upload", headers, sample()) for _ in range(2))

    assert (first.status_code, second.status_code) == (202, 202), (first.json, second.json)
    ids = [first.json["SharePackId"], second.json["SharePackId"]]
    with session_factory() as session:
        packs = session.execute(select(SharePack.tenant_id, SharePack.project_id).where(
            SharePack.is_current, SharePack.share_pack_id.in_(ids))).all()
        (tenant_id, project_id), = set(packs)
        projects = session.scalars(select(Project.project_id).where(Project.is_current,
                                                                    Project.tenant_id == tenant_id)).all()
    assert len(packs) == 2 and projects == [project_id]


def test_on_a_real_engine_the_first_upload_creates_its_project_once(
    app_factory, clients, emulator: EmulatorControl, queue, headers, committing_sessions  # noqa: F811
):
    """On a real engine the session that reads before the pre-flight is READ ONLY (`read_only_session`): the
    project a pack names for the first time is created by the storing transaction alone."""
    with committing_sessions.begin() as session:
        tenant_id = session.scalars(select(Tenant.tenant_id).where(Tenant.is_current)).one()
        History(session, TenantRegion).create(created_by="tests", tenant_id=tenant_id, region="APAC",
                                              workspace_url=emulator.url)
    emulator.seed_tables(EXAMPLE_TABLES)
    client = app_factory(make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url),
                         reader_for=clients.gateway, session_factory=committing_sessions)

    first, second = (post_file(client, "upload", headers, sample()) for _ in range(2))

    assert (first.status_code, second.status_code) == (202, 202), (first.json, second.json)
    with committing_sessions() as session:
        projects = session.scalars(select(Project.project_id).where(Project.tenant_id == tenant_id)).all()
        packs = session.scalars(select(SharePack.project_id).where(SharePack.is_current)).all()
    assert len(projects) == 1 and packs == projects * 2


def test_workspace_not_read_within_the_budget_is_skipped_with_a_warning(api, headers, emulator: EmulatorControl):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if t != "finance.ledger.entries"])  # would be an error
    emulator.set_latency(1500)

    response = post_file(api(preflight_budget_seconds="0.3"), "upload", headers, sample())
    emulator.set_latency(0)  # the read left behind ends with its call in flight (tests/conftest.py waits for it)

    assert response.status_code == 202, response.json
    warnings = [w["message"] for w in response.json["ValidationWarnings"]]
    assert any("Pre-flight check skipped" in w and "0.3 s" in w for w in warnings)


def test_unreadable_workspace_is_skipped_with_a_warning(api, headers, emulator: EmulatorControl):
    emulator.inject_fault(path_regex="metastore_summary", status=403, error_code="PERMISSION_DENIED", times=None)

    response = post_file(api(), "upload", headers, sample())

    assert response.status_code == 202, response.json
    assert any("Pre-flight check skipped" in w["message"] for w in response.json["ValidationWarnings"])
