"""Monitoring views that count every status: DECLINED ends a run, PENDING_APPROVAL is not work in progress.

0003's `pack_runs` knew three final statuses and called everything else IN_PROGRESS, so a declined pack sat
in the "stuck packs" query forever and never counted as finished, and the time a pack waited for an approver
counted as queue time. Here a run ends at COMPLETED, FAILED, VALIDATION_FAILED or DECLINED; a run whose
latest version waits for an approver has the outcome PENDING_APPROVAL; and the wait splits into
`approval_wait_seconds` (submitted until queued) and `queue_wait_seconds` (queued until a worker's first
step). `tenant_id` and `project_id` let a report show each caller their own packs only. The views hold no
data, so they are dropped and made again; docs/monitoring.md states each column.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-06 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINAL_STATUSES = "('COMPLETED', 'FAILED', 'VALIDATION_FAILED', 'DECLINED')"

# A run starts with the upload (or a re-queue after a finished run) and ends with the first version in a
# final status. `run_number` counts the final versions before a version, so every version of one run gets
# the same number. `queued_at` is the run's first IN_PROGRESS version: the upload itself when no approval
# was needed, the approval otherwise. Step lines read "Step k/8: ...".
PACK_RUNS = rf"""
CREATE VIEW monitoring.pack_runs AS
WITH versions AS (
    SELECT
        sp.*,
        sp.share_pack_status IN {FINAL_STATUSES} AS is_final,
        substring(sp.provisioning_status FROM '^Step ([0-9]+)/')::int AS step
    FROM deltashare.share_packs sp
),
numbered AS (
    SELECT
        v.*,
        1 + count(*) FILTER (WHERE v.is_final) OVER (
            PARTITION BY v.share_pack_id ORDER BY v.version
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS run_number
    FROM versions v
),
runs AS (
    SELECT
        share_pack_id,
        run_number,
        (array_agg(share_pack_name ORDER BY version DESC))[1] AS share_pack_name,
        (array_agg(workspace_url ORDER BY version DESC))[1] AS workspace_url,
        (array_agg(strategy ORDER BY version DESC))[1] AS strategy,
        (array_agg(requested_by ORDER BY version DESC))[1] AS requested_by,
        (array_agg(tenant_id ORDER BY version DESC))[1] AS tenant_id,
        (array_agg(project_id ORDER BY version DESC))[1] AS project_id,
        min(effective_from) AS submitted_at,
        min(effective_from) FILTER (WHERE share_pack_status = 'IN_PROGRESS') AS queued_at,
        min(effective_from) FILTER (WHERE step IS NOT NULL) AS started_at,
        min(effective_from) FILTER (WHERE is_final) AS finished_at,
        bool_or(share_pack_status = 'PENDING_APPROVAL') AS needed_approval,
        coalesce(
            (array_agg(share_pack_status ORDER BY version) FILTER (WHERE is_final))[1],
            CASE (array_agg(share_pack_status ORDER BY version DESC))[1]
                WHEN 'PENDING_APPROVAL' THEN 'PENDING_APPROVAL' ELSE 'IN_PROGRESS' END
        ) AS outcome,
        count(DISTINCT step) AS steps,
        count(*) FILTER (WHERE provisioning_status LIKE '% will be retried: %') AS retries,
        (array_agg(provisioning_status ORDER BY version DESC))[1] AS last_status,
        (array_agg(error_message ORDER BY version DESC))[1] AS error_message,
        count(*) AS versions
    FROM numbered
    GROUP BY share_pack_id, run_number
)
SELECT
    share_pack_id,
    run_number,
    share_pack_name,
    workspace_url,
    strategy,
    requested_by,
    submitted_at,
    started_at,
    finished_at,
    extract(EPOCH FROM finished_at - submitted_at) AS duration_seconds,
    extract(EPOCH FROM started_at - queued_at) AS queue_wait_seconds,
    extract(EPOCH FROM finished_at - started_at) AS processing_seconds,
    outcome,
    steps,
    retries,
    last_status,
    error_message,
    versions,
    queued_at,
    CASE WHEN needed_approval
        THEN extract(EPOCH FROM coalesce(queued_at, finished_at) - submitted_at) END AS approval_wait_seconds,
    tenant_id,
    project_id
FROM runs
"""

# Hours are UTC. An hour with submissions but no finished run (or the reverse) still appears. `failed`
# counts runs that went wrong (FAILED, VALIDATION_FAILED); `declined` the runs an approver refused.
HOURLY_THROUGHPUT = """
CREATE VIEW monitoring.hourly_throughput AS
WITH submitted AS (
    SELECT date_trunc('hour', submitted_at, 'UTC') AS hour, count(*) AS submitted
    FROM monitoring.pack_runs
    GROUP BY 1
),
finished AS (
    SELECT
        date_trunc('hour', finished_at, 'UTC') AS hour,
        count(*) AS finished,
        count(*) FILTER (WHERE outcome = 'COMPLETED') AS completed,
        count(*) FILTER (WHERE outcome IN ('FAILED', 'VALIDATION_FAILED')) AS failed,
        count(*) FILTER (WHERE outcome = 'DECLINED') AS declined,
        avg(duration_seconds) AS avg_duration_seconds,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) AS p50_duration_seconds,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95_duration_seconds,
        max(duration_seconds) AS max_duration_seconds
    FROM monitoring.pack_runs
    WHERE finished_at IS NOT NULL
    GROUP BY 1
)
SELECT
    hour,
    coalesce(s.submitted, 0) AS submitted,
    coalesce(f.finished, 0) AS finished,
    coalesce(f.completed, 0) AS completed,
    coalesce(f.failed, 0) AS failed,
    f.avg_duration_seconds,
    f.p50_duration_seconds,
    f.p95_duration_seconds,
    f.max_duration_seconds,
    coalesce(f.declined, 0) AS declined
FROM submitted s
FULL JOIN finished f USING (hour)
"""

RECENT_FAILURES = """
CREATE VIEW monitoring.recent_failures AS
SELECT
    'share_pack'::text AS kind,
    finished_at AS failed_at,
    share_pack_id::text AS subject_id,
    share_pack_name AS subject_name,
    workspace_url,
    last_status AS failed_step,
    error_message
FROM monitoring.pack_runs
WHERE outcome IN ('FAILED', 'VALIDATION_FAILED') AND finished_at >= now() - interval '24 hours'
UNION ALL
SELECT
    'sync_job'::text,
    coalesce(completed_at, started_at),
    sync_job_id::text,
    sync_type,
    workspace_url,
    status,
    error_message
FROM deltashare.sync_jobs
WHERE status IN ('FAILED', 'INTERRUPTED') AND coalesce(completed_at, started_at) >= now() - interval '24 hours'
"""

DROP = "DROP VIEW IF EXISTS monitoring.recent_failures, monitoring.hourly_throughput, monitoring.pack_runs"


def upgrade() -> None:
    op.execute(DROP)
    op.execute(PACK_RUNS)
    op.execute(HOURLY_THROUGHPUT)
    op.execute(RECENT_FAILURES)


def downgrade() -> None:
    """Back to 0003's views, which miscount DECLINED and PENDING_APPROVAL."""
    op.execute(DROP)
    for statement in _views_of_0003():
        op.execute(statement)


def _views_of_0003() -> list[str]:
    """0003's view statements, read from its file so the downgrade cannot drift from it."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parent / "0003_monitoring.py").read_text())
    found = {
        target.id: node.value.value
        for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets if isinstance(target, ast.Name)
    }
    return [found["PACK_RUNS"], found["HOURLY_THROUGHPUT"], found["RECENT_FAILURES"]]
