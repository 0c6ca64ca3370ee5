"""An estate made behind the service's back, in the emulated workspace, and the people who look at it.

The workspace holds two shares and two recipients made through the SDK (as a notebook or Terraform would),
none recorded by this service. Finance has two projects: `Adopters` (ann configures it) and `Rival` (rita
configures it); tina configures the business line. The administrator is `tester`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    FederationPolicy,
    IpAccessList,
    OidcFederationPolicy,
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    SecurablePropertiesKvPairs,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from flask.testing import FlaskClient

from dev.emulator.control import EmulatorControl
from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.platform.settings import Settings
from tests.integration.api.conftest import API_KEY, app_factory, make_settings, publisher, queue  # noqa: F401
from tests.integration.preflight.conftest import emulated_tenant  # noqa: F401 (fixture)
from tests.integration.preflight.test_cli import served_api  # noqa: F401 (fixture; serves `settings` over HTTP)
from tests.integration.provisioning.conftest import clients  # noqa: F401 (fixture)

GLOBEX = "azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
KEYS = {"tester": API_KEY, "ann@example.com": "ann-secret-key-0123456789abcdef0123",
        "rita@example.com": "rita-secret-key-0123456789abcdef0123",
        "tina@example.com": "tina-secret-key-0123456789abcdef0123"}


def add(obj: str, kind: SharedDataObjectDataObjectType, **fields: Any) -> SharedDataObjectUpdate:
    return SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.ADD,
        data_object=SharedDataObject(name=obj, data_object_type=kind, **fields),
    )


def build_estate(client: WorkspaceClient, emulator: EmulatorControl) -> None:
    """Every object kind and field the share pack format carries, made through the SDK."""
    emulator.seed_tables(["sales.reporting.returns", "finance.ledger.entries"])
    emulator.seed_tables([{"full_name": "sales.reporting.orders", "partition_columns": ["country"], "version": 4,
                           "properties": {"delta.enableChangeDataFeed": "true"}}])
    emulator.seed_tables(["sales.reporting.v_orders"], table_type="VIEW")
    client.recipients.create(
        "acme", AuthenticationType.TOKEN, comment="Acme analytics",
        ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24", "198.51.100.7"]),
        properties_kvpairs=SecurablePropertiesKvPairs({"country": "FR", "tier": "gold"}),
    )
    client.recipients.create("fabrikam", AuthenticationType.OIDC_FEDERATION, comment="Fabrikam Power BI")
    client.recipient_federation_policies.create("fabrikam", FederationPolicy(
        name="powerbi", oidc_policy=OidcFederationPolicy(
            issuer="https://login.microsoftonline.com/fabrikam/v2.0", subject_claim="groups", subject="g-1",
            audiences=["api://databricks-sharing"])))
    client.recipients.create("globex", AuthenticationType.DATABRICKS, data_recipient_global_metastore_id=GLOBEX,
                             comment="Globex BI")
    client.shares.create("sales", comment="Sales for partners")
    table = SharedDataObjectDataObjectType
    client.shares.update("sales", updates=[
        add("sales.reporting.orders", table.TABLE,
            history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED,
            partitions=[Partition(values=[PartitionValue(name="country", op=PartitionValueOp.EQUAL,
                                                         recipient_property_key="country")])],
            cdf_enabled=True, start_version=2),
        add("sales.reporting.returns", table.TABLE, shared_as="partner.returns"),
        add("sales.reporting.v_orders", table.VIEW),
        add("sales.reporting.landing", table.VOLUME, string_shared_as="reporting.landing"),
        add("sales.reporting.churn", table.MODEL),
    ])
    client.shares.create("ledger")
    client.shares.update("ledger", updates=[add("finance.ledger", table.SCHEMA)])
    client.shares.update_permissions("sales", changes=[
        PermissionsChange(principal="acme", add=["SELECT"]), PermissionsChange(principal="globex", add=["SELECT"]),
    ])
    client.shares.update_permissions("ledger", changes=[
        PermissionsChange(principal="globex", add=["SELECT"]), PermissionsChange(principal="fabrikam", add=["SELECT"]),
    ])


@pytest.fixture
def estate(workspace_client: WorkspaceClient, emulator: EmulatorControl, session_factory: Any,
           settings: Settings) -> None:
    admin = Access(Principal.from_api_key("tester", admins=frozenset({"tester"})), frozenset())
    put_local_group(session_factory, admin, "adopt-conf", ["ann@example.com"])
    put_local_group(session_factory, admin, "rival-conf", ["rita@example.com"])
    put_local_group(session_factory, admin, "fin-conf", ["tina@example.com"])
    put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec(
            "Finance",
            workspaces={"EMEA": emulator.url},
            configurator_groups=["fin-conf"],
            approval_required="never",
        ),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Adopters", approver_groups=[], configurator_groups=["adopt-conf"]),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Rival", approver_groups=[], configurator_groups=["rival-conf"]),
    )
    build_estate(workspace_client, emulator)


@pytest.fixture
def settings(emulator: EmulatorControl, queue: Any) -> Settings:  # noqa: F811
    """The emulated workspace, and keys for the administrator, ann and rita."""
    return make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url,
                         api_keys=",".join(f"{who}={key}" for who, key in KEYS.items()))


@pytest.fixture
def api(app_factory: Callable[..., FlaskClient], clients: Any, settings: Settings) -> FlaskClient:  # noqa: F811
    """The API reading the emulated workspace, with keys for the administrator, ann and rita."""
    return app_factory(settings, reader_for=clients.gateway)


@pytest.fixture
def as_(emulator: EmulatorControl) -> Callable[[str | None], dict[str, str]]:
    """The headers of a caller (None: no credentials) on the emulated workspace."""

    def headers(who: str | None) -> dict[str, str]:
        result = {"X-Workspace-URL": emulator.url}
        if who is not None:
            result["Authorization"] = f"Bearer {KEYS[who]}"
        return result

    return headers
