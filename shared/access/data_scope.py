"""Data scoping: which catalogs and schemas a tenant's (and a project's) packs may share.

A tenant declares the catalogs (``sales``) or ``catalog.schema`` prefixes (``sales.reporting``) its packs may
share; a project may narrow that further. Every data object a pack shares and every table a pipeline reads or
writes must lie inside both; an empty declaration sets no limit at its level. A refusal names the object, where
it is in the file, and the rule (whose scope, and what it holds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from shared.models import Project, Tenant
from shared.platform.errors import Forbidden, InvalidInput
from shared.share_pack_file import SharePackSpec
from shared.share_pack_file.model import RecipientSpec, RecipientType

#: A catalog, or a catalog and a schema: Unity Catalog identifiers, no wildcards.
_ENTRY = re.compile(r"^[a-z0-9_][a-z0-9_-]*(\.[a-z0-9_][a-z0-9_-]*)?$")
MAX_ENTRIES = 500


class OutsideDataScope(Forbidden):
    """The pack names data outside what its tenant or project may share."""


def normalise_scope(entries: Iterable[str], *, field: str) -> list[str]:
    """A scope as stored: lowercased, unique, sorted; each entry a catalog or ``catalog.schema``."""
    scope = sorted({str(e).strip().lower() for e in entries if str(e).strip()})
    if len(scope) > MAX_ENTRIES:
        raise InvalidInput(f"{field} holds at most {MAX_ENTRIES} entries")
    bad = [e for e in scope if not _ENTRY.match(e)]
    if bad:
        raise InvalidInput(f"{field}: {bad[0][:80]!r} is neither a catalog nor catalog.schema")
    return scope


def within(name: str, scope: Sequence[str]) -> bool:
    """Whether the object ``name`` (catalog.schema.table, or catalog.schema) lies inside ``scope``."""
    parts = name.lower().split(".")
    return any(parts[: len(prefix)] == prefix for prefix in (entry.split(".") for entry in scope))


def require_in_data_scope(spec: SharePackSpec, tenant: Tenant, project: Project | None) -> None:
    """Raise `OutsideDataScope` naming every object outside the tenant's or the project's scope."""
    refusals = list(_refusals(spec, tenant, project))
    if refusals:
        raise OutsideDataScope("; ".join(refusals[:20]) + (f" (and {len(refusals) - 20} more)" if len(refusals) > 20
                                                            else ""))


def _named(spec: SharePackSpec) -> Iterator[tuple[str, str]]:
    for i, share in enumerate(spec.shares):
        for j, obj in enumerate(share.data_objects):
            yield f"share[{i}].data_objects[{j}]", obj.name
    for i, pipeline in enumerate(spec.pipelines):
        for column in ("source_table", "target_table"):
            value = getattr(pipeline, column)
            if value:
                yield f"pipelines[{i}].{column}", value


def _refusals(spec: SharePackSpec, tenant: Tenant, project: Project | None) -> Iterator[str]:
    rules = [(f"business line {tenant.business_line_name!r}", list(tenant.shareable_scope or ()))]
    if project is not None:
        rules.append((f"project {project.project_name!r}", list(project.shareable_scope or ())))
    for path, name in _named(spec):
        for whose, scope in rules:
            if scope and not within(name, scope):
                yield (f"{path}: {name.lower()} is outside the data scope of {whose}, which may share only "
                       f"{', '.join(scope[:10])}{', ...' if len(scope) > 10 else ''}")
                break


def is_external_d2d(recipient: RecipientSpec, tenant: Tenant) -> bool:
    """Whether a D2D recipient's metastore is not one of the tenant's own (it may be any Databricks account's)."""
    if recipient.type is not RecipientType.D2D:
        return False
    own = {str(m).lower() for m in tenant.own_metastores or ()}
    return (recipient.metastore_id or "").lower() not in own
