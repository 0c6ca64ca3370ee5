"""The step vocabulary: one ordered list the job, the status lines and the plan order all follow."""

from __future__ import annotations

import pytest

from shared.provisioning import steps
from shared.provisioning.plan import Plan, Section
from shared.share_pack_file.model import Strategy
from tests.support.fakes import FakeWorkspaceGateway


def test_steps_are_numbered_in_order_and_carry_each_plan_section_once() -> None:
    assert [step.number for step in steps.STEPS] == list(range(1, 9))
    assert [step.section for step in steps.STEPS if step.section] == list(Section)
    assert all((step.section is None) == (step.apply is None) for step in steps.STEPS)


@pytest.mark.parametrize(
    ("strategy", "order"),
    [
        (Strategy.NEW, [3, 4, 5, 6, 7, 8]),
        (Strategy.UPDATE, [3, 4, 5, 6, 7, 8]),
        (Strategy.DELETE, [8, 7, 6, 5, 4, 3]),  # unschedule and revoke before removing
    ],
)
def test_a_plan_runs_its_steps_in_the_strategys_order(strategy: Strategy, order: list[int]) -> None:
    assert [step.number for step in steps.plan_steps(strategy)] == order


def test_status_lines_use_the_delete_label_only_for_delete() -> None:
    assert steps.SHARES.status_line(Strategy.NEW) == "Step 4/8: Creating shares"
    assert steps.SHARES.status_line(Strategy.DELETE, " (plan ready)") == "Step 4/8: Removing shares (plan ready)"
    assert steps.PIPELINES.status_line(Strategy.DELETE) == "Step 7/8: Removing pipelines"


def test_a_section_is_found_by_name_and_a_job_step_carries_out_no_section() -> None:
    assert steps.step_for("data_objects") is steps.DATA_OBJECTS
    with pytest.raises(TypeError, match="carries out no plan section"):
        steps.TENANT.run(Plan(Strategy.NEW), FakeWorkspaceGateway())
