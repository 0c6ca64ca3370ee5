"""The workspace's Delta Sharing estate as a caller may see it, and any part of it exported as a share pack.

Read live through the gateway's `read_inventory` (two paged lists, then a get and a permissions read per
share), not from the DATABRICKS_OBJECTS sync's records: an export must describe the objects exactly as they
are now, or uploading it back would plan changes (the sync's copy is as old as its schedule), and the
objects made by hand since the last sync are the very ones an adopting team wants to see. Ownership and
the managing pack come from this service's own rows; a recipient or share no project owns is `UNMANAGED`.

Visibility follows `Access.visible`: a project's configurators and approvers see what it owns, a tenant's
configurators what its projects own, administrators everything, unmanaged objects included. A name the
caller may not see is answered like a name that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from shared.access.policy import Access, Visibility
from shared.access_expiry.rules import EVERY_SHARE
from shared.models import AccessExpiry, Pipeline, Project, Recipient, Request, Share, SharePack, Tenant
from shared.platform.errors import InvalidInput, NotFound, ServiceUnavailable
from shared.platform.pagination import Page
from shared.provisioning.errors import ProvisioningError
from shared.provisioning.gateway import Inventory
from shared.provisioning.workspace_state import (
    DATABRICKS,
    OIDC_FEDERATION,
    RecipientState,
    SharedObjectState,
    ShareState,
    default_shared_as,
)
from shared.share_pack_file.model import (
    Authentication,
    DataObjectSpec,
    DataObjectType,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)
from shared.share_pack_file.write import to_excel, to_yaml

#: What the inventory says for an object no project owns (and what the ``project`` filter takes for them).
UNMANAGED = "UNMANAGED"
#: The contact written for a D2O recipient whose e-mail this service never recorded (RFC 2606 reserves it).
UNKNOWN_CONTACT = "unknown-contact@example.invalid"


class ExportFormat(StrEnum):
    YAML = "yaml"
    XLSX = "xlsx"


class InventoryReader(Protocol):
    """The one read the inventory makes (`DatabricksGateway.read_inventory`)."""

    def read_inventory(self) -> Inventory: ...


@dataclass(frozen=True)
class Ownership:
    """Who owns one recipient or share in this service's records (all None: unmanaged)."""

    project_id: uuid.UUID | None = None
    project_name: str | None = None
    tenant_id: uuid.UUID | None = None
    business_line: str | None = None
    share_pack_id: uuid.UUID | None = None
    share_pack_name: str | None = None
    contact_email: str | None = None
    # The tickets the managing pack's latest request answers to (`requests` columns), carried into an export.
    service_now_ticket: str | None = None
    ado_ticket: str | None = None

    @property
    def project(self) -> str:
        return self.project_name or UNMANAGED

    def seen_by(self, visible: Visibility | None) -> bool:
        """Whether a caller with this visibility sees the object (None: an administrator sees all)."""
        if visible is None:
            return True
        if self.project_id is None:
            return False
        return self.project_id in visible.project_ids or self.tenant_id in visible.tenant_ids


@dataclass(frozen=True)
class ShareEntry:
    state: ShareState
    grantees: list[str]
    owner: Ownership
    #: When a grant ends, by grantee, where a pack gave it an `expires_on` (the sync service revokes it then).
    grant_expiries: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientEntry:
    state: RecipientState
    shares: list[str]
    owner: Ownership
    #: When the recipient's whole access ends, where its pack gave it an `expires_on`.
    expires_on: datetime | None = None
    #: When a grant to it ends, by share, where its pack gave the grant an `expires_on`.
    grant_expiries: dict[str, datetime] = field(default_factory=dict)

    @property
    def token_expires_at(self) -> datetime | None:
        ms = self.state.expiration_time
        return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


Entry = TypeVar("Entry", ShareEntry, RecipientEntry)


@dataclass(frozen=True)
class Estate:
    """What the caller sees of one workspace: its shares and recipients with their owners, by name."""

    shares: dict[str, ShareEntry]
    recipients: dict[str, RecipientEntry]
    #: The pipelines this service runs, by the table they feed (a share pack declares them in `pipelines`).
    pipelines: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """An exported share pack: the file's bytes, its name, and what the format could not carry."""

    content: bytes
    filename: str
    media_type: str
    warnings: list[str] = field(default_factory=list)


