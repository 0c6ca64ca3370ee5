"""How `make run` starts its background processes: `die_with_parent` applies the niceness and, for `idle`
(DEVSTACK_BACKGROUND's default), the SCHED_IDLE policy, as the kernel then reports them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dev.devstack.__main__ import BACKGROUND
from dev.devstack.lifeline import die_with_parent


@pytest.mark.parametrize(("name", "policy"), [("idle", "SCHED_IDLE"), ("niced", "SCHED_OTHER")])
def test_background_priority_as_the_kernel_sees_it(name: str, policy: str) -> None:
    priority = BACKGROUND[name]
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             preexec_fn=die_with_parent(priority.niceness, idle=priority.idle))
    try:
        assert os.sched_getscheduler(child.pid) == getattr(os, policy)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) - os.getpriority(os.PRIO_PROCESS, 0) == 10
    finally:
        assert child.stdin is not None
        child.stdin.close()  # its read ends: it exits
        child.wait(timeout=30)
