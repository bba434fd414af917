"""Every message of a real upload delivered twice (and once more, late) has no
second effect: one pipeline run, no duplicated log line, and a progress that
never goes backwards."""

import asyncio
from collections import Counter

import aio_pika

from services.common.topology import EVENTS_EXCHANGE
from tests.support.api import UploaderClient

ORDER = ["Not Started", "In Progress", "Success"]
COPY_HEADER = "x-test-copy"


class Duplicator:
    """Republishes every event seen in the vhost once more, with the same body and event id."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.originals: list[tuple[bytes, str]] = []

    async def __aenter__(self):
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self.exchange, "#")
        await queue.consume(self._copy, no_ack=True)
        return self

    async def __aexit__(self, *exc):
        await self.connection.close()

    async def _copy(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if message.headers.get(COPY_HEADER):
            return
        self.originals.append((message.body, message.routing_key))
        await self.republish(message.body, message.routing_key)

    async def republish(self, body: bytes, routing_key: str) -> None:
        copy = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, headers={COPY_HEADER: 1})
        await self.exchange.publish(copy, routing_key=routing_key)


async def _sample_progress(client: UploaderClient, upload_id: int, seen: list[str]) -> None:
    while True:
        answer = await client.get(f"/api/v1/uploads/{upload_id}")
        if answer.status == 200:
            progress = (await answer.json())["progress"]
            if not seen or seen[-1] != progress:
                seen.append(progress)
            if progress in ("Success", "Failure"):
                return
        await asyncio.sleep(0.02)


async def test_every_message_delivered_twice_gives_one_run_no_duplicate_line_and_progress_only_forward(
    client: UploaderClient, archive, stack, amqp_url, pool
):
    async with Duplicator(amqp_url) as duplicator:
        path = archive(n_files=5)
        answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
        upload_id = (await answer.json())["upload_id"]
        progress_seen: list[str] = []
        await asyncio.wait_for(_sample_progress(client, upload_id, progress_seen), 60)
        mine = [(body, key) for body, key in duplicator.originals if f'"upload_id":{upload_id},'.encode() in body]

        # Once more, late: every message of this upload after it succeeded.
        for body, routing_key in mine:
            await duplicator.republish(body, routing_key)
        sentinel = archive(n_files=1)
        sentinel_id = (await (await client.upload(sentinel, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
        await client.wait_for_progress(sentinel_id)

    assert {key for _, key in mine} >= {"upload.received", "upload.validated", "pipeline.started", "pipeline.log_lines", "pipeline.finished"}
    assert progress_seen == sorted(progress_seen, key=ORDER.index), progress_seen
    assert progress_seen[-1] == "Success"
    summary = await client.upload_summary(upload_id)
    assert summary["progress"] == "Success" and summary["attempt"] == 1
    log = await client.log(upload_id, mode="detailed")
    lines = Counter((line["origin"], line["message"]) for line in log["lines"])
    assert [line for line, count in lines.items() if count > 1] == []
    assert lines[("launcher", "Pipeline started.")] == 1
    assert lines[("pipeline", "Found 5 DICOM files")] == 1
    assert await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = $1", upload_id) == 1