def read_estate(session: Session, access: Access, reader: InventoryReader, workspace_url: str) -> Estate:
    """Read the workspace and keep what ``access`` may see.

    Raises:
        ServiceUnavailable: the workspace could not be read.
    """
    try:
        inventory = reader.read_inventory()
    except ProvisioningError as exc:
        raise ServiceUnavailable(f"The workspace could not be read: {exc}") from exc
    state = inventory.state
    recipient_owners = _owners(session, Recipient, Recipient.recipient_name, workspace_url)
    share_owners = _owners(session, Share, Share.share_name, workspace_url)
    visible = access.visible(session)
    held: dict[str, list[str]] = {}
    for share, grantees in state.grants.items():
        for grantee in grantees:
            held.setdefault(grantee, []).append(share)
    expiries = _expiries(session, workspace_url)
    shares = {
        name: ShareEntry(share, sorted(state.grantees(name)), share_owners.get(name, Ownership()),
                         {r: expiries[r, name] for r in sorted(state.grantees(name)) if (r, name) in expiries})
        for name, share in state.shares.items()
    }
    recipients = {
        name: RecipientEntry(recipient, sorted(held.get(name, ())), recipient_owners.get(name, Ownership()),
                             expiries.get((name, EVERY_SHARE)),
                             {s: expiries[name, s] for s in sorted(held.get(name, ())) if (name, s) in expiries})
        for name, recipient in state.recipients.items()
    }
    pipelines = session.execute(
        select(Pipeline.target_table, Pipeline.pipeline_name).where(
            Pipeline.is_current, ~Pipeline.is_deleted, Pipeline.workspace_url == workspace_url,
            Pipeline.target_table.is_not(None))
    ).all()
    return Estate(
        shares={name: entry for name, entry in sorted(shares.items()) if entry.owner.seen_by(visible)},
        recipients={name: entry for name, entry in sorted(recipients.items()) if entry.owner.seen_by(visible)},
        pipelines={str(table).lower(): name for table, name in pipelines},
    )


def page_of(
    entries: Iterable[Entry], *, project: str | None = None, search: str | None = None, page: int = 1,
    page_size: int = 50,
) -> Page[Entry]:
    """The page of entries owned by ``project`` (a name, or `UNMANAGED`) whose name contains ``search``."""
    wanted = project.lower() if project else None
    needle = search.lower() if search else None
    matching = [
        entry
        for entry in entries
        if (wanted is None or entry.owner.project.lower() == wanted)
        and (needle is None or needle in entry.state.name)
    ]
    start = (page - 1) * page_size
    return Page(items=matching[start:start + page_size], total=len(matching), page=page, page_size=page_size)


def export_pack(
    estate: Estate, *, shares: Sequence[str], recipients: Sequence[str], fmt: ExportFormat, requestor: str,
    workspace_url: str,
) -> Export:
    """The UPDATE share pack that describes the named shares and recipients as they are.

    A share's grantees are declared with it (a pack must declare whom it grants). What the format cannot
    say is named in the warnings together with what an upload of the pack would do about it.

    Raises:
        InvalidInput: nothing named.
        NotFound: a name the caller does not see (or that does not exist; the answer is the same).
    """
    share_names = _unique(shares)
    recipient_names = _unique(recipients)
    if not share_names and not recipient_names:
        raise InvalidInput("Name at least one share or recipient to export")
    for name in share_names:
        if name not in estate.shares:
            raise NotFound(f"Share {name!r} not found")
    for name in recipient_names:
        if name not in estate.recipients:
            raise NotFound(f"Recipient {name!r} not found")
    warnings: list[str] = []
    share_specs = [_share_spec(estate.shares[name], estate, recipient_names, warnings) for name in share_names]
    recipient_specs = [_recipient_spec(estate.recipients[name], warnings) for name in recipient_names]
    metadata = _metadata(estate, share_names, recipient_names, requestor, workspace_url, warnings)
    spec = SharePackSpec(metadata=metadata, recipients=tuple(recipient_specs), shares=tuple(share_specs))
    stem = f"export-{(share_names or recipient_names)[0]}"
    if fmt is ExportFormat.XLSX:
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Export(to_excel(spec), f"{stem}.xlsx", media, warnings)
    return Export(to_yaml(spec).encode(), f"{stem}.yaml", "application/yaml", warnings)


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(name.strip().lower() for name in names))


