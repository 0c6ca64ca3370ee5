"""The worker's jobs: provisioning one share pack (`provision`, with what it records, projects and resolves),
and re-queueing packs nobody works on (`sweep`). They run only in the worker process, next to the consumer."""
