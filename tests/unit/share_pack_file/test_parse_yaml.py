"""YAML specifics: where issues are, and hostile or broken files refused as issues, never crashes."""

from __future__ import annotations

import time

import pytest

from shared.platform.errors import PayloadTooLarge, UnsupportedMediaType
from shared.share_pack_file import Strategy, parse_share_pack
from tests.unit.share_pack_file.conftest import messages, valid_document, yaml_bytes

PACK = b"""\
metadata:
  requestor: jane.doe@example.com
  project_name: Partner analytics
  business_line: Finance
  strategy: new
recipient:
  - name: acme
    type: D2O
    email: not-an-email
  - name: globex
    type: D2D
    metastore_id: aws:us-east-1:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
share:
  - name: sales
    recipients: [acme, globex, initech]
    data_objects:
      - sales.reporting.orders
"""


def parse(text: str | bytes, filename: str = "pack.yaml"):
    return parse_share_pack(text.encode() if isinstance(text, str) else text, filename=filename)


def test_issues_carry_line_and_column():
    result = parse(PACK)

    by_path = {issue.path: issue for issue in result.errors}
    assert by_path["recipient[0].email"].location == {"line": 9, "column": 5}
    assert by_path["share[0].recipients[2]"].location == {"line": 15, "column": 32}
    assert by_path["share[0].recipients[2]"].to_dict() == {
        "path": "share[0].recipients[2]",
        "message": "Recipient 'initech' is not declared in this share pack's recipient list.",
        "location": {"line": 15, "column": 32},
    }


def test_a_missing_field_points_at_its_item():
    result = parse(PACK.replace(b"    email: not-an-email\n", b""))

    assert result.errors[0].path == "recipient[0].email"
    assert result.errors[0].location == {"line": 7, "column": 5}


def test_an_alias_is_located_where_it_is_written():
    result = parse(PACK.replace(b"email: not-an-email", b"email: ops@acme.example.com\n    recipient_ips: ['::1']"))

    assert messages(result.errors)["recipient[0].allowed_ips[0]"].endswith("accept IPv4 only.")
    assert result.errors[0].location == {"line": 10, "column": 21}
    assert result.warnings[0].path == "recipient[0].recipient_ips"
    assert result.warnings[0].location == {"line": 10, "column": 5}


def test_syntax_errors_are_issues_with_a_location():
    result = parse("metadata:\n  requestor: [unclosed\nrecipient: []\n")

    assert result.spec is None
    assert result.errors[0].message.startswith("YAML syntax error")
    assert result.errors[0].location["line"] == 3


def test_unknown_top_level_key_is_an_error_and_plural_sections_are_aliases():
    document = valid_document()
    document["recipients"] = document.pop("recipient")
    document["shrae"] = []

    result = parse(yaml_bytes(document))

    assert "'shrae' is not a share pack field (did you mean 'share'?)" in messages(result.errors)["shrae"]
    assert "'recipients' is an old name for 'recipient'" in messages(result.warnings)["recipients"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"# only a comment\n", "only comments"),
        (b"- a\n- b\n", "holds a list"),
        (b"just some words\n", "holds plain text"),
        (b"42\n", "a single value (42)"),
        (b"\xef\xbb\xbf- a\n", "holds a list"),
        (b"metadata:\n  requestor: caf\xe9\n", "not UTF-8 text (byte 0xe9 at line 2)"),
        ("metadata: {}\n".encode("utf-16"), "UTF-16"),
        (b"metadata: {}\n---\nmetadata: {}\n", "single document"),
        (b"metadata:\n  strategy: NEW\n  strategy: DELETE\n", "duplicate key"),
        (b"metadata: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "!!python/object/apply:os.system"),
        (b"metadata: !!python/name:builtins.print\n", "is not allowed"),
        (b"metadata: !custom {}\n", "is not allowed"),
        (b"a: &a [*a]\n", "recursive"),
    ],
)
def test_broken_or_hostile_yaml_is_an_error_not_an_exception(content, fragment):
    result = parse(content)

    assert result.spec is None
    assert result.file_format == "yaml"
    assert fragment in " ".join(issue.message for issue in result.errors)


def test_python_tags_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    parse(f"metadata: !!python/object/apply:os.system ['touch {marker}']\n")

    assert not marker.exists()


def test_billion_laughs_is_refused_quickly_without_expanding():
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()

    result = parse("\n".join(lines) + "\n")

    assert time.perf_counter() - started < 1
    assert "alias bomb" in result.errors[0].message


def test_merge_key_bomb_is_refused():
    lines = ["a0: &a0 {x: 1, y: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 10)}]}}" for i in range(1, 9)]

    result = parse("\n".join(lines) + "\n")

    assert "alias bomb" in result.errors[0].message


def test_modest_aliases_are_fine():
    text = yaml_bytes(valid_document()).decode()
    text = text.replace("- name: Sales\n  recipients:", "- name: Sales\n  recipients: &everyone")
    text = text.replace("- name: finance\n  recipients:\n  - globex", "- name: finance\n  recipients: *everyone")

    result = parse(text)

    assert result.is_valid, result.errors
    assert result.spec.shares[1].recipients == ("acme", "globex")


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 100_000 + "]" * 100_000 + "\n", "".join(" " * depth + "a:\n" for depth in range(3000))],
)
def test_absurd_nesting_is_refused_before_the_c_parser_sees_it(text):
    result = parse(text)

    assert "never" in result.errors[0].message


def test_size_limit_is_checked_before_parsing():
    with pytest.raises(PayloadTooLarge):
        parse_share_pack(b"x" * 101, filename="pack.yaml", max_bytes=100)


def test_the_default_size_limit_is_ten_megabytes():
    with pytest.raises(PayloadTooLarge):
        parse_share_pack(b"#" * (10 * 1024 * 1024 + 1), filename="pack.yaml")


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "pack.yaml"),
        (b"metadata:\n  requestor: jane.doe@example.com\n", "notes.txt"),
        (b"%PDF-1.7\n", "pack.pdf"),
        (b"\x00\x01\x02binary", "pack.yml"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "pack.xls"),
    ],
)
def test_files_that_are_not_yaml_or_xlsx_are_unsupported(content, filename):
    with pytest.raises(UnsupportedMediaType):
        parse_share_pack(content, filename=filename)


def test_yaml_1_2_core_scalars():
    document = valid_document()
    document["metadata"]["description"] = "2024-01-01"
    text = yaml_bytes(document).decode().replace("'2024-01-01'", "2024-01-01").replace("strategy: NEW", "strategy: new")
    text = text.replace("project_name: Partner analytics", "project_name: 2024")

    pack = parse(text).spec

    assert pack.metadata.description == "2024-01-01"
    assert pack.metadata.project_name == "2024"
    assert pack.metadata.strategy is Strategy.NEW


def test_concurrent_parses_leave_the_garbage_collector_as_they_found_it():
    """The collector is process-wide: overlapping parses in threads must not leave it switched off."""
    import gc
    import threading

    from shared.share_pack_file.parse import _CollectorPause

    pause = _CollectorPause()
    inside = threading.Barrier(2)
    leave_first = threading.Event()

    def first() -> None:
        with pause.around(_CollectorPause.MIN_BYTES):
            inside.wait()
            leave_first.wait()

    seen_while_second_inside: list[bool] = []

    def second() -> None:
        with pause.around(_CollectorPause.MIN_BYTES):
            inside.wait()
            leave_first.set()  # the first leaves while the second is still inside
            threads[0].join()
            seen_while_second_inside.append(gc.isenabled())

    assert gc.isenabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen_while_second_inside == [False]
    assert gc.isenabled()
