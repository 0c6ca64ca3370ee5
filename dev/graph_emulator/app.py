"""The Graph emulator's request pipeline: token endpoint, Graph v1.0 reads, delta rounds and test hooks.

Order of a Graph call, as a client sees it from Graph: an injected fault first (throttling is decided
before authentication), then the bearer token, then the read. Hooks under ``/__graph`` skip all of that
and are not logged. Error bodies follow Graph's shape (``{"error": {"code", "message", "innerError"}}``,
graph/errors) and the token endpoint's follow Entra's (``error``, ``error_description``, ``error_codes``).
"""

from __future__ import annotations

import base64
import bisect
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, unquote_plus, urlencode

from dev.graph_emulator.directory import (
    ALL,
    DEFAULT_GROUP_PROPERTIES,
    DEFAULT_USER_PROPERTIES,
    GROUP_PROPERTIES,
    USER_PROPERTIES,
    Directory,
    DirectoryError,
)
from dev.graph_emulator.identity import (
    CONSOLE_CLIENT_ID,
    CONSOLE_CLIENT_SECRET,
    CONSOLE_REDIRECT_URIS,
    IdentityProvider,
    Reply,
)
from dev.graph_emulator.query import QueryError, parse_filter, parse_select
from dev.graph_emulator.tokens import BadToken, sign, verify

log = logging.getLogger(__name__)

HOOKS = "/__graph"
DEFAULT_CLIENT_ID = "graph-local-client"
DEFAULT_CLIENT_SECRET = "graph-local-secret"  # a development emulator's well-known secret
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_LIFETIME_SECONDS = 3599
DELTA_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600  # graph/delta-query-overview: directory tokens live 7 days
MAX_PAGE_SIZE = 999


#: An object id as Entra writes it (a GUID); ``/users/{key}`` and ``/groups/{id}`` take no other kind of id.
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

@dataclass
class Response:
    """Status, JSON payload (``None``: empty body) and headers; ``body`` (an HTML page) replaces the payload."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class GraphError(Exception):
    """A Graph error reply."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Fault:
    """Answer the next ``count`` Graph calls whose path contains ``path_contains`` with ``status``."""

    path_contains: str
    status: int
    count: int = 1
    retry_after: str | None = None


