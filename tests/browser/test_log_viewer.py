"""The Log Viewer through faults: the live stream breaks and resumes from the last line it had (the
browser's EventSource sends Last-Event-ID), with a message while the server cannot be reached; the logstore
restarts; and without a stream at all, polling keeps the log going; a run interrupted and launched again
shows each run marked. The per-file report downloads from it."""

import asyncio
import contextlib
import json
import re
import signal
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.browser import no_serious_violations, sign_in


@pytest.fixture
async def api(web_stack, http) -> UploaderClient:
    return UploaderClient(http, web_stack.gateway_url, DEMO_TOKEN)


async def start_upload(api: UploaderClient, archive) -> int:
    answer = await api.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


@contextlib.asynccontextmanager
async def stopped(web_stack, service: str):
    """The service stopped while the block runs, and started again after it, whatever happens."""
    await asyncio.to_thread(web_stack.stop_service, service)
    try:
        yield
    finally:
        await asyncio.to_thread(web_stack.start_service, service)
        await asyncio.to_thread(web_stack.wait_healthy, service)


async def log_of_a_running_upload(page: Page, api: UploaderClient, archive) -> tuple[int, Locator]:
    """An upload signed in as demo, its Log Viewer open while its pipeline runs: its id and the log."""
    upload_id = await start_upload(api, archive)
    await sign_in(page, "demo")
    await page.goto(f"/#/log/{upload_id}")
    log = page.get_by_role("log")
    await expect(log).to_contain_text("Preparing, step 1 of 6", timeout=60_000)
    return upload_id, log


async def line_ids(page: Page) -> list[int]:
    return [int(i) for i in await page.get_by_role("log").locator(".line").evaluate_all(
        "lines => lines.map(line => line.dataset.lineId)")]


async def test_the_stream_resumes_from_the_last_line_after_the_gateway_restarts(page, api, archive, web_stack, shoot):
    stream_requests = []
    page.on("request", lambda r: stream_requests.append(r) if "/log/events" in r.url else None)
    upload_id, _ = await log_of_a_running_upload(page, api, archive)

    async with stopped(web_stack, "gateway"):
        await expect(page.get_by_text("The server cannot be reached")).to_be_visible(timeout=10_000)
        await shoot(page, "unreachable")

    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)
    await expect(page.get_by_text("The server cannot be reached")).to_be_hidden()
    shown = await line_ids(page)
    expected = [line["line_id"] for line in (await api.log(upload_id))["lines"]]
    assert shown == expected
    sent = [(await r.all_headers()).get("last-event-id") for r in stream_requests]
    resumes = [int(line_id) for line_id in sent if line_id]
    assert resumes and resumes[-1] in shown, f"no reconnect sent Last-Event-ID: {sent}"
    await shoot(page, "resumed")


async def test_the_log_carries_on_when_the_logstore_restarts_without_losing_or_repeating_a_line(
        page, api, archive, web_stack, shoot):
    upload_id, log = await log_of_a_running_upload(page, api, archive)

    connection = page.locator("#log-connection")
    async with stopped(web_stack, "logstore"):
        await expect(connection).to_contain_text("cannot be reached")
        await shoot(page, "unreachable")

    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)
    await expect(connection).to_be_empty()
    await expect(log.locator(".line", has_text="Preparing, step")).to_have_count(6)
    shown = await line_ids(page)
    expected = [line["line_id"] for line in (await api.log(upload_id))["lines"]]
    assert shown == expected
    await shoot(page, "resumed")


async def test_without_a_stream_the_log_is_polled(page, api, archive, shoot):
    await page.route("**/log/events*", lambda route: route.fulfill(status=503, body="no streams here"))
    upload_id = await start_upload(api, archive)
    await sign_in(page, "demo")
    await page.goto(f"/#/log/{upload_id}")
    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)
    await expect(page.get_by_role("log").locator(".line", has_text="Preparing, step")).to_have_count(6)
    expected = [line["line_id"] for line in (await api.log(upload_id))["lines"]]
    assert await line_ids(page) == expected
    await shoot(page, "polled")


async def test_the_per_file_report_downloads_from_the_log_viewer(page, api, archive):
    upload_id = await start_upload(api, archive)
    await api.wait_for_progress(upload_id)
    await sign_in(page, "demo")
    await page.goto(f"/#/log/{upload_id}")
    await expect(page.locator("#log-progress")).to_have_text("Success")

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download the per-file report").click()
    download = await downloading.value

    assert download.suggested_filename == f"upload-{upload_id}-report.jsonl"
    lines = [json.loads(line) for line in Path(await download.path()).read_text().splitlines()]
    assert [(line["file"], line["outcome"]) for line in lines] == [
        (f"study/series1/IM{n:04d}.dcm", "inserted") for n in (1, 2, 3)]


async def test_each_run_is_marked_where_it_starts_so_a_relaunched_run_is_not_taken_for_repeated_lines(
        page, api, archive, web_stack, shoot):
    upload_id, log = await log_of_a_running_upload(page, api, archive)
    await expect(log.get_by_text("run 1", exact=True)).to_be_visible()

    # Its launcher dies mid-run: the run ends interrupted (the test pipeline is not declared safe to rerun).
    await asyncio.to_thread(web_stack.stop_service, "launcher", signal.SIGKILL, 10)
    await asyncio.to_thread(web_stack.start_service, "launcher")
    await asyncio.to_thread(web_stack.wait_healthy, "launcher")
    await expect(page.locator("#log-progress")).to_have_text("Failure", timeout=60_000)
    await launch_once_the_gateway_recorded_the_end(api, upload_id)
    await page.reload()
    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)

    await expect(log.get_by_text(re.compile(r"^run \d+$"))).to_have_text(["run 1", "run 2"])
    for run in ("run 1", "run 2"):
        await expect(log.locator(".line", has=page.get_by_text(run, exact=True))).to_contain_text("Pipeline started.")
    await expect(log.locator(".line", has_text="Preparing, step 1 of 6")).to_have_count(2)
    lines = (await api.log(upload_id))["lines"]
    assert [line["run"] for line in lines if line["message"] == "Preparing, step 1 of 6"] == [1, 2]
    assert lines[0]["run"] is None  # "Upload received": no run printed it
    await no_serious_violations(page)
    await shoot(page, "two-runs")


async def launch_once_the_gateway_recorded_the_end(api: UploaderClient, upload_id: int) -> None:
    """Launch again: the gateway, which decides, records the run's end a moment apart from the log that showed it;
    until then it refuses with a 409, as it would refuse a user."""

    async def launched() -> bool:
        answer = await api.launch(upload_id)
        assert answer.status in (202, 409), await answer.text()
        return answer.status == 202

    await eventually(launched, 30, f"the relaunch of upload {upload_id}")
