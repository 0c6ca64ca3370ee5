"""The `sharepack` command: exit codes 0 valid, 1 invalid, 2 unusable; output for people and machines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shared.share_pack_file.cli import Progress, main
from tests.unit.share_pack_file.conftest import valid_document, yaml_bytes

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("sample_sharepack.*"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_validate_passes_the_committed_examples(example, capsys):
    assert main(["validate", str(example)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_exits_1_with_located_errors(tmp_path, capsys):
    document = valid_document()
    document["recipient"][0]["email"] = "nope"
    path = tmp_path / "pack.yaml"
    path.write_bytes(yaml_bytes(document))

    assert main(["validate", str(path)]) == 1
    assert "error: recipient[0].email (line 9, column 3): email: Not a valid email address." in (
        capsys.readouterr().out
    )


def test_validate_json_lists_errors_and_warnings(tmp_path, capsys):
    document = valid_document()
    document["share"][1]["recipients"] = ["nobody"]
    path = tmp_path / "pack.yaml"
    path.write_bytes(yaml_bytes(document))

    assert main(["validate", "--json", str(path)]) == 1
    output = json.loads(capsys.readouterr().out)
    assert output["valid"] is False
    assert output["file_format"] == "yaml"
    assert output["errors"][0]["path"] == "share[1].recipients[0]"
    assert set(output["errors"][0]) == {"path", "message", "location"}


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        ("missing.yaml", None, []),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00", []),
        ("notes.txt", b"metadata: {}\n", []),
        ("big.yaml", b"#" * 200, ["--max-bytes", "100"]),
    ],
)
def test_validate_exits_2_for_unusable_files(tmp_path, capsys, name, content, extra):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    assert main(["validate", "--json", *extra, str(path)]) == 2
    assert json.loads(capsys.readouterr().out)["valid"] is False


def test_template_and_convert_round_trip(tmp_path):
    yaml_path, excel_path, back = tmp_path / "t.yaml", tmp_path / "t.xlsx", tmp_path / "back.yaml"

    assert main(["template", "--format", "yaml", str(yaml_path)]) == 0
    assert main(["template", "--format", "xlsx", str(excel_path)]) == 0
    assert main(["convert", str(excel_path), str(back)]) == 0
    assert main(["validate", str(back)]) == 0
    assert back.read_text() in yaml_path.read_text()


def test_convert_refuses_an_invalid_pack_and_an_unknown_target(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: {}\n")

    assert main(["convert", str(broken), str(tmp_path / "out.xlsx")]) == 1
    assert main(["convert", str(broken), str(tmp_path / "out.csv")]) == 2


def test_schema_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Share pack"


def test_usage_errors_exit_2():
    assert main(["validate"]) == 2


class Terminal(io.StringIO):
    """What a terminal is to the CLI: a stream that says it is one."""

    def isatty(self) -> bool:
        return True


def test_progress_is_a_redrawn_bar_on_a_terminal_and_lines_otherwise():
    statuses = [
        {"Status": "PENDING_APPROVAL", "ProvisioningStatus": None},
        {"Status": "IN_PROGRESS", "ProvisioningStatus": "Step 2/8: Resolving project 'Sales'"},
        {"Status": "IN_PROGRESS", "ProvisioningStatus": "Step 2/8: Resolving project 'Sales'"},
        {"Status": "COMPLETED", "ProvisioningStatus": "Step 8/8: Completed"},
    ]
    terminal, pipe = Terminal(), io.StringIO()
    for out in (terminal, pipe):
        progress = Progress(out)
        for status in statuses:
            progress.show(status)
        progress.close()

    assert pipe.getvalue().splitlines() == [
        "PENDING_APPROVAL: waiting for an approver of the project",
        "[######..................] Step 2/8: Resolving project 'Sales' (IN_PROGRESS)",
        "[########################] Step 8/8: Completed (COMPLETED)",
    ]
    drawn = terminal.getvalue()
    assert drawn.count("\r\x1b[2K") == 3 and drawn.endswith("(COMPLETED)\n") and drawn.count("\n") == 1


@pytest.mark.parametrize("command", [["template"], ["schema"], ["convert"]])
def test_every_command_prints_one_json_object(tmp_path, capsys, command):
    source = tmp_path / "in.yaml"
    main(["template", str(source)])
    capsys.readouterr()
    args = {"template": ["template", "--json", str(tmp_path / "t.xlsx"), "--format", "xlsx"],
            "schema": ["schema", "--json"],
            "convert": ["convert", "--json", str(source), str(tmp_path / "out.xlsx")]}[command[0]]

    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["command"] == command[0]
    expected = {"template": {"command", "format", "out"}, "schema": {"command", "out", "schema"},
                "convert": {"command", "source", "target", "written", "errors", "warnings"}}[command[0]]
    assert set(printed) == expected
