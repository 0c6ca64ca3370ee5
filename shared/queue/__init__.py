"""The queue between the API and the worker: one interface (`MessageQueue`), two backends, the outbox.

- `interface`: `MessageQueue`, `QueueMessage`, `MessageLost` (Azure Storage queue semantics).
- `azure` / `postgres`: the backends; `factory.make_queue` picks one from `Settings`.
- `messages`: what travels on the queue (`ProvisionSharePack`).
- `outbox`: how the API publishes without ever losing an upload.
"""

from shared.queue.factory import make_queue, poison_queue_name
from shared.queue.interface import MessageLost, MessageQueue, QueueMessage
from shared.queue.messages import ProvisionSharePack, UnreadableMessage
from shared.queue.outbox import OutboxPublisher, OutboxRelay, add_to_outbox, publish_pending

__all__ = [
    "MessageLost",
    "MessageQueue",
    "OutboxPublisher",
    "OutboxRelay",
    "ProvisionSharePack",
    "QueueMessage",
    "UnreadableMessage",
    "add_to_outbox",
    "make_queue",
    "poison_queue_name",
    "publish_pending",
]
