"""`sharepack`: the requestor's tool to check, start and convert share pack files, and to submit one to the
service and follow it to its end.

Exit codes: 0 success (a valid pack; for ``submit --follow`` only a COMPLETED pack), 1 the pack has errors or
did not complete (refused by the service, FAILED, DECLINED, VALIDATION_FAILED), 2 the file cannot be used at
all (missing, unreadable, too large, not YAML or .xlsx), the command line is wrong or the service cannot be
asked, 3 ``submit --follow`` or ``follow`` stopped before a final status (``--timeout``,
``--no-wait-approval`` on a pack waiting for an approver, or Ctrl-C: the pack goes on, ``sharepack follow ID``
picks it up again).

``submit`` without ``--follow`` exits 0 once the service accepted the pack (queued, or waiting for an
approver). With ``--follow`` it polls the pack's status until it is final and shows each step ("Step k/8:
...") as a progress bar on a terminal, as plain lines otherwise; a pack waiting for an approver is waited
for (the approval is a person's decision, it may take a while: bound it with ``--timeout``). Polls the
service does not answer (a restart, a 503) are tried again, up to `MAX_MISSED_POLLS` in a row.

With ``--json`` every command prints one JSON object on stdout (progress goes to stderr), one shape per
command, whatever the outcome:

* validate: ``{"command", "file", "valid", "file_format", "workspace", "message", "errors", "warnings",
  "plan"}`` — ``workspace``, ``message`` and ``plan`` are null unless ``--workspace`` asked the service.
* submit: ``{"command", "file", "workspace", "accepted", "share_pack_id", "share_pack_name", "status",
  "provisioning_status", "error_message", "message", "errors", "warnings"}`` — ``status`` is the last one seen
  (the final one with ``--follow``); ``errors`` are the file's or the service's refusal's, ``message`` the
  service's answer or why it could not be asked.
* follow: the shape of submit, with ``file`` null.
* convert: ``{"command", "source", "target", "written", "errors", "warnings"}``.
* template: ``{"command", "format", "out"}``.
* export: ``{"command", "workspace", "format", "out", "written", "message", "warnings"}`` — ``warnings`` name
  what the file does not carry (objects the format cannot express, contacts Databricks does not keep).
* schema: ``{"command", "out", "schema"}`` — ``schema`` is the JSON Schema itself when ``out`` is null.

Errors and warnings are ``{"path", "message", "location"}`` everywhere, as the API gives them.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from shared.platform.errors import InvalidInput
from shared.provisioning.summary import plan_counts, plan_sentences
from shared.share_pack_file.issues import Issue
from shared.share_pack_file.json_schema import render_json_schema
from shared.share_pack_file.parse import DEFAULT_MAX_BYTES, ParsedSharePack, parse_share_pack
from shared.share_pack_file.remote import API_KEY_VARIABLE, API_URL_VARIABLE, RemoteError, Service, remote_dry_run
from shared.share_pack_file.sample import sample_share_pack
from shared.share_pack_file.write import to_excel, to_yaml

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNUSABLE = 2
EXIT_NOT_FINAL = 3

#: The statuses a pack does not leave by itself; only COMPLETED is a success.
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "DECLINED", "VALIDATION_FAILED"})
PENDING_APPROVAL = "PENDING_APPROVAL"
#: Polls in a row that may go unanswered (service restarting, 503) before `--follow` gives up.
MAX_MISSED_POLLS = 10
_STEP = re.compile(r"Step (\d+)/(\d+)")
_BAR_WIDTH = 24

TEMPLATE_HEADER = """\
# A share pack: who asks (metadata), who receives (recipient), what is shared (share).
# Check it with `sharepack validate FILE`; the JSON Schema for editors: `sharepack schema`.
"""


def main(argv: list[str] | None = None) -> int:
    """Run the `sharepack` command line; return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help and --version
        return int(exc.code or 0)
    return int(args.run(args))


