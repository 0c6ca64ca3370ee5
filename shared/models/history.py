"""The one API that writes and reads SCD Type 2 history, for every `Versioned` table.

A change never updates business columns in place: it closes the current version (`is_current = false`,
`effective_to = t`) and inserts the next one (`effective_from = t`) in the caller's transaction, so the
intervals of one entity tile time without gaps or overlaps. Concurrent changes of one entity serialise on
a row lock of the current version; a writer that names the version it read (`expected_version`) gets a
`Conflict` instead of silently overwriting a change it has not seen. The database's partial unique index
is the last line of defence: two current rows can never be committed.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, func, insert, inspect, literal, select, text, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.models.base import Versioned
from shared.models.logs import AuditEntry
from shared.platform.errors import Conflict, NotFound
from shared.platform.status import AuditAction

V = TypeVar("V", bound=Versioned)
T = TypeVar("T")

_HISTORY_COLUMNS = frozenset(
    {"record_id", "version", "is_current", "effective_from", "effective_to", "created_by", "change_reason"}
)
_LOCK_ATTEMPTS = 5
#: Entities per statement in bulk writes.
BULK_CHUNK = 5_000


def audit(
    session: Session,
    entity: tuple[str, object],
    action: AuditAction,
    *,
    by: str,
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Add the audit row of a change, in the caller's transaction: who (`by`) did `action` to `entity`
    (its type and id), with the values before and after, and the request that asked for it."""
    entity_type, entity_id = entity
    session.add(
        AuditEntry(
            entity_type=entity_type,
            entity_id=str(entity_id),
            action=action,
            performed_by=by,
            old_values=dict(old) if old is not None else None,
            new_values=dict(new) if new is not None else None,
            request_id=request_id,
        )
    )


