"""The emulated directory: users, groups, direct memberships and a versioned change log for delta queries.

Every change bumps one counter (``version``) and appends ``(version, kind, id, properties)`` to the log, so a
delta round "since version v" is the log's tail: the objects whose *tracked* properties changed after v
(an unselected property's change produces nothing, as Graph documents for delta). Deleted users leave a
tombstone so a later round can report ``@removed``; membership changes are logged per group so a round
can report ``members@delta`` adds and removes.

The state is one JSON document written atomically (temp file + rename) after each change made through a
hook. Hooks are bulk calls (a seed of 50,000 users is one write), so rewriting the file is cheaper to
reason about than a journal, and a restart loads exactly the last state a hook answered for.
"""

from __future__ import annotations

import bisect
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dev.devserver.persistence import write_atomically

USER_PROPERTIES = (
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "officeLocation",
    "accountEnabled",
    "userType",
    "businessPhones",
    "mobilePhone",
    "preferredLanguage",
)
#: What ``GET /users`` returns without ``$select`` (graph/api/user-list: accountEnabled, department and
#: userType come only when selected).
DEFAULT_USER_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)
GROUP_PROPERTIES = ("id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
                    "groupTypes")
DEFAULT_GROUP_PROPERTIES = GROUP_PROPERTIES
#: A log entry touching every property: creation, removal, restore.
ALL = "*"


class DirectoryError(ValueError):
    """A hook payload the directory refuses (unknown user, malformed seed...)."""


