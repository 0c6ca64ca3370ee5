"""The worker process: `python -m worker` (or the `sharepack-worker` console script).

Builds everything from settings, then takes one message at a time until SIGTERM/SIGINT. The first signal
stops taking messages and interrupts the current pack between steps (its message is released for another
worker, which resumes it); a second signal exits at once. Any number of workers may run side by side.
Two daemon threads run beside the loop: the outbox relay and the stuck-pack sweeper.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from types import FrameType

from shared.platform import gauges, metrics, tracing
from shared.platform.errors import ConfigurationError
from shared.platform.health import ProcessHeartbeat
from shared.platform.logging import configure_logging, get_logger
from shared.platform.settings_contract import require_settings
from worker.bootstrap import build_worker

log = get_logger("worker")

MAX_IDLE_WAIT_SECONDS = 30.0


def main(argv: list[str] | None = None) -> int:
    try:
        require_settings("worker")
        worker = build_worker()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(json=worker.settings.log_format == "json", level=worker.settings.log_level)
    tracing.configure(worker.settings, "sharepack-worker")
    stop = worker.stop_requested

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(1)  # second signal: cold shutdown
        log.info("worker.stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)

    relay = threading.Thread(
        target=worker.outbox_relay.run_forever,
        args=(stop, worker.settings.outbox_relay_interval_seconds),
        name="outbox-relay",
        daemon=True,
    )
    relay.start()
    sweeper = threading.Thread(
        target=worker.sweeper.run_forever,
        args=(stop, worker.settings.stuck_pack_sweep_interval_seconds),
        name="stuck-pack-sweeper",
        daemon=True,
    )
    sweeper.start()
    # Records the queue backend this worker reads, for the API's readiness check, and beats while it runs.
    heartbeat = ProcessHeartbeat(worker.job.engine, "worker", queue_backend=worker.settings.queue_backend,
                          queue_name=worker.consumer.queue.name).start()
    queues = {q.name: q for q in (worker.consumer.queue, worker.consumer.poison_queue)}
    state = gauges.StateCollector(worker.job.engine, worker.settings, service="worker",
                                  depth=lambda name: queues[name].approximate_count())
    metrics.serve(worker.settings, state)
    snapshots = gauges.SnapshotLogger(state).start()
    gc.freeze()  # the libraries and the job, loaded for good: out of every full collection's walk (as the API)
    log.info("worker.started", queue=worker.consumer.queue.name)
    log.info("Share pack queue consumer started", queue=worker.consumer.queue.name,
             queue_backend=worker.settings.queue_backend)
    failures = 0
    while not stop.is_set():
        try:
            handled = worker.consumer.process_next(worker.job.run)
            failures = 0
        except Exception:  # the queue or database is down: log, back off, try again
            failures += 1
            log.warning("worker.loop_failed", consecutive_failures=failures, exc_info=True)
            handled = False
        if not handled:
            stop.wait(idle_wait(worker.settings.poll_interval_seconds, failures))
    relay.join(timeout=10)
    sweeper.join(timeout=10)
    heartbeat.stop()
    snapshots.stop()
    log.info("worker.stopped")
    return 0


def idle_wait(poll_interval: float, consecutive_failures: int) -> float:
    """The poll interval, doubled per consecutive failure up to 30 s: an outage is not logged every second."""
    return min(poll_interval * 2 ** min(consecutive_failures, 16), max(poll_interval, MAX_IDLE_WAIT_SECONDS))


if __name__ == "__main__":
    sys.exit(main())
