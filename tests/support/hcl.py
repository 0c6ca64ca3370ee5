"""Terraform files parsed once per text: python-hcl2 (a lark grammar) takes ~0.2 s for deploy/azure, and the
deployment checks parse it again for every test, most of them on unchanged copies of the same files."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import hcl2


def load_hcl(path: Path) -> dict[str, Any]:
    """`hcl2.load` of `path`: a fresh copy each call (callers may change it), parsed only for a text not seen."""
    return copy.deepcopy(_parse(path.read_text()))


@cache
def _parse(text: str) -> dict[str, Any]:
    return hcl2.loads(text)
