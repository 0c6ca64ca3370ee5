"""D2O token lifetimes: 90 days unless the pack says otherwise; D2D recipients have no token."""

from __future__ import annotations

from shared.provisioning.diff import make_plan
from shared.provisioning.sharing_diff import DEFAULT_TOKEN_EXPIRY_DAYS
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file.model import Strategy
from tests.support.builders import d2d, d2o, pack


def test_a_d2o_recipient_without_a_lifetime_gets_90_days_and_a_declared_one_is_kept():
    plan = make_plan(
        pack(Strategy.NEW, recipients=[d2o("acme"), d2o("short", expiry_days=7), d2d("partner")], shares=[]),
        WorkspaceState(),
    )
    days = {c.name: c.new["token_expiry_days"] for c in plan.changes_for("recipients")}
    assert DEFAULT_TOKEN_EXPIRY_DAYS == 90
    assert days == {"acme": 90, "short": 7, "partner": None}
