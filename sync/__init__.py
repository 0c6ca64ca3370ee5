"""The sync service (`python -m sync`, console script `sharepack-sync`): scheduled jobs that keep things in step.

The third deployable beside the API and the worker, run from the worker's image with another command.
Each job (`sync.jobs`) runs on its schedule or when an operator asks (`POST /workflow/sync/jobs/{type}/run`),
never overlapping itself across instances, and every run is a `sync_jobs` row.
"""
