"""The worker process loads what it runs: no upload validation and no pre-flight, which only the API and the
CLI use. Checked in a fresh interpreter, since this test process has loaded everything already."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The modules that read, validate and pre-flight uploaded files.
UPLOAD_ONLY = (
    "shared.share_pack_file.parse",
    "shared.share_pack_file.parse_excel",
    "shared.share_pack_file.parse_yaml",
    "shared.share_pack_file.validate",
    "shared.preflight",
    "shared.use_cases.preflight",
    "shared.use_cases.submit",
)


@functools.cache
def loaded_after_each(*steps: tuple[str, ...]) -> list[list[str]]:
    """Every module one fresh interpreter holds after each step, each step importing its modules in turn."""
    script = "import importlib, json, sys\nfor step in sys.argv[1:]:\n" \
             "    for m in step.split(): importlib.import_module(m)\n" \
             "    print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script, *(" ".join(step) for step in steps)], cwd=ROOT,
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return [json.loads(line) for line in out.stdout.splitlines()]


#: The worker's jobs, then its entry point, then an upload module, in one interpreter: starting one costs
#: ~1.5 s of CPU (the databricks-sdk alone is most of it). `worker.__main__` loads the jobs itself, so the
#: second step holds what `python -m worker` holds; `worker.bootstrap` is none of the jobs' modules, so
#: finding it there means the entry point loaded it. The third step shows the checker would see an upload
#: module the worker loaded.
WORKER_STEPS = (("worker.consumer", "worker.jobs.provision", "worker.jobs.sweep"), ("worker.__main__",),
                ("shared.use_cases.submit",))


def upload_modules(loaded: list[str]) -> list[str]:
    return [m for m in loaded if any(m == u or m.startswith(u + ".") for u in UPLOAD_ONLY)]


def test_the_checker_sees_an_upload_module_when_one_is_loaded():
    _, worker, then_submit = loaded_after_each(*WORKER_STEPS)
    assert "shared.share_pack_file.validate" in upload_modules(then_submit)
    assert "shared.share_pack_file.validate" not in upload_modules(worker)


def test_the_provisioning_job_and_the_queue_loop_load_no_upload_validation_or_preflight():
    loaded = loaded_after_each(*WORKER_STEPS)[0]

    assert {"worker.consumer", "worker.jobs.provision", "worker.jobs.provision_recording"} <= set(loaded)
    assert upload_modules(loaded) == []


def test_the_worker_process_loads_no_upload_validation_or_preflight():
    jobs, loaded, _ = loaded_after_each(*WORKER_STEPS)

    assert "worker.bootstrap" in loaded and "worker.bootstrap" not in jobs
    assert upload_modules(loaded) == []