class Directory:
    """Thread-safe in-memory directory, optionally persisted to ``state_file``."""

    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self._clear()
        self.secret = secrets.token_hex(32)
        if self.state_file and self.state_file.exists():
            self._load(json.loads(self.state_file.read_text()))

    # -- state ------------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.version = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}  # group id -> direct member ids (users or groups)
        self.removed_users: dict[str, dict[str, Any]] = {}  # id -> {"version", "reason"}
        self.removed_groups: dict[str, dict[str, Any]] = {}
        # (version, kind, id, properties or ALL); kind: user | group | member+ | member- (id: "group/member")
        self.log: list[tuple[int, str, str, tuple[str, ...]]] = []
        self.token_generation = 0
        self.expiry_mode = "syncStateNotFound"
        self.clock_offset = 0.0
        self._sorted: dict[str, list[str]] = {}
        self._by_name: dict[str, str] = {}  # lowercased UPN and mail -> user id (seeding 50,000 users is O(n))

    def now(self) -> float:
        """The emulator's clock (wall clock plus what ``advance_clock`` added)."""
        return time.time() + self.clock_offset

    def _load(self, data: Mapping[str, Any]) -> None:
        self.secret = data["secret"]
        self.version = data["version"]
        self.users = data["users"]
        self.groups = data["groups"]
        self.members = {gid: set(ids) for gid, ids in data["members"].items()}
        self.removed_users = data["removed_users"]
        self.removed_groups = data.get("removed_groups", {})
        self.log = [(v, k, i, tuple(p)) for v, k, i, p in data["log"]]
        self.token_generation = data["token_generation"]
        self.expiry_mode = data["expiry_mode"]
        self.clock_offset = data["clock_offset"]
        for uid, user in self.users.items():
            self._index(uid, user)

    def _index(self, uid: str, user: Mapping[str, Any]) -> None:
        for name in (user.get("userPrincipalName"), user.get("mail")):
            if name:
                self._by_name[name.lower()] = uid

    def _unindex(self, user: Mapping[str, Any]) -> None:
        for name in (user.get("userPrincipalName"), user.get("mail")):
            if name:
                self._by_name.pop(name.lower(), None)

    def save(self) -> None:
        """Write the state atomically (no-op without a state file). Callers hold the lock."""
        if self.state_file is None:
            return
        data = {
            "secret": self.secret,
            "version": self.version,
            "users": self.users,
            "groups": self.groups,
            "members": {gid: sorted(ids) for gid, ids in self.members.items()},
            "removed_users": self.removed_users,
            "removed_groups": self.removed_groups,
            "log": self.log,
            "token_generation": self.token_generation,
            "expiry_mode": self.expiry_mode,
            "clock_offset": self.clock_offset,
        }
        write_atomically(self.state_file, json.dumps(data, separators=(",", ":")).encode())

    def _bump(self, kind: str, object_id: str, properties: Iterable[str]) -> None:
        self.version += 1
        self.log.append((self.version, kind, object_id, tuple(properties)))
        self._sorted.pop(kind, None)

    def sorted_ids(self, kind: str) -> list[str]:
        """Live user or group ids in id order (cached until the next change of that kind)."""
        with self._lock:
            ids = self._sorted.get(kind)
            if ids is None:
                ids = sorted(self.users if kind == "user" else self.groups)
                self._sorted[kind] = ids
            return ids

    # -- hooks ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything except the signing secret (issued tokens stay verifiable, and then unknown)."""
        with self._lock:
            secret = self.secret
            self._clear()
            self.secret = secret
            self.token_generation = 1  # delta links issued before the reset are expired
            self.save()

    def seed(self, users: Sequence[Mapping[str, Any]], groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Create or update users and groups; group members may be ids, UPNs or mails of seeded objects."""
        with self._lock:
            user_ids = [self._put_user(spec) for spec in users]
            group_ids = [self._put_group(spec) for spec in groups]
            for spec, gid in zip(groups, group_ids, strict=True):
                if "members" in spec:
                    self._set_members(gid, [self._resolve(m) for m in spec["members"]])
            self.save()
            return {"users": user_ids, "groups": group_ids}

    def _put_user(self, spec: Mapping[str, Any]) -> str:
        unknown = set(spec) - set(USER_PROPERTIES)
        if unknown:
            raise DirectoryError(f"unknown user properties: {sorted(unknown)}")
        upn = spec.get("userPrincipalName") or spec.get("mail")
        if not upn:
            raise DirectoryError("a user needs userPrincipalName or mail")
        existing = spec.get("id") or self._find_user_id(upn)
        uid = existing or str(uuid.uuid4())
        user = {
            "businessPhones": [],
            "givenName": None,
            "surname": None,
            "jobTitle": None,
            "department": None,
            "officeLocation": None,
            "mobilePhone": None,
            "preferredLanguage": None,
            "accountEnabled": True,
            "userType": "Member",
            "displayName": upn.split("@")[0],
            "mail": spec.get("mail"),
            **self.users.get(uid, {}),
            **spec,
            "id": uid,
            "userPrincipalName": upn,
        }
        before = self.users.get(uid)
        if before is not None:
            self._unindex(before)
        self.users[uid] = user
        self._index(uid, user)
        if before is None:
            self.removed_users.pop(uid, None)
            self._bump("user", uid, (ALL,))
        else:
            changed = [p for p in USER_PROPERTIES if before.get(p) != user.get(p)]
            if changed:
                self._bump("user", uid, changed)
        return uid

    def _put_group(self, spec: Mapping[str, Any]) -> str:
        unknown = set(spec) - {*GROUP_PROPERTIES, "members"}
        if unknown:
            raise DirectoryError(f"unknown group properties: {sorted(unknown)}")
        if not spec.get("displayName"):
            raise DirectoryError("a group needs a displayName")
        gid = spec.get("id") or str(uuid.uuid4())
        group = {
            "description": None,
            "mail": None,
            "mailEnabled": False,
            "mailNickname": spec["displayName"].replace(" ", "").lower()[:64],
            "securityEnabled": True,
            "groupTypes": [],
            **self.groups.get(gid, {}),
            **{k: v for k, v in spec.items() if k != "members"},
            "id": gid,
        }
        before = self.groups.get(gid)
        self.groups[gid] = group
        self.members.setdefault(gid, set())
        if before is None:
            self._bump("group", gid, (ALL,))
        else:
            changed = [p for p in GROUP_PROPERTIES if before.get(p) != group.get(p)]
            if changed:
                self._bump("group", gid, changed)
        return gid

    def _find_user_id(self, name: str) -> str | None:
        return self._by_name.get(name.lower())

    def _resolve(self, ref: str) -> str:
        if ref in self.users or ref in self.groups:
            return ref
        found = self._find_user_id(ref)
        if found is None:
            raise DirectoryError(f"no user or group {ref!r}")
        return found

    def _set_members(self, gid: str, member_ids: Iterable[str]) -> None:
        wanted = set(member_ids)
        current = self.members.setdefault(gid, set())
        self._change_members(gid, add=wanted - current, remove=current - wanted)

    def _change_members(self, gid: str, *, add: Iterable[str], remove: Iterable[str]) -> None:
        current = self.members.setdefault(gid, set())
        touched = False
        for mid in sorted(set(add) - current):
            current.add(mid)
            self._bump("member+", f"{gid}/{mid}", ())
            touched = True
        for mid in sorted(set(remove) & current):
            current.discard(mid)
            self._bump("member-", f"{gid}/{mid}", ())
            touched = True
        if touched:
            self._bump("group", gid, ("members",))

    def update_user(self, ref: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Change a user's properties (``accountEnabled: false`` disables them)."""
        with self._lock:
            uid = self.user_id(ref)
            self._put_user({**properties, "id": uid, "userPrincipalName": self.users[uid]["userPrincipalName"]})
            self.save()
            return dict(self.users[uid])

    def delete_user(self, ref: str, *, permanent: bool = False) -> None:
        """Delete a user: it leaves every group and later delta rounds report ``@removed``."""
        with self._lock:
            uid = self.user_id(ref)
            for gid, ids in self.members.items():
                if uid in ids:
                    self._change_members(gid, add=(), remove=(uid,))
            self._unindex(self.users.pop(uid))
            self._bump("user", uid, (ALL,))
            self.removed_users[uid] = {"version": self.version, "reason": "deleted" if permanent else "changed"}
            self.save()

    def change_members(self, group_ref: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """Add and remove members (ids, UPNs or mails) of a group; return its member ids."""
        with self._lock:
            gid = self.group_id(group_ref)
            self._change_members(gid, add=[self._resolve(m) for m in add], remove=[self._resolve(m) for m in remove])
            self.save()
            return sorted(self.members[gid])

    def expire_delta_tokens(self, mode: str) -> None:
        """Make every delta link issued so far unusable: ``syncStateNotFound`` (400) or ``resyncRequired`` (410)."""
        if mode not in ("syncStateNotFound", "resyncRequired"):
            raise DirectoryError("mode must be syncStateNotFound or resyncRequired")
        with self._lock:
            self.token_generation += 1
            self.expiry_mode = mode
            self.save()

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (delta links expire after 7 days of it)."""
        with self._lock:
            self.clock_offset += seconds
            self.save()

    # -- reads ------------------------------------------------------------------------------------

    def user_id(self, ref: str) -> str:
        """The id of the live user named by id, UPN or mail; DirectoryError when unknown."""
        with self._lock:
            if ref in self.users:
                return ref
            found = self._find_user_id(ref)
            if found is None:
                raise DirectoryError(f"no user {ref!r}")
            return found

    def user_id_by_upn(self, upn: str) -> str | None:
        """The id of the live user whose userPrincipalName is ``upn`` (case-insensitive), or None."""
        with self._lock:
            wanted = upn.lower()
            uid = self._find_user_id(upn)
            if uid is not None and str(self.users[uid].get("userPrincipalName", "")).lower() == wanted:
                return uid
            # The name index also holds mails; one may equal another user's UPN, so look the UPN up itself.
            return next((u for u, user in self.users.items()
                         if str(user.get("userPrincipalName", "")).lower() == wanted), None)

    def group_id(self, ref: str) -> str:
        """The id of the group named by id or (first) display name."""
        with self._lock:
            if ref in self.groups:
                return ref
            for gid, group in self.groups.items():
                if group["displayName"].lower() == ref.lower():
                    return gid
            raise DirectoryError(f"no group {ref!r}")

    def transitive_members(self, gid: str) -> list[str]:
        """Every object reachable through nested membership (groups and users), deduplicated, in id order."""
        with self._lock:
            seen: set[str] = set()
            stack = list(self.members.get(gid, ()))
            while stack:
                mid = stack.pop()
                if mid in seen or mid == gid:
                    continue
                seen.add(mid)
                stack.extend(self.members.get(mid, ()))
            return sorted(seen)

    def changes_since(self, version: int, up_to: int) -> list[tuple[int, str, str, tuple[str, ...]]]:
        """Log entries with ``version < v <= up_to`` (the log is ordered by version)."""
        with self._lock:
            start = bisect.bisect_right(self.log, version, key=lambda entry: entry[0])
            end = bisect.bisect_right(self.log, up_to, key=lambda entry: entry[0])
            return self.log[start:end]
