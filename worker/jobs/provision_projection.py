"""The SCD2 projection: what the `recipients`, `shares`, `databricks_objects` and `pipelines` tables say a
workspace holds, written from what provisioning did.

After each step, the rows its changes touched (so a pack that fails later still leaves its objects recorded,
with their Databricks ids); when the pack completes, every row the pack declares, and the owning project of
each. Rows are upserted as new versions (`shared.models.history`), so projecting twice adds nothing: a worker that
dies and resumes may project again safely.

Everything here must hold at design scale (1,000 recipients, 500 shares, 20,000 data objects in one pack):
writes are executemany batches, which SQLAlchemy sends as multi-row INSERTs of bounded size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from shared.models import DatabricksObject, Pipeline, Recipient, Share
from shared.models.history import History
from shared.provisioning.apply import StepResult
from shared.provisioning.pipeline_state import PipelineIds
from shared.provisioning.plan import Action, Entity
from shared.share_pack_file.model import (
    DataObjectSpec,
    PipelineSpec,
    RecipientSpec,
    SharePackSpec,
    ShareSpec,
    Strategy,
)
from worker.jobs.provision_attempt import Attempt, Outcome

#: The actions after which the object exists as the pack declares it.
_WRITTEN = frozenset({Action.CREATE, Action.UPDATE, Action.REPLACE, Action.ADD})


@dataclass(frozen=True)
class TableProjection:
    """Writes the workspace's objects as one attempt left them, in the caller's transaction."""

    performed_by: str

    def step(
        self, session: Session, attempt: Attempt, result: StepResult, recipient_ids: Mapping[str, str]
    ) -> None:
        """Write the recipients, shares, objects and pipelines rows the step's changes touched.
        ``recipient_ids``: the Databricks id of each recipient known so far, by name."""
        who = self._who(attempt.spec)
        touched: dict[Entity, set[str]] = {}
        removed: dict[Entity, set[str]] = {}
        for change in result.changes:
            into = touched if change.action in _WRITTEN else removed if change.action is Action.DELETE else None
            if into is not None:
                into.setdefault(change.entity, set()).add(change.name)
        spec = attempt.spec
        recipients = [r for r in spec.recipients if r.name in touched.get(Entity.RECIPIENT, ())]
        shares = [s for s in spec.shares if s.name in touched.get(Entity.SHARE, ())]
        added = touched.get(Entity.DATA_OBJECT, set())
        objects = {o.name: o for share in spec.shares for o in share.data_objects if o.name in added}
        _write_recipients(session, recipients, attempt, recipient_ids, who)
        _write_shares(session, shares, attempt, who)
        _write_objects(session, objects, attempt.workspace_url, who)
        for entity, model, column in ((Entity.RECIPIENT, Recipient, "recipient_name"),
                                      (Entity.SHARE, Share, "share_name"),
                                      (Entity.PIPELINE, Pipeline, "pipeline_name")):
            if names := sorted(removed.get(entity, ())):
                History(session, model).delete_many(
                    [{"workspace_url": attempt.workspace_url, column: name} for name in names],
                    key=("workspace_url", column), **who,
                )
        pipelines = touched.get(Entity.PIPELINE, set()) | touched.get(Entity.SCHEDULE, set()) | set(result.pipelines)
        pipelines -= removed.get(Entity.PIPELINE, set())
        if pipelines:
            _write_pipelines(session, [p for p in spec.pipelines if p.name in pipelines], result.pipelines,
                             attempt, who)

    def outcome(self, session: Session, attempt: Attempt, outcome: Outcome) -> None:
        """Make the current rows say what the workspace holds for the completed attempt: what a rollback
        removed is gone, and the pack's recipients, shares, objects and pipelines are there, with their ids."""
        if outcome.removed is not None:
            self._declared(session, attempt, outcome.removed, {})
        self._declared(session, attempt, attempt.spec, outcome.recipient_ids)
        self._pipelines(session, attempt, outcome.pipelines)

    def _declared(
        self, session: Session, attempt: Attempt, spec: SharePackSpec, recipient_ids: Mapping[str, str]
    ) -> None:
        """Make the current rows of recipients, shares and objects say what the workspace now holds for
        `share_pack` (the attempt's own spec, or what a rollback removes), and which project owns each."""
        who = self._who(spec)
        if spec.metadata.strategy == Strategy.DELETE:
            for model, column, names in ((Recipient, "recipient_name", [r.name for r in spec.recipients]),
                                         (Share, "share_name", [s.name for s in spec.shares])):
                History(session, model).delete_many(
                    [{"workspace_url": attempt.workspace_url, column: name} for name in names],
                    key=("workspace_url", column), **who,
                )
            return
        _write_recipients(session, list(spec.recipients), attempt, recipient_ids, who)
        _write_shares(session, list(spec.shares), attempt, who)
        objects = {o.name: o for share in spec.shares for o in share.data_objects}
        _write_objects(session, objects, attempt.workspace_url, who)

    def _pipelines(self, session: Session, attempt: Attempt, made: Mapping[str, PipelineIds]) -> None:
        """Make the current `pipelines` rows say which pipelines (and Databricks ids) the pack now has.

        Rows of this pack's pipelines that it no longer declares (removed with their table, or by a
        DELETE) get a deleted last version.
        """
        share_pack = attempt.spec
        who = self._who(share_pack)
        declared = {} if share_pack.metadata.strategy == Strategy.DELETE else {p.name: p for p in share_pack.pipelines}
        gone = session.scalars(
            select(Pipeline.pipeline_name).where(
                Pipeline.is_current,
                Pipeline.share_pack_id == attempt.share_pack_id,
                Pipeline.pipeline_name.not_in(list(declared)) if declared else true(),
            )
        ).all()
        if gone:
            History(session, Pipeline).delete_many(
                [{"workspace_url": attempt.workspace_url, "pipeline_name": name} for name in gone],
                key=("workspace_url", "pipeline_name"), **who,
            )
        _write_pipelines(session, list(declared.values()), made, attempt, who)

    def _who(self, spec: SharePackSpec) -> dict[str, str]:
        return {"changed_by": self.performed_by, "change_reason": f"{spec.metadata.strategy} share pack"}


