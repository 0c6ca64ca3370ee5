"""The documented Delta Sharing quotas a pack can run into, checked before anything is created.

Source: Databricks resource limits, https://docs.databricks.com/aws/en/resources/limits (Azure:
https://learn.microsoft.com/en-us/azure/databricks/resources/limits). All of these are "raisable" by a
support request, so a workspace may have more: past a limit the pre-flight refuses (the worker would fail
half-way), near it the requestor is warned.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMITS_URL = "https://docs.databricks.com/aws/en/resources/limits"

#: Warn when a quota would be at least this full after the pack.
NEAR_LIMIT_RATIO = 0.9

RECIPIENTS_PER_METASTORE = 5_000
SHARES_PER_METASTORE = 1_000
#: Per share and per object type: tables, views, volumes and models 1,000 each; schemas 500.
OBJECTS_PER_SHARE = {"TABLE": 1_000, "VIEW": 1_000, "VOLUME": 1_000, "MODEL": 1_000, "SCHEMA": 500}


@dataclass(frozen=True)
class Usage:
    """How much of one quota the workspace would use once the pack is provisioned."""

    what: str
    used: int
    limit: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def near(self) -> bool:
        return not self.exceeded and self.used >= self.limit * NEAR_LIMIT_RATIO

    def describe(self) -> str:
        verb = "exceeds" if self.exceeded else "is close to"
        return f"{self.what}: {self.used} {verb} the documented limit of {self.limit} ({LIMITS_URL})"
