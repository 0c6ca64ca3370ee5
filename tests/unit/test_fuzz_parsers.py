"""A fuzzing target per parser, run for a bounded number of generated inputs each (a few seconds).

Each target feeds a parser what an attacker controls and asserts the only way it may refuse is its typed
refusal: issues in the result (share pack files), `InvalidInput` (JSON bodies, form fields), `CronError`
(schedules, time zones), `ValidationError` (names). Any other exception is a 500 waiting to happen. The
YAML and workbook targets start from a valid pack and splice generated text into it, so the fuzzer spends
its time past the first syntax error.
"""

from __future__ import annotations

import contextlib
import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from api.input_guard import check_fields, check_json_body
from shared.platform.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.cron import CronError, check_time_zone, to_quartz
from shared.share_pack_file.values import DataObjectName, UnityCatalogName
from tests.unit.share_pack_file.conftest import document_sheets, valid_document, workbook_bytes, yaml_bytes

BOUNDED = settings(max_examples=150, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VALID_YAML = yaml_bytes(valid_document()).decode()
VALID_WORKBOOK = workbook_bytes(document_sheets(valid_document()))
# Characters that mean something to YAML, so generated text reaches the scanner's and composer's branches.
YAML_ALPHABET = st.sampled_from([*"[]{}:,-?#&*!|>'\"%@`\\ \n\t0123456789.aAxeE+<=", "<<", "\u0130", "\u202e",
                                 "\x00", "\ud800"])
YAML_TEXT = st.lists(YAML_ALPHABET, max_size=300).map("".join)
REFUSALS = (PayloadTooLarge, UnsupportedMediaType)


def parses_or_refuses(content: bytes, filename: str) -> None:
    try:
        result = parse_share_pack(content, filename=filename)
    except REFUSALS:
        return
    assert result.is_valid or result.errors


@settings(BOUNDED, max_examples=400)
@given(splice=YAML_TEXT, at=st.integers(min_value=0, max_value=len(VALID_YAML)), repeat=st.integers(1, 2000))
def test_yaml_reader(splice, at, repeat):
    text = VALID_YAML[:at] + splice * (repeat if len(splice) < 5 else 1) + VALID_YAML[at:]
    parses_or_refuses(text.encode("utf-8", "surrogatepass"), "pack.yaml")


@settings(BOUNDED, max_examples=40)  # writing each workbook costs more than reading it
@given(cell=st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=200)
       | st.sampled_from(["9" * 5000, "0 0/90 * * * ?", "America", ".nan", "1e999"]),
       column=st.sampled_from(["name", "email", "token_expiry_days", "allowed_ips", "comment", "type"]),
       row=st.integers(0, 1))
def test_workbook_reader(cell, column, row):
    document = valid_document()
    document["recipient"][row][column] = cell
    document["pipelines"] = [{"name": "p", "source_table": "a.b.c", "target_table": "sales.reporting.orders",
                              "schedule": cell, "timezone": cell}]
    parses_or_refuses(workbook_bytes(document_sheets(document)), "pack.xlsx")


@BOUNDED
@given(xml=st.binary(max_size=400) | YAML_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_workbook_archive_scan(xml):
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(VALID_WORKBOOK))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "xl/worksheets/sheet2.xml":
                data = data.replace(b"</sheetData>", xml + b"</sheetData>")
            target.writestr(entry.filename, data)
    parses_or_refuses(buffer.getvalue(), "pack.xlsx")


JSON_ALPHABET = st.sampled_from([*'[]{}:,"\\ 0123456789.eE+-', "\\u0000", "\\ud800", "\\udc00", "NaN",
                                 "Infinity", "true", "null", "\u00e9"])


@BOUNDED
@given(parts=st.lists(JSON_ALPHABET, max_size=300), repeat=st.integers(1, 5000))
def test_json_body_guard(parts, repeat):
    body = "".join(parts)
    for candidate in (body, body * repeat if len(body) < 4 else body):
        with contextlib.suppress(InvalidInput):
            check_json_body(candidate.encode("utf-8", "surrogatepass"))


@BOUNDED
@given(fields=st.lists(st.tuples(st.text(max_size=50), st.text(max_size=200)), max_size=5))
def test_form_field_guard(fields):
    with contextlib.suppress(InvalidInput):
        check_fields(fields, "form")


CRON_ALPHABET = st.sampled_from([*"0123456789*?/-,LW# ", "MON", "JAN", "99999", "9" * 5000])


@BOUNDED
@given(parts=st.lists(CRON_ALPHABET, max_size=40), zone=st.text(max_size=80))
def test_cron_and_time_zones(parts, zone):
    with contextlib.suppress(CronError):
        to_quartz("".join(parts))
    with contextlib.suppress(CronError):
        check_time_zone(zone)


@BOUNDED
@given(name=st.text(max_size=300))
def test_name_rules(name):
    for rule in (UnityCatalogName(), DataObjectName()):
        with contextlib.suppress(ValidationError):
            rule(name)