def _write_recipients(
    session: Session,
    recipients: Sequence[RecipientSpec],
    attempt: Attempt,
    ids: Mapping[str, str],
    who: Mapping[str, str],
) -> None:
    rows = [
        {
            "workspace_url": attempt.workspace_url,
            "recipient_name": recipient.name,
            "share_pack_id": attempt.share_pack_id,
            "project_id": attempt.project_id,
            "recipient_contact_email": recipient.email,
            "recipient_type": recipient.type.value,
            "recipient_databricks_org": recipient.metastore_id,
            "description": recipient.comment,
            "client_ip_addresses": list(recipient.allowed_ips),
            "token_expiry_days": recipient.token_expiry_days,
            "request_source": "share_pack",
            **({"recipient_databricks_id": ids[recipient.name]} if recipient.name in ids else {}),
        }
        for recipient in recipients
    ]
    _upsert_keeping_ids(History(session, Recipient), rows, "recipient_databricks_id",
                        ("workspace_url", "recipient_name"), who)


def _write_shares(session: Session, shares: Sequence[ShareSpec], attempt: Attempt, who: Mapping[str, str]) -> None:
    if not shares:
        return
    # Shares have no id of their own in the Databricks API (ShareInfo carries none); every sharing
    # endpoint names a share by its name, so that is what `databricks_share_id` holds.
    History(session, Share).upsert_many(
        [
            {
                "workspace_url": attempt.workspace_url,
                "share_name": share.name,
                "databricks_share_id": share.name,
                "share_pack_id": attempt.share_pack_id,
                "project_id": attempt.project_id,
                "description": share.comment,
                "share_assets": [
                    # The sharing fields only when set: rows recorded before they existed stay current.
                    {key: value for key, value in o.to_dict().items()
                     if key in ("name", "type", "shared_as", "history") or value not in (None, [])}
                    for o in share.data_objects
                ],
                "recipients": sorted(share.recipients),
                "request_source": "share_pack",
            }
            for share in shares
        ],
        key=("workspace_url", "share_name"),
        **who,
    )


def _write_objects(
    session: Session, objects: Mapping[str, DataObjectSpec], workspace_url: str, who: Mapping[str, str]
) -> None:
    if not objects:
        return
    History(session, DatabricksObject).upsert_many(
        [
            {
                "workspace_url": workspace_url,
                "full_name": name,
                "object_type": data_object.type.value,
                **dict(
                    zip(("catalog_name", "schema_name", "table_name"), [*name.split("."), None, None], strict=False)
                ),
            }
            for name, data_object in objects.items()
        ],
        key=("workspace_url", "full_name"),
        **who,
    )


def _write_pipelines(
    session: Session,
    pipelines: Sequence[PipelineSpec],
    made: Mapping[str, PipelineIds],
    attempt: Attempt,
    who: Mapping[str, str],
) -> None:
    rows = []
    for spec in pipelines:
        ids = made.get(spec.name)
        rows.append({
            "workspace_url": attempt.workspace_url,
            "pipeline_name": spec.name,
            "share_pack_id": attempt.share_pack_id,
            "asset_name": spec.target_table,
            "source_table": spec.source_table,
            "target_table": spec.target_table,
            "scd_type": spec.scd_type.value,
            "key_columns": ",".join(spec.key_columns) or None,
            "schedule_type": "CONTINUOUS" if spec.continuous else ("CRON" if spec.schedule else None),
            "cron_expression": spec.schedule,
            "cron_timezone": spec.timezone if spec.schedule else None,
            "notification_list": list(spec.notification_list),
            "tags": dict(spec.tags),
            "serverless": spec.serverless,
            "request_source": "share_pack",
            # Ids only where this run knows them; a row without them keeps the ones recorded before.
            **({"databricks_pipeline_id": ids.pipeline_id,
                "databricks_job_id": str(ids.job_id) if ids.job_id is not None else None} if ids else {}),
        })
    _upsert_keeping_ids(History(session, Pipeline), rows, "databricks_pipeline_id",
                        ("workspace_url", "pipeline_name"), who)


def _upsert_keeping_ids(
    history: History[Any], rows: Sequence[Mapping[str, Any]], id_column: str, key: tuple[str, str],
    who: Mapping[str, str],
) -> None:
    """Upsert `rows`; a row without `id_column` (its Databricks id not known to this run) keeps the id recorded
    before, as History carries over the columns a row does not name. Rows of one shape go in one statement."""
    for known in (True, False):
        same = [row for row in rows if (id_column in row) is known]
        if same:
            history.upsert_many(same, key=key, **who)
