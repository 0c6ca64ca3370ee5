"""Pipeline schedules: cron expressions as Databricks Jobs reads them (Quartz), and time zones.

Jobs take a Quartz expression, ``sec min hour day-of-month month day-of-week [year]``, with exactly one
of day-of-month and day-of-week written ``?`` (http://www.quartz-scheduler.org/documentation/
quartz-2.3.0/tutorials/crontrigger.html, linked from databricks-sdk's ``CronSchedule``). Requestors often
write Unix cron (``min hour dom month dow``), so a five-field expression is converted; its day-of-week
numbers shift because Quartz counts 1 = Sunday where Unix counts 0 (or 7) = Sunday.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

CONTINUOUS = "continuous"
# The longest sensible Quartz expression ("0 0,15,30,45 0-23 1,8,15,22 JAN-DEC ? 2025-2099") is under 60
# characters; anything past this bound is refused before it is split.
MAX_EXPRESSION_CHARS = 256
# The zone database names files and directories; only these ids are zones (a directory such as "America", or
# a path, is not). Time zone ids are at most a few dozen characters.
MAX_ZONE_CHARS = 64

_RANGES = {  # field: (lowest, highest) numeric value Quartz accepts
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2099),
}
_NAMES = {
    "month": ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    "day-of-week": ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
}
# Values and increments are at most four digits (years): a longer number is refused before it is converted.
_ATOM = re.compile(r"^(\*|[0-9]{1,4}|[A-Z]{3})(-(?:[0-9]{1,4}|[A-Z]{3}))?(/[0-9]{1,4})?$")


class CronError(ValueError):
    """A schedule that Databricks Jobs would refuse; the message says which part and why."""


def to_quartz(expression: str) -> str:
    """Return ``expression`` as a valid Quartz expression (converting Unix cron), or raise `CronError`."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CronError(f"The schedule has {len(expression):,} characters; a cron expression has at most "
                        f"{MAX_EXPRESSION_CHARS}.")
    parts = expression.strip().upper().split()
    if len(parts) == 5:
        parts = _from_unix(parts)
    if len(parts) not in (6, 7):
        raise CronError(
            f"'{expression}' has {len(parts)} fields; write a Quartz expression (sec min hour day-of-month month "
            "day-of-week [year], e.g. '0 30 2 * * ?') or a Unix one (min hour day-of-month month day-of-week)."
        )
    dom, dow = parts[3], parts[5]
    if (dom == "?") == (dow == "?"):
        raise CronError(f"'{expression}': exactly one of day-of-month and day-of-week must be '?' (Quartz).")
    for name, part in zip(_RANGES, parts, strict=False):
        _check_field(expression, name, part)
    return " ".join(parts)


def _from_unix(parts: list[str]) -> list[str]:
    minute, hour, dom, month, dow = parts
    if dow in ("*", "?"):
        return ["0", minute, hour, dom, month, "?"]
    if dom not in ("*", "?"):
        raise CronError(
            "A Unix cron expression that restricts both day-of-month and day-of-week runs on either; "
            "Quartz cannot say that. Restrict only one of them."
        )
    return ["0", minute, hour, "?", month, re.sub(r"\d{1,4}", lambda m: str(int(m.group()) % 7 + 1), dow)]


def _check_field(expression: str, name: str, part: str) -> None:
    if part == "?" and name in ("day-of-month", "day-of-week"):
        return
    low, high = _RANGES[name]
    for item in part.split(","):
        core = item
        if name == "day-of-month" and core in ("L", "LW"):
            continue
        if name == "day-of-week":
            core = re.sub(r"(#[1-5]|L)$", "", core)
        if name == "day-of-month":
            core = re.sub(r"W$", "", core)
        match = _ATOM.match(core)
        if match is None:
            raise CronError(f"'{expression}': the {name} field '{part}' is not valid.")
        values = [match.group(1), (match.group(2) or "-")[1:] or None]
        for value in values:
            if value is None or value == "*":
                continue
            number = _number(name, value)
            if number is None or not low <= number <= high:
                raise CronError(f"'{expression}': the {name} field '{part}' must lie between {low} and {high}.")
        increment = match.group(3)
        # Quartz refuses an increment larger than its field ("Increment > 60" for minutes), or of zero.
        if increment is not None and not 1 <= int(increment[1:]) <= high - low + min(low, 1):
            raise CronError(f"'{expression}': the {name} field '{part}' steps by {increment[1:]}; its step "
                            f"must lie between 1 and {high - low + min(low, 1)}.")


def _number(name: str, value: str) -> int | None:
    if value.isdigit():
        return int(value)
    names = _NAMES.get(name, ())
    return names.index(value) + 1 if value in names else None


def check_time_zone(zone: str) -> str:
    """Return ``zone`` if it is an IANA (Java) time zone id, as Jobs' ``timezone_id`` needs; else raise.

    The id is looked up in the set of zone ids, never opened as a file: `zoneinfo.ZoneInfo("America")` reads a
    directory (IsADirectoryError) and other paths reach the file system."""
    if len(zone) > MAX_ZONE_CHARS or zone not in _time_zones():
        shown = zone if len(zone) <= MAX_ZONE_CHARS else f"{zone[:MAX_ZONE_CHARS]}..."
        raise CronError(f"'{shown}' is not a time zone id (e.g. UTC or Europe/Paris).")
    return zone


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
