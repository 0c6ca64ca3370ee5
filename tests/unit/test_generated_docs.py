"""The settings and format references are generated from the code and kept current.

docs/settings.md and docs/share-pack-format.md are what `python docs/generate.py` writes now: a setting or
a format field added, renamed or re-described without regenerating them fails here, and so does a setting
nobody described.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from shared.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_reference_is_current_and_describes_every_setting():
    docs = generator()
    assert (ROOT / "docs" / "settings.md").read_text() == docs.settings_markdown(), "run: python docs/generate.py"
    descriptions = docs.setting_descriptions()
    undescribed = [f.name for f in dataclasses.fields(Settings) if not descriptions.get(f.name)]
    assert undescribed == [], "describe these settings in a comment above them in shared/platform/settings.py"


def test_the_format_reference_is_current():
    docs = generator()
    assert (ROOT / "docs" / "share-pack-format.md").read_text() == docs.format_markdown(), \
        "run: python docs/generate.py"
