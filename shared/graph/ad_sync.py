"""Keep `users` and `ad_groups` in step with Azure AD through Graph delta queries.

Each run resumes from the delta link the last complete round ended with, so an unchanged directory
costs one call and writes nothing. Without a link (first run, or Graph expired it: 400
`syncStateNotFound` / 410 `resyncRequired`) a full round runs and objects it no longer lists are
soft-deleted. Pages are streamed and written in batches of `batch_size` objects, each in its own
transaction: memory stays bounded by the batch, and a crash mid-round only repeats work (the link is
saved after the last page, and writing the same state again adds no history).

Groups are selected by object id only: those a tenant or project names by object id, plus `admin_groups`.
Entra display names are neither unique nor protected (anyone may create a group called `FINANCE-APPROVERS`),
so a display name never selects a group, never takes over a local group of that name, and two groups with one
name are both kept: the display name is stored for showing, with the object id added when it is taken.
Graph reports direct members (`members@delta`); these land in `graph_group_members`, and
`ad_groups.members` is derived from them and the *active* synced users, so disabling a user removes
them from every group's members at the next group sync even though Graph's group did not change.
Members of nested groups are read with `/transitiveMembers` on each run for the groups that have any.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from shared.graph.client import GraphClient
from shared.graph.errors import GraphDeltaExpired
from shared.models import AdGroup, GraphDeltaLink, GraphGroupMember, Project, Tenant, User
from shared.models.history import History

log = logging.getLogger(__name__)

USER_SELECT = "id,userPrincipalName,mail,displayName,jobTitle,department,accountEnabled,userType"
GROUP_SELECT = "id,displayName,members"
SYNCED_BY = "azure-ad-sync"
SOURCE = "azure_ad"
# Graph property -> users column. Updates in a delta round may carry only the changed properties.
_USER_COLUMNS = {"displayName": "display_name", "jobTitle": "job_title", "department": "department",
                 "accountEnabled": "is_active"}


@dataclass
class SyncCounts:
    """What one run did (the numbers a `sync_jobs` row records)."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    full_round: bool = False

    @property
    def versions_written(self) -> int:
        """History versions this run added."""
        return self.created + self.updated + self.deleted