class History(Generic[V]):
    """History operations for one versioned model, inside one session (the caller owns the transaction)."""

    def __init__(self, session: Session, model: type[V]) -> None:
        self.session = session
        self.model = model
        self.key = getattr(model, model.__business_key__)
        self._business_columns = _business_columns(model)

    def create(
        self,
        *,
        created_by: str,
        change_reason: str | None = None,
        business_id: uuid.UUID | None = None,
        flush: bool = True,
        **values: Any,
    ) -> V:
        """Insert version 1 of a new entity and return it.

        ``flush=False`` leaves the INSERT to the session's next flush (at the latest its commit), for a new
        entity that no natural key can collide with (a fresh id, no `__current_unique__`): an upload then
        writes its pack, request and audit rows in one flush instead of three.
        """
        row = self.model(
            **{self.model.__business_key__: business_id or uuid.uuid4()},
            **values,
            version=1,
            is_current=True,
            # Evaluated inside the INSERT and read back by RETURNING: no extra round trip on the upload path.
            effective_from=func.clock_timestamp(),
            effective_to=None,
            created_by=created_by,
            change_reason=change_reason or "created",
        )
        self.session.add(row)
        if flush or self.model.__current_unique__:
            self._flush()
        return row

    def change(
        self,
        business_id: uuid.UUID,
        *,
        changed_by: str,
        change_reason: str,
        expected_version: int | None = None,
        **changes: Any,
    ) -> V:
        """Close the current version and insert the next one with `changes` applied; return the new version.

        The next version is copied inside the database (INSERT ... SELECT): a status change of a big share
        pack must not haul its JSON documents through Python only to write them back unchanged.

        Raises:
            NotFound: the entity has no current version.
            Conflict: `expected_version` is not the current version (someone else changed it first).
        """
        current = self._lock_current(business_id)
        if expected_version is not None and current.version != expected_version:
            raise Conflict(
                f"{self.model.__tablename__} {business_id} is at version {current.version}, "
                f"not {expected_version}: reload and retry"
            )
        unknown = set(changes) - set(self._business_columns)
        if unknown:
            raise TypeError(f"not business columns of {self.model.__tablename__}: {sorted(unknown)}")
        now = max(current.now, current.effective_from + timedelta(microseconds=1))
        table = self.model.__table__
        next_version = select(
            *(
                literal(changes[column], type_=table.c[column].type) if column in changes else table.c[column]
                for column in self._business_columns
            ),
            table.c.version + 1,
            true(),
            literal(now, type_=table.c.effective_from.type),
            literal(changed_by),
            literal(change_reason),
        ).where(table.c.record_id == current.record_id)
        try:
            self.session.execute(
                update(table).where(table.c.record_id == current.record_id).values(is_current=False, effective_to=now)
            )
            new_record_id = self.session.execute(
                insert(table)
                .from_select(
                    [*self._business_columns, "version", "is_current", "effective_from", "created_by", "change_reason"],
                    next_version,
                )
                .returning(table.c.record_id)
            ).scalar_one()
        except IntegrityError as exc:
            raise Conflict(
                f"{self.model.__tablename__}: the change collides with another current version ({exc.orig})"
            ) from exc
        stale = self.session.identity_map.get(self.session.identity_key(self.model, current.record_id))
        if stale is not None:
            self.session.expire(stale)
        return self.session.get_one(self.model, new_record_id)

    def upsert(
        self, natural_key: Mapping[str, Any], values: Mapping[str, Any], *, changed_by: str, change_reason: str
    ) -> V:
        """Make the current version of the entity named by `natural_key` carry `values`.

        Creates it if there is none, writes a new version if any value differs, and otherwise leaves the
        current version as it is (so re-recording the same state adds no history).
        """
        self.upsert_many(
            [{**natural_key, **values}], key=tuple(natural_key), changed_by=changed_by, change_reason=change_reason
        )
        return self.find_current(**natural_key)[0]

    def upsert_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        key: Sequence[str],
        changed_by: str,
        change_reason: str,
    ) -> int:
        """`upsert` for many entities at once: set-based reads of their current versions and bulk writes.

        Each row holds the natural `key` columns and the values to carry. Returns how many versions were
        written (new entities plus changed ones); unchanged entities add no history. Rows are handled in
        chunks, so neither a statement nor the memory it needs grows with the number of rows.
        """
        return sum(
            self._write_versions(chunk, key=key, changed_by=changed_by, change_reason=change_reason, create=True)
            for chunk in _chunks(rows, BULK_CHUNK)
        )

    def delete_many(
        self,
        keys: Sequence[Mapping[str, Any]],
        *,
        key: Sequence[str],
        changed_by: str,
        change_reason: str,
    ) -> int:
        """`delete_current` for many entities: a last version with `is_deleted = true` for each that exists."""
        rows = [{**{column: k[column] for column in key}, "is_deleted": True} for k in keys]
        return sum(
            self._write_versions(chunk, key=key, changed_by=changed_by, change_reason=change_reason, create=False)
            for chunk in _chunks(rows, BULK_CHUNK)
        )

    def _write_versions(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        key: Sequence[str],
        changed_by: str,
        change_reason: str,
        create: bool,
    ) -> int:
        """Version every entity whose values differ (and create missing ones if `create`), set-based.

        The rows travel as one JSON document, unpacked by `jsonb_to_recordset`, and the diff, the closing of
        old versions and the insertion of new ones happen in one statement: a constant-size statement and a
        constant number of round trips, whatever the number of rows. (One `(a, b) IN ((..), ..)` list per
        row exceeded PostgreSQL's `max_stack_depth` at 20,000 rows; loading them as ORM objects to compare in
        Python cost seconds.) Two writers of one entity serialise on its row lock; the later one re-checks
        `is_current` and skips a version closed underneath it (writes of one pack are serialised anyway by
        the job's advisory lock).
        """
        if not rows:
            return 0
        columns = list(rows[0])
        if any(list(row) != columns for row in rows) or not set(key) <= set(columns):
            raise ValueError("every row must carry the same columns, the natural key included")
        statement = _version_statement(self.model, tuple(key), tuple(columns), create=create)
        try:
            written = self.session.execute(
                statement,
                {
                    "rows": json.dumps([dict(row) for row in rows], default=_json_default),
                    "now": self._now(),
                    "changed_by": changed_by,
                    "change_reason": change_reason,
                },
            ).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"{self.model.__tablename__}: the change collides with another current version") from exc
        self.session.expire_all()  # versions loaded before may have been closed underneath
        return int(written)

    def delete_current(self, natural_key: Mapping[str, Any], *, changed_by: str, change_reason: str) -> int:
        """Record the deletion of the entity named by `natural_key`, if it exists; return how many were."""
        existing = self.find_current(**natural_key)
        for row in existing:
            self.delete(getattr(row, self.model.__business_key__), changed_by=changed_by, change_reason=change_reason)
        return len(existing)

    def delete(self, business_id: uuid.UUID, *, changed_by: str, change_reason: str) -> V:
        """Record that the entity ceased to exist: a last version with `is_deleted = true`."""
        return self.change(business_id, changed_by=changed_by, change_reason=change_reason, is_deleted=True)

    def current(self, business_id: uuid.UUID) -> V | None:
        """The current version, or None."""
        return self.session.scalars(
            select(self.model).where(self.key == business_id, self.model.is_current)
        ).one_or_none()

    def get_current(self, business_id: uuid.UUID) -> V:
        """The current version; raises NotFound when there is none."""
        row = self.current(business_id)
        if row is None:
            raise NotFound(f"{self.model.__tablename__} {business_id} not found")
        return row

    def find_current(self, *, include_deleted: bool = False, **filters: Any) -> list[V]:
        """Current versions whose columns equal `filters`."""
        stmt = select(self.model).where(self.model.is_current).filter_by(**filters)
        if not include_deleted:
            stmt = stmt.where(~self.model.is_deleted)
        return list(self.session.scalars(stmt))

    def as_of(self, business_id: uuid.UUID, moment: datetime) -> V | None:
        """The version that was current at `moment`, or None if the entity did not exist then."""
        return self.session.scalars(
            select(self.model).where(
                self.key == business_id,
                self.model.effective_from <= moment,
                (self.model.effective_to.is_(None)) | (self.model.effective_to > moment),
            )
        ).one_or_none()

    def history(self, business_id: uuid.UUID) -> list[V]:
        """Every version, oldest first."""
        return list(
            self.session.scalars(select(self.model).where(self.key == business_id).order_by(self.model.version))
        )

    def _lock_current(self, business_id: uuid.UUID) -> Row[Any]:
        """Lock the current version; return its record id, version and start (not its whole row), and the
        database's clock (``now``, read in the same round trip; `change` keeps the next version after this
        one's start whatever the lock waited for)."""
        # Under READ COMMITTED a writer that waited for our lock re-checks `is_current` on the row the
        # winner closed and finds nothing; it then looks again and locks the winner's new version.
        for _ in range(_LOCK_ATTEMPTS):
            row = self.session.execute(
                select(self.model.record_id, self.model.version, self.model.effective_from,
                       func.clock_timestamp().label("now"))
                .where(self.key == business_id, self.model.is_current)
                .with_for_update()
            ).one_or_none()
            if row is not None:
                return row
            exists = self.session.scalar(select(func.count()).select_from(self.model).where(self.key == business_id))
            if not exists:
                raise NotFound(f"{self.model.__tablename__} {business_id} not found")
        raise Conflict(f"{self.model.__tablename__} {business_id} is being changed concurrently; retry")

    def _now(self) -> datetime:
        # clock_timestamp(), not now(): several versions may be written in one transaction.
        return self.session.scalar(select(func.clock_timestamp()))

    def _flush(self) -> None:
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"{self.model.__tablename__}: the change collides with another current version ({exc.orig})"
            ) from exc


