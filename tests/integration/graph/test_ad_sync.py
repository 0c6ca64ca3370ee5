"""The AD sync against the Graph emulator and PostgreSQL: SCD2 history, delta links, deletions, groups."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.graph.ad_sync import AdSync
from shared.models import AdGroup, Project, Tenant, User
from shared.models.history import History

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
# Groups are selected by object id: the directory's groups get known ids.
APPROVERS = "6a1d0c9e-0000-4000-8000-00000000a001"
ADMINS = "6a1d0c9e-0000-4000-8000-00000000a002"
OUTER = "6a1d0c9e-0000-4000-8000-00000000a003"


@pytest.fixture
def ad_sync(session_factory, graph_client):
    return AdSync(session_factory, graph_client, batch_size=2, admin_groups=[ADMINS])


@pytest.fixture
def directory(graph):
    graph.seed(
        users=[
            {"userPrincipalName": ALICE, "mail": ALICE, "displayName": "Alice", "department": "Finance",
             "jobTitle": "Analyst"},
            {"userPrincipalName": BOB, "mail": BOB, "displayName": "Bob"},
            {"userPrincipalName": "carol@contoso.onmicrosoft.com", "mail": CAROL, "displayName": "Carol"},
        ],
        groups=[
            {"id": APPROVERS, "displayName": "Finance Approvers", "members": [ALICE, BOB]},
            {"id": ADMINS, "displayName": "Platform Admins", "members": [CAROL]},
            {"displayName": "Unrelated", "members": [ALICE, BOB, CAROL]},
        ],
    )
    return graph


def current_users(session_factory) -> dict[str, User]:
    with session_factory() as session:
        return {u.email: u for u in History(session, User).find_current(include_deleted=True)}


def current_groups(session_factory) -> dict[str, AdGroup]:
    with session_factory() as session:
        return {g.group_name: g for g in History(session, AdGroup).find_current()}


def versions(session_factory, model) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_first_run_creates_users_and_a_second_unchanged_run_writes_nothing_through_the_delta_link(
        ad_sync, directory, session_factory):
    first = ad_sync.sync_users()
    assert (first.created, first.full_round) == (3, True)
    users = current_users(session_factory)
    assert users[ALICE].display_name == "Alice" and users[ALICE].department == "Finance"
    assert users[CAROL].email == CAROL  # mail, not the UPN
    assert all(u.is_active and u.ad_object_id for u in users.values())
    directory.clear_requests()
    second = ad_sync.sync_users()
    assert (second.versions_written, second.full_round) == (0, False)
    calls = [r for r in directory.requests() if r["path"] == "/v1.0/users/delta"]
    assert len(calls) == 1 and "$deltatoken" in calls[0]["query"]


def test_disabled_user_becomes_inactive_and_deleted_user_soft_deleted(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    directory.disable_user(ALICE)
    directory.delete_user(BOB)
    counts = ad_sync.sync_users()
    assert (counts.updated, counts.deleted) == (1, 1)
    users = current_users(session_factory)
    assert users[ALICE].is_active is False and users[ALICE].version == 2
    assert users[BOB].is_deleted is True
    assert users[CAROL].version == 1  # untouched: no new version


def test_only_a_real_change_writes_a_version(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    before = versions(session_factory, User)
    directory.update_user(ALICE, userType="Guest")  # Graph reports Alice changed, but nothing we keep did
    directory.update_user(BOB, jobTitle="Engineer")
    counts = ad_sync.sync_users()
    assert (counts.processed, counts.updated) == (2, 1)
    assert versions(session_factory, User) == before + 1  # Bob's next version; Alice still has one
    assert current_users(session_factory)[BOB].job_title == "Engineer"


def test_a_user_created_before_sync_is_adopted_by_email(ad_sync, directory, session_factory):
    with session_factory.begin() as session:
        History(session, User).create(created_by="test", email=ALICE, ad_object_id=None, source="local")
    counts = ad_sync.sync_users()
    assert counts.created == 2
    alice = current_users(session_factory)[ALICE]
    assert alice.version == 2 and alice.ad_object_id and alice.source == "azure_ad"


@pytest.mark.parametrize("mode", ["syncStateNotFound", "resyncRequired"])
def test_an_expired_delta_link_runs_a_full_round_that_reconciles_deletions(
        ad_sync, directory, session_factory, mode):
    ad_sync.sync_users()
    directory.delete_user(BOB, permanent=True)
    directory.expire_delta_tokens(mode)
    counts = ad_sync.sync_users()
    assert counts.full_round and counts.deleted == 1 and counts.created == 0 and counts.updated == 0
    assert current_users(session_factory)[BOB].is_deleted
    assert ad_sync.sync_users().full_round is False  # the new link is used again


def test_only_the_groups_that_matter_are_synced_with_their_active_members(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    counts = ad_sync.sync_groups([APPROVERS, ADMINS])
    assert counts.created == 2
    groups = current_groups(session_factory)
    assert set(groups) == {"Finance Approvers", "Platform Admins"}
    users = current_users(session_factory)
    assert groups["Finance Approvers"].members == sorted(
        [ALICE, BOB, users[ALICE].ad_object_id.lower(), users[BOB].ad_object_id.lower()])
    assert ad_sync.sync_groups([APPROVERS, ADMINS]).versions_written == 0


def test_a_member_leaving_writes_a_new_group_version(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    wanted = [APPROVERS]
    ad_sync.sync_groups(wanted)
    directory.change_members("Finance Approvers", remove=[BOB])
    counts = ad_sync.sync_groups(wanted)
    assert counts.updated == 1 and not counts.full_round
    group = current_groups(session_factory)["Finance Approvers"]
    assert group.version == 2 and BOB not in group.members and ALICE in group.members


def test_disabling_a_member_removes_them_after_the_next_sync(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    ad_sync.sync_groups([APPROVERS])
    directory.disable_user(BOB)
    ad_sync.sync_users()
    ad_sync.sync_groups([APPROVERS])
    assert BOB not in current_groups(session_factory)["Finance Approvers"].members


def test_nested_groups_count_their_users_transitively(ad_sync, directory, session_factory):
    directory.seed(groups=[{"id": OUTER, "displayName": "Outer", "members": []}])
    inner = directory.seed(groups=[{"displayName": "Inner", "members": [CAROL]}])["groups"][0]
    directory.change_members("Outer", add=[inner])
    ad_sync.sync_users()
    ad_sync.sync_groups([OUTER])
    assert CAROL in current_groups(session_factory)["Outer"].members


def test_a_group_no_longer_named_is_soft_deleted(ad_sync, directory, session_factory):
    ad_sync.sync_users()
    ad_sync.sync_groups([APPROVERS, ADMINS])
    counts = ad_sync.sync_groups([ADMINS])
    assert counts.full_round and counts.deleted == 1
    assert set(current_groups(session_factory)) == {"Platform Admins"}


def test_wanted_groups_come_from_tenants_projects_and_admin_groups(ad_sync, session_factory):
    with session_factory.begin() as session:
        tenant = History(session, Tenant).create(created_by="t", business_line_name="Finance",
                                                 configurator_ad_group=["Finance Configurators"])
        History(session, Project).create(created_by="t", project_name="p", tenant_id=tenant.tenant_id,
                                         approver=["Finance Approvers"], configurator=["abc-object-id"])
    assert ad_sync.wanted_groups() == {"finance configurators", "finance approvers", "abc-object-id", ADMINS}


def test_a_local_group_of_the_same_name_is_never_taken_over(ad_sync, directory, session_factory):
    with session_factory.begin() as session:
        History(session, AdGroup).create(created_by="admin", group_name="Finance Approvers",
                                         members=["someone@example.com"], source="local")
    ad_sync.sync_users()
    ad_sync.sync_groups([APPROVERS])
    groups = current_groups(session_factory)
    local = groups["Finance Approvers"]
    assert local.source == "local" and local.version == 1 and local.members == ["someone@example.com"]
    synced = groups[f"Finance Approvers ({APPROVERS})"]  # the display name is for showing: the id is added
    assert synced.ad_object_id == APPROVERS and ALICE in synced.members


def test_a_directory_user_naming_a_group_like_the_approvers_gains_nothing_and_breaks_no_sync(
    ad_sync, directory, session_factory
):
    ad_sync.sync_users()
    ad_sync.sync_groups([APPROVERS])
    # Mallory, an ordinary directory user, creates groups named like the approvers' (exactly, and in capitals)
    # and puts herself in them.
    directory.seed(users=[{"userPrincipalName": "mallory@example.com"}],
                   groups=[{"displayName": "Finance Approvers", "members": ["mallory@example.com"]},
                           {"displayName": "FINANCE APPROVERS", "members": ["mallory@example.com"]}])
    ad_sync.sync_users()

    counts = ad_sync.sync_groups([APPROVERS])

    assert counts.failed == 0
    groups = current_groups(session_factory)
    assert list(groups) == ["Finance Approvers"] and groups["Finance Approvers"].ad_object_id == APPROVERS
    assert "mallory@example.com" not in groups["Finance Approvers"].members


def test_two_wanted_groups_with_one_display_name_are_both_kept(ad_sync, directory, session_factory):
    twin = "6a1d0c9e-0000-4000-8000-00000000a004"
    directory.seed(groups=[{"id": twin, "displayName": "Finance Approvers", "members": [CAROL]}])
    ad_sync.sync_users()

    ad_sync.sync_groups([APPROVERS, twin])
    ad_sync.sync_groups([APPROVERS, twin])  # and again: stable names, no failure

    by_id = {g.ad_object_id: g for g in current_groups(session_factory).values()}
    assert by_id[APPROVERS].group_name == "Finance Approvers"
    assert by_id[twin].group_name == f"Finance Approvers ({twin})" and CAROL in by_id[twin].members
