"""The filled example share pack behind `sharepack template` and the committed `examples/` files."""

from __future__ import annotations

from shared.sharepack.model import (
    DataObject,
    Metadata,
    Recipient,
    RecipientType,
    Share,
    SharePack,
    Strategy,
)


def sample_share_pack() -> SharePack:
    """Return a small, valid pack: a D2O and a D2D recipient, two shares over the emulator's tables."""
    return SharePack(
        metadata=Metadata(
            requestor="jane.doe@example.com",
            project_name="Partner analytics",
            business_line="Finance",
            strategy=Strategy.NEW,
            description="Monthly sales and ledger data for our reporting partners.",
        ),
        recipients=(
            Recipient(
                name="acme_analytics",
                type=RecipientType.D2O,
                email="data-team@acme.example.com",
                allowed_ips=("203.0.113.0/24", "198.51.100.7"),
                comment="Acme's analytics team (open sharing, bearer token).",
                token_expiry_days=90,
            ),
            Recipient(
                name="globex_lakehouse",
                type=RecipientType.D2D,
                metastore_id="azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                comment="Globex's Databricks workspace.",
            ),
        ),
        shares=(
            Share(
                name="sales_reporting",
                comment="Orders, customers and returns.",
                recipients=("acme_analytics", "globex_lakehouse"),
                data_objects=(
                    DataObject(name="sales.reporting.orders"),
                    DataObject(name="sales.reporting.customers", shared_as="reporting.customer_list"),
                    DataObject(name="sales.reporting.returns", history=True),
                ),
            ),
            Share(
                name="finance_ledger",
                comment="General ledger for the consolidated reporting.",
                recipients=("globex_lakehouse",),
                data_objects=(
                    DataObject(name="finance.ledger.entries", history=True),
                    DataObject(name="finance.ledger.accounts"),
                ),
            ),
        ),
    )
