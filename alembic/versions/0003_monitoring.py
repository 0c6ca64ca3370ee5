"""Monitoring views (one row per pack run, hourly throughput, recent failures) and process heartbeats.

A share pack writes one version per provisioning step, so counting `share_packs` rows counts steps, and
the lifetime of one version (`effective_to - effective_from`) is not the duration of anything a user
waited for. These views fold a pack's versions back into runs. docs/monitoring.md states the question each
view answers. `monitoring.heartbeats` holds one row per running worker or sync process (shared/health.py):
transient, rewritten every few seconds. Nothing in the schema is history: `DROP SCHEMA monitoring CASCADE`
loses nothing that matters.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30 16:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A run starts with a version in IN_PROGRESS (the upload, or a re-queue after a finished run) and ends
# with the first version in a final status. `run_number` counts the final versions before a version, so
# every version of one run gets the same number. Step lines read "Step k/8: ..." (shared/use_cases/provision.py).
PACK_RUNS = r"""
CREATE VIEW monitoring.pack_runs AS
WITH versions AS (
    SELECT
        sp.*,
        sp.share_pack_status IN ('COMPLETED', 'FAILED', 'VALIDATION_FAILED') AS is_final,
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
        min(effective_from) AS submitted_at,
        min(effective_from) FILTER (WHERE step IS NOT NULL) AS started_at,
        min(effective_from) FILTER (WHERE is_final) AS finished_at,
        coalesce(
            (array_agg(share_pack_status ORDER BY version) FILTER (WHERE is_final))[1], 'IN_PROGRESS'
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
    extract(EPOCH FROM started_at - submitted_at) AS queue_wait_seconds,
    extract(EPOCH FROM finished_at - started_at) AS processing_seconds,
    outcome,
    steps,
    retries,
    last_status,
    error_message,
    versions
FROM runs
"""

# Hours are UTC. An hour with submissions but no finished run (or the reverse) still appears.
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
        count(*) FILTER (WHERE outcome <> 'COMPLETED') AS failed,
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
    f.max_duration_seconds
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


# IF NOT EXISTS: dropping `deltashare` (the troubleshooting reset) drops the views, not this table.
HEARTBEATS = """
CREATE TABLE IF NOT EXISTS monitoring.heartbeats (
    service text NOT NULL,
    instance text NOT NULL,
    queue_backend text,
    queue_name text,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_beat_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, instance)
)
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    op.execute(HEARTBEATS)
    op.execute(PACK_RUNS)
    op.execute(HOURLY_THROUGHPUT)
    op.execute(RECENT_FAILURES)


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS monitoring CASCADE")
