"""Our one interface to a Databricks workspace, and its implementation with databricks-sdk.

`WorkspaceGateway` speaks the provisioner's language (`workspace_state` types, names, object lists); only
`DatabricksGateway` knows the SDK. Every SDK call goes through `DatabricksGateway._call`, which

* holds one of the workspace's call slots while the request (and the SDK's own Retry-After sleeps) runs,
  so several share packs provisioning the same workspace in one process share one concurrency bound, and
* turns any SDK or transport failure into a classified `ProvisioningError` (`errors.classify_failure`).

Methods are not idempotent by themselves — a create of an existing recipient raises `ObjectAlreadyExists`,
a removal of a missing object raises `ObjectDoesNotExist` — because whether that means "already done" is
the apply step's decision, which it makes by reading the state back.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    PermissionsChange,
    SecurablePropertiesKvPairs,
    SharedDataObjectUpdateAction,
)

from shared.platform import metrics
from shared.provisioning import sdk_convert as convert
from shared.provisioning.errors import ObjectDoesNotExist, classify_failure
from shared.provisioning.pipeline_gateway import LakeflowCalls
from shared.provisioning.pipeline_state import PipelineState, ScheduleState
from shared.provisioning.plan import MAX_UPDATES_PER_CALL, SELECT
from shared.provisioning.workspace_state import (
    OIDC_FEDERATION,
    TOKEN,
    RecipientCreated,
    RecipientState,
    SharedObjectState,
    ShareState,
    WorkspaceState,
)
from shared.share_pack_file.model import FederationPolicySpec, SharePackSpec, Strategy

T = TypeVar("T")

#: ``max_results=0`` asks list endpoints for the server's own page size, so large workspaces are read page
#: by page (https://docs.databricks.com/api/workspace/shares/listshares).
SERVER_PAGE_SIZE = 0


@dataclass(frozen=True)
class MetastoreSharing:
    """What the metastore allows for Delta Sharing (from ``GET metastore_summary``)."""

    delta_sharing_scope: str | None
    global_metastore_id: str | None

    @property
    def allows_external_sharing(self) -> bool:
        """Whether open sharing (D2O, a token for a non-Databricks client) is enabled on the metastore."""
        return self.delta_sharing_scope == "INTERNAL_AND_EXTERNAL"


@dataclass(frozen=True)
class TableSharingFacts:
    """What sharing a table's partitions or change data feed depends on (from ``GET tables/{name}``): its
    partition columns (`ColumnInfo.partition_index`) and whether ``delta.enableChangeDataFeed`` is on."""

    partition_columns: frozenset[str]
    change_data_feed: bool


@dataclass(frozen=True)
class Inventory:
    """Everything Delta Sharing holds in a workspace: every recipient, every share with its objects and
    grants, and the owner of each recipient and share (keyed ``recipient:<name>`` / ``share:<name>``)."""

    state: WorkspaceState
    owners: Mapping[str, str | None] = field(default_factory=dict)


class WorkspaceGateway(Protocol):
    """The calls the provisioner makes to one workspace.

    Every method raises `shared.provisioning.errors.ProvisioningError` subclasses only.
    """

    def read_state(self, spec: SharePackSpec) -> WorkspaceState:
        """Read what the plan for ``share_pack`` needs: all recipients, and the named shares with grants."""
        ...

    def get_recipient(self, name: str) -> RecipientState | None:
        """Return a recipient, or None if it does not exist."""
        ...

    def activation_link(self, name: str) -> str | None:
        """Return a TOKEN recipient's not yet downloaded activation link, or None. It is a credential."""
        ...

    def create_recipient(self, recipient: RecipientState) -> RecipientCreated:
        """Create a recipient; return its activation link (TOKEN recipients only) and its Databricks id."""
        ...

    def update_recipient(
        self, name: str, *, comment: str | None = None, allowed_ips: frozenset[str] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Change a recipient's comment, IP access list and/or properties (None: leave as is; "" or an empty
        set clears; properties replace the whole map)."""
        ...

    def list_federation_policies(self, name: str) -> tuple[FederationPolicySpec, ...]:
        """Return an OIDC_FEDERATION recipient's federation policies."""
        ...

    def create_federation_policy(self, name: str, policy: FederationPolicySpec) -> None:
        """Add a federation policy to an OIDC_FEDERATION recipient."""
        ...

    def delete_federation_policy(self, name: str, policy: str) -> None:
        """Remove a federation policy from a recipient."""
        ...

    def delete_recipient(self, name: str) -> None:
        """Delete a recipient."""
        ...

    def get_share(self, name: str) -> ShareState | None:
        """Return a share with its objects, or None if it does not exist."""
        ...

    def create_share(self, name: str, *, comment: str | None) -> None:
        """Create an empty share."""
        ...

    def update_share_comment(self, name: str, comment: str) -> None:
        """Change a share's comment ("" clears it)."""
        ...

    def delete_share(self, name: str) -> None:
        """Delete a share."""
        ...

    def update_share_objects(
        self, name: str, *, remove: Sequence[SharedObjectState] = (), add: Sequence[SharedObjectState] = (),
        update: Sequence[SharedObjectState] = (),
    ) -> None:
        """Remove, add and update data objects in one call (at most `MAX_UPDATES_PER_CALL` in all)."""
        ...

    def get_share_grantees(self, name: str) -> frozenset[str] | None:
        """Return the recipients holding SELECT on a share, or None if the share does not exist."""
        ...

    def update_share_grants(self, name: str, *, grant: Iterable[str] = (), revoke: Iterable[str] = ()) -> None:
        """Grant and revoke SELECT on a share in one call."""
        ...

    def find_pipeline(self, name: str) -> PipelineState | None:
        """Return our pipeline of this name, with its ids and schedule, or None."""
        ...

    def create_source_folder(self) -> None:
        """Make the workspace folder of the pipelines' source notebooks (no-op if it exists)."""
        ...

    def create_pipeline(self, pipeline: PipelineState) -> str:
        """Upload a pipeline's source and create the pipeline; return its id."""
        ...

    def update_pipeline(self, pipeline_id: str, pipeline: PipelineState) -> None:
        """Replace a pipeline's spec."""
        ...

    def delete_pipeline(self, pipeline_id: str, name: str) -> None:
        """Delete a pipeline and its source notebook."""
        ...

    def create_schedule(
        self, pipeline: str, pipeline_id: str, schedule: ScheduleState, *, tags: Mapping[str, str]
    ) -> int:
        """Create the job that runs a pipeline on a schedule; return the job id."""
        ...

    def reset_schedule(
        self, job_id: int, pipeline: str, pipeline_id: str, schedule: ScheduleState, *, tags: Mapping[str, str]
    ) -> None:
        """Replace a schedule job's settings."""
        ...

    def delete_schedule(self, job_id: int) -> None:
        """Delete a schedule job."""
        ...


