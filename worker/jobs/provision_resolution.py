"""Steps 1 and 2 of provisioning: which tenant and project a share pack belongs to.

Today a tenant is the pack's business line and a project its project name, created on first use. This
unit is kept small and separate on purpose: it is the one place to change when tenants become registered
entities instead of names found in uploads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.models import AuditEntry, Project, Tenant
from shared.models.history import History, snapshot
from shared.platform.errors import Conflict
from shared.platform.status import AuditAction
from shared.share_pack_file.model import SharePackSpec


@dataclass
class OwnerResolver:
    """Finds (or creates) the tenant and project a share pack names."""

    session_factory: sessionmaker[Session]
    performed_by: str

    def tenant(self, spec: SharePackSpec) -> uuid.UUID:
        """The tenant of the pack's business line (case-insensitively); created if new."""
        return self._find_or_create(
            Tenant,
            "business_line_name",
            spec.metadata.business_line.strip(),
            scope={},
            values={"contact_email": spec.metadata.requestor},
            reason="first share pack of this business line",
        )

    def project(self, spec: SharePackSpec, tenant_id: uuid.UUID) -> uuid.UUID:
        """The tenant's project the pack names (case-insensitively); created if new."""
        return self._find_or_create(
            Project,
            "project_name",
            spec.metadata.project_name.strip(),
            scope={"tenant_id": tenant_id},
            values={},
            reason="first share pack of this project",
        )

    def _find_or_create(
        self,
        model: type[Tenant | Project],
        name_column: str,
        name: str,
        *,
        scope: dict[str, Any],
        values: dict[str, Any],
        reason: str,
    ) -> uuid.UUID:
        """The business id of the current entity called `name` (case-insensitively) in `scope`; created if new.

        Two workers creating the same new entity at once are settled by the database's unique index: the
        loser gets a Conflict, looks again, and finds the winner's.
        """
        for attempt in (1, 2):
            try:
                with self.session_factory.begin() as session:
                    history = History(session, model)
                    for row in history.find_current(**scope):
                        if getattr(row, name_column).lower() == name.lower():
                            return getattr(row, model.__business_key__)
                    created = history.create(
                        created_by=self.performed_by, change_reason=reason, **{name_column: name}, **scope, **values
                    )
                    business_id: uuid.UUID = getattr(created, model.__business_key__)
                    session.add(
                        AuditEntry(
                            entity_type=_ENTITY_TYPE[model],
                            entity_id=str(business_id),
                            action=AuditAction.CREATED,
                            performed_by=self.performed_by,
                            new_values=snapshot(created),
                        )
                    )
                    return business_id
            except Conflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


_ENTITY_TYPE: dict[type[Tenant | Project], str] = {Tenant: "tenant", Project: "project"}