class AdSync:
    """Synchronises users and groups from one Graph client into the database."""

    def __init__(self, session_factory: sessionmaker[Session], client: GraphClient, *, batch_size: int = 1000,
                 admin_groups: Sequence[str] = ()) -> None:
        self.session_factory = session_factory
        self.client = client
        self.batch_size = batch_size
        self.admin_groups = tuple(admin_groups)

    # -- users --------------------------------------------------------------------------------------

    def sync_users(self) -> SyncCounts:
        """One delta round of users (a full one when there is no usable link)."""
        link = self._load_link("users", USER_SELECT)
        try:
            return self._users_round(link)
        except GraphDeltaExpired as exc:
            log.warning("ad_sync.delta_expired resource=users: %s; running a full round", exc.message)
            return self._users_round(None)

    def _users_round(self, link: str | None) -> SyncCounts:
        counts = SyncCounts(full_round=link is None)
        delta = self.client.delta("users", USER_SELECT, link)
        seen: set[str] | None = set() if link is None else None
        changed: list[dict[str, Any]] = []
        removed: list[str] = []
        for page in delta.pages():
            for item in page:
                counts.processed += 1
                if "@removed" in item:
                    removed.append(item["id"])
                else:
                    changed.append(item)
                    if seen is not None:
                        seen.add(item["id"])
            if len(changed) + len(removed) >= self.batch_size:
                self._write_users(changed, removed, counts)
                changed, removed = [], []
        self._write_users(changed, removed, counts)
        if seen is not None:
            self._delete_unseen_users(seen, counts)
        assert delta.delta_link is not None  # DeltaRound raises when a round ends without one
        self._save_link("users", delta.delta_link, USER_SELECT)
        return counts

    def _write_users(self, items: Sequence[Mapping[str, Any]], removed: Sequence[str], counts: SyncCounts) -> None:
        if not items and not removed:
            return
        with self.session_factory.begin() as session:
            history = History(session, User)
            ids = [item["id"] for item in items]
            current = {row.ad_object_id: row for row in session.scalars(
                select(User).where(User.is_current, ~User.is_deleted, User.ad_object_id.in_(ids)))}
            by_id: list[dict[str, Any]] = []
            by_email: list[dict[str, Any]] = []
            for item in items:
                existing = current.get(item["id"])
                values = _user_values(item, existing)
                if values is None:
                    counts.failed += 1
                    log.warning("ad_sync.user_without_address id=%s", item["id"])
                    continue
                (by_id if existing is not None else by_email).append(values)
            # A user not yet linked to the directory (created by hand, or by an upload) is adopted by e-mail.
            adopted = {row.email for row in session.scalars(select(User).where(
                User.is_current, ~User.is_deleted, User.email.in_([v["email"] for v in by_email])))}
            new = [v for v in by_email if v["email"] not in adopted]
            written = history.upsert_many(by_id, key=("ad_object_id",), changed_by=SYNCED_BY,
                                          change_reason="synced from Azure AD")
            written += history.upsert_many([v for v in by_email if v["email"] in adopted], key=("email",),
                                           changed_by=SYNCED_BY, change_reason="linked to Azure AD")
            written += history.upsert_many(new, key=("ad_object_id",), changed_by=SYNCED_BY,
                                           change_reason="found in Azure AD")
            counts.created += len(new)
            counts.updated += written - len(new)
            counts.deleted += self._soft_delete(session, User, removed, "deleted in Azure AD")

    def _delete_unseen_users(self, seen: set[str], counts: SyncCounts) -> None:
        with self.session_factory.begin() as session:
            known = session.scalars(select(User.ad_object_id).where(
                User.is_current, ~User.is_deleted, User.source == SOURCE, User.ad_object_id.is_not(None))).all()
            gone = [object_id for object_id in known if object_id not in seen]
            counts.deleted += self._soft_delete(session, User, gone, "no longer in Azure AD")

    # -- groups -------------------------------------------------------------------------------------

    def wanted_groups(self) -> frozenset[str]:
        """Lowercased group references of tenants, projects and administrators; only object ids select groups."""
        with self.session_factory() as session:
            wanted = {g.lower() for g in self.admin_groups}
            for (groups,) in session.execute(select(Tenant.configurator_ad_group).where(
                    Tenant.is_current, ~Tenant.is_deleted)):
                wanted.update(str(g).lower() for g in groups or ())
            for approvers, configurators in session.execute(select(Project.approver, Project.configurator).where(
                    Project.is_current, ~Project.is_deleted)):
                wanted.update(str(g).lower() for g in [*(approvers or ()), *(configurators or ())])
        return frozenset(wanted)

    def sync_groups(self, wanted: Iterable[str] | None = None) -> SyncCounts:
        """One delta round of groups, then the members of every synced group derived again."""
        names = frozenset(w.lower() for w in (self.wanted_groups() if wanted is None else wanted))
        scope = GROUP_SELECT + "|" + hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()
        link = self._load_link("groups", scope)
        try:
            counts, touched = self._groups_round(link, names, scope)
        except GraphDeltaExpired as exc:
            log.warning("ad_sync.delta_expired resource=groups: %s; running a full round", exc.message)
            counts, touched = self._groups_round(None, names, scope)
        self._refresh_transitive()
        self._derive_members(touched, counts)
        return counts

    def _groups_round(self, link: str | None, wanted: frozenset[str], scope: str
                      ) -> tuple[SyncCounts, dict[str, str]]:
        counts = SyncCounts(full_round=link is None)
        with self.session_factory() as session:
            tracked = dict(session.execute(select(AdGroup.ad_object_id, AdGroup.group_name).where(
                AdGroup.is_current, ~AdGroup.is_deleted, AdGroup.source == SOURCE,
                AdGroup.ad_object_id.is_not(None))).all())
        names: dict[str, str] = {}  # groups this round reported that matter: object id -> display name
        cleared: set[str] = set()
        removed: list[str] = []
        delta = self.client.delta("groups", GROUP_SELECT, link)
        for page in delta.pages():
            adds: list[tuple[str, str, str]] = []
            drops: list[tuple[str, str]] = []
            for item in page:
                gid = item["id"]
                if "@removed" in item:
                    if gid in tracked:
                        removed.append(gid)
                    continue
                name = item.get("displayName") or names.get(gid) or tracked.get(gid) or gid
                if gid.lower() not in wanted:
                    if gid in tracked:  # renamed out of the groups that matter
                        removed.append(gid)
                    continue
                counts.processed += 1 if gid not in names else 0
                names[gid] = name
                if link is None and gid not in cleared:
                    drops.append((gid, "*"))  # a full round restates every member
                    cleared.add(gid)
                for member in item.get("members@delta", ()):
                    kind = "group" if member.get("@odata.type", "").endswith(".group") else "user"
                    if "@removed" in member:
                        drops.append((gid, member["id"]))
                    else:
                        adds.append((gid, member["id"], kind))
            self._apply_members(adds, drops)
        if link is None:
            removed.extend(gid for gid in tracked if gid not in names)
        with self.session_factory.begin() as session:
            session.execute(delete(GraphGroupMember).where(GraphGroupMember.group_object_id.in_(removed)))
            counts.deleted += self._soft_delete(session, AdGroup, removed, "deleted in Azure AD or no longer used")
        assert delta.delta_link is not None
        self._save_link("groups", delta.delta_link, scope)
        return counts, names

    def _apply_members(self, adds: Sequence[tuple[str, str, str]], drops: Sequence[tuple[str, str]]) -> None:
        if not adds and not drops:
            return
        with self.session_factory.begin() as session:
            for gid, mid in drops:
                stmt = delete(GraphGroupMember).where(GraphGroupMember.group_object_id == gid,
                                                      GraphGroupMember.member_type != "transitive")
                session.execute(stmt if mid == "*" else stmt.where(GraphGroupMember.member_object_id == mid))
            for start in range(0, len(adds), self.batch_size):
                rows = [{"group_object_id": g, "member_object_id": m, "member_type": k}
                        for g, m, k in adds[start:start + self.batch_size]]
                session.execute(pg_insert(GraphGroupMember).values(rows).on_conflict_do_nothing())

    def _refresh_transitive(self) -> None:
        """Users reached through nested groups, read again for every group that has a nested group."""
        with self.session_factory() as session:
            nesting = session.scalars(select(GraphGroupMember.group_object_id).where(
                GraphGroupMember.member_type == "group").distinct()).all()
        for gid in nesting:
            users = {item["id"] for item in self.client.items(
                f"groups/{gid}/transitiveMembers/microsoft.graph.user", {"$select": "id", "$top": "999"})}
            with self.session_factory.begin() as session:
                session.execute(delete(GraphGroupMember).where(GraphGroupMember.group_object_id == gid,
                                                               GraphGroupMember.member_type == "transitive"))
                if users:
                    session.execute(pg_insert(GraphGroupMember).values(
                        [{"group_object_id": gid, "member_object_id": u, "member_type": "transitive"}
                         for u in sorted(users)]).on_conflict_do_nothing())

    def _derive_members(self, names: Mapping[str, str], counts: SyncCounts) -> None:
        """Write each synced group's members: e-mail and object id of its active users, lowercased, sorted.

        Batch by batch of groups, so memory holds one batch's members, not every group's.
        """
        with self.session_factory() as session:
            tracked = dict(session.execute(select(AdGroup.ad_object_id, AdGroup.group_name).where(
                AdGroup.is_current, ~AdGroup.is_deleted, AdGroup.source == SOURCE,
                AdGroup.ad_object_id.is_not(None))).all())
        groups = {**tracked, **names}
        ordered = sorted(groups)
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start:start + self.batch_size]
            with self.session_factory.begin() as session:
                members: dict[str, set[str]] = {gid: set() for gid in batch}
                rows = session.execute(
                    select(GraphGroupMember.group_object_id, User.email, User.ad_object_id)
                    .join(User, User.ad_object_id == GraphGroupMember.member_object_id)
                    .where(GraphGroupMember.group_object_id.in_(batch),
                           GraphGroupMember.member_type.in_(("user", "transitive")),
                           User.is_current, ~User.is_deleted, User.is_active)
                )
                for gid, email, object_id in rows:
                    members[gid].update((email.lower(), object_id.lower()))
                self._write_groups(session, [(gid, groups[gid], sorted(members[gid])) for gid in batch], counts)

    def _write_groups(self, session: Session, groups: Sequence[tuple[str, str, list[str]]],
                      counts: SyncCounts) -> None:
        history = History(session, AdGroup)
        known = set(session.scalars(select(AdGroup.ad_object_id).where(
            AdGroup.is_current, ~AdGroup.is_deleted, AdGroup.ad_object_id.in_([g[0] for g in groups]))))
        shown = _display_names(session, groups)
        rows = [{"ad_object_id": gid, "group_name": shown[gid], "members": members, "source": SOURCE}
                for gid, _, members in groups]
        new = [r for r in rows if r["ad_object_id"] not in known]
        written = history.upsert_many([r for r in rows if r["ad_object_id"] in known], key=("ad_object_id",),
                                      changed_by=SYNCED_BY, change_reason="synced from Azure AD")
        written += history.upsert_many(new, key=("ad_object_id",), changed_by=SYNCED_BY,
                                       change_reason="found in Azure AD")
        counts.created += len(new)
        counts.updated += written - len(new)

    # -- shared -------------------------------------------------------------------------------------

    @staticmethod
    def _soft_delete(session: Session, model: type[User] | type[AdGroup], object_ids: Sequence[str],
                     reason: str) -> int:
        if not object_ids:
            return 0
        history = History(session, model)
        business_key = model.__business_key__
        deleted = 0
        for start in range(0, len(object_ids), 1000):
            chunk = list(object_ids[start:start + 1000])
            rows = session.execute(select(getattr(model, business_key)).where(
                model.is_current, ~model.is_deleted, model.ad_object_id.in_(chunk))).scalars().all()
            for business_id in rows:
                history.delete(business_id, changed_by=SYNCED_BY, change_reason=reason)
                deleted += 1
        return deleted

    def _load_link(self, resource: str, scope: str) -> str | None:
        with self.session_factory() as session:
            row = session.get(GraphDeltaLink, resource)
            return row.delta_link if row is not None and row.scope == scope else None

    def _save_link(self, resource: str, link: str, scope: str) -> None:
        with self.session_factory.begin() as session:
            session.execute(pg_insert(GraphDeltaLink).values(resource=resource, delta_link=link, scope=scope)
                            .on_conflict_do_update(index_elements=["resource"],
                                                   set_={"delta_link": link, "scope": scope}))