class DatabricksGateway(LakeflowCalls):
    """`WorkspaceGateway` on a real `WorkspaceClient` (or one pointed at the emulator).

    Args:
        client: the workspace's client (reuse one per workspace: `clients.WorkspaceClients`).
        slots: the workspace's call bound, shared by everything calling this workspace in the process;
            None: no bound beyond ``concurrency``.
        concurrency: how many reads `read_state` runs at once.
    """

    def __init__(
        self, client: WorkspaceClient, *, slots: threading.Semaphore | None = None, concurrency: int = 8
    ) -> None:
        self._client = client
        self._slots = slots
        self._concurrency = max(1, concurrency)
        self._sdk_suffix = client.config.debug_string()

    def _call(self, concerning: str, fn: Callable[[], T]) -> T:
        endpoint = metrics.databricks_endpoint(concerning)
        with self._slots if self._slots is not None else nullcontext():
            try:
                result = fn()
            except Exception as exc:
                error = classify_failure(exc, concerning=concerning, sdk_suffix=self._sdk_suffix)
                code = (error.error_code if error is not None else None) or type(exc).__name__
                metrics.DATABRICKS_CALLS.labels(endpoint, code).inc()
                if error is None:
                    raise
                raise error from exc
            metrics.DATABRICKS_CALLS.labels(endpoint, "OK").inc()
            return result

    def _get_or_none(self, concerning: str, fn: Callable[[], T]) -> T | None:
        try:
            return self._call(concerning, fn)
        except ObjectDoesNotExist:
            return None

    # -- reading -------------------------------------------------------------------------------------

    def read_state(self, spec: SharePackSpec) -> WorkspaceState:
        """Read the state with the fewest calls: two lists, then per existing named share one get with
        objects and one permissions read (a DELETE also reads each doomed recipient's grants)."""
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            recipients_future = pool.submit(self._list_recipients)
            existing_shares = self._list_share_names()
            recipients = recipients_future.result()
            named = [s.name for s in spec.shares if s.name in existing_shares]
            share_futures = {name: pool.submit(self.get_share, name) for name in named}
            grant_futures = {name: pool.submit(self.get_share_grantees, name) for name in named}
            doomed = []
            if spec.metadata.strategy is Strategy.DELETE:
                doomed = [r.name for r in spec.recipients if r.name in recipients]
            reverse_futures = {name: pool.submit(self._recipient_shares, name) for name in doomed}
            shares = {name: f.result() for name, f in share_futures.items()}
            grants = {name: f.result() or frozenset() for name, f in grant_futures.items()}
            for recipient, future in reverse_futures.items():
                for share in future.result():
                    if share not in grant_futures:  # the named shares' grants are complete already
                        grants[share] = grants.get(share, frozenset()) | {recipient}
        pipelines = self.read_pipelines() if spec.pipelines or _may_own_pipelines(spec) else {}
        return WorkspaceState(
            recipients=recipients,
            shares={name: share for name, share in shares.items() if share is not None},
            grants=grants,
            pipelines=pipelines,
        )

    def _list_recipients(self) -> dict[str, RecipientState]:
        infos = self._call("recipients", lambda: list(self._client.recipients.list()))
        return {state.name: self._with_policies(state) for state in map(convert.recipient_state, infos)}

    def _with_policies(self, state: RecipientState) -> RecipientState:
        """Add an OIDC_FEDERATION recipient's policies (one call each: such recipients are few)."""
        if state.authentication_type != OIDC_FEDERATION:
            return state
        return dataclasses.replace(state, federation_policies=self.list_federation_policies(state.name))

    def _list_share_names(self) -> set[str]:
        infos = self._call("shares", lambda: list(self._client.shares.list_shares()))
        return {info.name.lower() for info in infos if info.name}

    def _recipient_shares(self, name: str) -> list[str]:
        """Return the shares a recipient holds SELECT on (paginated inverse view)."""

        def read() -> list[str]:
            shares: list[str] = []
            page_token: str | None = None
            while True:
                response = self._client.recipients.share_permissions(name, page_token=page_token)
                for item in response.permissions_out or ():
                    if item.share_name and any(
                        SELECT in convert.privileges(a.privileges) for a in item.privilege_assignments or ()
                    ):
                        shares.append(item.share_name.lower())
                page_token = response.next_page_token
                if not page_token:
                    return shares

        return self._get_or_none(f"recipient '{name}'", read) or []

    def get_recipient(self, name: str) -> RecipientState | None:
        """Return a recipient, or None if it does not exist."""
        info = self._get_or_none(f"recipient '{name}'", lambda: self._client.recipients.get(name))
        return self._with_policies(convert.recipient_state(info)) if info is not None else None

    def activation_link(self, name: str) -> str | None:
        """Return a TOKEN recipient's not yet downloaded activation link, or None."""
        info = self._get_or_none(f"recipient '{name}'", lambda: self._client.recipients.get(name))
        return convert.activation_link(info) if info is not None else None

    def get_share(self, name: str) -> ShareState | None:
        """Return a share with its objects, or None if it does not exist."""
        info = self._get_or_none(f"share '{name}'", lambda: self._client.shares.get(name, include_shared_data=True))
        return convert.share_state(info) if info is not None else None

    def get_share_grantees(self, name: str) -> frozenset[str] | None:
        """Return the recipients holding SELECT on a share, or None if the share does not exist."""

        def read() -> frozenset[str]:
            grantees: set[str] = set()
            page_token: str | None = None
            while True:
                response = self._client.shares.share_permissions(name, page_token=page_token)
                for assignment in response.privilege_assignments or ():
                    if assignment.principal and SELECT in convert.privileges(assignment.privileges):
                        grantees.add(assignment.principal.lower())
                page_token = response.next_page_token
                if not page_token:
                    return frozenset(grantees)

        return self._get_or_none(f"share '{name}'", read)

    # -- reading the catalog and the whole workspace (pre-flight checks, the Databricks sync) -----------

    def table_sharing_facts(self, full_name: str) -> TableSharingFacts | None:
        """Return a table's partition columns and change data feed setting, or None if it does not exist."""
        info = self._get_or_none(f"table '{full_name}'", lambda: self._client.tables.get(full_name))
        if info is None:
            return None
        return TableSharingFacts(
            partition_columns=frozenset((c.name or "").lower() for c in info.columns or ()
                                        if c.partition_index is not None),
            change_data_feed=(info.properties or {}).get("delta.enableChangeDataFeed", "").lower() == "true",
        )

    def list_tables(self, catalog: str, schema: str) -> dict[str, str] | None:
        """Return a schema's tables as full name → Unity Catalog table type (``MANAGED``, ``VIEW``...),
        or None if the catalog or schema does not exist. One paged listing instead of a call per table."""

        def read() -> dict[str, str]:
            tables = self._client.tables.list(
                catalog,
                schema,
                max_results=SERVER_PAGE_SIZE,
                omit_columns=True,
                omit_properties=True,
                omit_username=True,
            )
            return {
                (t.full_name or "").lower(): t.table_type.value if t.table_type else "" for t in tables if t.full_name
            }

        return self._get_or_none(f"schema '{catalog}.{schema}'", read)

    def metastore_sharing(self) -> MetastoreSharing:
        """Return the metastore's Delta Sharing scope and global id."""
        summary = self._call("metastore", lambda: self._client.metastores.summary())
        scope = summary.delta_sharing_scope
        return MetastoreSharing(
            delta_sharing_scope=getattr(scope, "value", scope),
            global_metastore_id=(summary.global_metastore_id or "").lower() or None,
        )

    def list_recipients(self) -> dict[str, RecipientState]:
        """Return every recipient of the metastore, by name."""
        return self._list_recipients()

    def share_names(self) -> set[str]:
        """Return the names of every share of the metastore."""
        return self._list_share_names()

    def read_inventory(self) -> Inventory:
        """Read every recipient and share with objects and grants: two paged lists, then per share one
        get and one permissions read, at most ``concurrency`` at a time (429s wait out Retry-After in `_call`)."""
        recipient_infos = self._call(
            "recipients", lambda: list(self._client.recipients.list(max_results=SERVER_PAGE_SIZE))
        )
        share_infos = self._call(
            "shares", lambda: list(self._client.shares.list_shares(max_results=SERVER_PAGE_SIZE))
        )
        owners: dict[str, str | None] = {f"recipient:{(r.name or '').lower()}": r.owner for r in recipient_infos}
        owners |= {f"share:{(s.name or '').lower()}": s.owner for s in share_infos}
        names = [s.name.lower() for s in share_infos if s.name]
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            shares = dict(zip(names, pool.map(self.get_share, names), strict=True))
            grants = dict(zip(names, pool.map(self.get_share_grantees, names), strict=True))
        return Inventory(
            state=WorkspaceState(
                recipients={
                    state.name: self._with_policies(state) for state in map(convert.recipient_state, recipient_infos)
                },
                # a share deleted between the list and the get is simply gone
                shares={name: share for name, share in shares.items() if share is not None},
                grants={name: grantees for name, grantees in grants.items() if grantees is not None},
            ),
            owners=owners,
        )

    # -- recipients ----------------------------------------------------------------------------------

    def create_recipient(self, recipient: RecipientState) -> RecipientCreated:
        """Create a recipient; return its activation link (TOKEN recipients only) and its Databricks id."""
        token = recipient.authentication_type == TOKEN
        info = self._call(
            f"recipient '{recipient.name}'",
            lambda: self._client.recipients.create(
                recipient.name,
                AuthenticationType(recipient.authentication_type),
                comment=recipient.comment,
                data_recipient_global_metastore_id=recipient.data_recipient_global_metastore_id,
                properties_kvpairs=(
                    SecurablePropertiesKvPairs(properties=dict(recipient.properties)) if recipient.properties else None
                ),
                expiration_time=recipient.expiration_time if token else None,
                ip_access_list=(
                    IpAccessList(allowed_ip_addresses=sorted(recipient.allowed_ips))
                    if token and recipient.allowed_ips
                    else None
                ),
            ),
        )
        return RecipientCreated(activation_link=convert.activation_link(info), databricks_id=info.id)

    def update_recipient(
        self, name: str, *, comment: str | None = None, allowed_ips: frozenset[str] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Change a recipient's comment, IP access list and/or properties (None: leave as is; "" or an empty
        set clears; properties replace the whole map, as `RecipientsAPI.update` documents)."""
        ip_list = IpAccessList(allowed_ip_addresses=sorted(allowed_ips)) if allowed_ips is not None else None
        kvpairs = SecurablePropertiesKvPairs(properties=dict(properties)) if properties is not None else None
        self._call(
            f"recipient '{name}'",
            lambda: self._client.recipients.update(name, comment=comment, ip_access_list=ip_list,
                                                   properties_kvpairs=kvpairs),
        )

    def list_federation_policies(self, name: str) -> tuple[FederationPolicySpec, ...]:
        """Return an OIDC_FEDERATION recipient's federation policies, by name."""
        policies = self._call(f"recipient '{name}'",
                              lambda: list(self._client.recipient_federation_policies.list(name)))
        return tuple(sorted(map(convert.federation_policy_spec, policies), key=lambda p: p.name))

    def create_federation_policy(self, name: str, policy: FederationPolicySpec) -> None:
        """Add a federation policy to an OIDC_FEDERATION recipient."""
        self._call(f"federation policy '{policy.name}' of recipient '{name}'",
                   lambda: self._client.recipient_federation_policies.create(name, convert.federation_policy(policy)))

    def delete_federation_policy(self, name: str, policy: str) -> None:
        """Remove a federation policy from a recipient."""
        self._call(f"federation policy '{policy}' of recipient '{name}'",
                   lambda: self._client.recipient_federation_policies.delete(name, policy))

    def delete_recipient(self, name: str) -> None:
        """Delete a recipient."""
        self._call(f"recipient '{name}'", lambda: self._client.recipients.delete(name))

    # -- shares --------------------------------------------------------------------------------------

    def create_share(self, name: str, *, comment: str | None) -> None:
        """Create an empty share."""
        self._call(f"share '{name}'", lambda: self._client.shares.create(name, comment=comment))

    def update_share_comment(self, name: str, comment: str) -> None:
        """Change a share's comment ("" clears it)."""
        self._call(f"share '{name}'", lambda: self._client.shares.update(name, comment=comment))

    def delete_share(self, name: str) -> None:
        """Delete a share."""
        self._call(f"share '{name}'", lambda: self._client.shares.delete(name))

    def update_share_objects(
        self, name: str, *, remove: Sequence[SharedObjectState] = (), add: Sequence[SharedObjectState] = (),
        update: Sequence[SharedObjectState] = (),
    ) -> None:
        """Remove, add and update data objects in one call (at most `MAX_UPDATES_PER_CALL` in all)."""
        if len(remove) + len(add) + len(update) > MAX_UPDATES_PER_CALL:
            raise ValueError(f"at most {MAX_UPDATES_PER_CALL} object updates per call")
        updates = [convert.object_update(SharedDataObjectUpdateAction.REMOVE, obj) for obj in remove]
        updates += [convert.object_update(SharedDataObjectUpdateAction.ADD, obj) for obj in add]
        updates += [convert.object_update(SharedDataObjectUpdateAction.UPDATE, obj) for obj in update]
        if updates:
            self._call(f"share '{name}'", lambda: self._client.shares.update(name, updates=updates))

    def update_share_grants(self, name: str, *, grant: Iterable[str] = (), revoke: Iterable[str] = ()) -> None:
        """Grant and revoke SELECT on a share in one call."""
        changes = [PermissionsChange(principal=r, add=[SELECT]) for r in sorted(grant)]
        changes += [PermissionsChange(principal=r, remove=[SELECT]) for r in sorted(revoke)]
        if changes:
            self._call(
                f"share '{name}'",
                lambda: self._client.shares.update_permissions(name, changes=changes, omit_permissions_list=True),
            )


# -- SDK ↔ engine types ---------------------------------------------------------------------------------


def _may_own_pipelines(spec: SharePackSpec) -> bool:
    """Whether a pack without pipelines may still remove some: an UPDATE or DELETE of shares."""
    return spec.metadata.strategy is not Strategy.NEW and bool(spec.shares)
