"""The pack the format was designed for (1,000 recipients, 500 shares, 20,000 data objects), end to end:
upload through the API, the queue, a worker process and the emulator; then exactly that in the workspace
and in the database. It once failed at step 8 (one giant statement exceeded PostgreSQL's stack depth)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.bench_sharepack import big_share_pack
from shared.models import AuditEntry, DatabricksObject, Notification, Recipient, Share
from shared.platform.status import NotificationType
from shared.share_pack_file import SharePackSpec, to_yaml

#: Generous: the pack takes about a minute on a loaded 2-core machine; a hang must still end the test.
TIMEOUT_SECONDS = 600


def expected_objects(spec: SharePackSpec) -> dict[str, set[tuple[str, str]]]:
    """share → {(table, shared_as)}; a table declared without an alias is shared as <schema>.<table>."""
    return {
        share.name: {(o.name, o.shared_as or ".".join(o.name.split(".")[1:])) for o in share.data_objects}
        for share in spec.shares
    }


def current_count(session: Session, model: type, workspace_url: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(model)
        .where(model.is_current, ~model.is_deleted, model.workspace_url == workspace_url)
    )


def test_the_big_pack_completes_with_exactly_its_state_in_the_workspace_and_the_database(stack, engine: Engine):
    spec = big_share_pack()
    tables = sorted({o.name for share in spec.shares for o in share.data_objects})
    assert (len(spec.recipients), len(spec.shares), len(tables)) == (1_000, 500, 20_000)
    stack.emulator.seed_tables(tables)
    stack.start_worker()

    share_pack_id = stack.upload(to_yaml(spec), "big.yaml")
    final = stack.wait_final(share_pack_id, timeout=TIMEOUT_SECONDS)

    assert final["Status"] == "COMPLETED", final
    assert final["ProvisioningStatus"].startswith("Step 8/8: Completed")
    url = stack.emulator.url

    state = stack.emulator.state()
    recipients = {r["name"]: r for r in state["recipients"]}
    assert set(recipients) == {r.name for r in spec.recipients}
    kinds = Counter(r["authentication_type"] for r in recipients.values())
    assert kinds == Counter("TOKEN" if r.type.value == "D2O" else "DATABRICKS" for r in spec.recipients)
    shares = {s["name"]: {(o["name"], o["shared_as"]) for o in s["objects"].values()} for s in state["shares"]}
    assert shares == expected_objects(spec)
    grants = {
        share: {principal for principal, privileges in held.items() if "SELECT" in privileges}
        for share, held in state["grants"].items()
        if held
    }
    assert grants == {share.name: set(share.recipients) for share in spec.shares}

    with Session(engine) as session:
        assert current_count(session, Recipient, url) == 1_000
        assert current_count(session, Share, url) == 500
        assert current_count(session, DatabricksObject, url) == 20_000
        audited = Counter(
            dict(
                session.execute(
                    select(AuditEntry.entity_type, func.count())
                    .where(AuditEntry.entity_id.startswith(url))
                    .group_by(AuditEntry.entity_type)
                ).all()
            )
        )
        grants_declared = sum(len(share.recipients) for share in spec.shares)
        assert audited == Counter(recipient=1_000, share=500, data_object=20_000, grant=grants_declared)
        duplicates = session.scalar(
            select(func.count()).select_from(
                select(AuditEntry.entity_id, AuditEntry.action)
                .where(AuditEntry.entity_id.startswith(url))
                .group_by(AuditEntry.entity_id, AuditEntry.action)
                .having(func.count() > 1)
                .subquery()
            )
        )
        assert duplicates == 0
        notifications = Counter(session.scalars(select(Notification.notification_type)).all())
        d2o = sum(1 for r in spec.recipients if r.type.value == "D2O")
        assert notifications == Counter(
            {NotificationType.RECIPIENT_ACTIVATION: d2o, NotificationType.PROVISION_SUCCESS: 1}
        )
