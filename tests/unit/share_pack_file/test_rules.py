"""Every validation rule of the format, run on a YAML file and on a workbook holding the same document."""

from __future__ import annotations

from typing import Any

import pytest

from shared.share_pack_file import DataObjectSpec, DataObjectType, RecipientType, Strategy
from tests.unit.share_pack_file.conftest import messages, parse_as, valid_document


def test_valid_pack_reads_to_the_same_lowercased_model_in_both_formats():
    from_yaml = parse_as(valid_document(), "yaml")
    from_excel = parse_as(valid_document(), "xlsx")

    assert from_yaml.is_valid and from_excel.is_valid
    assert (from_yaml.errors, from_yaml.warnings) == ([], [])
    assert from_yaml.spec == from_excel.spec
    pack = from_yaml.spec
    assert [r.name for r in pack.recipients] == ["acme", "globex"]
    assert pack.recipients[1].type is RecipientType.D2D
    assert pack.shares[0].name == "sales"
    assert pack.shares[0].recipients == ("acme", "globex")
    assert pack.shares[0].data_objects == (
        DataObjectSpec("sales.reporting.orders"),
        DataObjectSpec("sales.reporting.customers", DataObjectType.TABLE, None, True),
    )


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda d: d["metadata"].pop("requestor"), "metadata.requestor", "'requestor' is required"),
        (lambda d: d["metadata"].pop("business_line"), "metadata.business_line", "is required"),
        (lambda d: d["metadata"].update(strategy="REPLACE"), "metadata.strategy", "NEW, UPDATE, DELETE"),
        (lambda d: d["metadata"].update(requestor="jane.doe"), "metadata.requestor", "email"),
        (lambda d: d["recipient"][0].update(type="D2X"), "recipient[0].type", "D2O, D2D"),
        (lambda d: d["recipient"][0].pop("type"), "recipient[0].type", "'type' is required"),
        (lambda d: d["recipient"][0].update(email="ops@"), "recipient[0].email", "email"),
        (lambda d: d["recipient"][0].pop("email"), "recipient[0].email", "needs an 'email'"),
        (lambda d: d["recipient"][1].pop("metastore_id"), "recipient[1].metastore_id", "needs a 'metastore_id'"),
        (lambda d: d["recipient"][1].update(metastore_id="aws:us-east-1:42"), "recipient[1].metastore_id",
         "cloud:region:uuid"),
        (lambda d: d["recipient"][1].update(metastore_id="ibm:eu:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"),
         "recipient[1].metastore_id", "aws, azure or gcp"),
        (lambda d: d["recipient"][0].update(metastore_id="aws:us-east-1:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"),
         "recipient[0].metastore_id", "only for D2D"),
        (lambda d: d["recipient"][0].update(allowed_ips=["203.0.113.0/24", "10.0.0.256"]),
         "recipient[0].allowed_ips[1]", "not an IPv4 address or CIDR"),
        (lambda d: d["recipient"][0].update(allowed_ips=["2001:db8::/32"]), "recipient[0].allowed_ips[0]",
         "IPv6"),
        (lambda d: d["recipient"][0].update(allowed_ips=[f"10.0.0.{i}" for i in range(101)]),
         "recipient[0].allowed_ips", "At most 100"),
        (lambda d: d["recipient"][0].update(token_expiry_days=0), "recipient[0].token_expiry_days", "1"),
        (lambda d: d["recipient"][0].update(token_expiry_days=366), "recipient[0].token_expiry_days", "365"),
        (lambda d: d["recipient"][0].update(name="acme.corp"), "recipient[0].name", "'.'"),
        (lambda d: d["recipient"][0].update(name="acme corp"), "recipient[0].name", "a space"),
        (lambda d: d["share"][0].update(name="sales/eu"), "share[0].name", "'/'"),
        (lambda d: d["share"][0].update(name="sales\teu"), "share[0].name", "control character"),
        (lambda d: d["share"][0].update(name="s" * 256), "share[0].name", "at most 255"),
        (lambda d: d["recipient"][1].update(name="ACME"), "recipient[1].name", "already used by recipient[0]"),
        (lambda d: d["share"][1].update(name="SALES"), "share[1].name", "already used by share[0]"),
        (lambda d: d["share"][0].update(recipients=["acme", "initech"]), "share[0].recipients[1]",
         "'initech' is not declared"),
        (lambda d: d["share"][0].update(data_objects=["sales.orders"]), "share[0].data_objects[0]",
         "catalog.schema.table"),
        (lambda d: d["share"][0].update(data_objects=["sales.reporting.my orders"]), "share[0].data_objects[0]",
         "not a data object name"),
        (lambda d: d["share"][0].update(data_objects=[{"name": "sales.reporting.orders.x", "type": "VIEW"}]),
         "share[0].data_objects[0].name", "not a data object name"),
        (lambda d: d["share"][0].update(data_objects=[{"name": "sales.reporting.orders", "type": "SCHEMA"}]),
         "share[0].data_objects[0].name", "A SCHEMA is named catalog.schema"),
        (lambda d: d["share"][0].update(data_objects=[{"name": "sales.reporting", "type": "cube"}]),
         "share[0].data_objects[0].type", "TABLE, VIEW, SCHEMA, VOLUME, MODEL"),
        (lambda d: d["share"][0].update(data_objects=["sales.reporting.orders", "SALES.reporting.orders"]),
         "share[0].data_objects[1]", "already in this share"),
        (lambda d: d["share"][0].update(data_objects=["sales.reporting.orders", "archive.reporting.orders"]),
         "share[0].data_objects[1]", "would be shared as 'reporting.orders'"),
    ],
)
def test_each_rule_is_an_error_at_its_path(parse_with, change, path, fragment):
    result = parse_with(change)

    assert not result.is_valid
    assert result.spec is None
    assert fragment in messages(result.errors)[path]


