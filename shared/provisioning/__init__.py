"""The provisioner: read a workspace, plan the diff against a share pack, apply it.

`plan` (the plan model), `diff` with `sharing_diff` and `pipeline_diff` (pure: pack vs workspace → plan),
`apply` and `apply_pipelines` (steps), `gateway` (the workspace interface and its databricks-sdk implementation),
`clients` (credentials and one client per workspace), `errors` (failure classification) and
`workspace_state` (snapshots). No database and no queue code lives here: the worker's orchestrator calls
these and records the outcome.
"""
