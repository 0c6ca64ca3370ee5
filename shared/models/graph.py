"""Runtime state of the AD sync: the delta links to resume from and the raw group memberships Graph reported.

Both are plumbing, not business history (the SCD2 `users` and `ad_groups` are), so they live in the
runtime schema and may be dropped at any time: the next sync then runs a full round.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RUNTIME_SCHEMA, Base


class GraphDeltaLink(Base):
    """The `@odata.deltaLink` that ends the last complete delta round of one resource."""

    __tablename__ = "graph_delta_links"
    __table_args__ = {"schema": RUNTIME_SCHEMA}

    resource: Mapped[str] = mapped_column(primary_key=True)  # users | groups
    delta_link: Mapped[str]
    # What the round covered ($select, the groups that matter): another scope needs a full round.
    scope: Mapped[str]
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class GraphGroupMember(Base):
    """One member of a synced group as Graph reports it (a user or a nested group, by object id).

    `transitive` rows are users reached through nested groups, refreshed on every run; `ad_groups.members`
    is derived from these rows and the active `users`.
    """

    __tablename__ = "graph_group_members"
    __table_args__ = {"schema": RUNTIME_SCHEMA}

    group_object_id: Mapped[str] = mapped_column(primary_key=True)
    member_object_id: Mapped[str] = mapped_column(primary_key=True)
    member_type: Mapped[str] = mapped_column(primary_key=True)  # user | group | transitive
