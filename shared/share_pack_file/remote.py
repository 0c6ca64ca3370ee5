"""The CLI's calls to the service: the dry run, the upload, a pack's status (what `--follow` polls), the export.

Standard library only (the CLI stays installable without the service's dependencies). The API key comes
from the environment, never from the command line, so it does not end up in shell history. Every call
names its workspace in ``X-Workspace-URL``, as the API requires.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_URL_VARIABLE = "SHAREPACK_API_URL"
API_KEY_VARIABLE = "SHAREPACK_API_KEY"
DEFAULT_API_URL = "http://127.0.0.1:8000"


class RemoteValidationError(Exception):
    """The service could not be asked (unreachable, refused the credentials, answered an error).

    ``status`` is the HTTP status it answered (None: no answer at all).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth asking again: no answer, or an answer that says "later" (429, 502, 503, 504)."""
        return self.status is None or self.status in (429, 502, 503, 504)


#: The same failure, named for what the CLI does besides validating.
RemoteError = RemoteValidationError


@dataclass(frozen=True)
class Upload:
    """The service's answer to an upload: accepted (with an id and a status) or refused with its errors."""

    accepted: bool
    message: str
    share_pack_id: str | None = None
    share_pack_name: str | None = None
    status: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Service:
    """Where the service is (``$SHAREPACK_API_URL``) and how the CLI identifies itself (``$SHAREPACK_API_KEY``)."""

    base_url: str
    api_key: str | None
    timeout: float = 120

    @classmethod
    def from_env(cls, api_url: str | None = None, *, timeout: float = 120) -> Service:
        base = (api_url or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")
        return cls(base, os.environ.get(API_KEY_VARIABLE) or None, timeout)

    def dry_run(self, path: Path, *, workspace_url: str) -> dict[str, Any]:
        """Send ``path`` to the service's dry run for ``workspace_url``; return its JSON answer."""
        return self._call("POST", "/workflow/sharepack/validate", workspace_url, file=path)

    def upload(self, path: Path, *, workspace_url: str) -> Upload:
        """Upload ``path`` as a new pack, once (an upload is not retried: a lost answer could mean a stored
        pack). A refusal for the file's content (400/422 with ``ValidationErrors``) is an `Upload` that is not
        accepted; any other failure raises `RemoteError`."""
        try:
            answer = self._call("POST", "/workflow/sharepack/upload", workspace_url, file=path)
        except _Refused as refused:
            return Upload(False, refused.body.get("Message") or "refused", errors=refused.body["ValidationErrors"],
                          warnings=refused.body.get("ValidationWarnings") or [])
        return Upload(
            True,
            answer.get("Message") or "",
            share_pack_id=str(answer["SharePackId"]),
            share_pack_name=answer.get("SharePackName"),
            status=answer.get("Status"),
            warnings=answer.get("ValidationWarnings") or [],
        )

    def status(self, share_pack_id: str, *, workspace_url: str) -> dict[str, Any]:
        """Return a pack's current status (``Status``, ``ProvisioningStatus``, ``ErrorMessage``, ...)."""
        return self._call("GET", f"/workflow/sharepack/{urllib.parse.quote(share_pack_id)}", workspace_url)

    def export(
        self, *, workspace_url: str, shares: list[str], recipients: list[str], fmt: str
    ) -> dict[str, Any]:
        """Ask for a share pack describing these shares and recipients as they are (``Content``, ``Warnings``)."""
        return self._call("POST", "/workflow/inventory/export", workspace_url,
                          json_body={"Shares": shares, "Recipients": recipients, "Format": fmt})

    def _call(
        self,
        method: str,
        path: str,
        workspace_url: str,
        *,
        file: Path | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = {"X-Workspace-URL": workspace_url, "Accept": "application/json", **(headers or {})}
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if file is not None:
            boundary = uuid.uuid4().hex
            body = _multipart(boundary, file)
            sent["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        request = urllib.request.Request(f"{self.base_url}{path}", data=body, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                answer = {}
            if not isinstance(answer, dict):
                answer = {}
            errors = answer.get("ValidationErrors")
            if exc.code in (400, 422) and isinstance(errors, list) and errors:
                raise _Refused(answer) from exc
            message = answer.get("Message")
            raise RemoteError(f"{self.base_url} answered {exc.code}: {message or exc.reason}", status=exc.code) from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise RemoteError(f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}") from exc


class _Refused(RemoteError):
    """The service refused the file's content and said why (its ``ValidationErrors``)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("Message") or "refused", status=400)
        self.body = body


def _multipart(boundary: str, path: Path) -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()


def remote_dry_run(
    path: Path, *, workspace_url: str, api_url: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Send ``path`` to the service's dry run for ``workspace_url``; return its JSON answer.

    A dry run's refusal is an answer (``Valid`` false with its errors), not an exception.
    """
    try:
        return Service.from_env(api_url, timeout=timeout).dry_run(path, workspace_url=workspace_url)
    except _Refused as refused:
        return {**refused.body, "Valid": False}
