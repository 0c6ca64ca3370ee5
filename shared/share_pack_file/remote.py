"""The CLI's dry run through the service: `POST /workflow/sharepack/validate` with the file and workspace.

Standard library only (the CLI stays installable without the service's dependencies). The API key comes
from the environment, never from the command line, so it does not end up in shell history.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

API_URL_VARIABLE = "SHAREPACK_API_URL"
API_KEY_VARIABLE = "SHAREPACK_API_KEY"
DEFAULT_API_URL = "http://127.0.0.1:8000"


class RemoteValidationError(Exception):
    """The service could not be asked (unreachable, refused the credentials, answered an error)."""


def remote_dry_run(
    path: Path, *, workspace_url: str, api_url: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Send ``path`` to the service's dry run for ``workspace_url``; return its JSON answer."""
    base = (api_url or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Workspace-URL": workspace_url}
    if key := os.environ.get(API_KEY_VARIABLE):
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{base}/workflow/sharepack/validate", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("Message") or exc.reason
        except ValueError:
            message = exc.reason
        raise RemoteValidationError(f"{base} answered {exc.code}: {message}") from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        raise RemoteValidationError(f"cannot reach {base}: {getattr(exc, 'reason', exc)}") from exc
