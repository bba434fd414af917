"""The Upload tab: pre-flight failures beside their fields, a real upload with its progress bar, a
cancelled upload, and overwriting (confirmed in a dialog, or refused with the reason)."""

import io
import os
import tarfile
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.browser import no_serious_violations, sign_in, slow_network
from tests.support.dicom_archives import dicom_bytes

# Records every value the progress bar takes, however briefly the page shows it.
WATCH_PROGRESS_BAR = """() => {
  window.progressValues = [];
  const bar = document.querySelector('[role=progressbar]');
  new MutationObserver(() => window.progressValues.push(Number(bar.getAttribute('aria-valuenow'))))
    .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
}"""


@pytest.fixture
async def api(web_stack, http) -> UploaderClient:
    return UploaderClient(http, web_stack.gateway_url, DEMO_TOKEN)


def count_upload_posts(page: Page) -> list:
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/api/v1/uploads") else None)
    return posts


async def open_upload_tab(page: Page, username: str = "demo") -> None:
    await sign_in(page, username)
    await page.get_by_role("link", name="Upload", exact=True).click()
    await expect(page.get_by_role("heading", name="Upload a scan archive")).to_be_visible()


def upload_tab(page: Page):
    return page.get_by_role("region", name="Upload a scan archive")


async def fill_upload(page: Page, archive: Path, candid="300001", pscid="MTL0001", visit="V1") -> None:
    tab = upload_tab(page)
    await tab.get_by_label("CandID").fill(candid)
    await tab.get_by_label("PSCID").fill(pscid)
    await tab.get_by_label("Visit label").fill(visit)
    await tab.get_by_label("File").set_input_files(archive)


async def click_upload_and_wait_for_the_decision(page: Page) -> None:
    """Click Upload, and wait until the page, having checked the form again, sent it, asked, or refused."""
    async with page.expect_response("**/api/v1/uploads/check"):
        await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-form")).not_to_have_attribute("aria-busy", "true")


async def the_gateway_knows_the_upload_as(api: UploaderClient, scan: Path, progress: str) -> None:
    """Until the pre-flight check, which the Upload tab asks, finds the upload of this file at this progress: the
    gateway records an end a moment apart from the log's."""

    async def known() -> bool:
        answer = await api.check(file_name=scan.name, file_size=scan.stat().st_size, candid="300001",
                                 pscid="MTL0001", visit_label="V1")
        existing = (await answer.json())["existing"]
        return existing is not None and existing["progress"] == progress

    await eventually(known, 30, f"the gateway recording the upload of {scan.name} as {progress}")


async def test_a_failed_rule_is_shown_beside_its_field_and_nothing_is_sent(page, archive, shoot):
    posts = count_upload_posts(page)
    await open_upload_tab(page)
    await expect(page.get_by_text("Maximum file size: 64 MiB.")).to_be_visible()
    await fill_upload(page, archive(), candid="999999")

    candid = upload_tab(page).get_by_label("CandID")
    await expect(candid).to_have_attribute("aria-invalid", "true")
    message_id = await candid.get_attribute("aria-describedby")
    message = page.locator(f"#{message_id}")
    await expect(message).to_contain_text("999999")
    await expect(upload_tab(page).get_by_label("PSCID")).not_to_have_attribute("aria-invalid", "true")
    await no_serious_violations(page)
    await shoot(page, "candid-refused")

    await click_upload_and_wait_for_the_decision(page)
    await expect(page.get_by_text("Correct the fields marked above before uploading.")).to_be_visible()
    await expect(page.get_by_role("progressbar")).to_be_hidden()
    assert posts == []


async def test_phantom_hides_the_visit_fields(page, shoot):
    await open_upload_tab(page)
    tab = upload_tab(page)
    await tab.get_by_label("Phantom").select_option("Yes")
    await expect(tab.get_by_label("Visit label")).to_be_hidden()
    await expect(tab.get_by_label("CandID")).to_be_hidden()
    await shoot(page, "phantom")


async def test_an_upload_reaches_100_percent_then_success_with_its_log_in_both_modes(page, archive, shoot):
    scan = archive()
    await open_upload_tab(page)
    await page.evaluate(WATCH_PROGRESS_BAR)
    await fill_upload(page, scan)
    await expect(page.get_by_text("Ready to upload: every rule passes.")).to_be_visible()
    await shoot(page, "ready")
    await page.get_by_role("button", name="Upload").click()

    await expect(page.get_by_role("heading", name="Log Viewer")).to_be_visible()
    assert 100 in await page.evaluate("window.progressValues")
    log = page.get_by_role("log")
    await expect(log).to_contain_text(f"Upload received: {scan.name}")
    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)
    await expect(page.get_by_role("status").filter(has_text="Finished: the upload succeeded.")).to_be_visible()
    await expect(log).not_to_contain_text("Details of step")
    await no_serious_violations(page)
    await shoot(page, "log-summary")

    await page.get_by_label("Detailed").check()
    await expect(log).to_contain_text("Details of step 1")
    await shoot(page, "log-detailed")

    await page.get_by_role("link", name="Browse", exact=True).click()
    row = page.get_by_role("row").filter(has_text=scan.name)
    await expect(row.locator(".progress")).to_have_text("Success")
    await no_serious_violations(page)
    await shoot(page, "browse-success")


