"""The actions on a pack's console page: retry, roll back, reconcile drift, rotate a recipient's token,
recertify its access, and (administrators) set how often its project's access must be recertified.

Each is a POST form (with the CSRF token the console checks on every POST) that calls the same function as
its API route, with the same access rules, then redirects to the pack page with a flashed result
(post/redirect/get). What the page offers is only an offer: a form posted without it being offered meets
the same checks and errors as the API (403, 404, 409), shown as an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response as WerkzeugResponse

from api.console import present
from api.console.session import chosen_workspace
from api.context import access, asker, services, workflow
from api.routes.drift import reconcile, require_reconciler
from api.routes.recertification import parse_project_id
from api.routes.recipients import MAX_OVERLAP_SECONDS, require_rotator, rotate_token
from shared.access_expiry.records import (
    MAX_EVERY_DAYS,
    Recertification,
    pack_recertification,
    recertify,
    require_recertifier,
    set_recertification,
)
from shared.drift.detect import Finding
from shared.drift.queries import pack_findings
from shared.models import Project, SharePack, Tenant
from shared.models.history import History
from shared.platform.errors import Forbidden, InvalidInput, NotFound
from shared.platform.status import SharePackStatus
from shared.share_pack_file import SharePackSpec
from shared.share_pack_file.model import RecipientType
from shared.use_cases.lifecycle import rollback_targets
from shared.use_cases.queries import parse_share_pack_id
from shared.use_cases.rotate_token import find_recipient_to_rotate
from shared.use_cases.transitions import RECONCILABLE

#: A flashed message's category: the template styles it (`alert-ok`), a status region announces it.
DONE = "ok"
HOURS = 3600
DEFAULT_OVERLAP_HOURS = 24


@dataclass(frozen=True)
class PackActions:
    """What the pack page offers this caller (empty everywhere: no action section at all)."""

    retry: bool = False
    #: Configuration versions the pack can be rolled back to (newest first; neither the current one nor one an
    #: approver declined is offered).
    rollback_versions: tuple[int, ...] = ()
    #: The last sync's drift, when the caller may reconcile it.
    drift: tuple[Finding, ...] = ()
    #: The pack's D2O recipients whose token the caller may rotate.
    rotatable: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.retry or self.rollback_versions or self.drift or self.rotatable)


def pack_actions(session: Session, pack: SharePack) -> PackActions:
    """The actions that apply to ``pack`` now and that the caller may take (the caller sees the pack)."""
    if pack.share_pack_status in (SharePackStatus.IN_PROGRESS, SharePackStatus.PENDING_APPROVAL):
        return PackActions()  # in flight or waiting for a decision: every action would be refused (409)
    may_upload = _allowed(lambda: _require_uploader(session, pack))
    targets = rollback_targets(session, pack.share_pack_id, besides_current=True) if may_upload else []
    drift: tuple[Finding, ...] = ()
    if pack.share_pack_status in RECONCILABLE and _allowed(lambda: require_reconciler(session, pack)):
        drift = tuple(pack_findings(session, pack.share_pack_id))
    return PackActions(
        retry=may_upload and pack.share_pack_status == SharePackStatus.FAILED,
        rollback_versions=tuple(reversed(targets)),
        drift=drift,
        rotatable=tuple(_rotatable(session, pack)),
    )


@dataclass(frozen=True)
class RecertificationOffer:
    """A pack's recertification: its state, whether the caller may confirm it now, and whether they may set
    how often its project must confirm (administrators, for a pack with a project)."""

    state: Recertification
    may_confirm: bool
    may_set_period: bool = False
    max_every_days: int = MAX_EVERY_DAYS


def recertification(session: Session, pack: SharePack) -> RecertificationOffer | None:
    """What the pack page says about recertification (None: its project requires none and the caller may not
    require it)."""
    state = pack_recertification(session, pack)
    may_set = access().is_admin and pack.project_id is not None
    if state.every_days is None:
        return RecertificationOffer(state, may_confirm=False, may_set_period=True) if may_set else None
    may = pack.share_pack_status in RECONCILABLE and _allowed(lambda: require_recertifier(session, access(), pack))
    return RecertificationOffer(state, may, may_set)


def _require_uploader(session: Session, pack: SharePack) -> None:
    """Forbidden unless the caller may upload for the pack's project (the rule of retry, revise and rollback)."""
    if pack.tenant_id is None:
        return
    tenant = History(session, Tenant).get_current(pack.tenant_id)
    project = History(session, Project).current(pack.project_id) if pack.project_id else None
    access().require_uploader(tenant, project)


def _rotatable(session: Session, pack: SharePack) -> list[str]:
    svc = services()
    if svc.recipient_tokens is None or svc.activation_links is None:
        return []  # this process cannot rotate tokens: offering the button would only lead to a 503
    names = []
    for name in _d2o_recipients(pack):
        try:
            target = find_recipient_to_rotate(session, workspace_url=pack.workspace_url, name=name)
            require_rotator(target)
        except (NotFound, InvalidInput, Forbidden):
            continue  # not provisioned (yet), or not the caller's to rotate
        names.append(name)
    return names


def _d2o_recipients(pack: SharePack) -> list[str]:
    spec = SharePackSpec.from_dict(pack.config)
    return [r.name for r in spec.recipients if r.type is RecipientType.D2O]


def _allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except (Forbidden, NotFound):
        return False
    return True


