"""A pack that uses what Databricks can share beyond names — recipient properties, an OIDC federation
recipient and its policy, a table shared by partition with its change data feed from a version — goes
upload -> queue -> worker -> workspace, and a later UPDATE changes them in place."""

from __future__ import annotations

import pytest

from tests.e2e.test_provisioning import pack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ORDERS = "sales.reporting.orders"


def sharing_pack(strategy: str, *, country: str, partition: str) -> str:
    return pack(strategy, recipients=f"""
  - name: acme-analytics
    type: D2O
    email: data@acme.example.com
    properties: {{country: {country}}}
  - name: fabrikam-bi
    type: D2O
    email: bi@fabrikam.example.com
    authentication: oidc_federation
    federation_policies:
      - name: powerbi-users
        issuer: https://login.microsoftonline.com/fabrikam/v2.0
        subject_claim: groups
        subject: 0f1e2d3c
        audiences: ["api://databricks-sharing"]
""", shares=f"""
  - name: sales-share
    recipients: [acme-analytics, fabrikam-bi]
    data_objects:
      - name: {ORDERS}
        history: true
        cdf_enabled: true
        start_version: 2
        partitions:
          - {partition}
      - sales.reporting.customers
""")


def test_a_pack_with_the_sharing_fields_provisions_and_updates_them(stack):
    stack.emulator.seed_tables([{"full_name": ORDERS, "partition_columns": ["country"], "version": 5,
                                 "properties": {"delta.enableChangeDataFeed": "true"}}])
    stack.start_worker()

    created = stack.wait_final(stack.upload(sharing_pack("NEW", country="FR",
                                                 partition="{country: {recipient_property: country}}")))

    assert created["Status"] == "COMPLETED", created
    state = stack.emulator.state()
    recipients = {r["name"]: r for r in state["recipients"]}
    assert recipients["acme-analytics"]["properties"] == {"country": "FR"}
    fabrikam = recipients["fabrikam-bi"]
    assert fabrikam["authentication_type"] == "OIDC_FEDERATION" and not fabrikam["tokens"]
    assert fabrikam["federation_policies"]["powerbi-users"]["oidc_policy"]["subject"] == "0f1e2d3c"
    (orders,) = [o for s in state["shares"] for o in s["objects"].values() if o["name"] == ORDERS]
    assert orders["partitions"] == [{"values": [{"name": "country", "op": "EQUAL",
                                                 "recipient_property_key": "country"}]}]
    assert (orders["cdf_enabled"], orders["start_version"]) == (True, 2)

    update_id = stack.upload(sharing_pack("UPDATE", country="DE", partition="{country: FR}"))
    updated = stack.wait_final(update_id)

    assert updated["Status"] == "COMPLETED", updated
    state = stack.emulator.state()
    assert {r["name"]: r for r in state["recipients"]}["acme-analytics"]["properties"] == {"country": "DE"}
    (orders,) = [o for s in state["shares"] for o in s["objects"].values() if o["name"] == ORDERS]
    assert orders["partitions"] == [{"values": [{"name": "country", "op": "EQUAL", "value": "FR"}]}]
    plan = stack.client.get(f"/workflow/sharepack/{update_id}/plan", headers=stack.headers).json["Plan"]
    assert plan["summary"] == {"adopted": 0, "conflicts": 0, "data_object_update": 1, "recipient_update": 1}
