"""Recipient properties, authentication and federation policies, and a table's partitions, change data feed
and start version: each round-trips YAML ↔ Excel and is refused, located, when invalid."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.model import Authentication, PartitionValueSpec
from shared.share_pack_file.write import to_excel, to_yaml
from tests.unit.share_pack_file.conftest import (
    document_sheets,
    messages,
    parse_as,
    valid_document,
    workbook_bytes,
    yaml_bytes,
)

POLICY = {"name": "powerbi-users", "issuer": "https://login.microsoftonline.com/tenant/v2.0",
          "subject_claim": "groups", "subject": "a1b2c3", "audiences": ["api://sharing", "api://other"]}


def rich_document() -> dict[str, Any]:
    document = copy.deepcopy(valid_document())
    document["recipient"][0]["properties"] = {"country": "FR", "tier": "gold, premium"}
    document["recipient"].append({"name": "fabrikam", "type": "D2O", "email": "bi@fabrikam.example.com",
                                  "authentication": "oidc_federation", "federation_policies": [dict(POLICY)]})
    document["share"][0]["recipients"].append("fabrikam")
    document["share"][0]["data_objects"] = [
        {"name": "sales.reporting.orders", "history": True, "cdf_enabled": True, "start_version": 3,
         "partitions": [{"region": "EU", "year": "2024"}, {"country": {"recipient_property": "country"}}]},
        "sales.reporting.customers",
    ]
    return document


def test_every_field_reads_and_round_trips_yaml_and_excel():
    parsed = parse_share_pack(yaml_bytes(rich_document()), filename="pack.yaml")
    assert parsed.is_valid, parsed.errors
    pack = parsed.spec
    acme, fabrikam = pack.recipients[0], pack.recipients[2]
    assert acme.properties == {"country": "FR", "tier": "gold, premium"}
    assert acme.authenticates_by is Authentication.TOKEN
    assert fabrikam.authentication is Authentication.OIDC_FEDERATION
    assert fabrikam.federation_policies[0].audiences == ("api://sharing", "api://other")
    orders = pack.shares[0].data_objects[0]
    assert (orders.cdf_enabled, orders.start_version) == (True, 3)
    assert orders.partitions == (
        (PartitionValueSpec("region", value="EU"), PartitionValueSpec("year", value="2024")),
        (PartitionValueSpec("country", recipient_property="country"),),
    )

    from_excel = parse_share_pack(to_excel(pack), filename="pack.xlsx")
    from_yaml = parse_share_pack(to_yaml(pack).encode(), filename="pack.yaml")

    assert from_excel.is_valid, from_excel.errors
    assert from_excel.spec == pack
    assert from_yaml.spec == pack


def rich_sheets(document: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The rich document as a workbook typed by hand: each structured value is one cell of text."""
    sheets = document_sheets(document)
    header = sheets["data_objects"][0]
    row = sheets["data_objects"][1]
    row[header.index("partitions")] = "region=EU, year=2024; country=current_recipient().country"
    for recipient_row in sheets["recipient"][1:]:
        cells = dict(zip(sheets["recipient"][0], recipient_row, strict=False))
        if cells.get("federation_policies"):
            recipient_row[sheets["recipient"][0].index("federation_policies")] = (
                "name=powerbi-users, issuer=https://login.microsoftonline.com/tenant/v2.0, subject_claim=groups, "
                "subject=a1b2c3, audiences=api://sharing api://other")
        if cells.get("properties"):
            recipient_row[sheets["recipient"][0].index("properties")] = "country=FR, tier='gold, premium'"
    return sheets


