"""Refuse request input that would hurt a later step, before any view, schema or query sees it.

A JSON body is checked once, in bounded time and memory, before webargs and Flask parse it again with the
standard library: `json.loads` recurses per nesting level (100,000 levels raise RecursionError), converts
integers of any length (beyond 4,300 digits it raises ValueError, which webargs does not catch), accepts
`NaN` and `Infinity` (not JSON: RFC 8259, section 6), and decodes `"\\ud800"` to a lone surrogate, which
UTF-8 and PostgreSQL cannot hold; PostgreSQL text cannot hold NUL either
(https://www.postgresql.org/docs/current/datatype-character.html). Form fields are checked for the same
characters and for the other C0 control characters (tab, line feed and carriage return are text).
Every refusal is an `InvalidInput` (400) that names the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from shared.platform.errors import InvalidInput

# Request bodies of this API nest three levels deep; the bound is far above that and far below the recursion
# limit. The largest body, a local group of 10,000 members of 255 characters each, is about 2.6 MB.
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_NUMBER_CHARS = 100
MAX_FIELD_NAME_ECHO = 40

_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]++")
_UNSAFE_TEXT = re.compile(r"[\x00\ud800-\udfff]")
_UNSAFE_FIELD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def is_json(mimetype: str) -> bool:
    """True for the media types webargs parses as JSON (`application/json`, `application/*+json`)."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def check_json_body(body: bytes) -> Any:
    """Return the parsed body if it is JSON a later parse can safely read again; else raise `InvalidInput`."""
    if len(body) > MAX_JSON_BYTES:
        raise InvalidInput(f"The JSON body is {len(body):,} bytes; request bodies are at most {MAX_JSON_BYTES:,}.")
    _check_depth(body)
    try:
        document = json.loads(body, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except _Refused as refusal:
        raise InvalidInput(str(refusal)) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidInput(f"The body is not valid JSON ({_first_line(exc)}).") from None
    _check_strings(document)
    return document


def check_fields(fields: Iterable[tuple[str | None, str | None]], where: str) -> None:
    """Refuse a form field holding NUL, a lone surrogate or a C0 control other than tab, CR, LF."""
    for name, value in fields:
        name = name if isinstance(name, str) else ""
        for text, what in ((name, "name"), (value, "value")):
            found = _UNSAFE_FIELD.search(text) if isinstance(text, str) else None
            if found:
                shown = _UNSAFE_FIELD.sub("?", name[:MAX_FIELD_NAME_ECHO])
                raise InvalidInput(f"The {where} field '{shown}' holds the control character "
                                   f"U+{ord(found.group()):04X} in its {what} (character {found.start() + 1}); "
                                   "remove it.")


class _Refused(ValueError):
    pass


def _check_depth(body: bytes) -> None:
    """Refuse nesting beyond `MAX_JSON_DEPTH`, counting brackets outside strings (JSON strings are exact to
    tokenise: a quote opens and closes them, a backslash escapes the next character)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    brackets = _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    depth = 0
    for position, char in enumerate(brackets):
        depth += 1 if char in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(f"The JSON body nests more than {MAX_JSON_DEPTH} levels deep (bracket "
                               f"{position + 1}); request bodies nest a few levels.")


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"The JSON body holds a number of {len(text):,} digits; numbers are at most "
                       f"{MAX_NUMBER_CHARS} characters.")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"The JSON body holds a number of {len(text):,} characters; numbers are at most "
                       f"{MAX_NUMBER_CHARS} characters.")
    return float(text)


def _constant(text: str) -> Any:
    raise _Refused(f"The JSON body holds {text}, which is not a JSON number (RFC 8259, section 6).")


def _check_strings(document: Any) -> None:
    """Refuse a string or key holding NUL or a lone surrogate, naming it by its JSON path (iterative: the
    depth is already bounded, but a wide body should not cost a frame per value)."""
    stack: list[tuple[Any, str]] = [(document, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            found = _UNSAFE_TEXT.search(value)
            if found:
                what = "NUL" if found.group() == "\x00" else "a lone UTF-16 surrogate"
                raise InvalidInput(f"{path} holds {what} (character {found.start() + 1}), which text cannot "
                                   "hold; remove it.")
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, f"{path} (a key)"))
                stack.append((item, f"{path}.{_UNSAFE_TEXT.sub('?', key[:MAX_FIELD_NAME_ECHO])}"))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
