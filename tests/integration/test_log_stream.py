"""The live log (GET /api/v1/uploads/{id}/log/events) through the gateway, from
the logstore, on the real broker and database: the progress first, then each
line as it is recorded, resumed after the last line an EventSource got, until
the upload finishes.

No validator runs (but for the fresh upload): each test publishes the events
an upload's log shows, as the services would."""

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from services.common.api_models import LogLine
from services.common.internal_calls import internal_headers
from services.common.messages import Event, PipelineLogLine, RuleFailure, UploadRejected
from services.common.scope import OWN_SITES
from services.gateway.__main__ import build_app as build_gateway
from services.gateway.auth.users import save_user
from services.logstore.__main__ import build_app as build_logstore
from services.logstore.log_wakeups import LISTENER_NAME, LOG_WAKEUPS
from tests.conftest import DEMO_TOKEN, INTERNAL_SECRET
from tests.integration.helpers import (
    ALL_SITES,
    eventually,
    finished_event,
    new_upload_id,
    received_event,
    scan_facts,
    started_event,
    wait_until_processed,
)
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.sse import Block, EventReader

# Long enough that, unless a test shortens them, a line arrives by its notification, not by the timer.
SLOW_SECONDS = 60
NOT_STARTED = {"progress": "Not Started", "status": "The pipeline has not run yet."}
IN_PROGRESS = {"progress": "In Progress", "status": "The pipeline is running."}
SUCCESS = {"progress": "Success", "status": "Finished: the upload succeeded."}
FAILURE = {"progress": "Failure", "status": "Finished: the upload failed."}
FINISHED_MESSAGE = "Pipeline finished successfully: the scan was inserted."


@dataclass
class Stack:
    url: str
    logstore: web.Application
    http: aiohttp.ClientSession
    tap: object
    pool: asyncpg.Pool

    @contextlib.asynccontextmanager
    async def stream(self, upload_id: int, token: str = DEMO_TOKEN, last_event_id: str | None = None, **params):
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        async with self.http.get(f"{self.url}/api/v1/uploads/{upload_id}/log/events", params=params,
                                 headers=headers) as answer:
            assert answer.status == 200, await answer.text()
            assert answer.content_type == "text/event-stream"
            yield EventReader(answer)

    async def record(self, *events: Event) -> None:
        """Publish the events; return once the logstore has recorded each."""
        for event in events:
            await self.tap.publish(event)
        for event in events:
            await wait_until_processed(self.pool, "logstore", event.event_id)

    async def log(self, upload_id: int, mode: str = "summary") -> list[dict]:
        """Every line of the log, page after page."""
        lines, after = [], 0
        while True:
            async with self.http.get(f"{self.url}/api/v1/uploads/{upload_id}/log", params={"mode": mode, "after": after},
                                     headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as answer:
                assert answer.status == 200, await answer.text()
                page = await answer.json()
            lines += page["lines"]
            after = page["last_line_id"]
            if not page["more"]:
                return lines

    def open_streams(self) -> int:
        return self.logstore[LOG_WAKEUPS].watching()


@pytest.fixture
def stack(gateway_settings, logstore_settings, tap, pool, http):
    """A factory: `async with stack(**logstore_settings) as s` runs a logstore and a gateway in-process."""

    @contextlib.asynccontextmanager
    async def run(**overrides):
        settings = {"log_stream_recheck_seconds": SLOW_SECONDS, "log_stream_ping_seconds": SLOW_SECONDS, **overrides}
        logstore = build_logstore(logstore_settings(**settings))
        async with running_app(logstore) as logstore_url:
            gateway = build_gateway(gateway_settings(logstore_url=logstore_url, auto_launch=False))
            async with running_app(gateway) as url:
                yield Stack(url, logstore, http, tap, pool)

    return run


def received(upload_id: int, attempt: int = 1, site: str = "MTL", **facts):
    event = received_event(upload_id, attempt, **facts)
    return event.model_copy(update={"scan": event.scan.model_copy(update={"site": site})})


def log_line(upload_id: int, number: int, message: str, **flags) -> PipelineLogLine:
    return PipelineLogLine(upload_id=upload_id, attempt=1, line_number=number, message=message, **flags)


def progress(upload_id: int, state: dict, attempt: int = 1) -> dict:
    return {"upload_id": upload_id, **state, "attempt": attempt}


def lines_of(blocks: list[Block]) -> list[dict]:
    return [block.json() for block in blocks if block.event == "line"]


def messages(lines: list[dict]) -> list[str]:
    return [line["message"] for line in lines]


# --- what a stream sends ----------------------------------------------------------------------------


async def test_a_stream_sends_the_progress_then_each_line_as_it_is_recorded_and_ends_when_the_upload_succeeds(stack):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id))
        async with s.stream(upload_id) as events:
            retry, first_progress, first_line = [await events.next() for _ in range(3)]

            await s.tap.publish(started_event(upload_id))
            started = [await events.next(), await events.next()]
            await s.tap.publish(log_line(upload_id, 1, "Extracted 3 files from scan.tgz"))
            extracted = await events.next()
            await s.tap.publish(finished_event(upload_id, message=FINISHED_MESSAGE))
            finished = await events.until("end")
            closed = await events.next()

        assert retry == Block(retry=2000)
        assert (first_progress.event, first_progress.id) == ("progress", None)
        assert first_progress.json() == progress(upload_id, NOT_STARTED)
        assert first_line.event == "line" and first_line.json()["message"].startswith("Upload received: ")
        assert first_line.id == str(first_line.json()["line_id"])
        assert set(first_line.json()) == set(LogLine.model_fields)
        assert [(block.event, block.id) for block in started] == [("progress", None), ("line", started[1].id)]
        assert started[0].json() == progress(upload_id, IN_PROGRESS)
        assert started[1].json()["message"] == "Pipeline started."
        assert extracted.json()["message"] == "Extracted 3 files from scan.tgz"
        assert [block.event for block in finished] == ["progress", "line", "end"]
        assert finished[0].json() == progress(upload_id, SUCCESS)
        assert finished[1].json()["message"] == FINISHED_MESSAGE
        assert finished[2].json() == SUCCESS and finished[2].id is None
        assert closed is None, "the stream closes after its end event"
        streamed = [first_line, started[1], extracted, finished[1]]
        assert [block.json() for block in streamed] == await s.log(upload_id), "the lines as the log API gives them"


