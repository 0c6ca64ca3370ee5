"""Run the workspace emulator in the foreground: ``python -m dev.emulator --port 8001``.

This is what ``make run`` starts as the local workspace; with ``--state-file`` the workspace survives a
restart, and ``EMULATOR_LATENCY_MS`` adds a real workspace's round trip to every call.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dev.devserver.cli import serve_until, stop_on_signals
from dev.emulator.app import EmulatorConfig
from dev.emulator.auth import DEFAULT_TOKEN, Authenticator
from dev.emulator.errors import ERROR_CODE_STYLES
from dev.emulator.server import DEMO_TABLES, start_emulator

log = logging.getLogger("emulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; defaults match the local stack (port 8001, token local-dev-token)."""
    parser = argparse.ArgumentParser(prog="python -m dev.emulator", description="Databricks workspace emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        help=f"accepted bearer token, repeatable (default {DEFAULT_TOKEN})",
    )
    parser.add_argument("--state-file", help="keep the workspace in this JSON file across restarts")
    parser.add_argument(
        "--seed-table",
        action="append",
        dest="seed_tables",
        help="catalog.schema.table to create, repeatable (default: the sales/finance demo tables)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=int(os.environ.get("EMULATOR_LATENCY_MS", "0") or 0),
        help="delay added to every /api call (default $EMULATOR_LATENCY_MS or 0)",
    )
    parser.add_argument("--error-code-style", choices=ERROR_CODE_STYLES, default="specific")
    parser.add_argument("--page-size", type=int, default=None, help="default page size of list calls")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then exit 0."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = stop_on_signals(log)
    running = start_emulator(
        host=args.host,
        port=args.port,
        state_file=args.state_file,
        seed_tables=args.seed_tables or DEMO_TABLES,
        config=EmulatorConfig(
            latency_ms=args.latency_ms, error_code_style=args.error_code_style, page_size=args.page_size
        ),
        authenticator=Authenticator(tokens=args.tokens or (DEFAULT_TOKEN,)),
    )
    log.info(
        "emulator listening on %s (state file: %s, latency: %d ms, tables: %d)",
        running.url,
        args.state_file or "none",
        args.latency_ms,
        len(running.app.workspace.tables),
    )
    serve_until(stop, running)
    return 0


if __name__ == "__main__":
    sys.exit(main())
