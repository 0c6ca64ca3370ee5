"""The embedded PostgreSQL used when no `domain_db_connection_string` is set (local development only).

It is a real PostgreSQL server (the `pgserver` package ships the binaries), started on demand with its
data under `.local/postgres`, listening on a Unix socket only. Production sets a connection string and
never installs `pgserver`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shared.platform.errors import ConfigurationError


def start_embedded_postgres(data_dir: str | Path) -> str:
    """Start (or attach to) the embedded server in `data_dir` and return its SQLAlchemy URL.

    The server keeps running while any process that attached to it is alive.
    """
    try:
        import pgserver
    except ImportError:  # the production images do not ship it
        raise ConfigurationError(
            "Missing setting domain_db_connection_string: the embedded PostgreSQL is for local development "
            "only (install the dev extra: pip install -e '.[dev]')"
        ) from None
    # pgserver logs its own shutdown from an atexit hook, after test runners have closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    # pgserver answers postgresql://postgres:@/postgres?host=<socket dir>; psycopg 3 is our driver.
    return server.get_uri().replace("postgresql://postgres:@", "postgresql+psycopg://postgres@", 1)