def test_share_quotas_are_errors(parse_with):
    def too_many(document: dict[str, Any]) -> None:
        document["share"][0]["data_objects"] = [f"sales.reporting.t{i}" for i in range(1001)]
        document["share"][1]["data_objects"] = [{"name": f"finance.s{i}", "type": "SCHEMA"} for i in range(501)]

    result = parse_with(too_many)

    found = messages(result.errors)
    assert "at most 1000 tables and views" in found["share[0].data_objects"]
    assert "at most 500 schemas" in found["share[1].data_objects"]


def test_limits_themselves_are_accepted(parse_with):
    def at_limits(document: dict[str, Any]) -> None:
        document["recipient"][0].update(allowed_ips=[f"10.0.0.{i}" for i in range(100)], token_expiry_days=365)
        document["share"][0]["data_objects"] = [f"sales.reporting.t{i}" for i in range(1000)]

    assert parse_with(at_limits).is_valid


def test_every_problem_is_reported_in_one_pass(parse_with):
    def break_everything(document: dict[str, Any]) -> None:
        document["metadata"]["strategy"] = "NOPE"
        document["recipient"][0]["email"] = "not-an-email"
        document["recipient"][1]["metastore_id"] = "bad"
        document["share"][1]["recipients"] = ["nobody"]

    result = parse_with(break_everything)

    assert set(messages(result.errors)) == {
        "metadata.strategy",
        "recipient[0].email",
        "recipient[1].metastore_id",
        "share[1].recipients[0]",
    }


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda d: [share.update(recipients=["acme"]) for share in d["share"]], "recipient[1]",
         "'globex' is not used by any share"),
        (lambda d: d["share"][1].pop("data_objects"), "share[1].data_objects", "has no data objects"),
        (lambda d: d["share"][1].pop("recipients"), "share[1].recipients", "has no recipients"),
        (lambda d: d["recipient"][1].update(allowed_ips=["10.0.0.1"]), "recipient[1].allowed_ips",
         "only to D2O"),
        (lambda d: d["recipient"][0].update(allowed_ips=["0.0.0.0/0"]), "recipient[0].allowed_ips[0]",
         "any address"),
    ],
)
def test_warnings_keep_the_pack_valid(parse_with, change, path, fragment):
    result = parse_with(change)

    assert result.is_valid, result.errors
    assert fragment in messages(result.warnings)[path]


def test_original_field_names_are_aliases_with_a_warning(file_format):
    document = valid_document()
    acme, globex = document["recipient"]
    acme["recipient_ips"] = acme.pop("allowed_ips")
    globex["recipient_databricks_org"] = globex.pop("metastore_id")
    document["share"][0]["share_assets"] = ", ".join(["sales.reporting.orders", "sales.reporting.returns"])
    del document["share"][0]["data_objects"]

    result = parse_as(document, file_format)

    assert result.is_valid, result.errors
    pack = result.spec
    assert pack.recipients[0].allowed_ips == ("203.0.113.0/24",)
    assert pack.recipients[1].metastore_id == "aws:us-east-1:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert [o.name for o in pack.shares[0].data_objects] == ["sales.reporting.orders", "sales.reporting.returns"]
    text = " ".join(issue.message for issue in result.warnings)
    for alias, canonical in [("recipient_ips", "allowed_ips"), ("recipient_databricks_org", "metastore_id"),
                             ("share_assets", "data_objects")]:
        assert f"'{alias}' is an old name for '{canonical}'" in text or f"column '{alias}' is an old name" in text


def test_strategy_and_types_ignore_letter_case(parse_with):
    def lower(document: dict[str, Any]) -> None:
        document["metadata"]["strategy"] = "update"
        document["recipient"][0]["type"] = "d2o"
        document["share"][0]["data_objects"] = [{"name": "sales.reporting", "type": "schema"}]

    pack = parse_with(lower).spec

    assert pack.metadata.strategy is Strategy.UPDATE
    assert pack.recipients[0].type is RecipientType.D2O
    assert pack.shares[0].data_objects[0].type is DataObjectType.SCHEMA


def test_delete_needs_only_names(file_format):
    document = {
        "metadata": {**valid_document()["metadata"], "strategy": "DELETE"},
        "recipient": [{"name": "acme"}, {"name": "globex", "type": "D2D"}],
        "share": [{"name": "sales"}],
    }

    result = parse_as(document, file_format)

    assert result.is_valid, result.errors
    assert result.warnings == []
    assert [r.name for r in result.spec.recipients] == ["acme", "globex"]
    assert result.spec.shares[0].data_objects == ()


def test_a_pack_with_nothing_to_do_is_an_error(file_format):
    document = {"metadata": valid_document()["metadata"], "recipient": [], "share": []}

    result = parse_as(document, file_format)

    assert "nothing to do" in messages(result.errors)[""]


@pytest.mark.parametrize(
    ("file_format", "path", "fragment"),
    [("yaml", "recipient[0].emial", "'emial' is not a recipient field (did you mean 'email'?)"),
     ("xlsx", "recipient", "'emial' is not a column of the 'recipient' sheet (did you mean 'email'?)")],
)
def test_an_unknown_field_is_an_error_not_ignored(file_format, path, fragment):
    document = valid_document()
    document["recipient"][0]["emial"] = "x@example.com"

    result = parse_as(document, file_format)

    assert fragment in messages(result.errors)[path]


def test_an_unknown_data_object_field_is_an_error(file_format):
    document = valid_document()
    document["share"][0]["data_objects"] = [{"name": "sales.reporting.orders", "histroy": True}]

    result = parse_as(document, file_format)

    assert "did you mean 'history'" in " ".join(issue.message for issue in result.errors)
