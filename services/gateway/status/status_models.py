"""The shapes of the operators' status (GET /api/v1/status) and of a replay of dead letters."""

from datetime import datetime

from pydantic import BaseModel, Field


class QueueStatus(BaseModel):
    """One of the uploader's RabbitMQ queues."""

    name: str
    messages: int = Field(description="messages ready in the queue, waiting for a consumer (counted now)")
    consumers: int = Field(description="consumers attached to the queue (counted now)")
    publish_rate: float | None = Field(description="messages per second put into the queue, as RabbitMQ's "
                                                   "management API sampled it last; null when it cannot be reached")
    deliver_rate: float | None = Field(description="messages per second delivered to consumers or fetched, as "
                                                   "RabbitMQ's management API sampled it last; null when it cannot "
                                                   "be reached")


class LauncherStatus(BaseModel):
    """A launcher alive: it beat within its last three heartbeats."""

    replica: str = Field(description="the launcher's name: host, process id and a random tag")
    alive_since: datetime
    last_beat_at: datetime
    slots: int = Field(description="how many pipeline runs it may run at once")
    runs_in_flight: int = Field(description="the pipeline runs it is running now")


class OutboxStatus(BaseModel):
    """One service's events written but not yet published to RabbitMQ."""

    service: str
    backlog: int = Field(description="events waiting to be published")
    oldest_seconds: float | None = Field(description="how long the oldest of them has waited; null when none waits")
    set_aside: int = Field(description="events RabbitMQ refused for good (larger than its max_message_size), set "
                                       "aside in the outbox table for an operator (docs/operations.md, Runbook); the events "
                                       "after them were published")


class SystemStatus(BaseModel):
    """The uploader's queues, dead letters, launchers and outboxes, as the status page shows them."""

    checked_at: datetime
    queues: list[QueueStatus] = Field(description="every queue of the uploader; empty when the broker cannot be "
                                                  "reached")
    dead_letters: int | None = Field(description="messages in the dead-letter queue, uploader.dead-letter; null "
                                                 "when the broker cannot be reached")
    launchers: list[LauncherStatus]
    outboxes: list[OutboxStatus] = Field(description="one per service: gateway, launcher, logstore, validator")
    problems: list[str] = Field(description="what could not be found out, and why (empty when all is known)")


class DeadLettersReplayed(BaseModel):
    """What a replay of the dead-letter queue did."""

    replayed: int = Field(description="dead letters sent back to the queue they came from")
    kept: int = Field(description="dead letters left in the queue: the queue they came from is unknown")
