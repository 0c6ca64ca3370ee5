"""The sync service process: `python -m sync` (or the `sharepack-sync` console script).

Runs the scheduler until SIGTERM/SIGINT. A signal lets the running job stop between two records; its run is
recorded INTERRUPTED and the process exits 0. Any number of instances may run: a job never overlaps itself.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from shared.platform import metrics
from shared.platform.errors import ConfigurationError
from shared.platform.health import ProcessHeartbeat
from shared.platform.logging import configure_logging, get_logger
from shared.platform.settings_contract import require_settings
from sync.bootstrap import build_sync_service

log = get_logger("sync")


def main(argv: list[str] | None = None) -> int:
    try:
        require_settings("sync")
        service = build_sync_service()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(json=service.settings.log_format == "json", level=service.settings.log_level)
    stop = service.stop_requested

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("sync.stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    # Counters only: the worker alone answers the state gauges, however many sync instances run.
    metrics.serve(service.settings)
    # Readiness lists it beside the workers; `python -m shared.platform.health heartbeat sync` reads it for a
    # container check.
    heartbeat = ProcessHeartbeat(service.scheduler.runner.engine, "sync").start()
    log.info("sync.started_service", jobs=sorted(service.scheduler.jobs))
    service.scheduler.run_forever()
    heartbeat.stop()
    log.info("sync.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
