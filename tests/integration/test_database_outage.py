"""A database outage delays work and loses none: a consumer whose database is
away keeps the message in hand and tries again for as long as it takes, so the
outage never counts as a failed delivery and never dead-letters an event.

The outage is made with a TCP proxy between the validator and the shared
PostgreSQL, cut for longer than a handler used to retry before returning the
message to its queue (30 s); the server itself keeps running for the rest of
the test run."""

import asyncio
from urllib.parse import urlsplit

import aiohttp

from services.common import metrics
from services.common.topology import VALIDATOR_QUEUE
from services.gateway.__main__ import build_app as build_gateway
from services.validator.__main__ import build_app
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import new_upload_id, received_event
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.tcp_proxy import TcpProxy

OUTAGE_SECONDS = 35


def counted(counter, queue: str) -> float:
    return counter.labels(queue)._value.get()


async def test_an_event_received_while_the_database_is_away_is_decided_once_it_is_back_without_a_failed_delivery(
        validator_settings, database_url, tap, pool):
    queue = VALIDATOR_QUEUE.name
    upload_id = new_upload_id()
    async with TcpProxy("127.0.0.1", urlsplit(database_url).port or 5432) as proxy:
        settings = validator_settings().model_copy(update={"database_url": proxy.through(database_url)})
        async with running_app(build_app(settings)):
            failed_before = counted(metrics.MESSAGES_FAILED, queue)
            redelivered_before = counted(metrics.MESSAGES_REDELIVERED, queue)
            await proxy.cut()
            await tap.publish(received_event(upload_id, size_bytes=10))
            await asyncio.sleep(OUTAGE_SECONDS)
            assert not tap.matching(lambda e: e.upload_id == upload_id and e.type == "upload.validated")
            await proxy.restore()

            decision = await tap.wait_for(lambda e: e.upload_id == upload_id and e.type == "upload.validated",
                                          timeout=30)

            assert decision.attempt == 1
            assert counted(metrics.MESSAGES_FAILED, queue) == failed_before, "the outage counted as a failed delivery"
            assert counted(metrics.MESSAGES_REDELIVERED, queue) == redelivered_before
    handled = await pool.fetchval(
        "SELECT count(*) FROM validator.outbox WHERE convert_from(body, 'UTF8')::jsonb->>'upload_id' = $1",
        str(upload_id))
    assert handled == 1


async def test_a_request_while_the_database_is_away_is_a_503_saying_to_try_again_not_a_500(
        gateway_settings, database_url, http, tmp_path):
    archive = make_dicom_archive(tmp_path / "MTL0001_300001_V1_outage.tgz", "MTL0001_300001_V1", n_files=1)
    async with TcpProxy("127.0.0.1", urlsplit(database_url).port or 5432) as proxy:
        settings = gateway_settings().model_copy(update={"database_url": proxy.through(database_url)})
        async with running_app(build_gateway(settings)) as url:
            await proxy.cut()
            form = aiohttp.FormData({"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"})
            form.add_field("file", archive.read_bytes(), filename=archive.name)
            answer = await http.post(f"{url}/api/v1/uploads", data=form,
                                     headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
            body = await answer.json()

    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"
    assert body["error"] == {"code": "database_unavailable", "field": None,
                             "message": "The database cannot be reached right now, so nothing was recorded; "
                                        "try again in 5 seconds."}