@functools.cache
def _version_statement(model: type[Versioned], key: tuple[str, ...], columns: tuple[str, ...], *, create: bool) -> Any:
    """The statement `History._write_versions` runs for one model and one shape of rows (cached).

    Parameters: ``rows`` (a JSON array of objects with ``columns``), ``now``, ``changed_by``,
    ``change_reason``. Returns one row: how many versions were written.
    """
    table = model.__table__
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    name = dialect.identifier_preparer.format_table(table)
    business = _business_columns(model)
    record = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    matches = " AND ".join(f"t.{quote(c)} = i.{quote(c)}" for c in key)
    values = [c for c in columns if c not in key]
    differs = " OR ".join(f"t.{quote(c)} IS DISTINCT FROM i.{quote(c)}" for c in values) or "false"
    history = "version, is_current, effective_from, created_by, change_reason"
    carried = ", ".join(f"i_{c}" if c in values else quote(c) for c in business)
    returned_values = ", ".join([f"i.{quote(c)} AS i_{c}" for c in values] or ["1 AS i_"])
    sql = f"""
        WITH incoming AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i({record})),
        matched AS MATERIALIZED (
            SELECT i.*, t.record_id AS t_record_id, ({differs}) AS t_differs
            FROM incoming AS i LEFT JOIN {name} AS t ON t.is_current AND NOT t.is_deleted AND {matches}
        ),
        closed AS (
            UPDATE {name} AS t
            SET is_current = false, effective_to = greatest(:now, t.effective_from + interval '1 microsecond')
            FROM matched AS i
            WHERE t.record_id = i.t_record_id AND i.t_differs AND t.is_current
            RETURNING {", ".join(f"t.{quote(c)}" for c in business)}, t.version, t.effective_to, {returned_values}
        ),
        versioned AS (
            INSERT INTO {name} ({", ".join(quote(c) for c in business)}, {history})
            SELECT {carried}, version + 1, true, effective_to, :changed_by, :change_reason FROM closed
            RETURNING 1
        )"""
    if create:
        # A new entity gets a fresh business id, unless the rows name it (an upsert keyed by the business id).
        named = model.__business_key__ in columns
        new_id = ("", "") if named else (f"{quote(model.__business_key__)}, ", "gen_random_uuid(), ")
        sql += f""",
        created AS (
            INSERT INTO {name} ({new_id[0]}{", ".join(quote(c) for c in columns)}, {history})
            SELECT {new_id[1]}{", ".join(f"i.{quote(c)}" for c in columns)}, 1, true, :now,
                   :changed_by, :change_reason
            FROM matched AS i
            WHERE i.t_record_id IS NULL
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM versioned) + (SELECT count(*) FROM created)"""
    else:
        sql += "\n        SELECT count(*) FROM versioned"
    return text(sql)


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a bulk history write")


@functools.cache
def _business_columns(model: type[Versioned]) -> tuple[str, ...]:
    """The columns a new version copies from the current one (everything but the history columns)."""
    return tuple(c.key for c in inspect(model).column_attrs if c.key not in _HISTORY_COLUMNS)


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def snapshot(row: Versioned, *, columns: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON-able dict of a version's business columns (for audit rows)."""
    mapper = inspect(type(row))
    names = columns or [c.key for c in mapper.column_attrs if c.key not in _HISTORY_COLUMNS]
    return {name: _jsonable(getattr(row, name)) for name in names}


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