def register(blp: Blueprint, *, visible_pack: Callable[[Session, str], SharePack], pack_page: str) -> None:
    """Add the action routes to the console blueprint ``blp``; each redirects to the endpoint ``pack_page``.

    ``visible_pack`` finds a pack of the chosen workspace that the caller sees (NotFound otherwise).
    """

    def back_to(share_pack_id: object) -> WerkzeugResponse:
        return redirect(url_for(pack_page, share_pack_id=share_pack_id))

    @blp.post("/packs/<share_pack_id>/retry")
    def retry_pack(share_pack_id: str) -> WerkzeugResponse:
        queued = workflow().retry(asker(), parse_share_pack_id(share_pack_id))
        flash(f"Queued for retry as version {queued.version}: what the failed attempt finished is not redone.", DONE)
        return back_to(queued.share_pack_id)

    @blp.get("/packs/<share_pack_id>/rollback")
    def rollback_preview(share_pack_id: str) -> str:
        """The rollback's plan against the workspace as it is now, before the caller confirms it."""
        to_version = _whole_number(request.args.get("to_version"), "the version to roll back to")
        preview = workflow().preview_rollback(asker(), parse_share_pack_id(share_pack_id), to_version)
        plan = preview.plan.to_dict() if preview.plan is not None else None
        return render_template(
            "rollback.html", preview=preview, to_version=to_version, plan=plan, plan_rows=present.plan_rows(plan),
        )

    @blp.post("/packs/<share_pack_id>/rollback")
    def rollback_pack(share_pack_id: str) -> WerkzeugResponse:
        to_version = _whole_number(request.form.get("to_version"), "the version to roll back to")
        queued = workflow().rollback(asker(), parse_share_pack_id(share_pack_id), to_version)
        if queued.status == SharePackStatus.PENDING_APPROVAL:
            flash(f"Rollback to version {to_version} stored as version {queued.version}. It gives access the pack "
                  "does not give now, so it waits for an approver of the project.", DONE)
        else:
            flash(f"Rollback to version {to_version} queued as version {queued.version}.", DONE)
        return back_to(queued.share_pack_id)

    @blp.post("/packs/<share_pack_id>/reconcile")
    def reconcile_pack(share_pack_id: str) -> WerkzeugResponse:
        result = reconcile(share_pack_id)
        count = len(result.drift)
        flash(f"Reconcile queued: {count} drift finding{'s' if count != 1 else ''} will be put back.", DONE)
        return back_to(result.share_pack_id)

    @blp.post("/packs/<share_pack_id>/recertify")
    def recertify_pack(share_pack_id: str) -> WerkzeugResponse:
        pack_id = parse_share_pack_id(share_pack_id)
        state = recertify(services().session_factory, access(), pack_id, workspace_url=chosen_workspace(),
                          request_id=g.get("request_id"))
        flash(f"Access recertified; the next recertification is due {_when(state.due_at)}.", DONE)
        return back_to(pack_id)

    @blp.post("/projects/<project_id>/recertification")
    def set_project_recertification(project_id: str) -> WerkzeugResponse:
        """The administrator's form on a pack page: the project's period, then back to that pack."""
        raw = (request.form.get("every_days") or "").strip()
        every = _whole_number(raw, "the days between recertifications") if raw else None
        pack_id = parse_share_pack_id(request.form.get("share_pack_id") or "")
        set_recertification(services().session_factory, access(), parse_project_id(project_id), every,
                            request_id=g.get("request_id"))
        flash(f"The project now requires its access to be recertified every {every} days." if every
              else "The project no longer requires recertification.", DONE)
        return back_to(pack_id)

    @blp.post("/packs/<share_pack_id>/recipients/<name>/rotate-token")
    def rotate_recipient_token(share_pack_id: str, name: str) -> WerkzeugResponse:
        hours = _whole_number(request.form.get("overlap_hours"), "the hours the current token keeps working")
        if hours * HOURS > MAX_OVERLAP_SECONDS:
            raise InvalidInput(f"The current token can keep working for at most {MAX_OVERLAP_SECONDS // HOURS} hours")
        with services().session_factory() as session:
            pack = visible_pack(session, share_pack_id)
            recipients, pack_id = _d2o_recipients(pack), pack.share_pack_id
        if name.lower() not in {n.lower() for n in recipients}:
            raise NotFound(f"Share pack {pack_id} has no D2O recipient {name!r}")
        rotation = rotate_token(chosen_workspace(), name, existing_token_expires_in_seconds=hours * HOURS)
        new, existing = _when(rotation.new_token_expires_at), _when(rotation.existing_token_expires_at)
        mailed_to = rotation.recipient_email or "nobody (the recipient has no contact e-mail)"
        flash(
            f"Token of {rotation.recipient_name} rotated. The new token expires {new}; the current one stops "
            f"working {existing}. The activation link is e-mailed to {mailed_to}.",
            DONE,
        )
        return back_to(pack_id)


MAX_WHOLE_NUMBER_DIGITS = 9  # versions and hours fit a PostgreSQL integer


def _whole_number(raw: str | None, what: str) -> int:
    text = (raw or "").strip()
    if len(text) > MAX_WHOLE_NUMBER_DIGITS:
        raise InvalidInput(f"Choose {what}: a whole number of at most {MAX_WHOLE_NUMBER_DIGITS} digits "
                           f"(got {len(text):,} characters)")
    try:
        number = int(text)
    except ValueError:
        raise InvalidInput(f"Choose {what}: a whole number, got {raw!r}") from None
    if number < 0:
        raise InvalidInput(f"Choose {what}: 0 or more, got {number}")
    return number


def _when(moment: datetime | None) -> str:
    return f"at {moment.strftime('%Y-%m-%d %H:%M UTC')}" if moment else "never"

