"""Rules a reader can check with grep, kept by a test: short signatures and comments that stand alone.

A function that takes more than seven parameters asks its callers to keep too much in their heads; group them
in a small frozen dataclass instead. A comment that cites a private document ("reference §") or a tracker
number means nothing to a reader of the repository: it says the fact itself, or links a public page.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_PARAMETERS = 7
#: Folders that hold no product or development-server code: tests, benchmarks, migrations, generators.
NOT_CODE = {"tests", "bench", "alembic", "docs", "build", "node_modules", ".venv", ".local"}
#: A private document's section ("reference §4") or a tracker number ("issue 9", "issue #9", "(#12)").
#: RFC sections ("RFC 7636 §4.2") and other repositories' threads ("owner/repo#656") are public and stay.
PRIVATE_CITATION = re.compile(r"reference §|\bissues? #?\d+|(?<![\w/-])\(#\d+\)", re.IGNORECASE)
TEXT_SUFFIXES = {".py", ".md", ".tf", ".yml", ".yaml", ".toml"}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def code_modules() -> list[Path]:
    """Every Python module of the deployables and the development servers, wherever the tree puts them."""
    return [
        path
        for path in tracked_files()
        if path.suffix == ".py" and not NOT_CODE & set(path.relative_to(ROOT).parts)
    ]


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in {"self", "cls"}:
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def test_no_function_takes_more_than_seven_parameters():
    modules = code_modules()
    assert {p.relative_to(ROOT).parts[-1] for p in modules} >= {"consumer.py", "wsgi.py"}, "the walk missed code"
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({parameter_count(node)})"
        for path in modules
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and parameter_count(node) > MAX_PARAMETERS
    ]
    assert not too_long, "group these parameters in a dataclass:\n" + "\n".join(too_long)


def test_the_parameter_count_ignores_self_and_counts_keywords():
    tree = ast.parse("class C:\n    def f(self, a, /, b, *rest, c, **more): ...")
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    assert parameter_count(function) == 5


def test_no_comment_cites_a_private_document_or_an_issue_number():
    citing = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked_files()
        if path.suffix in TEXT_SUFFIXES
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if PRIVATE_CITATION.search(line) and path != Path(__file__).resolve()
    ]
    assert not citing, "say the fact itself, or link a public page:\n" + "\n".join(citing)


def test_the_citation_pattern_tells_private_from_public():
    for private in ("(reference §1.3)", "rules of issue 9", "see issue #12", "fixed (#34)"):
        assert PRIVATE_CITATION.search(private), private
    for public in ("RFC 7636 §4.2", "microsoft-authentication-library-for-python#656", "issues and pull requests"):
        assert not PRIVATE_CITATION.search(public), public