def _display_names(session: Session, groups: Sequence[tuple[str, str, list[str]]]) -> dict[str, str]:
    """The name each group is stored under: its display name, or ``name (object id)`` when another group (a
    local one, or a synced one with another id) has that name already. Names are unique among current
    groups, and a collision must never fail a sync; a group keeps the name it is stored under if it can."""
    ids = {gid for gid, _, _ in groups}
    rows = session.execute(select(AdGroup.group_name, AdGroup.ad_object_id).where(
        AdGroup.is_current, ~AdGroup.is_deleted,
        AdGroup.group_name.in_(sorted({name for _, name, _ in groups})) | AdGroup.ad_object_id.in_(sorted(ids))))
    stored: dict[str, str] = {}
    taken: set[str] = set()
    for name, gid in rows:
        if gid in ids:
            stored[gid] = name
        else:
            taken.add(name.lower())
    result: dict[str, str] = {}
    # Groups already stored under their display name go first: they keep it.
    for gid, name, _ in sorted(groups, key=lambda g: (stored.get(g[0]) != g[1], g[0])):
        shown = name if name.lower() not in taken else f"{name} ({gid})"
        taken.add(shown.lower())
        result[gid] = shown
    return result


def _user_values(item: Mapping[str, Any], existing: User | None) -> dict[str, Any] | None:
    """The users columns for a Graph user: properties present in `item` over what we already hold."""
    values: dict[str, Any] = {"ad_object_id": item["id"], "source": SOURCE}
    if existing is not None:
        values.update(email=existing.email, display_name=existing.display_name, job_title=existing.job_title,
                      department=existing.department, is_active=existing.is_active)
    else:
        values.update(display_name=None, job_title=None, department=None, is_active=True)
    if "mail" in item or "userPrincipalName" in item:
        # `mail` is null for accounts without a mailbox; the UPN is then their address.
        address = item.get("mail") or item.get("userPrincipalName")
        if address:
            values["email"] = address.strip().lower()
    for graph_name, column in _USER_COLUMNS.items():
        if graph_name in item:
            values[column] = bool(item[graph_name]) if column == "is_active" else item[graph_name]
    return values if values.get("email") else None


