"""The upload's pre-flight reads a workspace once per burst (shared.preflight.cache), and refuses only on
what the live workspace says."""

from __future__ import annotations

import pytest

from dev.emulator.control import EmulatorControl
from shared.preflight import CachedReaders
from shared.provisioning.clients import WorkspaceClients
from tests.integration.preflight.conftest import EXAMPLE_TABLES, edited, post_file, sample


@pytest.fixture
def cached_app(app_factory, clients: WorkspaceClients, emulator: EmulatorControl, queue):
    """Builds the API with a one-minute pre-flight cache (and the settings given)."""
    from tests.integration.api.conftest import make_settings

    def build(**settings: str):
        configured = make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url, **settings)
        return app_factory(configured, reader_for=CachedReaders(clients.gateway, ttl_seconds=60))
    return build


@pytest.fixture
def cached_api(cached_app):
    return cached_app()


def reads(emulator: EmulatorControl) -> int:
    """The workspace calls our reader made (the emulator is shared: other clients' calls do not count)."""
    return sum(1 for r in emulator.requests() if "sharepack-worker" in r["headers"].get("user-agent", ""))


def test_a_burst_of_uploads_reads_the_workspace_once(cached_api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)

    first = post_file(cached_api, "upload", headers, sample())
    after_first = reads(emulator)
    more = [post_file(cached_api, "upload", headers, sample()).status_code for _ in range(3)]

    assert first.status_code == 202, first.json
    assert more == [202, 202, 202]
    assert after_first > 0
    assert reads(emulator) == after_first  # the next uploads answered from what the first read


def test_a_table_created_after_a_refusal_is_accepted_at_once(cached_api, headers, emulator: EmulatorControl):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if t != "finance.ledger.entries"])
    refused = post_file(cached_api, "upload", headers, sample())
    assert refused.status_code == 400
    assert any("finance.ledger.entries" in e["message"] for e in refused.json["ValidationErrors"])

    emulator.seed_tables(["finance.ledger.entries"])
    accepted = post_file(cached_api, "upload", headers, sample())

    assert accepted.status_code == 202, accepted.json  # the kept listing lacked it: the refusal was re-read


def test_a_missing_table_is_refused_even_when_the_rest_is_kept(cached_api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)
    assert post_file(cached_api, "upload", headers, sample()).status_code == 202

    def names_a_missing_table(pack: dict) -> None:
        pack["share"][0]["data_objects"].append("sales.reporting.no_such_table")

    response = post_file(cached_api, "upload", headers, edited(names_a_missing_table))

    assert response.status_code == 400
    assert any("sales.reporting.no_such_table" in e["message"] for e in response.json["ValidationErrors"])


def skipped(response) -> bool:
    return any("Pre-flight check skipped" in w["message"] for w in response.json["ValidationWarnings"])


def test_a_refusal_on_what_is_kept_is_still_read_live_within_the_budget(cached_app, headers,
                                                                       emulator: EmulatorControl):
    api = cached_app(preflight_budget_seconds="1")
    emulator.seed_tables(EXAMPLE_TABLES)
    first = post_file(api, "upload", headers, sample())
    assert first.status_code == 202 and not skipped(first)  # read in time: its listings are kept
    emulator.set_latency(2500)
    try:

        def names_a_missing_table(pack: dict) -> None:
            pack["share"][0]["data_objects"].append("sales.reporting.no_such_table")

        # The kept listing lacks the table; the live read that would confirm it takes longer than the budget.
        response = post_file(api, "upload", headers, edited(names_a_missing_table))
    finally:
        emulator.set_latency(0)

    assert response.status_code == 202, response.json
    assert skipped(response)
