"""Plain HTTP to Graph v1.0: paging, delta rounds, throttling with bounded retries, and a time budget.

Links are followed verbatim (``@odata.nextLink``/``@odata.deltaLink`` are absolute and carry opaque
tokens that break when decoded and re-encoded). 429, 503 and 504 are retried after ``Retry-After``
(seconds, possibly fractional, or an HTTP date; https://learn.microsoft.com/graph/throttling), or after
exponential backoff with jitter when there is none; never more than ``max_attempts`` times, and never a
single wait above ``max_wait_seconds`` (a multi-minute Retry-After fails the call rather than blocking
a sync or an upload). Other 4xx answers are not retried: retrying them only spends the throttling budget.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests

from shared.graph.auth import TokenProvider
from shared.graph.errors import (
    GraphAuthenticationFailed,
    GraphDeltaExpired,
    GraphError,
    GraphNotFound,
    GraphUnavailable,
)
from shared.platform import metrics

RETRIED_STATUSES = frozenset({429, 503, 504})
DELTA_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired"})


@dataclass
class RetryPolicy:
    """How hard to try one call."""

    max_attempts: int = 5
    max_wait_seconds: float = 30.0
    backoff_base_seconds: float = 0.5
    request_timeout_seconds: float = 30.0


@dataclass
class DeltaRound:
    """One delta round: iterate ``pages()``; afterwards ``delta_link`` holds the link for the next round."""

    client: GraphClient
    start_url: str
    delta_link: str | None = field(default=None, init=False)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's objects; a page may be empty. Sets ``delta_link`` after the last page."""
        url: str | None = self.start_url
        while url is not None:
            page = self.client.get(url)
            yield list(page.get("value", []))
            url = page.get("@odata.nextLink")
            if url is None:
                self.delta_link = page.get("@odata.deltaLink")
                if self.delta_link is None:
                    raise GraphError("a delta round ended without @odata.deltaLink")


class GraphClient:
    """A Graph v1.0 client for one app registration.

    Args:
        base_url: ``https://graph.microsoft.com`` or an emulator's URL (``/v1.0`` is appended).
        tokens: where bearer tokens come from.
        retry: attempts, waits and timeouts per call.
    """

    def __init__(self, base_url: str, tokens: TokenProvider, *, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/v1.0"
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.calls = 0

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """The absolute URL of ``path`` (relative to /v1.0) with query ``params``."""
        # Keep OData's $, commas, parentheses and quotes readable in the URL (Graph accepts both spellings).
        query = "?" + urlencode(params, safe="$,()'") if params else ""
        return f"{self.base_url}/{path.lstrip('/')}{query}"

    def get(self, url: str, *, headers: Mapping[str, str] | None = None, deadline: float | None = None
            ) -> dict[str, Any]:
        """GET an absolute URL (a built URL or a link Graph returned) and return its JSON.

        Args:
            deadline: ``time.monotonic()`` value after which the call gives up with GraphUnavailable.

        Raises:
            GraphNotFound, GraphDeltaExpired, GraphAuthenticationFailed, GraphUnavailable, GraphError.
        """
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response = self._send(url, headers, deadline)
            if response is not None and response.status_code == 200:
                return dict(response.json())
            if response is not None and response.status_code == 401 and not refreshed:
                # An expired or revoked token: get a new one and retry once (does not count as an attempt).
                self.tokens.invalidate()
                refreshed = True
                attempt -= 1
                continue
            if response is not None and response.status_code not in RETRIED_STATUSES:
                raise _classify(response)
            wait = self._wait(response, attempt)
            if attempt >= self.retry.max_attempts or wait > self.retry.max_wait_seconds:
                status = "no answer" if response is None else f"{response.status_code}"
                raise GraphUnavailable(f"Graph unavailable after {attempt} attempt(s) ({status}) for {_path(url)}",
                                       status=None if response is None else response.status_code)
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise GraphUnavailable(f"Graph did not answer {_path(url)} within the time budget")
            time.sleep(wait)

    def pages(self, path: str, params: Mapping[str, str] | None = None, *,
              headers: Mapping[str, str] | None = None, deadline: float | None = None
              ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of a collection, following ``@odata.nextLink`` verbatim."""
        url: str | None = self.url(path, params)
        while url is not None:
            page = self.get(url, headers=headers, deadline=deadline)
            yield list(page.get("value", []))
            url = page.get("@odata.nextLink")

    def items(self, path: str, params: Mapping[str, str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Yield every object of a collection, page after page."""
        for page in self.pages(path, params, **kwargs):
            yield from page

    def delta(self, resource: str, select: str, delta_link: str | None = None) -> DeltaRound:
        """A delta round of ``users`` or ``groups``: from ``delta_link``, or a full initial round."""
        start = delta_link or self.url(f"{resource}/delta", {"$select": select})
        return DeltaRound(self, start)

    # -- internals ------------------------------------------------------------------------------------

    def _send(self, url: str, headers: Mapping[str, str] | None, deadline: float | None) -> requests.Response | None:
        timeout = self.retry.request_timeout_seconds
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise GraphUnavailable(f"Graph did not answer {_path(url)} within the time budget")
        self.calls += 1
        endpoint = graph_endpoint(url, self.base_url)
        try:
            response = self.session.get(
                url,
                headers={"Authorization": f"Bearer {self.tokens.token()}", "Accept": "application/json",
                         **(headers or {})},
                timeout=timeout,
            )
        except requests.Timeout:
            metrics.GRAPH_CALLS.labels(endpoint=endpoint, result="timeout").inc()
            if deadline is not None and time.monotonic() >= deadline - 0.001:
                raise GraphUnavailable(f"Graph did not answer {_path(url)} within the time budget") from None
            return None
        except requests.ConnectionError:
            metrics.GRAPH_CALLS.labels(endpoint=endpoint, result="unreachable").inc()
            return None
        metrics.GRAPH_CALLS.labels(endpoint=endpoint, result=str(response.status_code)).inc()
        return response

    def _wait(self, response: requests.Response | None, attempt: int) -> float:
        retry_after = None if response is None else _retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        backoff = self.retry.backoff_base_seconds * 2 ** (attempt - 1)
        return min(backoff + random.uniform(0, self.retry.backoff_base_seconds), self.retry.max_wait_seconds)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a (possibly fractional) number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _classify(response: requests.Response) -> GraphError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    code = str(error.get("code") or "")
    message = f"Graph {response.status_code} {code}: {error.get('message', response.reason)}"
    status = response.status_code
    if code.lower() in DELTA_EXPIRED_CODES or status == 410:
        return GraphDeltaExpired(message, status=status, code=code)
    if status == 404:
        return GraphNotFound(message, status=status, code=code)
    if status in (401, 403):
        return GraphAuthenticationFailed(message, status=status, code=code)
    if status >= 500:
        return GraphUnavailable(message, status=status, code=code)
    return GraphError(message, status=status, code=code)


_OBJECT_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def graph_endpoint(url: str, base_url: str) -> str:
    """A bounded metric label from a URL: ".../v1.0/groups/<uuid>/members?$top=5" -> "groups/{id}/members"."""
    path = _path(url).removeprefix(base_url).strip("/")
    return "/".join("{id}" if _OBJECT_ID.match(part) else part for part in path.split("/")) or "root"


def _path(url: str) -> str:
    """The URL without its query (tokens in skip/delta links are long and say nothing to a reader)."""
    return url.split("?", 1)[0]
