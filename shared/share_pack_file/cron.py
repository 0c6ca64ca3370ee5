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

CONTINUOUS = "continuous"

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
_ATOM = re.compile(r"^(\*|[0-9A-Z]+)(-[0-9A-Z]+)?(/[0-9]+)?$")


class CronError(ValueError):
    """A schedule that Databricks Jobs would refuse; the message says which part and why."""


def to_quartz(expression: str) -> str:
    """Return ``expression`` as a valid Quartz expression (converting Unix cron), or raise `CronError`."""
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
    return ["0", minute, hour, "?", month, re.sub(r"\d+", lambda m: str(int(m.group()) % 7 + 1), dow)]


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


def _number(name: str, value: str) -> int | None:
    if value.isdigit():
        return int(value)
    names = _NAMES.get(name, ())
    return names.index(value) + 1 if value in names else None


def check_time_zone(zone: str) -> str:
    """Return ``zone`` if it is an IANA (Java) time zone id, as Jobs' ``timezone_id`` needs; else raise."""
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"'{zone}' is not a time zone id (e.g. UTC or Europe/Paris).") from None
    return zone
