"""Rules a reader can check with grep, kept by a test: one writer of pack versions and outbox rows, few
places that build an audit row, short signatures, and comments that stand alone.

A pack moves (a new version, its audit row, its request row, its outbox message) only through the `Workflow`
(shared/use_cases/transitions.py with its four_eyes.py, publishing.py and versions.py), so approval, request ids and
trace context cannot be forgotten by a second copy. The provisioning job records its own progress on the
pack (its `Recorder`) but never queues one.

A function that takes more than seven parameters asks its callers to keep too much in their heads; group them
in a small frozen dataclass instead. A comment that cites a private document ("reference §") or a tracker
number means nothing to a reader of the repository: it says the fact itself, or links a public page.
"""

from __future__ import annotations

import ast
import functools
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
    listing = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]  # new files count before a commit
    out = subprocess.run(listing, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def code_modules() -> list[Path]:
    """Every Python module of the deployables and the development servers, wherever the tree puts them."""
    return [
        path
        for path in tracked_files()
        if path.suffix == ".py" and not NOT_CODE & set(path.relative_to(ROOT).parts)
    ]


@functools.cache
def parsed_code_modules() -> tuple[tuple[Path, ast.Module], ...]:
    """Each code module with its syntax tree, parsed once for all the rules here (~1 s a pass)."""
    return tuple((path, ast.parse(path.read_text(), filename=str(path))) for path in code_modules())


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in {"self", "cls"}:
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


#: The workflow's modules, the only ones that move a pack: (folder, file name) wherever the folder lives.
WORKFLOW = {("use_cases", "transitions.py"), ("use_cases", "four_eyes.py"), ("use_cases", "publishing.py"),
            ("use_cases", "versions.py")}
HISTORY_WRITES = {"create", "change", "upsert", "delete_current"}
MAX_AUDIT_BUILDERS = 3


def _is_pack_history(node: ast.AST) -> bool:
    """``History(session, SharePack)``."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "History"
        and len(node.args) == 2 and isinstance(node.args[1], ast.Name) and node.args[1].id == "SharePack"
    )


def writes(tree: ast.Module) -> set[str]:
    """What a module writes of a pack's moves: ``pack version`` (through its history), ``outbox row`` and
    ``queue message`` (a message written in the caller's transaction)."""
    bound = {
        target.id
        for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_pack_history(node.value)
        for target in node.targets if isinstance(target, ast.Name)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in HISTORY_WRITES and (
            _is_pack_history(func.value) or (isinstance(func.value, ast.Name) and func.value.id in bound)
        ):
            found.add("pack version")
        if isinstance(func, ast.Name) and func.id in {"add_to_outbox", "OutboxMessage"}:
            found.add("outbox row")
        if isinstance(func, ast.Attribute) and func.attr == "send_within":
            found.add("queue message")
    return found


def _defines(tree: ast.Module, name: str) -> bool:
    return any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body)


def test_only_the_workflow_moves_a_pack_and_only_the_job_records_its_progress():
    writers = {}
    for path, tree in parsed_code_modules():
        if found := writes(tree):
            writers[path] = (found, tree)
    in_workflow = {path for path in writers if (path.parent.name, path.name) in WORKFLOW}
    detected = set().union(*(writers[p][0] for p in in_workflow))
    assert {"pack version", "outbox row", "queue message"} <= detected, "detection broke"
    strays = [
        f"{path.relative_to(ROOT)} writes {', '.join(sorted(found))}"
        for path, (found, tree) in writers.items()
        if path not in in_workflow
        # the queue's own module defines the outbox row; the job's Recorder writes progress, never a message
        and not (found == {"outbox row"} and path.name == "outbox.py" and path.parent.name == "queue")
        and not (found == {"pack version"} and _defines(tree, "Recorder"))
    ]
    assert not strays, "move packs through the Workflow:\n" + "\n".join(strays)


def test_audit_rows_are_built_in_few_places():
    builders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in parsed_code_modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "AuditEntry"
    ]
    where = "\n".join(builders)
    assert 1 <= len(builders) <= MAX_AUDIT_BUILDERS, f"build audit rows through shared.models.history.audit:\n{where}"


def test_no_function_takes_more_than_seven_parameters():
    modules = parsed_code_modules()
    assert {p.relative_to(ROOT).parts[-1] for p, _ in modules} >= {"consumer.py", "wsgi.py"}, "the walk missed code"
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({parameter_count(node)})"
        for path, tree in modules
        for node in ast.walk(tree)
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


def test_the_writer_detection_sees_both_spellings():
    direct = ast.parse("History(session, SharePack).change(pid, status='X')")
    bound = ast.parse("packs = History(session, SharePack)\npacks.create(x=1)\nadd_to_outbox(session, message=m)")
    read_only = ast.parse("packs = History(session, SharePack)\npacks.current(pid)")
    assert writes(direct) == {"pack version"}
    assert writes(bound) == {"pack version", "outbox row"}
    assert writes(read_only) == set()