def test_excel_cells_use_the_sql_spelling_for_a_recipient_property():
    document = rich_document()
    sheets = rich_sheets(document)

    result = parse_share_pack(workbook_bytes(sheets), filename="pack.xlsx")

    assert result.is_valid, result.errors
    assert result.spec == parse_share_pack(yaml_bytes(document), filename="pack.yaml").spec


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        (lambda d: d["recipient"][0].update(properties={"databricks.accountId": "x"}),
         "recipient[0].properties.databricks.accountId", "predefined by Databricks"),
        (lambda d: d["recipient"][0].update(properties={"bad key": "x"}), "recipient[0].properties.bad key",
         "letters, digits"),
        (lambda d: d["recipient"][1].update(authentication="token"), "recipient[1].authentication",
         "D2D recipient authenticates by databricks"),
        (lambda d: d["recipient"][0].update(federation_policies=[dict(POLICY)]), "recipient[0].federation_policies",
         "only for recipients with authentication: oidc_federation"),
        (lambda d: d["recipient"][2]["federation_policies"][0].update(subject_claim="email"),
         "recipient[2].federation_policies[0].subject_claim", "oid, azp, groups, sub"),
        (lambda d: d["recipient"][2]["federation_policies"][0].update(issuer="http://idp"),
         "recipient[2].federation_policies[0].issuer", "https://"),
        (lambda d: d["recipient"][2]["federation_policies"][0].pop("audiences"),
         "recipient[2].federation_policies[0].audiences", "is required"),
        (lambda d: d["recipient"][2].update(allowed_ips=["203.0.113.7"]), "recipient[2].allowed_ips",
         "only for token recipients"),
        (lambda d: d["share"][0]["data_objects"][0].update(start_version=-1),
         "share[0].data_objects[0].start_version", "greater than or equal to 0"),
        (lambda d: d["share"][0]["data_objects"][0].update(history=False),
         "share[0].data_objects[0].start_version", "needs the history shared"),
        (lambda d: d["share"][0]["data_objects"][0].update(cdf_enabled="sometimes"),
         "share[0].data_objects[0].cdf_enabled", "boolean"),
        (lambda d: d["share"][0]["data_objects"][0]["partitions"].append({"bad column": "x"}),
         "share[0].data_objects[0].partitions[2]", "is not a column name"),
        (lambda d: d["share"][0]["data_objects"].append({"name": "sales.reporting", "type": "SCHEMA",
                                                          "partitions": [{"a": "1"}]}),
         "share[0].data_objects[2].partitions", "Only a TABLE has 'partitions'"),
    ],
)
def test_invalid_values_are_refused_where_they_are(change, path, says):
    document = rich_document()
    change(document)

    result = parse_share_pack(yaml_bytes(document), filename="pack.yaml")

    found = messages(result.errors)
    assert path in found, found
    assert says in found[path]
    located = next(issue for issue in result.errors if issue.path == path)
    assert located.location.get("line", 0) > 1


def test_an_invalid_cell_is_located_on_its_sheet_row_and_column():
    sheets = rich_sheets(rich_document())
    header = sheets["data_objects"][0]
    sheets["data_objects"][1][header.index("partitions")] = "region=EU, year"

    result = parse_share_pack(workbook_bytes(sheets), filename="pack.xlsx")

    assert not result.is_valid
    error = result.errors[0]
    assert error.location == {"sheet": "data_objects", "row": 2, "column": "partitions"}
    assert "is not key=value" in error.message


def test_an_oidc_recipient_without_policies_is_warned():
    document = rich_document()
    del document["recipient"][2]["federation_policies"]

    result = parse_as(document, "yaml")

    assert result.is_valid
    assert "cannot read its shares until a policy is added" in messages(result.warnings)["recipient[2].authentication"]


def test_the_cli_converts_the_sharing_fields_both_ways(tmp_path):
    from shared.share_pack_file.cli import main

    source, workbook, back = tmp_path / "rich.yaml", tmp_path / "rich.xlsx", tmp_path / "back.yaml"
    source.write_bytes(yaml_bytes(rich_document()))

    assert main(["convert", str(source), str(workbook)]) == 0
    assert main(["convert", str(workbook), str(back)]) == 0

    original = parse_share_pack(source.read_bytes(), filename="rich.yaml").spec
    assert parse_share_pack(back.read_bytes(), filename="back.yaml").spec == original
    assert "CURRENT_RECIPIENT().country" not in back.read_text()  # YAML keeps the mapping form
    assert "recipient_property: country" in back.read_text()


def test_a_partition_on_a_property_a_grantee_lacks_is_warned():
    document = rich_document()  # fabrikam is granted the share but has no 'country' property

    result = parse_as(document, "yaml")

    assert result.is_valid
    warning = messages(result.warnings)["share[0].data_objects[0].partitions"]
    assert "fabrikam" in warning and "country" in warning