def _share_spec(entry: ShareEntry, estate: Estate, declared: list[str], warnings: list[str]) -> ShareSpec:
    name = entry.state.name
    grantees = []
    for grantee in entry.grantees:
        if grantee in estate.recipients:
            grantees.append(grantee)
            if grantee not in declared:
                declared.append(grantee)  # a pack declares every recipient it grants
        else:
            warnings.append(f"share {name}: the grant to recipient {grantee} is not written (you may not see "
                            "that recipient); an UPDATE of this pack would revoke it")
    objects = []
    for obj in sorted(entry.state.objects, key=lambda o: (o.name, o.alias or "")):
        data_object = _data_object(obj)
        if data_object is None:
            warnings.append(f"share {name}: data object {obj.name} of type {obj.type} cannot be written in a "
                            "share pack; an UPDATE of this pack would remove it from the share")
        else:
            objects.append(data_object)
        if obj.name in estate.pipelines:
            warnings.append(f"share {name}: data object {obj.name} is fed by pipeline {estate.pipelines[obj.name]}, "
                            "which is not exported; an UPDATE of this pack leaves it as it is")
    return ShareSpec(name=name, comment=entry.state.comment, recipients=tuple(grantees), data_objects=tuple(objects))


def _data_object(obj: SharedObjectState) -> DataObjectSpec | None:
    if obj.type not in DataObjectType.__members__:
        return None
    alias = obj.shared_as if obj.shared_as != default_shared_as(obj.name, obj.type) else None
    return DataObjectSpec(name=obj.name, type=DataObjectType(obj.type), shared_as=alias,
                          history=True if obj.history else None, partitions=obj.partitions,
                          cdf_enabled=True if obj.cdf_enabled else None, start_version=obj.start_version)


def _recipient_spec(entry: RecipientEntry, warnings: list[str]) -> RecipientSpec:
    state = entry.state
    name = state.name
    properties = dict(state.properties)
    if state.authentication_type == DATABRICKS:
        return RecipientSpec(name=name, type=RecipientType.D2D, metastore_id=state.data_recipient_global_metastore_id,
                             comment=state.comment, properties=properties)
    oidc = state.authentication_type == OIDC_FEDERATION
    if state.authentication_type != "TOKEN" and not oidc:
        warnings.append(f"recipient {name}: authentication type {state.authentication_type} cannot be written in "
                        "a share pack; it is written as D2O, which an upload would refuse as a change of type")
    email = entry.owner.contact_email
    if email is None:
        email = UNKNOWN_CONTACT
        warnings.append(f"recipient {name}: Databricks keeps no contact e-mail and this service recorded none; "
                        f"{UNKNOWN_CONTACT} is written in its place (activation links go there)")
    if entry.token_expires_at is not None:
        warnings.append(f"recipient {name}: its token expires at {entry.token_expires_at.isoformat()}; a share "
                        "pack sets a token's lifetime only when it creates the recipient, so it is not written")
    return RecipientSpec(name=name, type=RecipientType.D2O, email=email, allowed_ips=tuple(sorted(state.allowed_ips)),
                         comment=state.comment, properties=properties,
                         authentication=Authentication.OIDC_FEDERATION if oidc else None,
                         federation_policies=state.federation_policies)


