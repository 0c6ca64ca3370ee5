"""How one value of a share pack is read: names Unity Catalog accepts, text without control characters,
numbers as written, e-mail addresses, URLs, choices, IPv4 networks, delimited lists, cron schedules, time
zones and tags.

These are the marshmallow field types and validators the schemas of `schema.py` are declared with; each
refuses a bad value with a sentence that says what to write instead.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

from shared.share_pack_file.cron import CONTINUOUS, CronError, check_time_zone, to_quartz
from shared.share_pack_file.issues import echo
from shared.share_pack_file.model import ScdType

# Unity Catalog object names: at most 255 characters, without '.', space, '/', ASCII control characters
# (00-1F hex) or DEL (7F hex); https://docs.databricks.com/en/sql/language-manual/sql-ref-names.html
MAX_NAME_LENGTH = 255
# An address is at most 254 characters: the 256-octet path limit of RFC 5321 (section 4.5.3.1.3) less "<>".
MAX_EMAIL_LENGTH = 254
MAX_URL_LENGTH = 2048
# One identifier part as Unity Catalog accepts it: no '.', space, '/', ASCII control characters or DEL; and
# as this service stores it: no C1 control characters or lone surrogates either (see `check_characters`).
_PART = r"[^. /\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}"
_FORBIDDEN_NAME_CHARS = re.compile(r"[. /\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Every text field is stored (PostgreSQL text cannot hold NUL: https://www.postgresql.org/docs/current/
# datatype-character.html), encoded as UTF-8 (which has no lone surrogates), shown on screens and in logs,
# and sent to Databricks. The other C0 controls, DEL and the C1 controls are invisible there and can rewrite
# a terminal (ESC sequences), so they are refused everywhere. Free text (comments, descriptions) keeps tab,
# line feed and carriage return: multi-line comments are YAML block scalars or Alt+Enter in an Excel cell.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_CHARACTERS_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_characters(value: str, *, free_text: bool = False) -> str:
    """Return `value`, or raise if it holds a character no text field may hold (see `_CONTROL_CHARACTERS`)."""
    found = (_CONTROL_CHARACTERS_IN_FREE_TEXT if free_text else _CONTROL_CHARACTERS).search(value)
    if found:
        raise ValidationError(f"Must not contain the control character {echo(found.group())} (character "
                              f"{found.start() + 1}); remove it.")
    return value


class WrittenInt(int):
    """An integer that remembers the text written, so a text field reads `0x7A69` as "0x7A69", not "31337"."""

    written: str


class WrittenFloat(float):
    """A float that remembers the text written (`1e3` stays "1e3" in a text field)."""

    written: str


def written_text(value: Any) -> str:
    """Return the text a number was written as (its YAML source, or its decimal form)."""
    return getattr(value, "written", None) or str(value)


def check_name_form(value: str) -> str:
    """Return `value`, or raise if its normalised form (NFC, case folded: how names are compared and stored)
    is longer than `MAX_NAME_LENGTH`, or it holds an invisible format character (Unicode category Cf: bidi
    overrides and isolates, zero-width spaces and joiners), which would make two names look alike or show a
    name reversed (https://unicode.org/reports/tr36/#Bidirectional_Text_Spoofing)."""
    folded = unicodedata.normalize("NFC", value).casefold()
    longest = max(len(folded), len(value.lower()))
    if longest > MAX_NAME_LENGTH:
        raise ValidationError(f"Must be at most {MAX_NAME_LENGTH} characters once lower-cased (has {longest:,}).")
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cf":
            raise ValidationError(f"Must not contain the invisible character U+{ord(char):04X} "
                                  f"({unicodedata.name(char, 'format character')}, character {position}).")
    return value


class UnityCatalogName(validate.Validator):
    """Refuse share and recipient names Unity Catalog refuses (see `MAX_NAME_LENGTH`), and names that would
    show as another name (see `check_name_form`)."""

    pattern = rf"^{_PART}$"

    def __call__(self, value: str) -> str:
        if not value:
            raise ValidationError("Must not be empty.")
        if len(value) > MAX_NAME_LENGTH:
            raise ValidationError(f"Must be at most {MAX_NAME_LENGTH} characters (has {len(value)}).")
        bad = _FORBIDDEN_NAME_CHARS.search(value)
        if bad:
            char = {".": "'.'", " ": "a space", "/": "'/'"}.get(bad.group(), "a control character")
            raise ValidationError(f"Must not contain {char} (Unity Catalog refuses it in names).")
        return check_name_form(value)


class DataObjectName(validate.Validator):
    """Accept `catalog.schema` or `catalog.schema.object`, each part a name Unity Catalog accepts."""

    pattern = rf"^{_PART}\.{_PART}(\.{_PART})?$"
    _match = re.compile(pattern).fullmatch

    def __call__(self, value: str) -> str:
        if not self._match(value):
            raise ValidationError(
                f"'{echo(value)}' is not a data object name: write catalog.schema.table (catalog.schema for a "
                "SCHEMA), each part without spaces, '/' or control characters."
            )
        if not value.isascii():
            for part in value.split("."):
                check_name_form(part)
        return value


class SharingIdentifier(validate.Regexp):
    """A D2D recipient's metastore sharing identifier, `cloud:region:uuid`."""

    def __init__(self) -> None:
        super().__init__(
            r"^(aws|azure|gcp):[a-z0-9-]+:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            flags=re.IGNORECASE,
            error="Must be a sharing identifier cloud:region:uuid (cloud is aws, azure or gcp), "
            "e.g. azure:westeurope:1b2c3d4e-0000-4a5b-8c9d-0123456789ab.",
        )


class Text(fields.String):
    """A string without control characters; numbers are taken as their text, because `project_name: 2024`
    or an Excel number cell means the characters the requestor typed."""

    free_text = False

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = written_text(value)
        return check_characters(super()._deserialize(value, attr, data, **kwargs), free_text=self.free_text)


class FreeText(Text):
    """A comment or description: may span lines (tab, line feed, carriage return); its length is bounded
    by the `max_comment_chars` setting when the pack is validated."""

    free_text = True


class Email(fields.Email):
    """An e-mail address of at most `MAX_EMAIL_LENGTH` characters, without control characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            check_characters(value)
            if len(value) > MAX_EMAIL_LENGTH:
                raise ValidationError(f"Must be at most {MAX_EMAIL_LENGTH} characters (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


class WorkspaceUrl(fields.Url):
    """An http(s) URL of at most `MAX_URL_LENGTH` characters, without control characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            check_characters(value)
            if len(value) > MAX_URL_LENGTH:
                raise ValidationError(f"Must be at most {MAX_URL_LENGTH} characters (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


class Choice(fields.Field):
    """A StrEnum member written in any letter case (`new`, `New`, `NEW`)."""

    def __init__(self, enum: type[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum = enum
        self.choices = tuple(member.value for member in enum)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            member = self.enum.__members__.get(value.strip().upper())
            if member is not None:
                return member
        raise ValidationError(f"Must be one of {', '.join(self.choices)} (got '{echo(value)}').")


class WholeNumber(fields.Integer):
    """An integer; also accepts `90.0` and `"90"` (how Excel cells arrive), never `true` or `90.5`."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid", input=value)
        if isinstance(value, str) and not value.strip().isdigit():
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class IPv4Network(fields.Field):
    """One IPv4 address or CIDR, normalised to its text (Delta Sharing IP access lists are IPv4 only)."""

    pattern = r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be an IPv4 address or CIDR as text.")
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValidationError(
                f"'{echo(value)}' is not an IPv4 address or CIDR (e.g. 203.0.113.7 or 10.0.0.0/16)."
            ) from None
        if network.version != 4:
            raise ValidationError(f"'{echo(value)}' is IPv6; Delta Sharing IP access lists accept IPv4 only.")
        return value.strip()


def split_delimited(text: str) -> list[str]:
    """Split one cell of items separated by commas or new lines, dropping blanks."""
    return [item for item in (part.strip() for part in re.split(r"[,\n]", text)) if item]


class DelimitedList(fields.List):
    """A list, or one string of items separated by commas or new lines (how Excel cells and the original
    system's sheets hold lists), of at most `max_items` items: counted before any item is checked, so one
    line of a hundred thousand bad items costs one message, not a hundred thousand checks."""

    def __init__(self, inner: fields.Field, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list:
        if isinstance(value, str):
            value = split_delimited(value)
        if isinstance(value, list) and len(value) > self.max_items:
            raise ValidationError(f"At most {self.max_items:,} items (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


class Schedule(Text):
    """``continuous``, or a cron expression (Quartz, or Unix converted to Quartz) as Databricks Jobs reads it."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if text.lower() == CONTINUOUS:
            return CONTINUOUS
        try:
            return to_quartz(text)
        except CronError as exc:
            raise ValidationError(str(exc)) from None


class TimeZone(Text):
    """An IANA time zone id, as the Jobs schedule's ``timezone_id`` needs."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        try:
            return check_time_zone(super()._deserialize(value, attr, data, **kwargs).strip())
        except CronError as exc:
            raise ValidationError(str(exc)) from None


class ScdChoice(fields.Field):
    """1, 2 or full_refresh (numbers may arrive as numbers or text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> ScdType:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"Must be 1, 2 or full_refresh (got '{value}').")
        text = str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        text = text.strip().lower().replace(" ", "_").removeprefix("scd").strip("_")
        try:
            return ScdType(text)
        except ValueError:
            raise ValidationError(f"Must be 1, 2 or full_refresh (got '{value}').") from None


class Tags(fields.Field):
    """A mapping of tag names to values, or one ``key=value, key=value`` text (an Excel cell)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, str]:
        if isinstance(value, str):
            pairs = [item.partition("=") for item in split_delimited(value)]
            if any(not sep or not key.strip() for key, sep, _ in pairs):
                raise ValidationError("Write tags as key=value, separated by commas.")
            value = {key.strip(): item.strip() for key, _, item in pairs}
        if not isinstance(value, Mapping) or any(isinstance(v, Mapping | list) for v in value.values()):
            raise ValidationError("Must be a mapping of tag names to values.")
        if len(value) > 25:  # pipelines accept at most 25 tags (databricks-sdk CreatePipeline.tags)
            raise ValidationError(f"At most 25 tags (has {len(value)}).")
        return {str(key): str(item) for key, item in value.items()}
