"""AD_USERS and AD_GROUPS as sync jobs: each run a sync_jobs row with its counts, registered in one place."""

from __future__ import annotations

import threading

from sqlalchemy import select

from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from shared.graph.ad_sync import AdSync
from shared.models import SyncJob
from shared.platform.settings import Settings
from shared.platform.status import SyncType
from sync.jobs import JobParts, build_jobs
from sync.jobs.ad import AdGroupsJob, AdUsersJob
from sync.jobs.base import JobContext
from sync.runner import SyncRunner
from tests.support.graph_emulator import GRAPH_TENANT

ADMINS_ID = "5b0e7f3a-0000-4000-8000-0000000000b1"  # groups are selected by object id


def graph_settings(url: str | None) -> Settings:
    env = {"azure_tenant_id": GRAPH_TENANT, "graph_client_id": DEFAULT_CLIENT_ID,
           "graph_client_secret": DEFAULT_CLIENT_SECRET, "admin_groups": ADMINS_ID}
    if url:
        env |= {"graph_base_url": url, "graph_authority_host": url}
    else:
        env = {}
    return Settings.from_env(env, dotenv_path=None)


def runs(session) -> list[SyncJob]:
    session.expire_all()
    return list(session.scalars(select(SyncJob).order_by(SyncJob.started_at)))


def test_the_jobs_are_built_from_settings_and_record_their_counts(engine, session_factory, session, graph):
    graph.seed(users=[{"userPrincipalName": "carol@example.com"}, {"userPrincipalName": "dan@example.com"}],
               groups=[{"id": ADMINS_ID, "displayName": "Platform Admins", "members": ["carol@example.com"]}])
    jobs = build_jobs(JobParts(settings=graph_settings(graph.url), session_factory=session_factory))
    assert isinstance(jobs[SyncType.AD_USERS], AdUsersJob) and isinstance(jobs[SyncType.AD_GROUPS], AdGroupsJob)
    runner = SyncRunner(engine, session_factory)
    context = JobContext(threading.Event())
    runner.run(jobs[SyncType.AD_USERS], context)
    runner.run(jobs[SyncType.AD_GROUPS], context)
    runner.run(jobs[SyncType.AD_USERS], context)
    users, groups, again = runs(session)
    assert (users.sync_type, users.status, users.records_processed, users.records_created) == (
        "AD_USERS", "COMPLETED", 2, 2)
    assert (groups.sync_type, groups.records_created, groups.details["full_round"]) == ("AD_GROUPS", 1, True)
    assert (again.records_processed, again.details["versions_written"], again.details["full_round"]) == (0, 0, False)


def test_without_graph_settings_the_jobs_record_that_they_skipped(engine, session_factory, session):
    jobs = build_jobs(JobParts(settings=graph_settings(None), session_factory=session_factory))
    SyncRunner(engine, session_factory).run(jobs[SyncType.AD_USERS], JobContext(threading.Event()))
    [run] = runs(session)
    assert run.status == "COMPLETED" and "not configured" in run.details["skipped"]


def test_an_unreachable_graph_fails_the_run_with_a_record(engine, session_factory, session, graph_client):
    graph_client.base_url = "http://127.0.0.1:9/v1.0"  # nothing listens on the discard port
    graph_client.retry.max_attempts = 1
    graph_client.tokens.token()
    SyncRunner(engine, session_factory).run(AdUsersJob(AdSync(session_factory, graph_client)),
                                            JobContext(threading.Event()))
    [run] = runs(session)
    assert run.status == "FAILED" and "GraphUnavailable" in run.error_message
