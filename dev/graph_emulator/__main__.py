"""Run the Graph emulator in the foreground: ``python -m dev.graph_emulator --port 8002 --state-file …``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from dev.devserver.cli import serve_until, stop_on_signals
from dev.graph_emulator.server import start_graph_emulator

log = logging.getLogger("graph_emulator")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; ``--seed`` loads users and groups from a JSON file at start."""
    parser = argparse.ArgumentParser(prog="python -m dev.graph_emulator", description="Microsoft Graph emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--state-file", help="keep the directory in this JSON file across restarts")
    parser.add_argument("--seed", help='JSON file {"users": [...], "groups": [...]} loaded into an empty directory')
    parser.add_argument("--delta-page-size", type=int, default=100, help="objects per delta page")
    parser.add_argument("--redirect-uri", action="append", default=[], metavar="CLIENT_ID=URI",
                        help="register a sign-in redirect URI for a client (repeatable); the console's loopback "
                        "callback is registered already")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop_on_signals(log)
    seed = None
    if args.seed:
        with open(args.seed) as handle:
            seed = json.load(handle)
    redirect_uris: dict[str, list[str]] = {}
    for item in args.redirect_uri:
        client, separator, uri = item.partition("=")
        if not separator or not client or not uri:
            parser.error(f"--redirect-uri takes CLIENT_ID=URI, got {item!r}")
        redirect_uris.setdefault(client, []).append(uri)
    running = start_graph_emulator(host=args.host, port=args.port, state_file=args.state_file,
                                   redirect_uris=redirect_uris, delta_page_size=args.delta_page_size, seed=seed)
    log.info("Graph emulator serving on %s", running.url)
    serve_until(stop, running)
    return 0


if __name__ == "__main__":
    sys.exit(main())