@dataclass
class Request:
    """One parsed Graph call."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class GraphEmulatorApp:
    """Serves one emulated tenant.

    Args:
        directory: the users, groups and change log.
        clients: ``client_id -> client_secret`` accepted by the token endpoint.
        redirect_uris: ``client_id -> redirect URIs`` registered for sign-in (default: the console's callback
            on a loopback host); added to the defaults.
        delta_page_size: objects per delta page (Graph picks its own size; clients must not assume one).
    """

    def __init__(self, directory: Directory, *, clients: Mapping[str, str] | None = None,
                 redirect_uris: Mapping[str, Sequence[str]] | None = None, delta_page_size: int = 100) -> None:
        self.directory = directory
        self.clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET,
                                        CONSOLE_CLIENT_ID: CONSOLE_CLIENT_SECRET})
        registered: dict[str, list[str]] = {CONSOLE_CLIENT_ID: list(CONSOLE_REDIRECT_URIS)}
        for client, uris in (redirect_uris or {}).items():
            registered.setdefault(client, []).extend(uris)
        self.identity = IdentityProvider(directory, self.clients, registered)
        self.delta_page_size = delta_page_size
        self.base_url = "http://127.0.0.1"
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    # -- pipeline ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Serve one request; never raises."""
        raw_path, _, query_string = target.partition("?")
        path = unquote(raw_path)
        lowered = {k.lower(): v for k, v in headers.items()}
        request = Request(method, path, {k: v[0] for k, v in parse_qs(query_string).items()}, lowered, body)
        if path == HOOKS or path.startswith(f"{HOOKS}/"):
            return self._guard(lambda: self._hook(request))
        response = self._guard(lambda: self._serve(request))
        response.headers.setdefault("request-id", str(uuid.uuid4()))
        if "client-request-id" in lowered:
            response.headers["client-request-id"] = lowered["client-request-id"]
        with self._log_lock:
            self._log.append({
                "method": method,
                "path": path,
                "query": request.query,
                "consistency_level": lowered.get("consistencylevel"),
                "status": response.status,
                "at": time.time(),
            })
        return response

    def _guard(self, serve: Callable[[], Response]) -> Response:
        try:
            return serve()
        except GraphError as exc:
            return _error(exc)
        except QueryError as exc:
            return _error(GraphError(400, exc.code, str(exc)))
        except DirectoryError as exc:
            return Response(400, {"error": {"code": "HookRefused", "message": str(exc)}})
        except Exception:  # a bug must still answer, or the client waits for its timeout
            log.exception("graph_emulator.request_failed")
            return _error(GraphError(500, "generalException", "The emulator failed to serve the request"))

    def _serve(self, request: Request) -> Response:
        segments = [s for s in request.path.split("/") if s]
        if request.method == "POST" and segments[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(segments[0], request)
        if request.method == "GET" and segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return _reply(self.identity.openid_configuration(self.base_url, segments[0]))
        if request.method == "GET" and segments[1:] == ["discovery", "v2.0", "keys"]:
            return _reply(self.identity.keys())
        if request.method in ("GET", "POST") and segments[1:] == ["oauth2", "v2.0", "authorize"]:
            return _reply(self.identity.authorize(segments[0], request.method, request.query, request.body))
        if not segments or segments[0] != "v1.0":
            raise GraphError(404, "BadRequest", f"Resource not found for the segment '{request.path}'.")
        fault = self._take_fault(request.path)
        if fault is not None:
            return _fault_response(fault)
        self._authenticate(request)
        if request.method != "GET":
            raise GraphError(405, "Request_BadRequest", "The emulator serves reads only.")
        return self._route(segments[1:], request)

    def _route(self, segments: list[str], request: Request) -> Response:
        match segments:
            case ["users"]:
                return self._list("user", request)
            case ["users", "delta"]:
                return self._delta("user", request)
            case ["users", ref]:
                return self._get_user(ref, request)
            case ["groups"]:
                return self._list("group", request)
            case ["groups", "delta"]:
                return self._delta("group", request)
            case ["groups", gid]:
                return self._get_group(gid, request)
            case ["groups", gid, ("members" | "transitiveMembers") as relation, *cast] if len(cast) <= 1:
                return self._members(gid, relation, cast[0] if cast else None, request)
            case ["users", ref, "transitiveMemberOf", *cast] if cast in ([], ["microsoft.graph.group"]):
                return self._member_of(ref, request)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{'/'.join(segments)}'.")

    # -- auth ---------------------------------------------------------------------------------------

    def _token(self, tenant: str, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            # client_secret_basic (RFC 6749 §2.3.1), which Entra accepts besides client_secret_post; a client
            # must use one method, so credentials sent both ways must name the same client with one secret.
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id or form.get("client_secret", secret) != secret:
                return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                                  "secret being sent in the request is the client secret value, not the client "
                                  "secret ID.")
            form.update(client_id=client_id, client_secret=secret)
        if form.get("grant_type") == "authorization_code":
            return _reply(self.identity.redeem(self.base_url, tenant, form, _aad_error))
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        if self.clients.get(client_id) is None or self.clients[client_id] != form.get("client_secret"):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                              "being sent in the request is the client secret value, not the client secret ID.")
        if form.get("scope") != GRAPH_SCOPE:
            return _aad_error(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' "
                              "is not valid.")
        now = int(time.time())
        token = sign({"appid": client_id, "tid": tenant, "roles": ["User.Read.All", "GroupMember.Read.All"],
                      "exp": now + TOKEN_LIFETIME_SECONDS}, self.directory.secret)
        return Response(200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS,
                              "ext_expires_in": TOKEN_LIFETIME_SECONDS, "access_token": token})

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}
        try:
            if scheme.lower() != "bearer":
                raise BadToken("no bearer token")
            claims = verify(token, self.directory.secret)
        except BadToken:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.",
                             challenge) from None
        if claims.get("exp", 0) < time.time():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.",
                             challenge)

    # -- reads --------------------------------------------------------------------------------------

    def _objects(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.directory.users if kind == "user" else self.directory.groups

    def _list(self, kind: str, request: Request) -> Response:
        props, default = (USER_PROPERTIES, DEFAULT_USER_PROPERTIES) if kind == "user" else (
            GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES)
        select = parse_select(request.query.get("$select"), props, default)
        advanced = _advanced(request)
        needs_advanced = "$search" in request.query or ("$orderby" in request.query and "$filter" in request.query)
        if needs_advanced and not advanced:
            raise QueryError("Request with $search or $filter+$orderby requires ConsistencyLevel:eventual "
                                 "and $count=true.")
        predicate = parse_filter(request.query["$filter"], props, advanced_allowed=advanced) if (
            "$filter" in request.query) else None
        page = self._page(request)
        state = self._skip_state(request, {"after": ""})
        objects = self._objects(kind)
        with self.directory._lock:
            ids = self.directory.sorted_ids(kind)
            chosen, last, more = [], "", False
            for oid in _after(ids, state["after"]):
                obj = objects.get(oid)
                if obj is None or (predicate is not None and not predicate(obj)):
                    continue
                if len(chosen) == page:
                    more = True
                    break
                chosen.append(_project(obj, select))
                last = oid
            count = sum(1 for oid in ids if predicate is None or predicate(objects[oid])) if (
                advanced and not state["after"]) else None
        collection = "users" if kind == "user" else "groups"
        payload: dict[str, Any] = {"@odata.context": self._context(collection, request.query.get("$select"))}
        if count is not None:
            payload["@odata.count"] = count
        if more:
            payload["@odata.nextLink"] = self._next_link(f"/v1.0/{collection}", request, {"after": last})
        payload["value"] = chosen
        return Response(200, payload)

    def _user_by_key(self, ref: str) -> str:
        """The id of the user ``/users/{ref}`` names: an object id, or a userPrincipalName (never a mail).

        https://learn.microsoft.com/graph/api/user-get: "{id | userPrincipalName}". A key that is neither a
        GUID nor a UPN-shaped name is a malformed object id: 400 Request_BadRequest "Invalid object
        identifier" (recorded in microsoftgraph/microsoft-graph-docs#11724 for directory objects).
        """
        if _OBJECT_ID.match(ref):
            if ref.lower() in self.directory.users:
                return ref.lower()
            raise _not_found(ref)
        if "@" not in ref:
            raise _invalid_object_id(ref)
        uid = self.directory.user_id_by_upn(ref)
        if uid is None:
            raise _not_found(ref)
        return uid

    def _group_by_key(self, ref: str) -> str:
        """The id of the group ``/groups/{ref}`` names: an object id only (graph/api/group-get)."""
        if not _OBJECT_ID.match(ref):
            raise _invalid_object_id(ref)
        if ref.lower() not in self.directory.groups:
            raise _not_found(ref)
        return ref.lower()

    def _get_user(self, ref: str, request: Request) -> Response:
        select = parse_select(request.query.get("$select"), USER_PROPERTIES, DEFAULT_USER_PROPERTIES)
        uid = self._user_by_key(ref)
        user = self.directory.users[uid]
        return Response(200, {"@odata.context": self._context("users/$entity", request.query.get("$select")),
                              **_project(user, select)})

    def _get_group(self, gid: str, request: Request) -> Response:
        group = self.directory.groups[self._group_by_key(gid)]
        select = parse_select(request.query.get("$select"), GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES)
        return Response(200, {"@odata.context": self._context("groups/$entity", request.query.get("$select")),
                              **_project(group, select)})

    def _members(self, gid: str, relation: str, cast: str | None, request: Request) -> Response:
        gid = self._group_by_key(gid)
        if cast not in (None, "microsoft.graph.user", "microsoft.graph.group"):
            raise QueryError(f"The type '{cast}' is not a supported cast for '{relation}'.")
        ids = sorted(self.directory.members.get(gid, ())) if relation == "members" else (
            self.directory.transitive_members(gid))
        page = self._page(request)
        state = self._skip_state(request, {"after": ""})
        chosen, last, more = [], "", False
        for mid in _after(ids, state["after"]):
            is_user = mid in self.directory.users
            if (cast == "microsoft.graph.user" and not is_user) or (cast == "microsoft.graph.group" and is_user):
                continue
            obj = self.directory.users.get(mid) or self.directory.groups.get(mid)
            if obj is None:
                continue
            if len(chosen) == page:
                more = True
                break
            props, default = (USER_PROPERTIES, DEFAULT_USER_PROPERTIES) if is_user else (
                GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES)
            select = parse_select(request.query.get("$select"), props, default)
            chosen.append({"@odata.type": f"#microsoft.graph.{'user' if is_user else 'group'}",
                           **_project(obj, select)})
            last = mid
        path = f"/v1.0/groups/{gid}/{relation}" + (f"/{cast}" if cast else "")
        payload: dict[str, Any] = {"@odata.context": self._context("directoryObjects", request.query.get("$select"))}
        if more:
            payload["@odata.nextLink"] = self._next_link(path, request, {"after": last})
        payload["value"] = chosen
        return Response(200, payload)

    def _member_of(self, ref: str, request: Request) -> Response:
        """A user's groups, nested ones included (graph/api/user-list-transitivememberof); no roles or units."""
        uid = self._user_by_key(ref)
        select = parse_select(request.query.get("$select"), GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES)
        page = self._page(request)
        state = self._skip_state(request, {"after": ""})
        ids = _after(self.identity.transitive_groups(uid), state["after"])
        chosen = [{"@odata.type": "#microsoft.graph.group", **_project(self.directory.groups[gid], select)}
                  for gid in ids[:page]]
        payload: dict[str, Any] = {"@odata.context": self._context("directoryObjects", request.query.get("$select"))}
        if len(ids) > page:
            payload["@odata.nextLink"] = self._next_link(request.path, request, {"after": ids[page - 1]})
        payload["value"] = chosen
        return Response(200, payload)

    # -- delta --------------------------------------------------------------------------------------

    def _delta(self, kind: str, request: Request) -> Response:
        """One page of a delta round; the round's position lives in the signed skip or delta token."""
        collection = "users" if kind == "user" else "groups"
        if "$deltatoken" in request.query:
            state = self._delta_state(kind, request.query["$deltatoken"])
            if request.query["$deltatoken"] == "latest":
                return Response(200, {"@odata.context": self._context(collection, None), "value": [],
                                      "@odata.deltaLink": self._delta_link(collection, kind, state["s"])})
            state = {**state, "to": self.directory.version, "after": ""}
        elif "$skiptoken" in request.query:
            state = self._skip_state(request, {})
            if state.get("k") != kind:
                raise GraphError(400, "Request_BadRequest", "The skip token belongs to another resource.")
        else:
            props = USER_PROPERTIES if kind == "user" else (*GROUP_PROPERTIES, "members")
            default = USER_PROPERTIES if kind == "user" else (*DEFAULT_GROUP_PROPERTIES, "members")
            select = parse_select(request.query.get("$select"), props, default)
            state = {"k": kind, "s": list(select), "from": None, "to": self.directory.version, "after": ""}
        select = tuple(state["s"])
        with self.directory._lock:
            items, last, more = self._delta_page(kind, state, select)
        payload: dict[str, Any] = {"@odata.context": self._context(collection, None), "value": items}
        if more:
            payload["@odata.nextLink"] = self._next_link(f"/v1.0/{collection}/delta", request,
                                                         {**state, "after": last}, keep_query=False)
        else:
            payload["@odata.deltaLink"] = self._delta_link(collection, kind, select, version=state["to"])
        return Response(200, payload)

    def _delta_page(self, kind: str, state: Mapping[str, Any], select: tuple[str, ...]
                    ) -> tuple[list[dict[str, Any]], str, bool]:
        objects = self._objects(kind)
        member_changes: dict[str, dict[str, str]] = {}
        if state["from"] is None:
            candidates = self.directory.sorted_ids(kind)
        else:
            tracked = {*select, ALL}
            changed: set[str] = set()
            for _, entry_kind, oid, props in self.directory.changes_since(state["from"], state["to"]):
                if entry_kind == kind and tracked.intersection(props):
                    changed.add(oid)
                elif kind == "group" and entry_kind in ("member+", "member-") and "members" in select:
                    gid, _, mid = oid.partition("/")
                    member_changes.setdefault(gid, {})[mid] = entry_kind
            candidates = sorted(changed)
        items: list[dict[str, Any]] = []
        last = ""
        for oid in _after(candidates, state["after"]):
            if len(items) == self.delta_page_size:
                return items, last, True
            last = oid
            obj = objects.get(oid)
            if obj is None:
                removed = (self.directory.removed_users if kind == "user" else self.directory.removed_groups).get(oid)
                if removed is not None:
                    items.append({"id": oid, "@removed": {"reason": removed["reason"]}})
                continue
            item = _project(obj, tuple(p for p in select if p != "members"))
            if kind == "group" and "members" in select:
                delta = self._members_delta(oid, None if state["from"] is None else member_changes.get(oid, {}))
                if delta:
                    item["members@delta"] = delta
            items.append(item)
        return items, last, False

    def _members_delta(self, gid: str, changes: Mapping[str, str] | None) -> list[dict[str, Any]]:
        """All members (first round) or the adds and removes since the round's start version."""
        if changes is None:
            changes = {mid: "member+" for mid in self.directory.members.get(gid, ())}
        result = []
        for mid in sorted(changes):
            entry: dict[str, Any] = {
                "@odata.type": "#microsoft.graph.group" if mid in self.directory.groups else "#microsoft.graph.user",
                "id": mid,
            }
            # A member's last logged change wins; replaying an add or a remove is harmless for the client.
            if changes[mid] == "member-" or mid not in self.directory.members.get(gid, ()):
                entry["@removed"] = {"reason": "deleted"}
            result.append(entry)
        return result

    def _delta_state(self, kind: str, token: str) -> dict[str, Any]:
        if token == "latest":
            return {"k": kind, "s": list(USER_PROPERTIES if kind == "user" else (*GROUP_PROPERTIES, "members")),
                    "from": self.directory.version}
        try:
            state = verify(token, self.directory.secret)
        except BadToken:
            raise GraphError(400, "Request_BadRequest", "Invalid delta token.") from None
        if state.get("k") != kind:
            raise GraphError(400, "Request_BadRequest", "The delta token belongs to another resource.")
        expired_by_hook = state["g"] < self.directory.token_generation
        if expired_by_hook and self.directory.expiry_mode == "resyncRequired":
            collection = "users" if kind == "user" else "groups"
            raise GraphError(410, "resyncRequired", "Resync required. Replace any local cached copy with the "
                             "results of a full synchronization.",
                             {"Location": f"{self.base_url}/v1.0/{collection}/delta?$deltatoken="})
        if expired_by_hook or self.directory.now() - state["t"] > DELTA_TOKEN_LIFETIME_SECONDS:
            raise GraphError(400, "syncStateNotFound", "The sync state generation is not found. The delta token "
                             "is expired and data must be synchronized again.")
        return state

    def _delta_link(self, collection: str, kind: str, select: tuple[str, ...] | list[str],
                    version: int | None = None) -> str:
        token = sign({"k": kind, "s": list(select), "from": self.directory.version if version is None else version,
                      "g": self.directory.token_generation, "t": self.directory.now()}, self.directory.secret)
        return f"{self.base_url}/v1.0/{collection}/delta?{urlencode({'$deltatoken': token})}"

    # -- paging helpers -------------------------------------------------------------------------------

    def _page(self, request: Request) -> int:
        raw = request.query.get("$top", "100")
        try:
            top = int(raw)
        except ValueError:
            raise GraphError(400, "Request_BadRequest", f"Invalid page size specified: '{raw}'.") from None
        if not 1 <= top <= MAX_PAGE_SIZE:
            raise GraphError(400, "Request_BadRequest", f"Invalid page size specified: '{top}'. Must be between "
                             f"1 and {MAX_PAGE_SIZE} inclusive.")
        return top

    def _skip_state(self, request: Request, default: dict[str, Any]) -> dict[str, Any]:
        token = request.query.get("$skiptoken")
        if token is None:
            return default
        try:
            return verify(token, self.directory.secret)
        except BadToken:
            raise GraphError(400, "Request_BadRequest", "Invalid skip token.") from None

    def _next_link(self, path: str, request: Request, state: Mapping[str, Any], *, keep_query: bool = True) -> str:
        # Graph's nextLink carries the original parameters and an opaque $skiptoken (graph/paging).
        query = {k: v for k, v in request.query.items() if k != "$skiptoken" and keep_query}
        query["$skiptoken"] = sign(dict(state), self.directory.secret)
        return f"{self.base_url}{quote(path)}?{urlencode(query)}"

    def _context(self, collection: str, select: str | None) -> str:
        suffix = f"({select})" if select else ""
        return f"https://graph.microsoft.com/v1.0/$metadata#{collection}{suffix}"

    # -- faults and hooks ---------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.path_contains in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _hook(self, request: Request) -> Response:
        body = json.loads(request.body) if request.body else {}
        route = request.path[len(HOOKS):].strip("/")
        d = self.directory
        match request.method, route.split("/"):
            case "GET", ["health"]:
                return Response(200, {"status": "ok"})
            case "POST", ["reset"]:
                d.reset()
                with self._faults_lock:
                    self._faults.clear()
                self.clear_requests()
                return Response(200, {})
            case "POST", ["seed"]:
                return Response(200, d.seed(body.get("users", []), body.get("groups", [])))
            case "PATCH", ["users", ref]:
                return Response(200, d.update_user(unquote(ref), body))
            case "DELETE", ["users", ref]:
                d.delete_user(unquote(ref), permanent=bool(body.get("permanent")))
                return Response(200, {})
            case "POST", ["groups", ref, "members"]:
                members = d.change_members(unquote(ref), add=body.get("add", []), remove=body.get("remove", []))
                return Response(200, {"members": members})
            case "POST", ["expire-delta-tokens"]:
                d.expire_delta_tokens(body.get("mode", "syncStateNotFound"))
                return Response(200, {})
            case "POST", ["advance-clock"]:
                d.advance_clock(float(body["seconds"]))
                return Response(200, {})
            case "POST", ["faults"]:
                fault = Fault(path_contains=body.get("path_contains", "/v1.0/"), status=int(body["status"]),
                              count=int(body.get("count", 1)), retry_after=body.get("retry_after"))
                with self._faults_lock:
                    self._faults.append(fault)
                return Response(200, {})
            case "GET", ["requests"]:
                with self._log_lock:
                    return Response(200, {"requests": list(self._log)})
            case "DELETE", ["requests"]:
                self.clear_requests()
                return Response(200, {})
            case "GET", ["users"]:
                return Response(200, {"users": list(d.users.values())})
        return Response(404, {"error": {"code": "HookNotFound", "message": f"no hook {request.method} {route}"}})

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._log_lock:
            self._log.clear()


def _reply(reply: Reply | Response) -> Response:
    """An identity endpoint's answer as this pipeline's Response (an HTML page goes out as is)."""
    if isinstance(reply, Response):
        return reply
    headers = dict(reply.headers or {})
    if reply.html is None:
        return Response(reply.status, reply.payload, headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    return Response(reply.status, None, headers, body=reply.html.encode())


def _after(ids: list[str], after: str) -> list[str]:
    """The ids after ``after`` in a sorted list (a cursor survives inserts between pages, an offset doesn't)."""
    return ids[bisect.bisect_right(ids, after):] if after else ids


def _project(obj: Mapping[str, Any], select: tuple[str, ...]) -> dict[str, Any]:
    return {prop: obj.get(prop) for prop in select}


def _advanced(request: Request) -> bool:
    return (request.headers.get("consistencylevel", "").lower() == "eventual"
            and request.query.get("$count", "").lower() == "true")


def _invalid_object_id(ref: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Invalid object identifier '{ref}'.")


def _not_found(ref: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of its queried "
                      "reference-property objects are not present.")


def _error(error: GraphError) -> Response:
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
             "client-request-id": str(uuid.uuid4())}
    return Response(error.status, {"error": {"code": error.code, "message": error.message, "innerError": inner}},
                    dict(error.headers))


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header (each form-urlencoded), or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ("", "")  # unreadable credentials: no client matches them
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    trace = str(uuid.uuid4())
    return Response(status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace}",
        "error_codes": [code],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    })


def _fault_response(fault: Fault) -> Response:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
    if fault.status == 429:
        return _error(GraphError(429, "TooManyRequests", "Too many requests", headers))
    if fault.status == 503:
        return _error(GraphError(503, "serviceNotAvailable", "Service unavailable", headers))
    return Response(fault.status, None, headers)
