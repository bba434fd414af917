"""The operators' status, GET /api/v1/status, and the replay of dead letters,
POST /api/v1/status/dead-letters/replay, for a user with the permission
imaging_uploader_admin: a gateway (with a logstore and a validator) and a
launcher in-process, on the run's own database, vhost and RabbitMQ's real
management API."""

import asyncio
import uuid

import aio_pika
import aiohttp
import pytest

from services.common.app_keys import REPLICA
from services.common.broker import message_from_body
from services.common.messages import LaunchRequested
from services.common.scope import ADMIN, ALL_SITES
from services.common.topology import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, QUEUE_NAMES
from services.gateway.auth.users import save_user, set_password
from services.gateway.status.system_status import BROKER_SECONDS, count_queues
from services.launcher.__main__ import build_app as build_launcher
from tests.conftest import NO_PERMISSION_TOKEN
from tests.integration.helpers import eventually, leave_no_launch_over, new_upload_id, scan_facts
from tests.support.inprocess import running_app
from tests.support.stack import free_port

STATUS = "/api/v1/status"
REPLAY = "/api/v1/status/dead-letters/replay"
PASSWORD = "an operator's long password"
SLEEPING_PIPELINE = "{python} -c 'import time; time.sleep(120)'"


@pytest.fixture
async def operator(pool) -> tuple[str, str]:
    """(name, API token) of a new user whose one permission is imaging_uploader_admin; its password is PASSWORD."""
    name, token = f"operator-{uuid.uuid4().hex[:8]}", f"operator-token-{uuid.uuid4().hex}"
    async with pool.acquire() as conn:
        await save_user(conn, name, [ADMIN], token)
        await set_password(conn, name, PASSWORD)
    return name, token


@pytest.fixture
async def uploader_token(pool) -> str:
    """The token of a user who may upload for every site, but is no operator."""
    token = f"uploader-token-{uuid.uuid4().hex}"
    async with pool.acquire() as conn:
        await save_user(conn, f"uploader-{uuid.uuid4().hex[:8]}", [ALL_SITES], token)
    return token


@pytest.fixture
async def gateway(gateway_stack):
    async with gateway_stack() as (url, _):
        yield url


