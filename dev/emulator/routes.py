"""The Unity Catalog REST surface: which method and path reach which workspace operation.

Routes match the raw (still percent-encoded) path one segment at a time and decode each captured segment
afterwards, because databricks-sdk inserts names into paths unescaped and only ``requests`` re-quotes them
(``databricks/sdk/service/sharing.py`` builds paths with f-strings): ``my%20share`` is the share ``my share``,
and an encoded ``/`` stays inside its segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from dev.emulator.errors import invalid_parameter
from dev.emulator.federation import DATA_SHARING
from dev.emulator.state import Workspace

UC = "/api/2.1/unity-catalog"
POLICIES = f"{DATA_SHARING}/recipients/{{name}}/federation-policies"


@dataclass(frozen=True)
class Call:
    """One authenticated API call as a handler sees it."""

    workspace: Workspace
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    caller: str

    def int_arg(self, name: str) -> int | None:
        """Return an integer query argument, or 400 if it is not one."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise invalid_parameter(f"Invalid value for {name}: '{raw}'") from exc

    def bool_arg(self, name: str) -> bool:
        """Return a boolean query argument (the SDK sends ``true``/``false``)."""
        return self.query.get(name, "").lower() == "true"

    def page(self) -> dict[str, Any]:
        """Return the pagination arguments of a list call."""
        return {
            "max_results": self.int_arg("max_results"),
            "page_token": self.query.get("page_token") or None,
        }


Handler = Callable[[Call], Mapping[str, Any]]


@dataclass(frozen=True)
class Route:
    """A method plus a path template such as ``/recipients/{name}``."""

    method: str
    template: str
    handler: Handler
    public: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        """Return the template as a regex, one path segment per ``{param}``."""
        parts = re.split(r"\{(\w+)\}", self.template)
        # re.split alternates literal text and parameter names: escape the former, capture the latter.
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
        return re.compile(f"^{regex}$")


