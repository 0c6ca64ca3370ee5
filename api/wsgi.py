"""The WSGI entry point: `gunicorn --config api/gunicorn.conf.py api.wsgi:app`."""

import sys

from api import create_app
from shared.errors import ConfigurationError

try:
    app = create_app()
except ConfigurationError as exc:
    sys.exit(f"error: {exc}")
