"""List or replay the dead-letter queue.

    python -m services.common.dead_letters            # list what is there, and why
    python -m services.common.dead_letters --replay   # send each message back to the queue it came from

A message is dead-lettered when a consumer could not parse it (header
x-reason) or when it failed DELIVERY_LIMIT times (the broker's x-death
header). Replaying after a fix is safe: consumers de-duplicate by event id.
"""

import argparse
import asyncio
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from services.common.broker import connect, message_from_body, publish
from services.common.settings import ServiceSettings
from services.common.topology import DEAD_LETTER_QUEUE, declare_topology


def origin_queue(message: AbstractIncomingMessage) -> str | None:
    headers = message.headers or {}
    if headers.get("x-original-queue"):
        return str(headers["x-original-queue"])
    deaths = headers.get("x-death") or []
    return str(deaths[0]["queue"]) if deaths else None


def reason(message: AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    if headers.get("x-reason"):
        return str(headers["x-reason"])
    deaths = headers.get("x-death") or []
    return f"dead-lettered by the broker ({deaths[0]['reason']})" if deaths else "unknown"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    routing_key: str | None
    origin: str | None  # the queue it came from, when known
    reason: str
    replayed: bool

    def line(self) -> str:
        return f"{self.message_id or '-'}  {self.routing_key}  from {self.origin or '?'}: {self.reason}"


async def go_through(channel: AbstractChannel, replay: bool, limit: int) -> list[DeadLetter]:
    """Take at most `limit` dead letters; replay each whose origin is known (with `replay`) and put the others back.
    The channel must have publisher confirms on."""
    queue = await channel.get_queue(DEAD_LETTER_QUEUE)
    seen: list[AbstractIncomingMessage] = []
    letters = []
    try:
        while len(seen) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
            seen.append(message)
            target = origin_queue(message)
            if replay and target:
                copy = message_from_body(message.body, message.routing_key or "", message.message_id or "")
                await publish(channel.default_exchange, copy, target)
                await message.ack()
            letters.append(DeadLetter(message.message_id, message.routing_key, target, reason(message),
                                      replayed=message.processed))
    finally:
        for message in seen:
            if not message.processed:
                await message.nack(requeue=True)
    return letters


async def drain(amqp_url: str, replay: bool, limit: int) -> list[str]:
    """Go through at most `limit` dead letters; replay them or put them back. Returns one line about each."""
    connection = await connect(amqp_url, wait_seconds=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel)
        return [letter.line() for letter in await go_through(channel, replay, limit)]


def main() -> None:
    parser = argparse.ArgumentParser(description="List or replay the uploader's dead-letter queue.")
    parser.add_argument("--replay", action="store_true", help="send each message back to the queue it came from")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    lines = asyncio.run(drain(ServiceSettings().amqp_url, args.replay, args.limit))
    print("\n".join(lines))
    print(f"{len(lines)} dead letter(s) {'replayed' if args.replay else 'listed'}")


if __name__ == "__main__":
    main()