@pytest.fixture
async def broker(amqp_url):
    """A channel of this test's own on the run's vhost."""
    async with await aio_pika.connect_robust(amqp_url) as connection:
        yield await connection.channel(publisher_confirms=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_of(http, gateway: str, token: str) -> dict:
    async with http.get(gateway + STATUS, headers=bearer(token)) as answer:
        assert answer.status == 200, await answer.text()
        assert answer.headers["Cache-Control"] == "no-store"
        return await answer.json()


async def test_an_operator_sees_every_queue_with_its_messages_consumers_and_rates(gateway, http, operator):
    status = await status_of(http, gateway, operator[1])

    assert set(status) == {"checked_at", "queues", "dead_letters", "launchers", "outboxes", "problems"}
    assert status["problems"] == []
    assert [queue["name"] for queue in status["queues"]] == list(QUEUE_NAMES)
    queues = {queue["name"]: queue for queue in status["queues"]}
    for name in ("uploader.validator", "uploader.rule-checks", "uploader.gateway", "uploader.logstore"):
        assert queues[name]["consumers"] >= 1, f"{name} has no consumer while its service runs: {queues[name]}"
    for queue in status["queues"]:
        assert set(queue) == {"name", "messages", "consumers", "publish_rate", "deliver_rate"}
        assert isinstance(queue["messages"], int) and queue["messages"] >= 0
        assert isinstance(queue["publish_rate"], float) and isinstance(queue["deliver_rate"], float)
    assert status["dead_letters"] == queues["uploader.dead-letter"]["messages"]
    assert [outbox["service"] for outbox in status["outboxes"]] == ["gateway", "launcher", "logstore", "validator"]


async def test_a_dead_letter_is_counted_and_the_replay_sends_it_back_to_the_queue_it_came_from(
        gateway, http, operator, broker):
    origin = await broker.declare_queue(f"test.origin-{uuid.uuid4().hex[:8]}", exclusive=True)
    # Dead letters of earlier tests, replayed too, would be dead-lettered again by their consumers meanwhile.
    await (await broker.get_queue(DEAD_LETTER_QUEUE)).purge()
    before = (await status_of(http, gateway, operator[1]))["dead_letters"]
    assert before == 0
    event_id = str(uuid.uuid4())
    dead = message_from_body(b'{"not": "an event"}', "upload.received", event_id,
                             headers={"x-reason": "handler failed 5 times", "x-original-queue": origin.name})
    await (await broker.get_exchange(DEAD_LETTER_EXCHANGE)).publish(dead, routing_key="upload.received")

    assert (await status_of(http, gateway, operator[1]))["dead_letters"] == before + 1

    async with http.post(gateway + REPLAY, headers=bearer(operator[1])) as answer:
        assert answer.status == 200, await answer.text()
        replayed = await answer.json()
    assert replayed == {"replayed": 1, "kept": 0}
    back = await origin.get(no_ack=True, fail=False)
    assert back is not None, "the dead letter did not come back to the queue it came from"
    assert (back.message_id, back.body) == (event_id, b'{"not": "an event"}')
    assert (await status_of(http, gateway, operator[1]))["dead_letters"] == 0


async def test_a_launcher_running_shows_with_its_runs_in_flight_and_goes_when_it_stops(
        gateway, http, operator, launcher_settings, tap, incoming_path, amqp_url, pool):
    await leave_no_launch_over(amqp_url, pool)
    launcher = build_launcher(launcher_settings(pipeline_command=SLEEPING_PIPELINE, shutdown_grace_seconds=0))

    async with running_app(launcher):
        replica = launcher[REPLICA]

        async def listed():
            status = await status_of(http, gateway, operator[1])
            return next((item for item in status["launchers"] if item["replica"] == replica), None)

        shown = await listed()
        assert shown is not None, "the launcher is not listed once started"
        assert (shown["slots"], shown["runs_in_flight"]) == (1, 0)
        assert shown["alive_since"] <= shown["last_beat_at"]

        upload_id = new_upload_id()
        await tap.publish(LaunchRequested(upload_id=upload_id, attempt=1, scan=scan_facts(upload_id),
                                          requested_by="test"))
        running = await eventually(lambda: _with_runs(listed), what="the launcher's run in flight in the status")
        assert running["alive_since"] == shown["alive_since"]

    assert await listed() is None, "a launcher that stopped is still listed"


async def _with_runs(listed):
    shown = await listed()
    return shown if shown and shown["runs_in_flight"] == 1 else None


async def test_an_event_waiting_in_an_outbox_shows_in_its_backlog_with_its_age(gateway, http, operator, pool):
    # No launcher runs here: nothing publishes the launcher's outbox meanwhile.
    before = {o["service"]: o for o in (await status_of(http, gateway, operator[1]))["outboxes"]}
    row_id = await pool.fetchval(
        """INSERT INTO launcher.outbox (event_id, routing_key, body, created_at)
           VALUES ($1, 'test.nothing', '{}', now() - interval '90 seconds') RETURNING id""", uuid.uuid4())
    try:
        after = {o["service"]: o for o in (await status_of(http, gateway, operator[1]))["outboxes"]}
    finally:
        await pool.execute("DELETE FROM launcher.outbox WHERE id = $1", row_id)

    assert after["launcher"]["backlog"] == before["launcher"]["backlog"] + 1
    assert after["launcher"]["oldest_seconds"] >= 90
    assert set(after["launcher"]) == {"service", "backlog", "oldest_seconds", "set_aside"}
    assert after["launcher"]["set_aside"] == before["launcher"]["set_aside"]


async def test_a_user_without_the_admin_permission_is_refused_with_403_naming_it(gateway, http, uploader_token):
    for token in (uploader_token, NO_PERMISSION_TOKEN):
        for method, path in (("GET", STATUS), ("POST", REPLAY)):
            async with http.request(method, gateway + path, headers=bearer(token)) as answer:
                assert answer.status == 403, (method, path)
                body = await answer.json()
                assert body["error"]["code"] == "permission_denied"
                assert ADMIN in body["error"]["message"]


async def test_without_a_token_the_status_is_401(gateway, http):
    for method, path in (("GET", STATUS), ("POST", REPLAY)):
        async with http.request(method, gateway + path) as answer:
            assert answer.status == 401
            assert (await answer.json())["error"]["code"] == "unauthenticated"


async def test_an_operator_signed_in_by_the_page_replays_only_with_the_csrf_token(gateway, operator):
    name, _ = operator
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # it keeps cookies of 127.0.0.1
        async with browser.post(gateway + "/api/v1/session", json={"username": name, "password": PASSWORD}) as answer:
            assert answer.status == 200
            session = await answer.json()
        assert (session["may_use_uploader"], session["permissions"]) == (False, [ADMIN])
        async with browser.get(gateway + STATUS) as answer:
            assert answer.status == 200
        async with browser.post(gateway + REPLAY) as answer:
            assert answer.status == 403
            assert (await answer.json())["error"]["code"] == "csrf_failed"
        async with browser.post(gateway + REPLAY, headers={"X-CSRF-Token": session["csrf_token"]}) as answer:
            assert answer.status == 200
        async with browser.get(gateway + "/api/v1/uploads") as answer:
            assert answer.status == 403, "an operator without an uploader permission browsed uploads"


async def test_without_the_management_api_the_status_says_so_and_still_counts_the_queues(gateway_stack, http, operator):
    closed = f"http://127.0.0.1:{free_port()}"
    async with gateway_stack(rabbitmq_management_url=closed) as (gateway, _):
        status = await status_of(http, gateway, operator[1])

    assert [queue["name"] for queue in status["queues"]] == list(QUEUE_NAMES)
    assert all(queue["publish_rate"] is None and queue["deliver_rate"] is None for queue in status["queues"])
    assert isinstance(status["dead_letters"], int)
    [problem] = status["problems"]
    assert problem.startswith(f"RabbitMQ management API unreachable at {closed}: "), problem
    assert problem.endswith("the message rates are not known."), problem


async def test_credentials_in_the_management_url_are_used_and_a_refusal_is_a_problem(gateway_stack, http, operator):
    async with gateway_stack(rabbitmq_management_url="http://nobody:wrong@127.0.0.1:15672") as (gateway, _):
        status = await status_of(http, gateway, operator[1])

    assert status["problems"] == ["RabbitMQ management API at http://127.0.0.1:15672 refused the user 'nobody' "
                                  "(401); the message rates are not known."]
    assert "wrong" not in str(status)



async def test_with_the_broker_away_the_queues_are_not_counted_and_the_status_says_why(amqp_url):
    connection = await aio_pika.connect_robust(amqp_url)
    await connection.close()  # as if the broker went away for good

    async with asyncio.timeout(BROKER_SECONDS + 1):
        counts, problem = await count_queues(connection)

    assert counts is None
    assert problem.startswith("The broker cannot be reached to count the queues' messages: "), problem
