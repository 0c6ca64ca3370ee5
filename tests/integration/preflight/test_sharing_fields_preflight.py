"""Upload checks the sharing fields against the workspace: partitions name partition columns, the change data
feed needs the table's property; an invalid value is refused with its line before the workspace is asked."""

from __future__ import annotations

from dev.emulator.control import EmulatorControl
from tests.integration.preflight.conftest import EXAMPLE_TABLES, dump, load, post_file, sample

ORDERS = "sales.reporting.orders"


def partitioned_pack(**orders_fields) -> bytes:
    pack = load(sample())
    objects = pack["share"][0]["data_objects"]
    index = next(i for i, o in enumerate(objects) if (o if isinstance(o, str) else o["name"]) == ORDERS)
    objects[index] = {"name": ORDERS, **orders_fields}
    return dump(pack)


def test_partitions_and_change_data_feed_the_table_cannot_give_are_refused(api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)  # orders: no partition columns, no change data feed

    response = post_file(api(), "upload", headers, partitioned_pack(partitions=[{"region": "EU"}], cdf_enabled=True))

    assert response.status_code == 400, response.json
    errors = {e["path"]: e["message"] for e in response.json["ValidationErrors"]}
    assert "not partitioned by region" in errors["share[0].data_objects[0].partitions"]
    assert "delta.enableChangeDataFeed" in errors["share[0].data_objects[0].cdf_enabled"]


def test_a_table_that_can_give_them_is_accepted(api, headers, emulator: EmulatorControl):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if t != ORDERS])
    emulator.seed_tables([{"full_name": ORDERS, "partition_columns": ["region"],
                           "properties": {"delta.enableChangeDataFeed": "true"}}])

    response = post_file(api(), "upload", headers, partitioned_pack(partitions=[{"region": "EU"}], cdf_enabled=True))

    assert response.status_code == 202, response.json


def test_an_invalid_value_is_refused_with_its_line(api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)

    response = post_file(api(), "upload", headers, partitioned_pack(start_version="yesterday"))

    assert response.status_code == 400, response.json
    (error,) = [e for e in response.json["ValidationErrors"] if e["path"].endswith("start_version")]
    assert error["location"]["line"] > 1
