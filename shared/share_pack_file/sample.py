"""The filled example share pack behind `sharepack template` and the committed `examples/` files."""

from __future__ import annotations

from shared.share_pack_file.model import (
    DataObjectSpec,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)


def sample_share_pack() -> SharePackSpec:
    """Return a small, valid pack: a D2O and a D2D recipient, two shares over the emulator's tables."""
    return SharePackSpec(
        metadata=Metadata(
            requestor="jane.doe@example.com",
            project_name="Partner analytics",
            business_line="Finance",
            strategy=Strategy.NEW,
            description="Monthly sales and ledger data for our reporting partners.",
        ),
        recipients=(
            RecipientSpec(
                name="acme_analytics",
                type=RecipientType.D2O,
                email="data-team@acme.example.com",
                allowed_ips=("203.0.113.0/24", "198.51.100.7"),
                comment="Acme's analytics team (open sharing, bearer token).",
                token_expiry_days=90,
            ),
            RecipientSpec(
                name="globex_lakehouse",
                type=RecipientType.D2D,
                metastore_id="azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                comment="Globex's Databricks workspace.",
            ),
        ),
        shares=(
            ShareSpec(
                name="sales_reporting",
                comment="Orders, customers and returns.",
                recipients=("acme_analytics", "globex_lakehouse"),
                data_objects=(
                    DataObjectSpec(name="sales.reporting.orders"),
                    DataObjectSpec(name="sales.reporting.customers", shared_as="reporting.customer_list"),
                    DataObjectSpec(name="sales.reporting.returns", history=True),
                ),
            ),
            ShareSpec(
                name="finance_ledger",
                comment="General ledger for the consolidated reporting.",
                recipients=("globex_lakehouse",),
                data_objects=(
                    DataObjectSpec(name="finance.ledger.entries", history=True),
                    DataObjectSpec(name="finance.ledger.accounts"),
                ),
            ),
        ),
    )
