"""`sharepack`: the requestor's tool to check, start and convert share pack files without the service.

Exit codes: 0 success (a valid pack), 1 the pack has errors, 2 the file cannot be used at all (missing,
unreadable, too large, not YAML or .xlsx) or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.errors import InvalidInput
from shared.provisioning.summary import plan_counts, plan_sentences
from shared.share_pack_file.issues import Issue
from shared.share_pack_file.json_schema import render_json_schema
from shared.share_pack_file.parse import DEFAULT_MAX_BYTES, ParsedSharePack, parse_share_pack
from shared.share_pack_file.remote import API_KEY_VARIABLE, API_URL_VARIABLE, RemoteValidationError, remote_dry_run
from shared.share_pack_file.sample import sample_share_pack
from shared.share_pack_file.write import to_excel, to_yaml

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNUSABLE = 2

TEMPLATE_HEADER = """\
# A share pack: who asks (metadata), who receives (recipient), what is shared (share).
# Check it with `sharepack validate FILE`; the JSON Schema for editors: `sharepack schema`.
"""


def main(argv: list[str] | None = None) -> int:
    """Run the `sharepack` command line; return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    return int(args.run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharepack", description="Check, start and convert share pack files.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("validate", help="check a share pack (YAML or .xlsx) and list every problem")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=argparse.SUPPRESS)
    check.add_argument(
        "--workspace",
        metavar="URL",
        help=f"also check it against this workspace through the service (${API_URL_VARIABLE}, ${API_KEY_VARIABLE})",
    )
    check.set_defaults(run=_validate)

    template = commands.add_parser("template", help="write a filled example share pack to start from")
    template.add_argument("--format", choices=("yaml", "xlsx"), default="yaml")
    template.add_argument("out", type=Path)
    template.set_defaults(run=_template)

    convert = commands.add_parser("convert", help="convert a valid share pack between YAML and .xlsx")
    convert.add_argument("source", type=Path)
    convert.add_argument("target", type=Path, help="the output; its suffix (.yaml, .yml, .xlsx) picks the format")
    convert.set_defaults(run=_convert)

    schema = commands.add_parser("schema", help="print or write the JSON Schema of the share pack format")
    schema.add_argument("out", type=Path, nargs="?")
    schema.set_defaults(run=_schema)
    return parser


def _validate(args: argparse.Namespace) -> int:
    result = _read(args.file, args.max_bytes, as_json=args.json)
    if result is None:
        return EXIT_UNUSABLE
    if args.workspace and result.is_valid:
        return _validate_remotely(args)
    if args.json:
        print(json.dumps(_result_json(args.file, result), indent=2))
    else:
        for issue in result.errors:
            print(f"error: {issue}")
        for issue in result.warnings:
            print(f"warning: {issue}")
        print(f"{args.file}: {_summary(result)}")
    return EXIT_VALID if result.is_valid else EXIT_INVALID


def _validate_remotely(args: argparse.Namespace) -> int:
    """The service's dry run: the file checked against the workspace, and the plan it would carry out."""
    try:
        answer = remote_dry_run(args.file, workspace_url=args.workspace)
    except (RemoteValidationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        for issue in answer.get("ValidationErrors", []):
            print(f"error: {Issue(issue['path'], issue['message'])}")
        for issue in answer.get("ValidationWarnings", []):
            print(f"warning: {Issue(issue['path'], issue['message'])}")
        print(f"{args.file} on {args.workspace}: {answer.get('Message')}")
        print(f"plan: {plan_counts(answer.get('Plan')) or 'nothing to change'}")
        for sentence in plan_sentences(answer.get("Plan")):
            print(f"  - {sentence}")
    return EXIT_VALID if answer.get("Valid") else EXIT_INVALID


def _template(args: argparse.Namespace) -> int:
    pack = sample_share_pack()
    if args.format == "xlsx":
        args.out.write_bytes(to_excel(pack))
    else:
        args.out.write_text(TEMPLATE_HEADER + to_yaml(pack), encoding="utf-8")
    print(f"wrote {args.out}")
    return EXIT_VALID


def _convert(args: argparse.Namespace) -> int:
    suffix = args.target.suffix.lower()
    if suffix not in (".yaml", ".yml", ".xlsx"):
        print(f"error: cannot write '{suffix}' files; use .yaml, .yml or .xlsx", file=sys.stderr)
        return EXIT_UNUSABLE
    result = _read(args.source, DEFAULT_MAX_BYTES, as_json=False)
    if result is None:
        return EXIT_UNUSABLE
    if result.share_pack is None:
        for issue in result.errors:
            print(f"error: {issue}", file=sys.stderr)
        print(f"{args.source}: not converted, fix the errors first", file=sys.stderr)
        return EXIT_INVALID
    if suffix == ".xlsx":
        args.target.write_bytes(to_excel(result.share_pack))
    else:
        args.target.write_text(to_yaml(result.share_pack), encoding="utf-8")
    print(f"wrote {args.target}")
    return EXIT_VALID


def _schema(args: argparse.Namespace) -> int:
    text = render_json_schema()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return EXIT_VALID


def _read(path: Path, max_bytes: int, *, as_json: bool) -> ParsedSharePack | None:
    """Parse a file, or report why it cannot be used at all and return None."""
    try:
        return parse_share_pack(path.read_bytes(), filename=path.name, max_bytes=max_bytes)
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
    except InvalidInput as exc:  # PayloadTooLarge, UnsupportedMediaType
        message = exc.message
    if as_json:
        issue = Issue(path="", message=message)
        print(json.dumps({"file": str(path), "valid": False, "file_format": None, "errors": [issue.to_dict()],
                          "warnings": []}, indent=2))
    else:
        print(f"error: {path}: {message}", file=sys.stderr)
    return None


def _result_json(path: Path, result: ParsedSharePack) -> dict[str, Any]:
    return {
        "file": str(path),
        "valid": result.is_valid,
        "file_format": result.file_format,
        "errors": [issue.to_dict() for issue in result.errors],
        "warnings": [issue.to_dict() for issue in result.warnings],
    }


def _summary(result: ParsedSharePack) -> str:
    counts = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    pack = result.share_pack
    if pack is None:
        return f"invalid ({counts})"
    objects = sum(len(share.data_objects) for share in pack.shares)
    return (f"valid {result.file_format} share pack: {len(pack.recipients)} recipient(s), {len(pack.shares)} "
            f"share(s), {objects} data object(s); {counts}")
