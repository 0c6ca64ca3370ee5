"""`sharepack export`: the service over real HTTP writes the pack; `sharepack validate --workspace` plans nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from dev.emulator.control import EmulatorControl
from shared.access.administration import (
    ObjectImport,
    RecipientImport,
    import_objects,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.share_pack_file.cli import EXIT_UNUSABLE, EXIT_VALID, main
from tests.integration.inventory.conftest import KEYS


@pytest.fixture
def adopted(session_factory, emulator: EmulatorControl, estate) -> None:
    admin = Access(Principal.from_api_key("tester", admins=frozenset({"tester"})), frozenset())
    import_objects(
        session_factory,
        admin,
        ObjectImport(
            business_line="Finance",
            project_name="Adopters",
            workspace_url=emulator.url,
            recipients=[RecipientImport("acme", "D2O"), RecipientImport("fabrikam", "D2O"),
                        RecipientImport("globex", "D2D")],
            shares=["sales", "ledger"],
        ),
    )


def run_cli(args: list[str], served_api: str, who: str, monkeypatch, capsys) -> tuple[int, dict]:
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", KEYS[who])
    code = main([*args, "--json"])
    lines = capsys.readouterr().out.splitlines()
    return code, json.loads("\n".join(lines[lines.index("{"):]))


@pytest.mark.parametrize("fmt", ["yaml", "xlsx"])
def test_an_exported_pack_validates_against_the_workspace_with_nothing_to_do(
    served_api, adopted, emulator, tmp_path: Path, monkeypatch, capsys, fmt
):
    out = tmp_path / f"estate.{fmt}"

    code, exported = run_cli(["export", "--workspace", emulator.url, "--share", "sales", "--share", "ledger",
                              "--format", fmt, "--out", str(out)], served_api, "ann@example.com", monkeypatch, capsys)
    checked_code, checked = run_cli(["validate", str(out), "--workspace", emulator.url], served_api,
                                    "ann@example.com", monkeypatch, capsys)

    assert code == EXIT_VALID and exported["written"] is True, exported
    assert any("acme" in w for w in exported["warnings"])
    if fmt == "xlsx":
        assert load_workbook(out).sheetnames[:4] == ["metadata", "recipient", "share", "data_objects"]
    assert checked_code == EXIT_VALID, checked
    assert checked["valid"] is True and checked["plan"] is not None
    assert all(changes == [] for changes in checked["plan"]["steps"].values()), checked["plan"]


def test_a_rival_cannot_export_and_nothing_is_written(served_api, adopted, emulator, tmp_path, monkeypatch, capsys):
    out = tmp_path / "stolen.yaml"

    code, report = run_cli(["export", "--workspace", emulator.url, "--share", "sales", "--out", str(out)],
                           served_api, "rita@example.com", monkeypatch, capsys)

    assert code == EXIT_UNUSABLE and report["written"] is False
    assert "404" in report["message"] and not out.exists()


def test_export_without_names_is_a_usage_error(served_api, estate, emulator, tmp_path, monkeypatch, capsys):
    code, report = run_cli(["export", "--workspace", emulator.url], served_api, "tester", monkeypatch, capsys)

    assert code == EXIT_UNUSABLE and "--share" in report["message"]