def version() -> str:
    """The installed distribution's version (``unknown`` when run from a source tree that is not installed)."""
    try:
        return metadata.version("sharepack-workflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharepack", description="Check, start, follow and convert share pack files."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    service = f"through the service (${API_URL_VARIABLE}, ${API_KEY_VARIABLE})"

    check = commands.add_parser("validate", help="check a share pack (YAML or .xlsx) and list every problem")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=argparse.SUPPRESS)
    check.add_argument("--workspace", metavar="URL", help=f"also check it against this workspace {service}")
    check.set_defaults(run=_validate)

    submit = commands.add_parser("submit", help=f"upload a share pack {service}; --follow shows its progress")
    submit.add_argument("file", type=Path)
    submit.add_argument("--workspace", metavar="URL", required=True, help="the workspace to provision")
    submit.add_argument("--follow", action="store_true", help="wait for the final status, showing each step")
    _follow_options(submit)
    submit.set_defaults(run=_submit)

    follow = commands.add_parser("follow", help="follow a submitted share pack to its final status")
    follow.add_argument("share_pack_id", metavar="SHARE_PACK_ID")
    follow.add_argument("--workspace", metavar="URL", required=True, help="the pack's workspace")
    _follow_options(follow)
    follow.set_defaults(run=_follow_command)

    template = commands.add_parser("template", help="write a filled example share pack to start from")
    template.add_argument("--format", choices=("yaml", "xlsx"), default="yaml")
    template.add_argument("--json", action="store_true", help="print the result as JSON")
    template.add_argument("out", type=Path)
    template.set_defaults(run=_template)

    convert = commands.add_parser("convert", help="convert a valid share pack between YAML and .xlsx")
    convert.add_argument("source", type=Path)
    convert.add_argument("target", type=Path, help="the output; its suffix (.yaml, .yml, .xlsx) picks the format")
    convert.add_argument("--json", action="store_true", help="print the result as JSON")
    convert.set_defaults(run=_convert)

    export = commands.add_parser("export", help=f"write a share pack describing existing shares and recipients as "
                                 f"they are {service}")
    export.add_argument("--workspace", metavar="URL", required=True, help="the workspace that holds them")
    export.add_argument("--share", dest="shares", action="append", default=[], metavar="NAME",
                        help="a share to export (repeat for more); its grantees come with it")
    export.add_argument("--recipient", dest="recipients", action="append", default=[], metavar="NAME",
                        help="a recipient to export (repeat for more)")
    export.add_argument("--format", choices=("yaml", "xlsx"), default="yaml")
    export.add_argument("--out", type=Path, help="the file to write (default: the name the service gives)")
    export.add_argument("--json", action="store_true", help="print the result as JSON")
    export.set_defaults(run=_export)

    schema = commands.add_parser("schema", help="print or write the JSON Schema of the share pack format")
    schema.add_argument("out", type=Path, nargs="?")
    schema.add_argument("--json", action="store_true", help="print the result as JSON")
    schema.set_defaults(run=_schema)
    return parser


def _follow_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-wait-approval", dest="wait_approval", action="store_false",
        help="stop (exit 3) rather than wait while the pack waits for an approver",
    )
    command.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                         help="give up waiting after this long (exit 3); default 3600")
    command.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help=argparse.SUPPRESS)
    command.add_argument("--json", action="store_true", help="print the result as JSON")


def _print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2))