async def test_the_stream_ends_with_the_failure_and_its_status_line_when_the_pipeline_fails(stack):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id), started_event(upload_id))
        async with s.stream(upload_id) as events:
            before = await events.until("line")
            await s.tap.publish(finished_event(upload_id, exit_code=151, message="Pipeline failed with exit code 151."))
            blocks = await events.until("end")
            closed = await events.next()

    assert before[1].json() == progress(upload_id, IN_PROGRESS)
    assert [block.event for block in blocks] == ["line", "progress", "line", "end"]
    assert messages(lines_of(blocks)) == ["Pipeline started.", "Pipeline failed with exit code 151."]
    assert lines_of(blocks)[-1]["is_error"] is True
    assert blocks[1].json() == progress(upload_id, FAILURE)
    assert blocks[-1].json() == FAILURE
    assert closed is None


async def test_an_upload_already_rejected_streams_its_whole_log_and_ends_at_once(stack):
    upload_id = new_upload_id()
    rule = RuleFailure(field="candid", code="candidate_active", message="Candidate 300002 is not active.")
    async with stack() as s:
        await s.record(received(upload_id), UploadRejected(upload_id=upload_id, attempt=1, failures=[rule]))
        async with s.stream(upload_id) as events:
            blocks = await events.until("end")
            closed = await events.next()

    assert blocks[1].json() == progress(upload_id, FAILURE)
    assert messages(lines_of(blocks))[1:] == [rule.message,
                                             "The upload was rejected: correct the values above and upload it again."]
    assert (blocks[-1].json(), closed) == (FAILURE, None)