def _metadata(
    estate: Estate, shares: list[str], recipients: list[str], requestor: str, workspace_url: str,
    warnings: list[str],
) -> Metadata:
    owners = [estate.shares[n].owner for n in shares] + [estate.recipients[n].owner for n in recipients]
    projects = {(o.business_line, o.project_name) for o in owners if o.project_name is not None}
    if len(projects) > 1:
        warnings.append("the objects belong to several projects: " + ", ".join(sorted(p for _, p in projects if p))
                        + "; a share pack is uploaded by one, so split the export")
    if any(o.project_name is None for o in owners):
        warnings.append("some objects are UNMANAGED: import them into a project (POST /workflow/imports) and set "
                        "that project in the metadata before uploading")
    business_line, project = min(projects, key=lambda p: (p[0] or "", p[1] or "")) if projects else (
        UNMANAGED, UNMANAGED)
    if "@" not in requestor:
        warnings.append(f"the caller {requestor!r} is not an e-mail address; set the requestor before uploading")
        requestor = UNKNOWN_CONTACT
    tickets = {(o.service_now_ticket, o.ado_ticket) for o in owners if o.service_now_ticket or o.ado_ticket}
    if len(tickets) > 1:
        warnings.append("the objects' packs answer to different tickets: "
                        + ", ".join(sorted(" / ".join(t for t in pair if t) for pair in tickets))
                        + "; set the ticket of this change before uploading")
    service_now_ticket, ado_ticket = next(iter(tickets)) if len(tickets) == 1 else (None, None)
    return Metadata(
        requestor=requestor,
        project_name=project or UNMANAGED,
        business_line=business_line or UNMANAGED,
        strategy=Strategy.UPDATE,
        description=f"Exported from {workspace_url}",
        workspace_url=workspace_url,
        service_now_ticket=service_now_ticket,
        ado_ticket=ado_ticket,
    )


def _expiries(session: Session, workspace_url: str) -> dict[tuple[str, str], datetime]:
    """When each recorded grant (recipient, share) or recipient's whole access (recipient, EVERY_SHARE) ends:
    the earliest a completed pack recorded, as the sync service revokes at the first."""
    earliest: dict[tuple[str, str], datetime] = {}
    rows = session.execute(
        select(AccessExpiry.recipient_name, AccessExpiry.share_name, AccessExpiry.expires_at)
        .where(AccessExpiry.workspace_url == workspace_url)
    ).all()
    for recipient, share, expires_at in rows:
        key = (recipient.lower(), share.lower())
        earliest[key] = min(expires_at, earliest.get(key, expires_at))
    return earliest


def _owners(
    session: Session, model: type[Recipient] | type[Share], name_column: object, workspace_url: str
) -> dict[str, Ownership]:
    """Each recorded object's project, tenant and managing pack, by name (one query per kind)."""
    email = Recipient.recipient_contact_email if model is Recipient else None
    tickets = (
        select(Request.service_now_ticket, Request.ado_ticket)
        .where(Request.is_current, Request.share_pack_id == SharePack.share_pack_id)
        .order_by(Request.share_pack_version.desc().nulls_last(), Request.effective_from.desc())
        .limit(1)
        .lateral()
    )
    columns = [name_column, model.project_id, Project.project_name, Tenant.tenant_id, Tenant.business_line_name,
               SharePack.share_pack_id, SharePack.share_pack_name, tickets.c.service_now_ticket, tickets.c.ado_ticket]
    rows = session.execute(
        select(*columns, *([email] if email is not None else []))
        .select_from(model)
        .outerjoin(Project, (Project.project_id == model.project_id) & Project.is_current & ~Project.is_deleted)
        .outerjoin(Tenant, (Tenant.tenant_id == Project.tenant_id) & Tenant.is_current)
        .outerjoin(SharePack, (SharePack.share_pack_id == model.share_pack_id) & SharePack.is_current)
        .outerjoin(tickets, true())
        .where(model.is_current, ~model.is_deleted, model.workspace_url == workspace_url)
    ).all()
    return {
        row[0]: Ownership(
            project_id=row[1] if row[2] is not None else None,
            project_name=row[2],
            tenant_id=row[3],
            business_line=row[4],
            share_pack_id=row[5],
            share_pack_name=row[6],
            service_now_ticket=row[7],
            ado_ticket=row[8],
            contact_email=row[9] if email is not None else None,
        )
        for row in rows
    }
