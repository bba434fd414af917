"""A long outage of the database and the broker together delays work and loses none (issue 15, item 3).

The four services reach PostgreSQL through one TCP proxy and RabbitMQ through another, so that the test
can take both servers away from them while the shared servers keep running for the rest of the test run.
Uploads are accepted and runs are in progress (a slow pipeline); the broker is cut, more uploads are
accepted meanwhile (the gateway answers 202 from its outbox); the database is cut too; both stay away for
the outage (UPLOADER_TEST_OUTAGE_SECONDS, 300 by default; set it lower for a quick local run); then the
broker comes back, then the database. Every accepted upload must reach Success, with nothing
dead-lettered, no failed delivery, no log line twice, and every service still ready.

A run in progress when the database goes away cannot beat its heartbeat: its launcher stops it, and it
runs again once the database is back.
"""

import asyncio
import os
import re
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import pytest

from services.common.topology import DEAD_LETTER_QUEUE
from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.stack import REPO_ROOT, ServiceStack
from tests.support.tcp_proxy import TcpProxy

OUTAGE_SECONDS = float(os.environ.get("UPLOADER_TEST_OUTAGE_SECONDS", "300"))
# About 20 s a run: the two runs in progress when the database goes away (some 5 s after they started) are
# still running then, even on a busy machine.
SLOW_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/slow_pipeline.py'} --steps 40 --delay 0.5 -- "
                 "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")
SLOTS = 2
BEFORE = 3          # accepted before the outage: two of them run, one waits for a slot
WHILE_BROKER_AWAY = 2
BROKER_ALONE_SECONDS = 3     # the broker is away this long before the database goes too
BROKER_BACK_FIRST_SECONDS = 5  # and comes back this long before the database
SETTLE_SECONDS = 240

pytestmark = pytest.mark.timeout(OUTAGE_SECONDS + 600)


@pytest.fixture(scope="module")
async def proxies(service_env):
    """A proxy to PostgreSQL and one to RabbitMQ: (database, broker)."""
    database, broker = (urlsplit(service_env[name]) for name in ("UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL"))
    async with TcpProxy("127.0.0.1", database.port or 5432) as to_database, \
            TcpProxy("127.0.0.1", broker.port or 5672) as to_broker:
        yield to_database, to_broker


@pytest.fixture(scope="module")
async def outage_stack(service_env, proxies, tmp_path_factory):
    """All four services, every connection to PostgreSQL and RabbitMQ through the proxies. Started and stopped
    in a thread: the proxies forward in this event loop, which must keep running meanwhile."""
    to_database, to_broker = proxies
    env = {**service_env,
           "UPLOADER_DATABASE_URL": to_database.through(service_env["UPLOADER_DATABASE_URL"]),
           "UPLOADER_AMQP_URL": to_broker.through(service_env["UPLOADER_AMQP_URL"]),
           "UPLOADER_PIPELINE_COMMAND": SLOW_PIPELINE,
           "UPLOADER_MAX_CONCURRENT_RUNS": str(SLOTS),
           "UPLOADER_PIPELINE_RERUN_SAFE": "true",  # the slow pipeline wraps the reference pipeline
           "UPLOADER_RULE_CHECK_TIMEOUT_SECONDS": "0.5"}
    stack = ServiceStack(env, tmp_path_factory.mktemp("outage-logs"))
    await asyncio.to_thread(stack.__enter__)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.__exit__, None, None, None)


