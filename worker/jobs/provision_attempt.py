"""One attempt of the provisioning job at one pack: what every step, record and projection of it needs, and
what it leaves when it completes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.provisioning.pipeline_state import PipelineIds
from shared.share_pack_file.model import SharePackSpec, Strategy


@dataclass(frozen=True)
class Attempt:
    """The pack as the job read it at the start of one attempt.

    ``tenant_id`` and ``project_id`` are registered at upload; they are None only for packs stored before
    tenants were registered, until steps 1 and 2 resolve them (`provision_resolution`).
    """

    share_pack_id: uuid.UUID
    spec: SharePackSpec
    workspace_url: str
    request_id: str | None
    tenant_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    #: For a rollback: what later configurations added, to be removed (a DELETE pack); else None.
    removals: SharePackSpec | None = None

    @property
    def strategy(self) -> Strategy:
        return self.spec.metadata.strategy


@dataclass(frozen=True)
class Outcome:
    """What a completed attempt leaves in the workspace, as the tables are to say it."""

    #: The pack's last progress line ("Step 8/8: Completed (...)").
    provisioning_status: str
    #: The Databricks ids of the pack's pipelines, by name.
    pipelines: Mapping[str, PipelineIds] = field(default_factory=dict)
    #: The Databricks ids of the pack's recipients, by name.
    recipient_ids: Mapping[str, str] = field(default_factory=dict)
    #: What a rollback removed (the part of its removals its project owns), else None.
    removed: SharePackSpec | None = None
