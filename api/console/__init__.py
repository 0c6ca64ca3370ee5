"""The web console: server-rendered pages for requestors, served by the API app under `/console`.

Every page calls the same use cases as the API routes (`shared.use_cases`) with the signed-in caller's
identity and chosen workspace, so the console can do nothing the API would refuse. Errors are the same
types as everywhere; `api.errors.status_for` picks their status, and the console answers them as a page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse

from api.console import actions, charts, present
from api.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    chosen_workspace,
    csrf_token,
    csrf_token_is_valid,
    sign_in,
    sign_out,
    signed_in_principal,
)
from api.context import access, asker, authenticator, services, workflow
from api.errors import status_for
from api.routes.inventory import InventoryQuerySchema, estate_of
from api.routes.reports import build_report
from api.schemas import ListQuerySchema
from api.uploads import dry_run_upload
from shared.access.approval import latest_request
from shared.access.workspaces import resolve_workspace_url
from shared.models import SharePack
from shared.platform.errors import (
    ConfigurationError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    WorkflowError,
)
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.status import SharePackStatus
from shared.share_pack_file import to_excel, to_yaml
from shared.share_pack_file.cli import TEMPLATE_HEADER
from shared.share_pack_file.parse import detect_format
from shared.share_pack_file.sample import sample_share_pack
from shared.share_pack_file.schema import DEFAULT_MAX_COMMENT_CHARS
from shared.share_pack_file.values import check_characters
from shared.use_cases.inventory import UNMANAGED, page_of
from shared.use_cases.preflight import DryRun
from shared.use_cases.queries import (
    SharePackQuery,
    get_share_pack,
    list_share_packs,
    parse_share_pack_id,
    share_pack_history,
)
from shared.use_cases.submit import InvalidSharePack
from shared.use_cases.transitions import Verdict, require_decider

log = get_logger(__name__)

blp = Blueprint(
    "console", __name__, url_prefix="/console", template_folder="templates",
    static_folder="static", static_url_path="/static",
)

PUBLIC_ENDPOINTS = frozenset({
    "console.sign_in_form", "console.sign_in_submit", "console.static",
    "console.entra_start", "console.entra_callback",
})
# Requests a page makes by itself: they do not keep an idle session alive.
POLLED_ENDPOINTS = frozenset({"console.pack_progress"})
PAGE_SIZE = 20
MAX_NEXT_CHARS = 2048
MAX_INBOX = 200
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blp.before_request
def _require_session_and_csrf() -> WerkzeugResponse | None:
    if request.endpoint == "console.static":
        return None  # public files: no session to look up
    svc = services()
    principal = signed_in_principal(svc.settings, authenticator().overage_groups.groups_of, svc.session_factory,
                                    activity=request.endpoint not in POLLED_ENDPOINTS)
    if principal is not None:
        g.caller = principal  # what api.context.access() reads: the same access model as the API
        g.workspace_url = chosen_workspace()  # what api.context.workspace_url() reads, as for X-Workspace-URL
    if request.method == "POST":
        presented = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not csrf_token_is_valid(presented):
            abort(400, "This form has expired or did not come from the console; reload the page and try again.")
    if principal is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("console.sign_in_form", next=request.full_path))
    return None


@blp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token, "signed_in": g.get("caller")}


@blp.errorhandler(WorkflowError)
def _workflow_error(exc: WorkflowError) -> tuple[str, int]:
    status, _code = status_for(exc)
    if status >= 500:
        log.warning("console.request_failed", error=exc.message)
    return render_template("error.html", status=status, message=exc.message), status


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 413:
        message = "The file is larger than the configured limit."
    return render_template("error.html", status=status, message=message), status


def check_settings(settings: Settings) -> None:
    """Refuse to serve the console in production without a shared session key.

    Without one each process signs cookies with its own random key, so a session made by one gunicorn
    worker is refused by the next, and every session ends at a restart.
    """
    if settings.deployment == "production" and not settings.console_secret_key:
        raise ConfigurationError(
            "Missing setting console_secret_key: required when deployment is 'production' (every API process "
            "must sign console sessions with the same key; generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )


# -- signing in ---------------------------------------------------------------------------------------------


@blp.get("/")
def home() -> WerkzeugResponse:
    return redirect(url_for("console.packs"))


@blp.get("/sign-in")
def sign_in_form() -> str:
    return render_template("sign_in.html", workspaces=_workspace_choices(), next=_safe_next(request.args.get("next")))


@blp.post("/sign-in")
def sign_in_submit() -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
    svc = services()
    try:
        caller = authenticator().authenticate(f"Bearer {request.form.get('api_key', '')}",
                                                client=request.remote_addr)
        workspace = resolve_workspace_url(svc.session_factory, svc.settings, request.form.get("workspace_url"))
    except (Unauthenticated, Forbidden, InvalidInput, TooManyRequests) as exc:
        page = render_template(
            "sign_in.html", workspaces=_workspace_choices(), next=_safe_next(request.form.get("next")),
            error=exc.message,
        )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        return page, status_for(exc)[0], headers
    sign_in(caller, workspace, svc.session_factory, svc.settings)
    log.info("console.signed_in", identity=caller.identity)
    return redirect(_safe_next(request.form.get("next")) or url_for("console.packs"))


@blp.post("/sign-out")
def sign_out_submit() -> WerkzeugResponse:
    sign_out(services().session_factory)
    return redirect(url_for("console.sign_in_form"))


def _workspace_choices() -> list[str]:
    return sorted(services().settings.known_workspace_urls)


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console: a `next` pointing elsewhere would make sign-in an open redirect."""
    if not target or not target.isprintable() or len(target) > MAX_NEXT_CHARS:
        return None  # a CR or LF would split the Location header (werkzeug refuses it with a 500)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or "\\" in target:
        return None
    return target


