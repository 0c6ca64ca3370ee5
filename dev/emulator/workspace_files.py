"""The Workspace API (``/api/2.0/workspace``): folders, notebooks and files, enough for a pipeline's source.

Shapes and errors follow https://docs.databricks.com/api/workspace/workspace: a missing path is 404
``RESOURCE_DOES_NOT_EXIST``; importing onto an existing path without ``overwrite`` is 400
``RESOURCE_ALREADY_EXISTS``; importing under a folder that does not exist is 404 ``RESOURCE_DOES_NOT_EXIST``
(the parent folder is not created); deleting a non-empty folder without ``recursive`` is 400
``DIRECTORY_NOT_EMPTY``. Paths may carry the ``/Workspace`` prefix, which names the same tree.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dev.emulator.errors import ApiError, invalid_parameter
from dev.emulator.routes import Route, Router

WORKSPACE = "/api/2.0/workspace"
LANGUAGES = ("PYTHON", "SQL", "SCALA", "R")


@dataclass
class WorkspaceObject:
    """One notebook, file or folder."""

    path: str
    object_type: str  # DIRECTORY, NOTEBOOK or FILE
    object_id: int
    content: bytes = b""
    language: str | None = None
    modified_at: int = 0

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"path": self.path, "object_type": self.object_type, "object_id": self.object_id}
        if self.language:
            info["language"] = self.language
        if self.object_type != "DIRECTORY":
            info.update(size=len(self.content), modified_at=self.modified_at, created_at=self.modified_at)
        return info


def normalise(path: object) -> str:
    """Return the canonical form of a workspace path (no ``/Workspace`` prefix, no trailing slash)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid_parameter(f"Path ({path}) doesn't start with '/'")
    if path == "/Workspace" or path.startswith("/Workspace/"):
        path = path.removeprefix("/Workspace") or "/"
    return path.rstrip("/") or "/"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class WorkspaceFiles:
    """The workspace tree of one workspace, safe for the threaded HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(2_000_001)
            self.objects: dict[str, WorkspaceObject] = {}
            for root in ("/", "/Shared", "/Users"):
                self.objects[root] = WorkspaceObject(root, "DIRECTORY", next(self._ids))

    def exists(self, path: str) -> bool:
        """Whether a notebook or file exists at ``path`` (a library path of a pipeline)."""
        with self._lock:
            found = self.objects.get(normalise(path))
            return found is not None and found.object_type != "DIRECTORY"

    def get_status(self, raw: object) -> dict[str, Any]:
        path = normalise(raw)
        with self._lock:
            return self._get(path).describe()

    def mkdirs(self, raw: object) -> dict[str, Any]:
        path = normalise(raw)
        with self._lock:
            ancestors = []
            current = path
            while current != "/":
                ancestors.append(current)
                current = _parent(current)
            for folder in reversed(ancestors):
                found = self.objects.get(folder)
                if found is None:
                    self.objects[folder] = WorkspaceObject(folder, "DIRECTORY", next(self._ids))
                elif found.object_type != "DIRECTORY":
                    raise ApiError(400, "RESOURCE_ALREADY_EXISTS",
                                   f"Cannot create directory {path}: {folder} is not a directory")
        return {}

    def import_(self, body: Mapping[str, Any]) -> dict[str, Any]:
        path = normalise(body.get("path"))
        fmt = body.get("format") or "SOURCE"
        language = body.get("language")
        if fmt not in ("SOURCE", "AUTO", "RAW"):
            raise invalid_parameter(f"The emulator does not import format {fmt}.")
        if fmt == "SOURCE" and language not in LANGUAGES:
            raise invalid_parameter("To import a single file as SOURCE, the language field must be set.")
        try:
            content = base64.b64decode(str(body.get("content") or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_parameter("The content is not valid base64.") from exc
        kind = "NOTEBOOK" if fmt == "SOURCE" else "FILE"
        with self._lock:
            parent = self.objects.get(_parent(path))
            if parent is None or parent.object_type != "DIRECTORY":
                raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                               f"The parent folder ({_parent(path)}) does not exist.")
            existing = self.objects.get(path)
            if existing is not None and (not body.get("overwrite") or existing.object_type == "DIRECTORY"):
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
            object_id = existing.object_id if existing is not None else next(self._ids)
            self.objects[path] = WorkspaceObject(path, kind, object_id, content,
                                                 language if kind == "NOTEBOOK" else None,
                                                 int(time.time() * 1000))
        return {}

    def export(self, query: Mapping[str, str]) -> dict[str, Any]:
        path = normalise(query.get("path"))
        with self._lock:
            found = self._get(path)
            if found.object_type == "DIRECTORY":
                raise invalid_parameter("The emulator exports notebooks and files only.")
            return {"content": base64.b64encode(found.content).decode("ascii"), "file_type": "py"
                    if found.language == "PYTHON" else "sql" if found.language == "SQL" else ""}

    def delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        path = normalise(body.get("path"))
        if path == "/":
            raise invalid_parameter("Cannot delete the root folder.")
        with self._lock:
            found = self._get(path)
            children = [p for p in self.objects if p.startswith(f"{path}/")]
            if found.object_type == "DIRECTORY" and children and not body.get("recursive"):
                raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
            for child in [path, *children]:
                del self.objects[child]
        return {}

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [o.describe() for o in self.objects.values()]

    def _get(self, path: str) -> WorkspaceObject:
        found = self.objects.get(path)
        if found is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")
        return found


def router(files: WorkspaceFiles) -> Router:
    """Return the Workspace API routes bound to one ``WorkspaceFiles``."""
    return Router([
        Route("POST", f"{WORKSPACE}/import", lambda c: files.import_(c.body)),
        Route("GET", f"{WORKSPACE}/get-status", lambda c: files.get_status(c.query.get("path"))),
        Route("POST", f"{WORKSPACE}/mkdirs", lambda c: files.mkdirs(c.body.get("path"))),
        Route("POST", f"{WORKSPACE}/delete", lambda c: files.delete(c.body)),
        Route("GET", f"{WORKSPACE}/export", lambda c: files.export(c.query)),
    ])
