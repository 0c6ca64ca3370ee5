"""A plan in words: what a requestor reads in a mail and on the console, never internal counter names."""

from __future__ import annotations

from shared.provisioning.diff import make_plan
from shared.provisioning.summary import plan_counts, plan_sentences
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file.model import Strategy
from tests.support.builders import d2d, d2o, pack, share


def test_a_new_pack_reads_as_sentences_in_step_order():
    spec = pack(
        Strategy.NEW,
        recipients=[d2o("acme"), d2d("globex")],
        shares=[share("sales", [f"sales.reporting.t{i}" for i in range(7)], recipients=["acme", "globex"])],
    )

    sentences = plan_sentences(make_plan(spec, WorkspaceState()).to_dict())

    assert sentences == [
        "2 recipients created (acme (D2O), globex (D2D))",
        "1 share created (sales)",
        "7 tables added to share sales (sales.reporting.t0, sales.reporting.t1, sales.reporting.t2, "
        "sales.reporting.t3, sales.reporting.t4 and 2 more)",
        "2 recipients given access (acme on sales, globex on sales)",
    ]


def test_counts_read_as_one_short_line():
    spec = pack(
        Strategy.NEW,
        recipients=[d2o("acme"), d2d("globex")],
        shares=[share("sales", ["sales.reporting.orders"], recipients=["acme"]),
                share("ledger", ["finance.ledger.entries", "finance.ledger.accounts"], recipients=["globex"])],
    )

    counts = plan_counts(make_plan(spec, WorkspaceState()).to_dict())

    assert counts == "2 recipients created, 2 shares created, 3 tables added, 2 recipients given access"


def test_a_plan_that_changes_nothing_has_no_sentence():
    assert plan_sentences(None) == []
    assert plan_sentences({"steps": {}}) == []
    assert plan_counts(None) == ""