async def test_the_summary_stream_hides_the_verbose_lines_and_the_detailed_one_shows_them(stack):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id), started_event(upload_id),
                       log_line(upload_id, 1, "Extracted 3 files"),
                       log_line(upload_id, 2, "study/series1/IM0001.dcm: series 1", is_verbose=True),
                       finished_event(upload_id, message=FINISHED_MESSAGE))
        streamed = {}
        for mode in ("summary", "detailed", None):
            params = {"mode": mode} if mode else {}
            async with s.stream(upload_id, **params) as events:
                streamed[mode] = lines_of(await events.until("end"))
        summary, detailed = await s.log(upload_id, "summary"), await s.log(upload_id, "detailed")

    assert streamed["summary"] == summary and streamed[None] == summary, "summary is the default"
    assert streamed["detailed"] == detailed
    assert not any(line["is_verbose"] for line in summary)
    assert [line["message"] for line in detailed if line["is_verbose"]] == [
        "Command (pid 4242 on test-launcher): pipeline", "study/series1/IM0001.dcm: series 1"]


async def test_a_new_attempt_while_streaming_sends_its_progress_then_its_lines_from_its_first(stack):
    upload_id = new_upload_id()
    first = received(upload_id)
    second = received(upload_id, 2, scan=scan_facts(upload_id, attempt=2, file_name=first.scan.file_name))
    async with stack() as s:
        await s.record(first)
        async with s.stream(upload_id, mode="detailed") as events:
            await events.until("line")
            await s.tap.publish(second)
            blocks = [await events.next(), await events.next()]

    assert blocks[0].event == "progress" and blocks[0].json() == progress(upload_id, NOT_STARTED, attempt=2)
    line = blocks[1].json()
    assert (line["attempt"], line["active"]) == (2, True)
    assert line["message"].endswith("; it replaces attempt 1.")


# --- resuming: Last-Event-ID --------------------------------------------------------------------------


async def test_a_reconnect_with_last_event_id_resumes_after_that_line_with_no_gap_and_no_duplicate(stack):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id), started_event(upload_id))
        async with s.stream(upload_id, mode="detailed") as events:
            before = lines_of(await events.until("line") + [await events.next(), await events.next()])
        # the page is away while the pipeline goes on
        await s.record(log_line(upload_id, 1, "one"), log_line(upload_id, 2, "two", is_verbose=True),
                       log_line(upload_id, 3, "three"))
        async with s.stream(upload_id, mode="detailed", after="0", last_event_id=str(before[-1]["line_id"])) as events:
            resumed = await events.until("line")
            resumed += [await events.next(), await events.next()]
            await s.tap.publish(finished_event(upload_id, message=FINISHED_MESSAGE))
            resumed += await events.until("end")
        everything = await s.log(upload_id, "detailed")

    assert resumed[0] == Block(retry=2000)
    assert resumed[1].json() == progress(upload_id, IN_PROGRESS), "a reconnect gets the progress first"
    assert before + lines_of(resumed) == everything
    assert messages(lines_of(resumed)) == ["one", "two", "three", FINISHED_MESSAGE]


async def test_after_gives_the_resume_point_when_there_is_no_valid_last_event_id(stack):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id), started_event(upload_id), log_line(upload_id, 1, "one"),
                       finished_event(upload_id, message=FINISHED_MESSAGE))
        lines = await s.log(upload_id)
        cut = str(lines[1]["line_id"])
        resumed = {}
        for name, after, last_event_id in [("after", cut, None), ("not a line id", cut, "abc"),
                                           ("header wins", "0", cut), ("none", None, None)]:
            params = {"after": after} if after else {}
            async with s.stream(upload_id, last_event_id=last_event_id, **params) as events:
                resumed[name] = lines_of(await events.until("end"))

    assert resumed["after"] == resumed["not a line id"] == resumed["header wins"] == lines[2:]
    assert resumed["none"] == lines


# --- who may ask, and what is refused ---------------------------------------------------------------