async def dead_letters(amqp_url: str) -> int:
    """Messages waiting in the dead-letter queue (asked of RabbitMQ directly, not through the proxy)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        return queue.declaration_result.message_count


async def metric_total(http: aiohttp.ClientSession, port: int, name: str) -> float:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
        text = await answer.text()
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


async def pipeline_lines_repeated(client: UploaderClient, upload_id: int) -> dict[str, int]:
    """The pipeline's lines that the log shows more often than the pipeline was started (a run prints each
    of its lines once; a run again after an interruption prints them again)."""
    lines, after = [], 0
    while True:
        page = await client.log(upload_id, mode="detailed", after=after)
        lines += page["lines"]
        after = page["last_line_id"]
        if not page["more"]:
            break
    starts = sum(line["message"] == "Pipeline started." for line in lines)
    counts: dict[str, int] = {}
    for line in lines:
        if line["origin"] == "pipeline":
            counts[line["message"]] = counts.get(line["message"], 0) + 1
    return {message: n for message, n in counts.items() if n > starts}


async def until_in_progress(client: UploaderClient, upload_ids: list[int], runs: int, timeout: float = 30) -> None:
    """Until `runs` of the uploads are In Progress (whichever: runs are claimed in the order their grants
    arrived, not by upload id)."""
    async with asyncio.timeout(timeout):
        while True:
            summaries = [await client.upload_summary(upload_id) for upload_id in upload_ids]
            if sum(summary["progress"] == "In Progress" for summary in summaries) >= runs:
                return
            await asyncio.sleep(0.1)


async def upload(client: UploaderClient, archive) -> int:
    answer = await client.upload(archive(n_files=1), candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


async def test_a_long_outage_of_the_database_and_the_broker_delays_every_upload_and_loses_none(
        outage_stack, proxies, service_env, http, archive, pool):
    to_database, to_broker = proxies
    client = UploaderClient(http, outage_stack.gateway_url, DEMO_TOKEN)
    dead_before = await dead_letters(service_env["UPLOADER_AMQP_URL"])

    accepted = [await upload(client, archive) for _ in range(BEFORE)]
    await until_in_progress(client, accepted, SLOTS)

    await to_broker.cut()
    accepted += [await upload(client, archive) for _ in range(WHILE_BROKER_AWAY)]
    await asyncio.sleep(BROKER_ALONE_SECONDS)
    in_progress_at_cut = await pool.fetch("SELECT upload_id FROM launcher.runs WHERE state = 'running'"
                                          " AND upload_id = any($1::bigint[])", accepted)
    await to_database.cut()
    try:
        await asyncio.sleep(OUTAGE_SECONDS)
    finally:
        await to_broker.restore()
        await asyncio.sleep(BROKER_BACK_FIRST_SECONDS)
        await to_database.restore()

    try:
        summaries = await asyncio.gather(*(client.wait_for_progress(upload_id, timeout=SETTLE_SECONDS)
                                           for upload_id in accepted))
    except TimeoutError:
        pytest.fail(f"an accepted upload never finished within {SETTLE_SECONDS} s after the outage (lost)")

    # What must hold whatever became of the runs interrupted by the outage:
    assert in_progress_at_cut, "no run was in progress when the database went away: the pipeline is too fast"
    assert await dead_letters(service_env["UPLOADER_AMQP_URL"]) == dead_before, "a message was dead-lettered"
    for name in outage_stack.services:
        assert await metric_total(http, outage_stack.ports[name], "uploader_messages_failed_total") == 0, \
            f"the outage counted as a failed delivery in the {name}"
    for upload_id in accepted:
        assert await pipeline_lines_repeated(client, upload_id) == {}, f"upload {upload_id}: a log line twice"
    stored_twice = await pool.fetch("SELECT upload_id, event_id, message FROM logstore.log_lines"
                                    " WHERE upload_id = any($1::bigint[]) GROUP BY upload_id, event_id, message"
                                    " HAVING count(*) > 1", accepted)
    assert stored_twice == [], "a line of one event was stored twice"
    for name in outage_stack.services:
        assert outage_stack.processes[name].poll() is None, f"{name} exited:\n{outage_stack.log_tail(name)}"
        async with http.get(f"http://127.0.0.1:{outage_stack.ports[name]}/readyz") as answer:
            assert answer.status == 200, f"{name} is not ready after the outage:\n{outage_stack.log_tail(name)}"

    # And every upload succeeded: the runs stopped by the outage ran again once the database was back.
    progress = {summary["upload_id"]: summary["progress"] for summary in summaries}
    runs = {upload_id: [(run["outcome"], run["exit_code"]) for run in
                        (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]]
            for upload_id, state in progress.items() if state != "Success"}
    assert progress == dict.fromkeys(accepted, "Success"), \
        f"runs of the uploads that did not succeed: {runs}; in progress when the database went away: " \
        f"{sorted(row['upload_id'] for row in in_progress_at_cut)}"
