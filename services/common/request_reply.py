"""Request/reply over RabbitMQ, for questions that need an answer now (the
rule checks asked before an upload's bytes are sent).

The asker publishes to the answerer's queue with `reply_to` (its own
exclusive queue) and a `correlation_id`, and waits at most `timeout` seconds.
A request expires in the queue after that timeout, so an answerer that comes
back late does not work through questions nobody waits for. Unlike events,
requests are not durable work: an unanswered one is the asker's to handle.
"""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from services.common.broker import BROKER_ERRORS

log = logging.getLogger(__name__)

Answer = Callable[[bytes], Awaitable[bytes]]


class NoAnswer(Exception):
    """The request could not be sent (the broker is away) or was not answered in time."""


class Requester:
    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._waiting: dict[str, asyncio.Future] = {}
        self._queue: AbstractQueue | None = None

    async def start(self) -> None:
        name = f"uploader.replies.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._queue = await self._channel.declare_queue(name, exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_reply, no_ack=True)

    async def ask(self, queue_name: str, body: bytes, timeout: float) -> bytes:
        """Send one request and return the reply's body; raises NoAnswer when it cannot be sent or no
        answer comes in time."""
        correlation_id = uuid.uuid4().hex
        answer = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = answer
        try:
            async with asyncio.timeout(timeout):
                message = aio_pika.Message(
                    body, content_type="application/json", correlation_id=correlation_id,
                    reply_to=self._queue.name, expiration=timeout,
                )
                await self._channel.default_exchange.publish(message, routing_key=queue_name)
                return await answer
        except TimeoutError:
            raise NoAnswer(f"no answer from {queue_name} within {timeout} s") from None
        except BROKER_ERRORS as error:
            raise NoAnswer(f"the request to {queue_name} could not be sent: {error!r}") from None
        finally:
            self._waiting.pop(correlation_id, None)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        answer = self._waiting.get(message.correlation_id or "")
        if answer is not None and not answer.done():
            answer.set_result(message.body)


async def answer_requests(channel: AbstractChannel, queue: AbstractQueue, answer: Answer) -> str:
    """Answer every request arriving on `queue`; returns the consumer tag."""

    async def on_request(message: AbstractIncomingMessage) -> None:
        try:
            reply = await answer(message.body)
        except Exception:
            log.exception("request not answered", extra={"queue": queue.name})
            await message.ack()  # the asker has its timeout; a retry would answer too late
            return
        if message.reply_to:
            await channel.default_exchange.publish(
                aio_pika.Message(reply, content_type="application/json", correlation_id=message.correlation_id),
                routing_key=message.reply_to,
            )
        await message.ack()

    return await queue.consume(on_request)