async def test_an_own_sites_user_gets_the_usual_404_for_another_site_s_upload_and_a_stream_of_their_site_s(
        stack, pool):
    token = f"token-mo-{uuid.uuid4().hex}"
    async with pool.acquire() as conn:
        await save_user(conn, "mo_live", [OWN_SITES], token, ["MTL"])
    ottawa, montreal = new_upload_id(), new_upload_id()
    async with stack() as s:
        await s.record(received(ottawa, site="OTT", candid="400001", pscid="OTT0001"), received(montreal))
        async with s.http.get(f"{s.url}/api/v1/uploads/{ottawa}/log/events",
                              headers={"Authorization": f"Bearer {token}"}) as answer:
            status, body = answer.status, await answer.json()
        async with s.stream(montreal, token=token) as events:
            seen = await events.until("line")

    error = {"code": "unknown_upload", "message": f"There is no upload with id {ottawa}.", "field": "upload_id"}
    assert (status, body) == (404, {"error": error, "errors": [error]})
    assert seen[1].json() == progress(montreal, NOT_STARTED)


@pytest.mark.parametrize(("params", "field"), [({"mode": "everything"}, "mode"), ({"after": "-1"}, "after"),
                                               ({"colour": "blue"}, "colour")])
async def test_a_bad_query_is_a_400_json_error_naming_the_field(stack, params, field):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id))
        async with s.http.get(f"{s.url}/api/v1/uploads/{upload_id}/log/events", params=params,
                              headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as answer:
            status, content_type, body = answer.status, answer.content_type, await answer.json()
        async with s.http.get(f"{s.url}/api/v1/uploads/{upload_id}/log/events") as anonymous:
            anonymous_status = anonymous.status

    assert (status, content_type, body["error"]["field"]) == (400, "application/json", field)
    assert anonymous_status == 401


async def test_the_gateway_answers_503_json_when_the_logstore_cannot_be_reached(gateway_settings, http):
    async with running_app(build_gateway(gateway_settings(logstore_url="http://127.0.0.1:9"))) as url:
        async with http.get(f"{url}/api/v1/uploads/1/log/events",
                            headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as answer:
            assert answer.status == 503
            assert (await answer.json())["error"]["code"] == "logstore_unavailable"


async def test_an_upload_the_logstore_has_not_recorded_yet_gets_a_short_not_started_stream(
        gateway_before_the_read_side, http, tmp_path):
    url = gateway_before_the_read_side
    client = UploaderClient(http, url, DEMO_TOKEN)
    stem = "MTL0001_300001_V1"
    path = make_dicom_archive(tmp_path / f"{stem}_{uuid.uuid4().hex[:8]}.tgz", stem, n_files=1)
    accepted = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await accepted.json())["upload_id"]

    async with http.get(f"{url}/api/v1/uploads/{upload_id}/log/events", headers=client.headers) as answer:
        assert (answer.status, answer.content_type) == (200, "text/event-stream")
        events = EventReader(answer)
        blocks = [await events.next(), await events.next(), await events.next()]
    async with http.get(f"{url}/api/v1/uploads/999999999/log/events", headers=client.headers) as unknown:
        unknown_status = unknown.status

    assert blocks[0] == Block(retry=1000)
    assert blocks[1].event == "progress" and blocks[1].json() == progress(upload_id, NOT_STARTED)
    assert blocks[2] is None, "then it closes, and the EventSource comes back a second later"
    assert unknown_status == 404


# --- waking up: notifications, the timer, the listener's reconnection -------------------------------


async def test_a_line_written_without_a_notification_still_arrives_by_the_recheck_timer(stack, pool):
    upload_id = new_upload_id()
    async with stack(log_stream_recheck_seconds=0.5) as s:
        await s.record(received(upload_id))
        async with s.stream(upload_id) as events:
            await events.until("line")
            await pool.execute(
                """INSERT INTO logstore.log_lines (upload_id, attempt, event_id, logged_at, origin, message)
                   VALUES ($1, 1, $2, now(), 'pipeline', 'written without a notification')""",
                upload_id, uuid.uuid4())
            started = time.monotonic()
            line = await events.next(timeout=5)

    assert line.json()["message"] == "written without a notification"
    assert time.monotonic() - started < 3


async def listener_pid(pool: asyncpg.Pool) -> int | None:
    return await pool.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", LISTENER_NAME)


async def test_the_streams_go_on_when_the_listener_s_connection_is_killed(stack, pool):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id))
        async with s.stream(upload_id) as events:
            await events.until("line")
            killed = await eventually(lambda: listener_pid(pool), what="the listener connected")
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", killed)
            await eventually(lambda: _another_listener(pool, killed), what="the listener back")
            await s.tap.publish(log_line(upload_id, 1, "after the listener came back"))
            line = await events.next(timeout=10)

    assert line.json()["message"] == "after the listener came back", "woken by a notification: the timer is 60 s"