async def test_the_log_grows_while_the_pipeline_runs(page, archive, shoot):
    await open_upload_tab(page)
    await fill_upload(page, archive())
    await expect(page.get_by_text("Ready to upload: every rule passes.")).to_be_visible()
    await page.get_by_role("button", name="Upload").click()

    steps = page.get_by_role("log").locator(".line", has_text="Preparing, step")
    await expect(page.locator("#log-progress")).to_have_text("In Progress", timeout=60_000)
    await expect(steps).not_to_have_count(0)
    seen_first = await steps.count()
    await shoot(page, "running")
    await expect(steps).to_have_count(6, timeout=60_000)
    assert seen_first < 6, "the lines arrived all at once, not while the pipeline ran"
    await expect(page.locator("#log-progress")).to_have_text("Success", timeout=60_000)
    await shoot(page, "finished")


def big_archive(path: Path, megabytes: int) -> Path:
    """A .tgz whose size is mostly incompressible bytes, so that it takes a while to send."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in (("study/IM0001.dcm", dicom_bytes(path.name.split("_")[0])),
                           ("study/noise.bin", os.urandom(megabytes * 1024**2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


async def test_a_cancelled_upload_stops_and_the_server_keeps_nothing(page, tmp_path, api, incoming_path, shoot):
    scan = big_archive(tmp_path / "MTL0001_300001_V1_cancelled.tgz", 6)
    await open_upload_tab(page)
    await slow_network(page)
    await fill_upload(page, scan)
    await expect(page.get_by_text("Ready to upload: every rule passes.")).to_be_visible()
    await page.get_by_role("button", name="Upload").click()

    bar = page.get_by_role("progressbar")
    await expect(bar).to_be_visible()
    await expect(bar).not_to_have_attribute("aria-valuenow", "0")  # bytes are on their way
    await shoot(page, "uploading")
    assert int(await bar.get_attribute("aria-valuenow")) < 100
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_text("Upload cancelled; nothing was kept on the server.")).to_be_visible()
    await shoot(page, "cancelled")

    # The server notices the broken connection and removes what it had received (a .partial file).
    async def nothing_kept() -> bool:
        return not leftovers(Path(incoming_path), scan.name)

    await eventually(nothing_kept, what="the removal of the cancelled upload's bytes")
    page_of_uploads = await (await api.get("/api/v1/uploads", pscid="MTL0001", page_size=500)).json()
    assert scan.name not in [u["file_name"] for u in page_of_uploads["items"]]


def leftovers(incoming: Path, file_name: str) -> list[Path]:
    """Unfinished uploads (the scan store's .part files) and stored files of this name."""
    return [p for p in incoming.rglob("*") if p.is_file() and (p.suffix == ".part" or file_name in p.name)]


async def test_overwriting_a_failed_upload_after_confirming(page, archive, api, shoot):
    scan = archive(broken=True)
    first = await api.upload(scan, candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await first.json())["upload_id"]
    await api.wait_for_progress(upload_id, timeout=60)
    assert (await api.upload_summary(upload_id))["progress"] == "Failure"
    await the_gateway_knows_the_upload_as(api, scan, "Failure")

    await open_upload_tab(page)
    await fill_upload(page, scan)
    await expect(page.get_by_text(f"This file was already uploaded (upload {upload_id}, Failure)")).to_be_visible()
    await page.get_by_role("button", name="Upload").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"upload {upload_id} (Failure)")
    await no_serious_violations(page)
    await shoot(page, "overwrite-dialog")
    await dialog.get_by_role("button", name="Overwrite").click()

    await expect(page.get_by_role("heading", name="Log Viewer")).to_be_visible()
    await expect(page.get_by_text(f"Upload {upload_id}: {scan.name}")).to_be_visible()
    await expect(page.get_by_role("log")).to_contain_text("it replaces attempt 1")
    assert (await api.upload_summary(upload_id))["attempt"] == 2
    await expect(page.locator("#log-progress")).to_have_text("Failure", timeout=60_000)
    await expect(page.locator("#log-cause")).to_contain_text("Why it failed:")
    await shoot(page, "overwritten-and-failed")


async def test_a_successful_upload_is_not_overwritten_and_the_page_says_why(page, archive, api, shoot):
    scan = archive()
    answer = await api.upload(scan, candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await answer.json())["upload_id"]
    await api.wait_for_progress(upload_id, timeout=60)
    await the_gateway_knows_the_upload_as(api, scan, "Success")
    posts = count_upload_posts(page)

    await open_upload_tab(page)
    await fill_upload(page, scan)
    file_input = upload_tab(page).get_by_label("File")
    await expect(file_input).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#upload-file-error")).to_contain_text("cannot be overwritten")
    await click_upload_and_wait_for_the_decision(page)
    await expect(page.get_by_role("dialog")).to_be_hidden()
    await expect(page.get_by_role("progressbar")).to_be_hidden()
    assert posts == []
    await shoot(page, "overwrite-refused")