# -- validate --------------------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    result, problem = _read(args.file, args.max_bytes)
    if result is None:
        if args.json:
            _print_json(_validate_json(args, valid=False, file_format=None, errors=[problem.to_dict()]))
        else:
            print(f"error: {args.file}: {problem.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.workspace and result.is_valid:
        return _validate_remotely(args, result)
    if args.json:
        _print_json(_validate_json(args, valid=result.is_valid, file_format=result.file_format,
                                   errors=[i.to_dict() for i in result.errors],
                                   warnings=[i.to_dict() for i in result.warnings]))
    else:
        for issue in result.errors:
            print(f"error: {issue}")
        for issue in result.warnings:
            print(f"warning: {issue}")
        print(f"{args.file}: {_summary(result)}")
    return EXIT_VALID if result.is_valid else EXIT_INVALID


def _validate_remotely(args: argparse.Namespace, result: ParsedSharePack) -> int:
    """The service's dry run: the file checked against the workspace, and the plan it would carry out."""
    try:
        answer = remote_dry_run(args.file, workspace_url=args.workspace)
    except (RemoteError, OSError) as exc:
        if args.json:
            _print_json(_validate_json(args, valid=False, file_format=result.file_format,
                                       errors=[Issue("", str(exc)).to_dict()]))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        _print_json(_validate_json(
            args, valid=bool(answer.get("Valid")), file_format=result.file_format, message=answer.get("Message"),
            errors=answer.get("ValidationErrors") or [], warnings=answer.get("ValidationWarnings") or [],
            plan=answer.get("Plan"),
        ))
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


def _validate_json(
    args: argparse.Namespace,
    *,
    valid: bool,
    file_format: str | None,
    errors: list[dict[str, Any]],
    warnings: list[dict[str, Any]] | None = None,
    message: str | None = None,
    plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "command": "validate",
        "file": str(args.file),
        "valid": valid,
        "file_format": file_format,
        "workspace": args.workspace,
        "message": message,
        "errors": errors,
        "warnings": warnings or [],
        "plan": plan,
    }


def _print_issues(errors: list[dict[str, Any]] | None, warnings: list[dict[str, Any]] | None, out: TextIO) -> None:
    for issue in errors or ():
        print(f"error: {Issue(issue['path'], issue['message'], issue.get('location') or {})}", file=out)
    for issue in warnings or ():
        print(f"warning: {Issue(issue['path'], issue['message'], issue.get('location') or {})}", file=out)


# -- submit ----------------------------------------------------------------------------------------------


def _submit(args: argparse.Namespace) -> int:
    """Upload the file; with ``--follow``, poll its status until it is final (or the wait is over)."""
    report = _report("submit", args.file, args.workspace)
    out = sys.stderr if args.json else sys.stdout
    result, problem = _read(args.file, DEFAULT_MAX_BYTES)
    if result is None:
        return _finish(args, report, EXIT_UNUSABLE, errors=[problem.to_dict()])
    if not result.is_valid:  # the service would refuse it for the same reasons: say so without a round trip
        errors = [i.to_dict() for i in result.errors]
        return _finish(args, report, EXIT_INVALID, errors=errors, warnings=[i.to_dict() for i in result.warnings],
                          message="the file has errors")
    service = Service.from_env()
    try:
        upload = service.upload(args.file, workspace_url=args.workspace)
    except (RemoteError, OSError) as exc:
        return _finish(args, report, EXIT_UNUSABLE, message=str(exc))
    report.update(accepted=upload.accepted, share_pack_id=upload.share_pack_id, status=upload.status,
                  share_pack_name=upload.share_pack_name, message=upload.message, errors=upload.errors,
                  warnings=upload.warnings)
    if not upload.accepted:
        return _finish(args, report, EXIT_INVALID)
    print(f"{args.file}: {upload.message} (SharePackId {upload.share_pack_id}, status {upload.status})", file=out)
    if not args.follow:
        return _finish(args, report, EXIT_VALID)
    return _follow_to_the_end(args, service, report, out)


def _follow_command(args: argparse.Namespace) -> int:
    """Follow a pack submitted earlier (or left with Ctrl-C) to its final status."""
    args.follow, args.file = True, None
    report = _report("follow", None, args.workspace)
    report.update(accepted=True, share_pack_id=args.share_pack_id)
    return _follow_to_the_end(args, Service.from_env(), report, sys.stderr if args.json else sys.stdout)


def _report(command: str, file: Path | None, workspace: str) -> dict[str, Any]:
    """The JSON shape of `submit` and `follow`, before anything happened."""
    return {
        "command": command, "file": str(file) if file else None, "workspace": workspace, "accepted": False,
        "share_pack_id": None, "share_pack_name": None, "status": None, "provisioning_status": None,
        "error_message": None, "message": None, "errors": [], "warnings": [],
    }


def _follow_to_the_end(args: argparse.Namespace, service: Service, report: dict[str, Any], out: TextIO) -> int:
    progress = Progress(out)
    try:
        final = _follow(service, report["share_pack_id"], args, progress.show)
    except RemoteError as exc:
        progress.close()
        return _finish(args, report, EXIT_UNUSABLE, message=str(exc))
    except KeyboardInterrupt:  # the pack goes on without us
        progress.close()
        return _finish(args, report, EXIT_NOT_FINAL,
                          message=f"stopped following; the pack goes on: sharepack follow {report['share_pack_id']}")
    progress.close()
    report.update(status=final.get("Status"), provisioning_status=final.get("ProvisioningStatus"),
                  error_message=final.get("ErrorMessage"), share_pack_name=final.get("SharePackName")
                  or report["share_pack_name"])
    status = final.get("Status")
    if status == "COMPLETED":
        code = EXIT_VALID
    elif status in FINAL_STATUSES:
        code = EXIT_INVALID
    else:
        code = EXIT_NOT_FINAL
    return _finish(args, report, code)


def _follow(
    service: Service, share_pack_id: str, args: argparse.Namespace, show: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Poll the pack's status every ``args.interval`` seconds; return the last one seen: final, pending
    approval (without ``wait_approval``), or whatever it was when ``args.timeout`` ran out."""
    deadline = time.monotonic() + args.timeout
    status: dict[str, Any] = {}
    misses = 0
    while True:
        try:
            status = service.status(share_pack_id, workspace_url=args.workspace)
            misses = 0
        except RemoteError as exc:  # a restart or a blip of the service must not end a long wait
            misses += 1
            if not exc.transient or misses > MAX_MISSED_POLLS or time.monotonic() >= deadline:
                raise
            time.sleep(args.interval)
            continue
        show(status)
        if status.get("Status") in FINAL_STATUSES:
            return status
        if status.get("Status") == PENDING_APPROVAL and not args.wait_approval:
            return status
        if time.monotonic() >= deadline:
            return status
        time.sleep(args.interval)  # a person's command polling a service: there is nothing to wait on but time


def _finish(args: argparse.Namespace, report: dict[str, Any], code: int, **changes: Any) -> int:
    """Print the outcome of `submit` or `follow` (the JSON report, or lines for a person); return ``code``."""
    report.update(changes)
    if args.json:
        _print_json(report)
        return code
    _print_issues(report["errors"], report["warnings"], sys.stdout)
    if report["share_pack_id"] is None:
        reason = f": {report['message']}" if report["message"] else ""
        print(f"{args.file}: not submitted{reason}", file=sys.stderr)
    elif code == EXIT_UNUSABLE:
        print(f"error: {report['message']}; share pack {report['share_pack_id']} goes on", file=sys.stderr)
    elif args.follow:
        ending = {EXIT_VALID: "completed", EXIT_INVALID: "did not complete", EXIT_NOT_FINAL: "not final yet"}
        detail = report["error_message"] or (report["message"] if code != EXIT_INVALID else None)
        name = report["share_pack_name"] or report["share_pack_id"]
        print(f"{name} {ending.get(code, 'not followed to its end')}: {report['status']}"
              + (f": {detail}" if detail and code != EXIT_VALID else ""))
    return code


class Progress:
    """Shows a pack's progress: a redrawn bar on a terminal, one line per change otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last: tuple[str | None, str | None] | None = None
        self.drawn = False

    def show(self, status: dict[str, Any]) -> None:
        now = (status.get("Status"), status.get("ProvisioningStatus"))
        if now == self.last:
            return
        self.last = now
        line = _progress_line(*now)
        if self.tty:
            print(f"\r\x1b[2K{line}", end="", file=self.out, flush=True)
            self.drawn = True
        else:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        if self.drawn:
            print(file=self.out, flush=True)


def _progress_line(status: str | None, provisioning: str | None) -> str:
    """``[#####...] Step 3/8: Creating shares`` while steps run; the status otherwise."""
    if status == PENDING_APPROVAL:
        return f"{status}: waiting for an approver of the project"
    step = _STEP.search(provisioning or "")
    if step is None:
        return f"{status}: {provisioning}" if provisioning else f"{status}"
    done, total = int(step.group(1)), int(step.group(2))
    filled = round(_BAR_WIDTH * min(done, total) / max(total, 1))
    return f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {provisioning} ({status})"


# -- template, convert, schema ---------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    """Write the service's export of the named objects; its warnings say what the file does not carry."""
    report: dict[str, Any] = {"command": "export", "workspace": args.workspace, "format": args.format,
                              "out": None, "written": False, "message": None, "warnings": []}
    if not args.shares and not args.recipients:
        report["message"] = "name at least one --share or --recipient"
    else:
        try:
            answer = Service.from_env().export(workspace_url=args.workspace, shares=args.shares,
                                               recipients=args.recipients, fmt=args.format)
            out = args.out or Path(answer["FileName"]).name
            content = answer["Content"]
            data = base64.b64decode(content) if answer.get("Encoding") == "base64" else content.encode()
            Path(out).write_bytes(data)
            report.update(out=str(out), written=True, message=answer.get("Message"),
                          warnings=answer.get("Warnings") or [])
        except (RemoteError, OSError, KeyError, ValueError) as exc:
            report["message"] = str(exc)
    if args.json:
        _print_json(report)
    else:
        for warning in report["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"wrote {report['out']}" if report["written"] else f"error: {report['message']}",
              file=sys.stdout if report["written"] else sys.stderr)
    return EXIT_VALID if report["written"] else EXIT_UNUSABLE


def _template(args: argparse.Namespace) -> int:
    pack = sample_share_pack()
    if args.format == "xlsx":
        args.out.write_bytes(to_excel(pack))
    else:
        args.out.write_text(TEMPLATE_HEADER + to_yaml(pack), encoding="utf-8")
    if args.json:
        _print_json({"command": "template", "format": args.format, "out": str(args.out)})
    else:
        print(f"wrote {args.out}")
    return EXIT_VALID


def _convert(args: argparse.Namespace) -> int:
    def done(code: int, *, written: bool = False, errors: Sequence[Issue] = (), warnings: Sequence[Issue] = ()) -> int:
        if args.json:
            _print_json({"command": "convert", "source": str(args.source), "target": str(args.target),
                         "written": written, "errors": [i.to_dict() for i in errors],
                         "warnings": [i.to_dict() for i in warnings]})
        return code

    suffix = args.target.suffix.lower()
    if suffix not in (".yaml", ".yml", ".xlsx"):
        message = f"cannot write '{suffix}' files; use .yaml, .yml or .xlsx"
        if not args.json:
            print(f"error: {message}", file=sys.stderr)
        return done(EXIT_UNUSABLE, errors=[Issue("", message)])
    result, problem = _read(args.source, DEFAULT_MAX_BYTES)
    if result is None:
        if not args.json:
            print(f"error: {args.source}: {problem.message}", file=sys.stderr)
        return done(EXIT_UNUSABLE, errors=[problem])
    if result.spec is None:
        if not args.json:
            for issue in result.errors:
                print(f"error: {issue}", file=sys.stderr)
            print(f"{args.source}: not converted, fix the errors first", file=sys.stderr)
        return done(EXIT_INVALID, errors=list(result.errors), warnings=list(result.warnings))
    if suffix == ".xlsx":
        args.target.write_bytes(to_excel(result.spec))
    else:
        args.target.write_text(to_yaml(result.spec), encoding="utf-8")
    if not args.json:
        print(f"wrote {args.target}")
    return done(EXIT_VALID, written=True, warnings=list(result.warnings))


def _schema(args: argparse.Namespace) -> int:
    text = render_json_schema()
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        _print_json({"command": "schema", "out": str(args.out) if args.out else None,
                     "schema": None if args.out else json.loads(text)})
    elif args.out is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {args.out}")
    return EXIT_VALID


# -- reading ---------------------------------------------------------------------------------------------


def _read(path: Path, max_bytes: int) -> tuple[ParsedSharePack | None, Issue]:
    """Parse a file; or return None and why it cannot be used at all."""
    try:
        return parse_share_pack(path.read_bytes(), filename=path.name, max_bytes=max_bytes), Issue("", "")
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
    except InvalidInput as exc:  # PayloadTooLarge, UnsupportedMediaType
        message = exc.message
    return None, Issue(path="", message=message)


def _summary(result: ParsedSharePack) -> str:
    counts = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    pack = result.spec
    if pack is None:
        return f"invalid ({counts})"
    objects = sum(len(share.data_objects) for share in pack.shares)
    return (f"valid {result.file_format} share pack: {len(pack.recipients)} recipient(s), {len(pack.shares)} "
            f"share(s), {objects} data object(s); {counts}")