async def _another_listener(pool: asyncpg.Pool, killed: int) -> bool:
    pid = await listener_pid(pool)
    return pid is not None and pid != killed


# --- ending: the client goes away, the services shut down --------------------------------------------


async def test_pings_keep_the_stream_open_and_a_client_that_leaves_ends_its_stream_in_the_logstore(stack):
    upload_id = new_upload_id()
    async with stack(log_stream_recheck_seconds=0.5, log_stream_ping_seconds=0.2) as s:
        await s.record(received(upload_id))
        async with s.stream(upload_id) as events:
            await events.until("line")
            ping = await events.next(timeout=5, comments=True)
            assert s.open_streams() == 1
        await eventually(lambda: _none_open(s), timeout=10, what="the logstore's stream ending")

    assert ping == Block(comment="ping")


async def _none_open(s: Stack) -> bool:
    return s.open_streams() == 0


async def test_shutting_down_ends_open_streams_at_once_without_an_error(stack, http, caplog):
    upload_id = new_upload_id()
    caplog.set_level(logging.WARNING)
    exits = contextlib.AsyncExitStack()
    s = await exits.enter_async_context(stack())
    answer = None
    try:
        await s.record(received(upload_id))
        answer = await http.get(f"{s.url}/api/v1/uploads/{upload_id}/log/events",
                                headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
        events = EventReader(answer)
        await events.until("line")
        started = time.monotonic()
        await exits.aclose()  # the gateway, then the logstore, while the stream is open
        stopped_after = time.monotonic() - started
        closed = await events.next(timeout=5)
    finally:
        if answer is not None:
            answer.close()
        await exits.aclose()

    assert stopped_after < 5, "the shutdown waited for the open stream"
    assert closed is None
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert s.open_streams() == 0


async def test_the_logstore_shutting_down_ends_its_streams_at_once(logstore_settings, tap, pool, http):
    upload_id = new_upload_id()
    logstore = build_logstore(logstore_settings(log_stream_recheck_seconds=SLOW_SECONDS,
                                                log_stream_ping_seconds=SLOW_SECONDS))
    event = received(upload_id)
    async with running_app(logstore) as url:
        await tap.publish(event)
        await wait_until_processed(pool, "logstore", event.event_id)
        answer = await http.get(f"{url}/api/v1/uploads/{upload_id}/log/events",
                                headers=internal_headers(INTERNAL_SECRET, ALL_SITES))
        events = EventReader(answer)
        await events.until("line")
        started = time.monotonic()
    stopped_after = time.monotonic() - started
    closed = await events.next(timeout=5)
    answer.close()

    assert stopped_after < 5, "the shutdown waited for the open stream"
    assert closed is None
    assert logstore[LOG_WAKEUPS].watching() == 0


async def test_a_long_log_arrives_whole_and_in_order_before_the_end(stack, pool):
    upload_id = new_upload_id()
    async with stack() as s:
        await s.record(received(upload_id))
        await pool.execute(
            """INSERT INTO logstore.log_lines (upload_id, attempt, event_id, logged_at, origin, message)
               SELECT $1, 1, gen_random_uuid(), now(), 'pipeline', 'line ' || n FROM generate_series(1, 2500) n""",
            upload_id)
        await s.record(finished_event(upload_id, message=FINISHED_MESSAGE))
        async with s.stream(upload_id) as events:
            streamed = lines_of(await events.until("end"))
        logged = await s.log(upload_id)

    assert len(streamed) == 2502
    assert streamed == logged


async def test_the_logstore_s_stream_answers_only_the_gateway(logstore_settings, http):
    async with running_app(build_logstore(logstore_settings())) as url:
        async with http.get(f"{url}/api/v1/uploads/1/log/events") as answer:
            status, body = answer.status, await answer.json()

    assert (status, body["error"]["code"]) == (403, "gateway_only")