# -- listing ------------------------------------------------------------------------------------------------


@blp.get("/packs")
def packs() -> str:
    wanted = ("status", "project", "requested_by", "page")
    raw = {key: value for key, value in request.args.items() if value and key in wanted}
    try:
        filters = ListQuerySchema().load({**raw, "page_size": PAGE_SIZE})
    except ValidationError as exc:
        raise InvalidInput(f"Invalid filter: {_first_message(exc.messages)}") from None
    with services().session_factory() as session:
        query = SharePackQuery(workspace_url=chosen_workspace(), **filters)
        page = list_share_packs(session, query, visible=access().visible(session))
    last_page = max(1, -(-page.total // page.page_size))
    return render_template(
        "packs.html", page=page, filters=raw, last_page=last_page, statuses=[str(s) for s in SharePackStatus],
    )


@blp.get("/inventory")
def inventory() -> str:
    """Every share and recipient of the workspace the caller sees, searchable and filtered by project."""
    raw = {key: value for key, value in request.args.items() if value and key in ("project", "search", "page")}
    try:
        filters = InventoryQuerySchema().load({**raw, "page_size": PAGE_SIZE})
    except ValidationError as exc:
        raise InvalidInput(f"Invalid filter: {_first_message(exc.messages)}") from None
    estate = estate_of(chosen_workspace())
    shares = page_of(estate.shares.values(), **filters)
    recipients = page_of(estate.recipients.values(), **filters)
    last_page = max(1, -(-max(shares.total, recipients.total) // PAGE_SIZE))
    return render_template("inventory.html", shares=shares, recipients=recipients, filters=raw, last_page=last_page,
                           unmanaged=UNMANAGED)


REPORT_PERIODS = (7, 30, 90)


@blp.get("/reports")
def reports() -> str:
    """Pack runs, pipeline runs and costs of the tenants the caller sees, as charts and tables."""
    try:
        days = int(request.args.get("days", "30"))
    except ValueError:
        days = 0
    if days not in REPORT_PERIODS:
        raise InvalidInput(f"Choose a period of {', '.join(map(str, REPORT_PERIODS))} days")
    with services().session_factory() as session:
        shown = {name: build_report(name, session, days).to_json() for name in ("packs", "pipeline-runs", "costs")}
    pack_days, pack_series = charts.series_of(shown["packs"]["Daily"])
    run_days, run_series = charts.series_of(shown["pipeline-runs"]["Daily"])
    cost_days, cost_series = charts.series_of(shown["costs"]["Daily"])
    return render_template(
        "reports.html", days=days, periods=REPORT_PERIODS, reports=shown,
        pack_chart=charts.stacked_bars("Share pack runs finished per day", pack_days, pack_series),
        run_chart=charts.stacked_bars("Pipeline runs per day", run_days, run_series),
        cost_chart=charts.lines("Databricks cost per project per day", cost_days, cost_series),
    )


def _first_message(messages: Any) -> str:
    if isinstance(messages, dict):
        field, problem = next(iter(messages.items()))
        return f"{field}: {_first_message(problem)}"
    if isinstance(messages, list) and messages:
        return str(messages[0])
    return str(messages)


# -- uploading ----------------------------------------------------------------------------------------------


@blp.get("/upload")
def upload_form() -> str:
    return render_template("upload.html")


@blp.post("/upload/check")
def upload_check() -> tuple[str, int]:
    """The dry run: every error and warning, shown against the file, before anything is stored."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("Choose a YAML or Excel file to check")
    content = upload.stream.read(services().settings.max_upload_bytes + 1)
    return _check_page(content, upload.filename)


def _check_page(content: bytes, filename: str, result: DryRun | None = None) -> tuple[str, int]:
    """The API's dry run (`POST /workflow/sharepack/validate`): errors, warnings and the plan preview; or,
    when `result` is given, those of a refused submit, so the page shows why it was refused."""
    if result is None:
        result = dry_run_upload(content, filename, chosen_workspace(), g.caller)
    is_text = detect_format(content, filename) == "yaml"
    lines = present.source_lines(content.decode("utf-8", "replace"), result.errors, result.warnings) if is_text else []
    page = render_template(
        "check.html",
        filename=filename,
        errors=result.errors,
        warnings=result.warnings,
        lines=lines,
        describe_location=present.describe_location,
        plan=result.plan,
        plan_rows=present.plan_rows(result.plan),
        encoded=base64.b64encode(content).decode("ascii"),
    )
    return page, 200 if not result.errors else 422


@blp.post("/upload/submit")
def upload_submit() -> WerkzeugResponse | tuple[str, int]:
    filename = request.form.get("filename") or "upload"
    try:
        content = base64.b64decode(request.form.get("content", ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("The checked file did not come back intact; upload it again") from None
    try:
        submitted = workflow().submit(asker(), content, filename)
    except InvalidSharePack as refused:  # its own errors, located in the file: a check run now might differ
        return _check_page(content, filename, DryRun(errors=refused.errors, warnings=refused.warnings, plan=None))
    return redirect(url_for("console.pack", share_pack_id=submitted.share_pack_id))


# -- one pack -----------------------------------------------------------------------------------------------


@blp.get("/packs/<share_pack_id>")
def pack(share_pack_id: str) -> str:
    with services().session_factory() as session:
        versions = _visible_history(session, share_pack_id)
        current = versions[-1]
        plan = current.plan
        can_decide = _may_decide(session, current)
        offered = actions.pack_actions(session, current)
        recertification = actions.recertification(session, current)
        request_row = latest_request(session, current.share_pack_id)
    return render_template(
        "pack.html",
        pack=current,
        request_row=request_row,
        versions=list(reversed(versions)),
        progress=present.progress(current.share_pack_status, current.provisioning_status, current.error_message),
        plan_rows=present.plan_rows(plan),
        plan=plan,
        can_decide=can_decide,
        actions=offered,
        recertification=recertification,
        default_overlap_hours=actions.DEFAULT_OVERLAP_HOURS,
    )


@blp.get("/packs/<share_pack_id>/progress")
def pack_progress(share_pack_id: str) -> Response:
    """What the live view polls (at most once a second): the current step and, at the end, the outcome."""
    with services().session_factory() as session:
        current = _visible_pack(session, share_pack_id)
        shown = present.progress(current.share_pack_status, current.provisioning_status, current.error_message)
    response = jsonify(shown.to_dict())
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/packs/<share_pack_id>/diff")
def pack_diff(share_pack_id: str) -> str:
    with services().session_factory() as session:
        versions = _visible_history(session, share_pack_id)
        by_number = {v.version: v for v in versions}
        before, after = (_version(by_number, request.args.get(key)) for key in ("from", "to"))
        texts = [present.version_text(_version_fields(v)) for v in (before, after)]
        current = versions[-1]
    return render_template(
        "diff.html", pack=current, before=before, after=after, versions=versions,
        lines=present.diff_lines(*texts),
    )


def _visible_pack(session: Session, share_pack_id: str) -> SharePack:
    """The pack if the caller may see it; otherwise NotFound, exactly like an unknown id (as the API)."""
    pack = get_share_pack(session, parse_share_pack_id(share_pack_id), workspace_url=chosen_workspace())
    access().require_visible(session, pack)
    return pack


actions.register(blp, visible_pack=_visible_pack, pack_page="console.pack")


def _visible_history(session: Session, share_pack_id: str) -> list[SharePack]:
    pack = _visible_pack(session, share_pack_id)
    return share_pack_history(session, pack.share_pack_id, workspace_url=chosen_workspace())


def _may_decide(session: Session, pack: SharePack) -> bool:
    """Whether to offer approve/decline: the pack waits and the caller is an approver who did not request it.

    Only an offer: `approve`/`decline` check the same rules again when the form is sent.
    """
    if pack.share_pack_status != SharePackStatus.PENDING_APPROVAL:
        return False
    try:
        require_decider(access(), session, pack)
    except Forbidden:
        return False
    return True


# -- approving ----------------------------------------------------------------------------------------------


@blp.get("/approvals")
def approvals() -> str:
    """The approver's inbox: packs of their projects waiting for a decision, oldest first."""
    with services().session_factory() as session:
        query = SharePackQuery(
            workspace_url=chosen_workspace(), status=SharePackStatus.PENDING_APPROVAL, page_size=MAX_INBOX
        )
        waiting = list_share_packs(session, query, visible=access().visible(session))
        inbox = [
            (pack, present.config_summary(pack.config))
            for pack in reversed(waiting.items) if _may_decide(session, pack)
        ]
    return render_template("approvals.html", inbox=inbox)


@blp.post("/packs/<share_pack_id>/approve")
def approve_pack(share_pack_id: str) -> WerkzeugResponse:
    verdict = Verdict(_decided_version(), _comment(request.form.get("comment")))
    decision = workflow().approve(asker(), parse_share_pack_id(share_pack_id), verdict)
    return redirect(url_for("console.pack", share_pack_id=decision.share_pack_id))


@blp.post("/packs/<share_pack_id>/decline")
def decline_pack(share_pack_id: str) -> WerkzeugResponse:
    comment = _comment(request.form.get("comment"))
    if not comment:
        raise InvalidInput("Say why you decline: the requestor reads it")
    decision = workflow().decline(asker(), parse_share_pack_id(share_pack_id), Verdict(_decided_version(), comment))
    return redirect(url_for("console.pack", share_pack_id=decision.share_pack_id))


def _decided_version() -> int | None:
    """The version of the pack the approver's page showed (the form carries it; None: the workflow refuses)."""
    raw = request.form.get("version") or ""
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("This form names no version of the share pack; reload the page and decide again")
    return int(raw)


def _comment(raw: str | None) -> str | None:
    """An approver's comment as stored and mailed: free text without control characters, of bounded length."""
    comment = (raw or "").strip()
    if len(comment) > DEFAULT_MAX_COMMENT_CHARS:
        raise InvalidInput(f"The comment has {len(comment):,} characters; at most {DEFAULT_MAX_COMMENT_CHARS:,}.")
    try:
        return check_characters(comment, free_text=True) or None
    except ValidationError as exc:
        raise InvalidInput(f"The comment: {_first_message(exc.messages)}") from None


def _version(by_number: dict[int, Any], raw: str | None) -> Any:
    try:
        return by_number[int(raw or "")]
    except (KeyError, ValueError):
        raise NotFound(f"Version {raw!r} of this share pack not found") from None


def _version_fields(version: Any) -> dict[str, Any]:
    return {
        "share_pack_status": version.share_pack_status,
        "provisioning_status": version.provisioning_status,
        "error_message": version.error_message,
        "config": version.config,
    }


# -- templates ----------------------------------------------------------------------------------------------


@blp.get("/templates")
def templates() -> str:
    return render_template("templates.html")


@blp.get("/templates/sharepack.yaml")
def template_yaml() -> Response:
    body = TEMPLATE_HEADER + to_yaml(sample_share_pack())
    return _download(body.encode("utf-8"), "sharepack.yaml", "application/yaml")


@blp.get("/templates/sharepack.xlsx")
def template_xlsx() -> Response:
    return _download(to_excel(sample_share_pack()), "sharepack.xlsx", XLSX_MEDIA_TYPE)


def _download(body: bytes, filename: str, media_type: str) -> Response:
    response = Response(body, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# "Sign in with Microsoft" registers its routes on this blueprint (it needs the helpers above).
from api.console import entra  # noqa: E402, F401
