"""What the share packs' moves take and give: who asks, an approver's verdict, and what each move answers."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shared.access.policy import Access
from shared.access.principals import Principal
from shared.drift.detect import Finding
from shared.provisioning.plan import Plan
from shared.share_pack_file import Issue


@dataclass(frozen=True)
class Asker:
    """Who asks for a move, in which workspace and request.

    ``principal`` None is a trusted tool in this process (the stuck-pack sweeper, a benchmark): no access
    rule applies to it, and it is on the record as ``tool``.
    """

    workspace_url: str
    principal: Principal | None = None
    request_id: str | None = None
    tool: str = f"workflow@{socket.gethostname()}"

    @property
    def identity(self) -> str:
        return self.principal.identity if self.principal is not None else self.tool

    def access(self, session: Session) -> Access | None:
        """The principal's rights, their groups read in ``session`` (the move's own transaction)."""
        return Access.load(session, self.principal) if self.principal is not None else None


@dataclass(frozen=True)
class Verdict:
    """An approver's decision input: the version of the pack they read (None: not named, refused), and what they
    say about it."""

    version: int | None
    comment: str | None = None


@dataclass(frozen=True)
class Queued:
    """What the caller is told: the pack, its new version and status, and any upload warnings."""

    share_pack_id: uuid.UUID
    share_pack_name: str
    version: int
    status: str
    warnings: tuple[Issue, ...] = ()
    #: A rollback's plan, made when it was asked for (None: the worker makes it); None for other moves.
    plan: Plan | None = None


class RollbackPreview(Queued):
    """A rollback's plan against the workspace as it is now (None, with a warning, when it could not be read),
    beside the pack as it is: nothing was stored or queued."""


@dataclass(frozen=True)
class Decision:
    share_pack_id: uuid.UUID
    status: str
    decided_by: str
    version: int


@dataclass(frozen=True)
class Reconciliation:
    share_pack_id: uuid.UUID
    status: str
    strategy: str
    drift: list[Finding]
