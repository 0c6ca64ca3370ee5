"""Time-boxed access in the share pack format: `expires_on` on a recipient, or per grant on a share.

A recipient's `expires_on` ends all its access; a share's `expires_on` maps some of its recipients to the
moment their grant on that share ends (YAML: a mapping; an Excel cell: `partner=2027-01-31, other=...`).
A moment is a date (the grant ends when that day begins, 00:00 UTC) or an ISO 8601 datetime (converted to
UTC; one without an offset is read as UTC). Stored canonically as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
A moment already past is refused: it would be revoked as soon as it was provisioned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import ValidationError, fields

from shared.share_pack_file.issues import echo

DATE_EXAMPLE = "2027-01-31 or 2027-01-31T18:00:00Z"


def expiry_moment(canonical: str) -> datetime:
    """The instant a canonical `expires_on` value ends access (a date: the start of that day, UTC)."""
    moment = datetime.fromisoformat(canonical.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def canonical_expiry(value: Any, now: datetime | None = None) -> str:
    """Return `value` (a date, a datetime or their ISO text) as canonical text; raise if unreadable or past."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), UTC)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError(f"'{echo(value)}' is not a date or an ISO datetime; write {DATE_EXAMPLE}.") from None
    else:
        raise ValidationError(f"Must be a date or an ISO datetime in UTC, e.g. {DATE_EXAMPLE}.")
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= (now or datetime.now(UTC)):
        raise ValidationError(f"{moment.isoformat().replace('+00:00', 'Z')} is in the past: access that has "
                              "already expired cannot be granted; give a later date or remove expires_on.")
    if moment.time() == time():
        return moment.date().isoformat()
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class ExpiresOn(fields.Field):
    """When a recipient's access ends: a date or an ISO datetime in UTC, not in the past."""

    json_shape = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        return canonical_expiry(value)


class GrantExpiries(fields.Field):
    """Recipient name -> when its grant on this share ends; a mapping, or `name=date, name=date` text."""

    json_shape = {"type": ["object", "string"], "additionalProperties": {"type": "string"},
                   "description": "In Excel: name=date, separated by commas."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, str]:
        if isinstance(value, str):
            pairs = [item.strip().partition("=") for item in value.split(",") if item.strip()]
            if any(not sep or not name.strip() for name, sep, _ in pairs):
                raise ValidationError(f"Write recipient=date pairs separated by commas, e.g. partner={DATE_EXAMPLE}.")
            value = {name.strip(): moment.strip() for name, _, moment in pairs}
        if not isinstance(value, Mapping):
            raise ValidationError("Must map recipient names of this share to the date their access ends.")
        expiries: dict[str, str] = {}
        errors: dict[str, list[str]] = {}
        for name, moment in value.items():
            try:
                expiries[str(name).strip().lower()] = canonical_expiry(moment)
            except ValidationError as exc:
                errors[str(name)] = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        if errors:
            raise ValidationError(errors)
        return expiries


def check_grant_expiries(share: dict[str, Any], path: tuple[str | int, ...], findings: Any) -> None:
    """A grant expiry must name a recipient this share grants to (errors are located at the mapping's key)."""
    granted = set(share.get("recipients", ()))
    for name in share.get("expires_on", {}):
        if name not in granted:
            findings.error((*path, "expires_on", name), f"expires_on names '{echo(name)}', which this share "
                           "does not list in its recipients.")
