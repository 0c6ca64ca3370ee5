"""Submitting an upload as the API and the console both do: one place wires the use case to the deployment."""

from __future__ import annotations

from flask import g

from api.context import services
from api.preflight import upload_preflight
from shared.access.admission import admit_upload
from shared.access.ownership import ProjectScope, upload_scope
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.share_pack_file import SharePackSpec
from shared.use_cases.preflight import DryRun, dry_run
from shared.use_cases.submit import SubmittedSharePack, format_limits, submit_share_pack


def submit_upload(content: bytes, filename: str, workspace_url: str, principal: Principal) -> SubmittedSharePack:
    """Validate, admit (access rules), store and queue an upload for `principal` on `workspace_url`."""
    svc = services()
    return submit_share_pack(
        svc.session_factory,
        content=content,
        filename=filename,
        workspace_url=workspace_url,
        submitted_by=principal.identity,
        queue_name=svc.settings.azure_queue_name,
        max_bytes=svc.settings.max_upload_bytes,
        publish=svc.publisher.notify,
        request_id=g.get("request_id"),
        preflight=upload_preflight(svc, workspace_url),
        max_token_expiry_days=svc.settings.token_expiry_max_days,
        # Groups are read in the upload's own transaction: no second connection per upload.
        admit=lambda session, pack: admit_upload(session, Access.load(session, principal), pack, workspace_url),
        limits=format_limits(svc.settings),
        check_directory=svc.directory_validator.check if svc.directory_validator else None,
    )


def dry_run_upload(content: bytes, filename: str, workspace_url: str, principal: Principal) -> DryRun:
    """Check an upload against its workspace and preview its plan, for a caller allowed to upload there."""
    svc = services()

    def admit(pack: SharePackSpec) -> None:  # read-only: the real admission happens when it is submitted
        with svc.session_factory() as session:
            admit_upload(session, Access.load(session, principal), pack, workspace_url)

    def scope(pack: SharePackSpec) -> ProjectScope:
        with svc.session_factory() as session:
            return upload_scope(session, pack, workspace_url)

    return dry_run(
        content=content,
        filename=filename,
        workspace_url=workspace_url,
        max_bytes=svc.settings.max_upload_bytes,
        reader_for=svc.reader_for,
        limits=format_limits(svc.settings),
        admit=admit,
        scope=scope,
    )