class Router:
    """Finds the route for a request; compiled patterns are cached at construction."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """Return the route and its decoded path parameters, or ``None``."""
        for route, pattern in self._routes:
            if route.method != method:
                continue
            found = pattern.match(raw_path)
            if found:
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None


def _deleted() -> dict[str, Any]:
    # Real Unity Catalog answers DELETE with 200 and an empty JSON object.
    return {}


def _create_recipient(call: Call) -> Mapping[str, Any]:
    return call.workspace.create_recipient(call.body, caller=call.caller)


def _list_recipients(call: Call) -> Mapping[str, Any]:
    return call.workspace.list_recipients(
        sharing_identifier=call.query.get("data_recipient_global_metastore_id"), **call.page()
    )


def _get_recipient(call: Call) -> Mapping[str, Any]:
    return call.workspace.get_recipient(call.params["name"])


def _update_recipient(call: Call) -> Mapping[str, Any]:
    return call.workspace.update_recipient(call.params["name"], call.body, caller=call.caller)


def _delete_recipient(call: Call) -> Mapping[str, Any]:
    call.workspace.delete_recipient(call.params["name"])
    return _deleted()


def _create_federation_policy(call: Call) -> Mapping[str, Any]:
    return call.workspace.create_federation_policy(call.params["name"], call.body)


def _list_federation_policies(call: Call) -> Mapping[str, Any]:
    return call.workspace.list_federation_policies(call.params["name"])


def _get_federation_policy(call: Call) -> Mapping[str, Any]:
    return call.workspace.get_federation_policy(call.params["name"], call.params["policy"])


def _delete_federation_policy(call: Call) -> Mapping[str, Any]:
    call.workspace.delete_federation_policy(call.params["name"], call.params["policy"])
    return _deleted()


def _rotate_token(call: Call) -> Mapping[str, Any]:
    return call.workspace.rotate_token(call.params["name"], call.body, caller=call.caller)


def _recipient_share_permissions(call: Call) -> Mapping[str, Any]:
    return call.workspace.recipient_share_permissions(call.params["name"], **call.page())


def _activation_info(call: Call) -> Mapping[str, Any]:
    return call.workspace.activation_info(call.params["token"])


def _retrieve_token(call: Call) -> Mapping[str, Any]:
    return call.workspace.retrieve_token(call.params["token"])


def _create_share(call: Call) -> Mapping[str, Any]:
    return call.workspace.create_share(call.body, caller=call.caller)


def _list_shares(call: Call) -> Mapping[str, Any]:
    return call.workspace.list_shares(**call.page())


def _get_share(call: Call) -> Mapping[str, Any]:
    return call.workspace.get_share(call.params["name"], include_shared_data=call.bool_arg("include_shared_data"))


def _update_share(call: Call) -> Mapping[str, Any]:
    return call.workspace.update_share(call.params["name"], call.body, caller=call.caller)


def _delete_share(call: Call) -> Mapping[str, Any]:
    call.workspace.delete_share(call.params["name"])
    return _deleted()


def _share_permissions(call: Call) -> Mapping[str, Any]:
    return call.workspace.share_permissions(call.params["name"], **call.page())


def _update_share_permissions(call: Call) -> Mapping[str, Any]:
    return call.workspace.update_share_permissions(call.params["name"], call.body)


def _get_table(call: Call) -> Mapping[str, Any]:
    return call.workspace.get_table(call.params["full_name"])


def _table_exists(call: Call) -> Mapping[str, Any]:
    return call.workspace.table_exists(call.params["full_name"])


def _list_tables(call: Call) -> Mapping[str, Any]:
    catalog, schema = call.query.get("catalog_name"), call.query.get("schema_name")
    if not catalog or not schema:
        raise invalid_parameter("ListTables Missing required field: catalog_name and schema_name")
    omit = [name for name in ("columns", "properties", "username") if call.bool_arg(f"omit_{name}")]
    return call.workspace.list_tables(catalog_name=catalog, schema_name=schema, omit=omit, **call.page())


def _metastore_assignment(call: Call) -> Mapping[str, Any]:
    return call.workspace.metastore_assignment()


def _metastore_summary(call: Call) -> Mapping[str, Any]:
    return call.workspace.metastore_summary()


def _get_metastore(call: Call) -> Mapping[str, Any]:
    return call.workspace.get_metastore(call.params["id"])


def _update_metastore(call: Call) -> Mapping[str, Any]:
    return call.workspace.patch_metastore(call.params["id"], call.body, caller=call.caller)


ROUTER = Router(
    [
        Route("POST", f"{UC}/recipients", _create_recipient),
        Route("GET", f"{UC}/recipients", _list_recipients),
        Route("GET", f"{UC}/recipients/{{name}}", _get_recipient),
        Route("PATCH", f"{UC}/recipients/{{name}}", _update_recipient),
        Route("DELETE", f"{UC}/recipients/{{name}}", _delete_recipient),
        Route("POST", f"{UC}/recipients/{{name}}/rotate-token", _rotate_token),
        Route("GET", f"{UC}/recipients/{{name}}/share-permissions", _recipient_share_permissions),
        Route("POST", f"{POLICIES}", _create_federation_policy),
        Route("GET", f"{POLICIES}", _list_federation_policies),
        Route("GET", f"{POLICIES}/{{policy}}", _get_federation_policy),
        Route("DELETE", f"{POLICIES}/{{policy}}", _delete_federation_policy),
        Route("GET", f"{UC}/public/data_sharing_activation_info/{{token}}", _activation_info, public=True),
        Route("GET", f"{UC}/public/data_sharing_activation/{{token}}", _retrieve_token, public=True),
        Route("POST", f"{UC}/shares", _create_share),
        Route("GET", f"{UC}/shares", _list_shares),
        Route("GET", f"{UC}/shares/{{name}}", _get_share),
        Route("PATCH", f"{UC}/shares/{{name}}", _update_share),
        Route("DELETE", f"{UC}/shares/{{name}}", _delete_share),
        Route("GET", f"{UC}/shares/{{name}}/permissions", _share_permissions),
        Route("PATCH", f"{UC}/shares/{{name}}/permissions", _update_share_permissions),
        Route("GET", f"{UC}/tables", _list_tables),
        Route("GET", f"{UC}/tables/{{full_name}}", _get_table),
        Route("GET", f"{UC}/tables/{{full_name}}/exists", _table_exists),
        Route("GET", f"{UC}/current-metastore-assignment", _metastore_assignment),
        Route("GET", f"{UC}/metastore_summary", _metastore_summary),
        Route("GET", f"{UC}/metastores/{{id}}", _get_metastore),
        Route("PATCH", f"{UC}/metastores/{{id}}", _update_metastore),
    ]
)
