"""The Workspace API through the real databricks-sdk: import, get-status, mkdirs, export, delete and their errors."""

from __future__ import annotations

import base64

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound, ResourceAlreadyExists
from databricks.sdk.service.pipelines import NotebookLibrary, PipelineLibrary
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType


def _import(client: WorkspaceClient, path: str, text: str, *, overwrite: bool = False) -> None:
    client.workspace.import_(path, content=base64.b64encode(text.encode()).decode(), format=ImportFormat.SOURCE,
                             language=Language.PYTHON, overwrite=overwrite)


def test_import_export_status_and_delete(workspace_client: WorkspaceClient) -> None:
    client = workspace_client
    client.workspace.mkdirs("/Shared/a/b")
    client.workspace.mkdirs("/Shared/a/b")  # an existing folder is fine
    _import(client, "/Shared/a/b/nb", "print(1)")
    status = client.workspace.get_status("/Workspace/Shared/a/b/nb")  # the /Workspace prefix names the same tree
    assert (status.object_type, status.language, status.path) == (ObjectType.NOTEBOOK, Language.PYTHON,
                                                                   "/Shared/a/b/nb")
    assert client.workspace.get_status("/Shared/a").object_type is ObjectType.DIRECTORY
    with pytest.raises(ResourceAlreadyExists):
        _import(client, "/Shared/a/b/nb", "print(2)")
    _import(client, "/Shared/a/b/nb", "print(2)", overwrite=True)
    exported = client.workspace.export("/Shared/a/b/nb")
    assert base64.b64decode(exported.content or "") == b"print(2)"
    with pytest.raises(BadRequest):  # DIRECTORY_NOT_EMPTY
        client.workspace.delete("/Shared/a")
    client.workspace.delete("/Shared/a/b/nb")
    with pytest.raises(NotFound):
        client.workspace.get_status("/Shared/a/b/nb")
    with pytest.raises(NotFound):
        client.workspace.delete("/Shared/a/b/nb")
    client.workspace.delete("/Shared/a", recursive=True)
    with pytest.raises(NotFound):
        client.workspace.get_status("/Shared/a/b")


def test_import_needs_the_parent_folder(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound):
        _import(workspace_client, "/Shared/missing/nb", "print(1)")


def test_a_pipeline_without_its_library_is_created_and_its_first_update_fails(
    workspace_client: WorkspaceClient,
) -> None:
    created = workspace_client.pipelines.create(
        name="no_source", catalog="sales", schema="shared", serverless=True,
        libraries=[PipelineLibrary(notebook=NotebookLibrary(path="/Shared/nowhere/nb"))],
    )
    assert created.pipeline_id
    update = workspace_client.pipelines.start_update(created.pipeline_id)
    updates = workspace_client.pipelines.list_updates(created.pipeline_id).updates or []
    assert [(u.update_id, u.state.value if u.state else None) for u in updates] == [(update.update_id, "FAILED")]
