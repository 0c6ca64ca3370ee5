"""The steps of provisioning a share pack: the one list that says what they are, in which order.

Users watch ``provisioning_status`` for "Step k/8: <label>" (the text of the original system), so every
step has a fixed number and label; a DELETE reports the plan steps with their own labels. Steps 3 to 8
each carry out one section of the plan (`shared.provisioning.plan.Section`) with one apply function;
steps 1 and 2 are the job's own work (resolution). Recording the outcome is the job's final act, not a
step: the last status line is "Completed (...)".

Adding a step means adding one `Step` here; the job, the status lines and the plan order follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.provisioning.apply import (
    StepResult,
    apply_data_objects,
    apply_grants,
    apply_recipients,
    apply_shares,
)
from shared.provisioning.apply_pipelines import apply_pipelines, apply_schedules, hand_over
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.plan import Plan, Section, sections_in_order
from shared.share_pack_file.model import Strategy

#: How one plan section is carried out: ``(plan, gateway, concurrency=...) -> StepResult``.
ApplyFunction = Callable[..., StepResult]


@dataclass(frozen=True)
class Step:
    """One reported step of the job.

    Attributes:
        number: its place in "Step k/8".
        label: what the status line says while it runs.
        delete_label: the label when the pack's strategy is DELETE (None: the same as ``label``).
        section: the plan section it carries out (None for the job's own steps).
        apply: the function that carries the section out (None for the job's own steps).
    """

    number: int
    label: str
    delete_label: str | None = None
    section: Section | None = None
    apply: ApplyFunction | None = None

    def label_for(self, strategy: Strategy) -> str:
        """Return the label users see for a pack of this strategy."""
        return self.delete_label if strategy == Strategy.DELETE and self.delete_label else self.label

    def status_line(self, strategy: Strategy, suffix: str = "") -> str:
        """Return ``Step k/8: <label><suffix>``."""
        return f"Step {self.number}/{TOTAL_STEPS}: {self.label_for(strategy)}{suffix}"

    def run(self, plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
        """Carry out this step's section of ``plan``."""
        if self.apply is None:
            raise TypeError(f"step {self.number} ({self.label}) carries out no plan section")
        return self.apply(plan, gateway, concurrency=concurrency)


TENANT = Step(1, "Resolving tenant")
PROJECT = Step(2, "Resolving project")
RECIPIENTS = Step(3, "Provisioning recipients", "Removing recipients", Section.RECIPIENTS, apply_recipients)
SHARES = Step(4, "Creating shares", "Removing shares", Section.SHARES, apply_shares)
DATA_OBJECTS = Step(5, "Adding data objects", "Removing data objects", Section.DATA_OBJECTS, apply_data_objects)
GRANTS = Step(6, "Granting recipients access", "Revoking grants", Section.GRANTS, apply_grants)
PIPELINES = Step(7, "Creating pipelines", "Removing pipelines", Section.PIPELINES, apply_pipelines)
SCHEDULES = Step(8, "Scheduling pipelines", "Removing schedules", Section.SCHEDULES, apply_schedules)

#: Every step, in number order.
STEPS: tuple[Step, ...] = (TENANT, PROJECT, RECIPIENTS, SHARES, DATA_OBJECTS, GRANTS, PIPELINES, SCHEDULES)
TOTAL_STEPS = len(STEPS)

_BY_SECTION = {step.section: step for step in STEPS if step.section is not None}
if tuple(_BY_SECTION) != tuple(Section) or [s.number for s in STEPS] != list(range(1, TOTAL_STEPS + 1)):
    raise AssertionError("STEPS must be numbered 1..n and carry the plan sections in the plan's order")


def step_for(section: Section | str) -> Step:
    """Return the step that carries out a plan section."""
    return _BY_SECTION[Section(section)]


def plan_steps(strategy: Strategy) -> tuple[Step, ...]:
    """Return the steps that carry out a plan, in the order the strategy runs them (reversed for DELETE)."""
    return tuple(_BY_SECTION[section] for section in sections_in_order(strategy))


def apply_step(section: Section | str, plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Carry out one section of ``plan`` (see `apply` for the errors it raises)."""
    return step_for(section).run(plan, gateway, concurrency=concurrency)


def apply_plan(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> list[StepResult]:
    """Carry out every section of ``plan`` in order (for callers that need no per-step bookkeeping)."""
    results = []
    for step in plan_steps(plan.strategy):
        results.append(step.run(plan, gateway, concurrency=concurrency))
        plan = hand_over(plan, results[-1])
    return results
