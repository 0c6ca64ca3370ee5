"""Reading a recipient leaves out the properties Databricks predefines (`databricks.accountId`, ...): no pack
can set them, so a plan must not compare them and the inventory must not show them as the recipient's own."""

from __future__ import annotations

from databricks.sdk.service.sharing import AuthenticationType, RecipientInfo, SecurablePropertiesKvPairs

from shared.provisioning.sdk_convert import recipient_state


def test_predefined_properties_are_left_out_and_custom_ones_kept_sorted() -> None:
    info = RecipientInfo(
        name="Globex", authentication_type=AuthenticationType.DATABRICKS,
        properties_kvpairs=SecurablePropertiesKvPairs({
            "tier": "gold", "databricks.accountId": "a-1", "Databricks.metastoreId": "m-1", "country": "FR",
            "databricks.name": "globex",
        }),
    )

    state = recipient_state(info)

    assert state.name == "globex"
    assert state.properties == (("country", "FR"), ("tier", "gold"))


def test_a_recipient_without_properties_reads_as_none() -> None:
    info = RecipientInfo(name="acme", authentication_type=AuthenticationType.TOKEN)

    assert recipient_state(info).properties == ()
