"""The workflow wired to this deployment, and the dry run of an upload: what the API and the console share."""

from __future__ import annotations

from functools import partial

from api.context import Services, services
from api.preflight import upload_preflight
from shared.access.principals import Principal
from shared.use_cases.lifecycle import RollbackPlanner
from shared.use_cases.moves import Asker
from shared.use_cases.preflight import DryRun, DryRunChecks, dry_run
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.submit import Upload, UploadRules, format_limits
from shared.use_cases.transitions import Workflow


def upload_rules(svc: Services) -> UploadRules:
    """This deployment's checks of an upload: the same for the upload, its dry run and the console's check."""
    settings = svc.settings
    return UploadRules(
        max_bytes=settings.max_upload_bytes,
        max_token_expiry_days=settings.token_expiry_max_days,
        limits=format_limits(settings),
        check_directory=svc.directory_validator.check if svc.directory_validator else None,
        preflight_for=partial(upload_preflight, svc),
    )


def build_workflow(svc: Services) -> Workflow:
    """The process's one `Workflow`, with this deployment's upload checks, queue and workspace readers."""
    settings = svc.settings
    return Workflow(
        svc.session_factory,
        svc.dispatch or ViaOutbox(settings.azure_queue_name, svc.publisher.notify),
        rules=upload_rules(svc),
        planner=RollbackPlanner(svc.reader_for, budget_seconds=settings.preflight_budget_seconds,
                                session_factory=svc.session_factory),
    )


def dry_run_upload(content: bytes, filename: str, workspace_url: str, principal: Principal) -> DryRun:
    """Check an upload against its workspace and preview its plan, for a caller allowed to upload there."""
    svc = services()
    upload = Upload(content, filename, workspace_url, submitted_by=principal.identity)
    checks = DryRunChecks(svc.reader_for, access_of=Asker(workspace_url, principal).access)
    return dry_run(svc.session_factory, upload, upload_rules(svc), checks)
