"""The pre-flight checks: what the workspace must hold for a pack to provision. Pure — no I/O.

`check_pack` compares a pack with `CatalogFacts` read beforehand (`read.read_facts`) and returns issues
in the share pack file's vocabulary (paths like ``share[0].data_objects[2].name``), so the requestor finds
each problem in their file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from shared.preflight.limits import OBJECTS_PER_SHARE, RECIPIENTS_PER_METASTORE, SHARES_PER_METASTORE, Usage
from shared.provisioning.gateway import MetastoreSharing, TableSharingFacts
from shared.provisioning.plan import Plan
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import DataObjectType, Issue, RecipientType, SharePackSpec, Strategy

#: Which Unity Catalog table types each declared type may name; the same rule the server applies when
#: an object is added to a share ("Only managed or external table on Unity Catalog can be added to a share").
ACCEPTED_TABLE_TYPES: Mapping[str, frozenset[str]] = {
    DataObjectType.TABLE: frozenset({"MANAGED", "EXTERNAL"}),
    DataObjectType.VIEW: frozenset({"VIEW", "METRIC_VIEW"}),
}
#: Declared types whose existence the pre-flight checks (volumes and models are not listed by `tables`).
CHECKED_TYPES = frozenset({DataObjectType.TABLE, DataObjectType.VIEW, DataObjectType.SCHEMA})


@dataclass(frozen=True)
class CatalogFacts:
    """What the pre-flight read from the workspace.

    Attributes:
        tables: full name → Unity Catalog table type, for every table of the schemas the pack names.
        missing_schemas: ``catalog.schema`` names the pack refers to that do not exist.
        sharing: the metastore's Delta Sharing scope.
        share_count: how many shares the metastore holds.
        state: what the planner sees (every recipient, the named shares and their grants).
        table_facts: full name → partition columns and change data feed of each table the pack shares
            partitions or the change data feed of (absent: the table does not exist).
    """

    tables: Mapping[str, str]
    missing_schemas: frozenset[str]
    sharing: MetastoreSharing
    share_count: int
    state: WorkspaceState
    table_facts: Mapping[str, TableSharingFacts] = field(default_factory=dict)


def schema_of(name: str, declared: DataObjectType) -> str | None:
    """Return the ``catalog.schema`` a checked data object lives in (or is), or None if unchecked."""
    parts = name.lower().split(".")
    if declared is DataObjectType.SCHEMA:
        return ".".join(parts) if len(parts) == 2 else None
    if declared in ACCEPTED_TABLE_TYPES and len(parts) == 3:
        return f"{parts[0]}.{parts[1]}"
    return None


def schemas_to_read(spec: SharePackSpec) -> set[str]:
    """Return every schema whose tables the pre-flight must list."""
    if spec.metadata.strategy is Strategy.DELETE:
        return set()
    return {
        schema
        for share in spec.shares
        for obj in share.data_objects
        if (schema := schema_of(obj.name, obj.type)) is not None
    }


def tables_sharing_parts(spec: SharePackSpec) -> set[str]:
    """Return the tables whose partitions or change data feed the pack shares (their details are read)."""
    if spec.metadata.strategy is Strategy.DELETE:
        return set()
    return {obj.name for share in spec.shares for obj in share.data_objects if obj.partitions or obj.cdf_enabled}


def check_pack(spec: SharePackSpec, facts: CatalogFacts, plan: Plan) -> tuple[list[Issue], list[Issue]]:
    """Return the (errors, warnings) that provisioning ``pack`` against ``facts`` would run into."""
    errors: list[Issue] = []
    warnings: list[Issue] = []
    if spec.metadata.strategy is not Strategy.DELETE:
        errors.extend(_data_objects(spec, facts))
        errors.extend(_external_sharing(spec, facts))
        errors.extend(_sharing_parts(spec, facts))
        for path, usage in _quotas(spec, facts):
            if usage.exceeded:
                errors.append(Issue(path=path, message=usage.describe()))
            elif usage.near:
                warnings.append(Issue(path=path, message=usage.describe()))
    # NEW conflicts, a D2D metastore that already has a recipient, type changes: the planner's own words.
    errors.extend(Issue(path="", message=f"Conflict with the workspace: {c}") for c in plan.conflicts)
    return errors, warnings


def _data_objects(spec: SharePackSpec, facts: CatalogFacts) -> Iterator[Issue]:
    for i, share in enumerate(spec.shares):
        for j, obj in enumerate(share.data_objects):
            schema = schema_of(obj.name, obj.type)
            if schema is None:
                continue
            path = f"share[{i}].data_objects[{j}].name"
            name = obj.name.lower()
            if schema in facts.missing_schemas:
                what = "it" if obj.type is DataObjectType.SCHEMA else f"the schema {schema} of {name}"
                yield Issue(path=path, message=f"{obj.type.value} {name} cannot be shared: {what} does not exist")
                continue
            if obj.type is DataObjectType.SCHEMA:
                continue
            actual = facts.tables.get(name)
            if actual is None:
                yield Issue(path=path, message=f"{obj.type.value} {name} does not exist in the workspace")
            elif actual not in ACCEPTED_TABLE_TYPES[obj.type]:
                yield Issue(
                    path=path,
                    message=f"{name} is declared as {obj.type.value} but the workspace has it as {actual}; "
                    f"declare the type that matches it",
                )


def _sharing_parts(spec: SharePackSpec, facts: CatalogFacts) -> Iterator[Issue]:
    """Partitions must name partition columns and the change data feed needs the table's property, as Unity
    Catalog checks when the object is added (a missing table is reported by `_data_objects`)."""
    for i, share in enumerate(spec.shares):
        for j, obj in enumerate(share.data_objects):
            table = facts.table_facts.get(obj.name)
            if table is None:
                continue
            path = f"share[{i}].data_objects[{j}]"
            columns = sorted({value.name for partition in obj.partitions for value in partition}
                             - table.partition_columns)
            if columns:
                known = ", ".join(sorted(table.partition_columns)) or "none"
                yield Issue(path=f"{path}.partitions", message=f"{obj.name} is not partitioned by "
                            f"{', '.join(columns)} (its partition columns: {known})")
            if obj.cdf_enabled and not table.change_data_feed:
                yield Issue(path=f"{path}.cdf_enabled", message=f"{obj.name} has no change data feed to share: set "
                            "the table property delta.enableChangeDataFeed = true first")


def _external_sharing(spec: SharePackSpec, facts: CatalogFacts) -> Iterator[Issue]:
    scope = facts.sharing.delta_sharing_scope
    if scope is None or facts.sharing.allows_external_sharing:
        return
    for i, recipient in enumerate(spec.recipients):
        if recipient.type is RecipientType.D2O and recipient.name not in facts.state.recipients:
            yield Issue(
                path=f"recipient[{i}].type",
                message=f"D2O recipient {recipient.name} needs open sharing, but the metastore's "
                f"delta_sharing_scope is {scope}; an admin must set it to INTERNAL_AND_EXTERNAL, "
                f"or declare the recipient as D2D",
            )


def _quotas(spec: SharePackSpec, facts: CatalogFacts) -> Iterator[tuple[str, Usage]]:
    new_recipients = {r.name for r in spec.recipients} - set(facts.state.recipients)
    yield "recipient", Usage(
        "recipients in the metastore", len(facts.state.recipients) + len(new_recipients), RECIPIENTS_PER_METASTORE
    )
    new_shares = {s.name for s in spec.shares} - set(facts.state.shares)
    yield "share", Usage("shares in the metastore", facts.share_count + len(new_shares), SHARES_PER_METASTORE)
    for i, share in enumerate(spec.shares):
        counts: dict[str, int] = {}
        for obj in share.data_objects:
            counts[obj.type.value] = counts.get(obj.type.value, 0) + 1
        for object_type, count in sorted(counts.items()):
            limit = OBJECTS_PER_SHARE.get(object_type)
            if limit is not None:
                yield f"share[{i}].data_objects", Usage(f"{object_type} objects in share {share.name}", count, limit)
