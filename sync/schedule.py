"""When a job is due: an interval in seconds (`30`, `30s`) or a cron expression read by croniter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

INTERVAL = re.compile(r"(\d+(?:\.\d+)?)s?")


@dataclass(frozen=True)
class Schedule:
    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` (timezone-aware, UTC) that the job is due."""
        interval = INTERVAL.fullmatch(self.expression)
        if interval:
            return moment + timedelta(seconds=float(interval.group(1)))
        return croniter(self.expression, moment).get_next(datetime)
