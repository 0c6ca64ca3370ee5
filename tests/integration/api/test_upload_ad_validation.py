"""The upload route with the Azure AD validator: a disabled requestor is a located 400, an unreachable AD a warning."""

from __future__ import annotations

from shared.graph.validator import AdValidator
from tests.integration.api.test_share_pack_routes import sample, upload


def test_an_upload_by_a_requestor_disabled_in_azure_ad_is_refused(app_factory, headers, graph, graph_client):
    graph.seed(users=[{"userPrincipalName": "jane.doe@example.com", "accountEnabled": False}])
    client = app_factory(directory_validator=AdValidator(graph_client))
    response = upload(client, headers, sample())
    assert response.status_code == 400, response.json
    assert [(e["path"], e["message"]) for e in response.json["ValidationErrors"]] == [
        ("metadata.requestor", "jane.doe@example.com is disabled in Azure AD")]


def test_without_graph_the_upload_is_accepted_and_the_skipped_check_is_a_warning(app_factory, headers):
    client = app_factory(directory_validator=AdValidator(None))
    response = upload(client, headers, sample())
    assert response.status_code == 202, response.json
    warnings = response.json["ValidationWarnings"]
    assert any(w["path"] == "metadata.requestor" and "not configured" in w["message"] for w in warnings)
