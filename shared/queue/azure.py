"""The production backend: an Azure Storage queue (Azurite in development and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import datetime

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import LinearRetry, QueueClient

from shared.platform.errors import ServiceUnavailable
from shared.platform.logging import mask_secrets
from shared.queue.interface import MessageLost, QueueMessage

# The SDK defaults (10 retries with 15 s exponential backoff, 20 s connect timeout) would hold an upload
# request for minutes when the queue is down. The API must answer fast and leave the message to the
# outbox relay, so: one quick retry (it absorbs a dropped keep-alive connection after a queue restart) and
# short timeouts. An unreachable queue fails a call in about two seconds.
CONNECTION_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 5
RETRY_TOTAL = 1
RETRY_BACKOFF_SECONDS = 0.3

# Error codes the service answers when the caller's pop receipt is no longer the current one.
_LOST_MESSAGE_CODES = frozenset({"PopReceiptMismatch", "MessageNotFound"})


class AzureStorageQueue:
    """`MessageQueue` on an Azure Storage queue; message bodies are sent and read as plain text."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def from_connection_string(cls, connection_string: str, queue_name: str) -> AzureStorageQueue:
        """Build a client with the short retry and timeout budget this service needs."""
        client = QueueClient.from_connection_string(
            connection_string,
            queue_name,
            retry_policy=LinearRetry(backoff=RETRY_BACKOFF_SECONDS, random_jitter_range=0, retry_total=RETRY_TOTAL),
            connection_timeout=CONNECTION_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # No encode/decode policy: plain text both ways, so any client (Storage Explorer, az CLI with
            # --content) reads what we wrote. The SDK XML-escapes the body, so JSON is safe as is.
        )
        return cls(client)

    @property
    def name(self) -> str:
        return self._client.queue_name

    def ensure_exists(self) -> None:
        with self._translate_errors("create"), suppress(ResourceExistsError):
            self._client.create_queue()

    def send(self, content: str, *, delay_seconds: int = 0) -> None:
        with self._translate_errors("send"):
            self._client.send_message(content, visibility_timeout=delay_seconds or None)

    def receive(self, *, visibility_timeout: int) -> QueueMessage | None:
        with self._translate_errors("receive"):
            received = self._client.receive_message(visibility_timeout=visibility_timeout)
        if received is None:
            return None
        return QueueMessage(
            id=received.id,
            content=received.content,
            dequeue_count=received.dequeue_count or 0,
            pop_receipt=received.pop_receipt or "",
            inserted_on=received.inserted_on,
            next_visible_on=received.next_visible_on,
        )

    def extend(self, message: QueueMessage, *, visibility_timeout: int) -> QueueMessage:
        updated = self._update_visibility(message, visibility_timeout)
        return replace(message, pop_receipt=updated[0], next_visible_on=updated[1])

    def release(self, message: QueueMessage) -> None:
        self._update_visibility(message, 0)

    def delete(self, message: QueueMessage) -> None:
        with self._translate_errors("delete"):
            self._client.delete_message(message.id, message.pop_receipt)

    def approximate_count(self) -> int:
        with self._translate_errors("count"):
            return self._client.get_queue_properties().approximate_message_count or 0

    def ping(self) -> None:
        with self._translate_errors("ping"):
            self._client.get_queue_properties()

    def _update_visibility(self, message: QueueMessage, visibility_timeout: int) -> tuple[str, datetime | None]:
        # Pass the id, not the message: with a message the SDK would upload its content again.
        with self._translate_errors("update"):
            updated = self._client.update_message(
                message.id, pop_receipt=message.pop_receipt, visibility_timeout=visibility_timeout
            )
        return updated.pop_receipt or "", updated.next_visible_on

    @contextmanager
    def _translate_errors(self, operation: str) -> Iterator[None]:
        """Turn SDK exceptions into `MessageLost` (stale receipt) or `ServiceUnavailable` (all else)."""
        try:
            yield
        except HttpResponseError as exc:
            if exc.error_code in _LOST_MESSAGE_CODES:
                raise MessageLost(f"Queue message on {self.name} is no longer held ({exc.error_code})") from None
            raise ServiceUnavailable(self._describe(operation, exc)) from exc
        except AzureError as exc:  # connection refused, timeouts, DNS, authentication
            raise ServiceUnavailable(self._describe(operation, exc)) from exc

    def _describe(self, operation: str, exc: AzureError) -> str:
        code = getattr(exc, "error_code", None)
        reason = str(code) if code else type(exc).__name__
        # The SDK's message can carry the request URL; mask it anyway so no secret reaches a log or client.
        detail = mask_secrets(str(exc).splitlines()[0]) if str(exc) else ""
        return f"Queue {self.name} unavailable ({operation}: {reason}){': ' + detail if detail else ''}"
