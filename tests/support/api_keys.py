"""API keys for test settings in their stored form, each hashed once per process.

Settings hash a key given as is with a salt of its own (scrypt, ~13 ms), and the API tests build settings for
nearly every test: ~500 derivations in the API folders alone. Giving the stored form instead (what a
deployment's vault holds, `python -m shared.platform.api_keys`) reaches the same settings without them. How a
key given as is gets hashed is tested in tests/unit/platform.
"""

from __future__ import annotations

from functools import cache

from shared.platform import api_keys


def stored_api_keys(value: str) -> str:
    """`value` (an `api_keys` setting) with each `name=secret` entry's secret replaced by its stored form.

    Anything the settings would refuse (a short secret, a nameless entry, an old hash) is left as it is, so
    they still refuse it."""
    entries = []
    for entry in value.split(","):
        name, sep, secret = entry.partition("=")
        if sep and len(secret) >= api_keys.MIN_KEY_CHARS and ":" not in secret:
            entry = f"{name}={stored(secret)}"
        entries.append(entry)
    return ",".join(entries)


@cache
def stored(secret: str) -> str:
    return api_keys.hash_api_key(secret)
