"""The Browse tab: LORIS's columns, filters, sorting, paging, rows that refresh by themselves (with a run's
percentage, then its DICOM archive and image counts, or a failure's reason), a row that opens its log, an
own-sites coordinator who sees only their site, and the page at a narrow width and with the keyboard alone."""

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.browser import no_serious_violations, sign_in

HEADERS = ["Upload ID", "Progress", "CandID", "PSCID", "Visit label", "Site", "Phantom", "File", "Upload date",
           "Uploaded by", "Tarchive info", "MINC inserted", "MINC created"]


@pytest.fixture
async def api(web_stack, http) -> UploaderClient:
    return UploaderClient(http, web_stack.gateway_url, DEMO_TOKEN)


async def upload(api: UploaderClient, archive, pscid="MTL0001", candid="300001", visit="V1", **kwargs) -> tuple[int, str]:
    scan = archive(pscid, candid, visit, **kwargs)
    answer = await api.upload(scan, candid=candid, pscid=pscid, visit_label=visit)
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"], scan.name


async def recorded(api: UploaderClient, total: int, timeout: float = 30) -> None:
    """Until Browse's API lists `total` uploads."""
    async with asyncio.timeout(timeout):
        while (await (await api.get("/api/v1/uploads", page_size=1)).json())["total"] < total:
            await asyncio.sleep(0.1)


def table(page: Page):
    return page.get_by_role("region", name="Browse uploads").get_by_role("table")


def row_of(page: Page, file_name: str):
    return table(page).get_by_role("row").filter(has_text=file_name)


async def test_browse_shows_the_loris_columns_newest_first_and_a_row_refreshes_by_itself(page, api, archive, shoot):
    older, older_name = await upload(api, archive)
    newer, newer_name = await upload(api, archive)
    await sign_in(page, "demo")
    headers = table(page).get_by_role("columnheader")
    await expect(headers).to_have_text(HEADERS)
    ids = table(page).locator("tbody tr").first
    await expect(ids).to_contain_text(newer_name)  # newest first

    row = row_of(page, newer_name)
    await expect(row.locator(".progress")).to_have_text("Success", timeout=60_000)  # without a reload
    await expect(row).to_contain_text("demo")
    await expect(row).to_contain_text("MTL")
    await no_serious_violations(page)
    await shoot(page, "browse")

    await page.get_by_role("button", name="Upload date").click()
    await expect(table(page).get_by_role("columnheader", name="Upload date")).to_have_attribute("aria-sort", "ascending")
    first_row = table(page).locator("tbody tr").first
    await expect(first_row).not_to_have_attribute("data-upload-id", str(newer))  # the page reloaded
    first_ascending = await first_row.get_attribute("data-upload-id")
    assert int(first_ascending) <= older

    await row_of(page, older_name).get_by_role("cell").nth(7).click()  # the file name: the row, not its link
    await expect(page.get_by_role("heading", name="Log Viewer")).to_be_visible()
    await expect(page.get_by_text(f"Upload {older}: {older_name}")).to_be_visible()


async def test_a_row_shows_the_runs_percentage_then_the_dicom_archive_and_image_counts(page, api, archive, shoot):
    upload_id, name = await upload(api, archive)
    failed_id, failed_name = await upload(api, archive, broken=True)
    await sign_in(page, "demo")
    row = row_of(page, name)

    await expect(row.locator(".progress")).to_have_text("In Progress", timeout=60_000)
    # The slow pipeline's steps, then the reference pipeline's: whichever a refresh finds.
    bar = row.get_by_role("progressbar", name=re.compile(rf"^Upload {upload_id}: \d+% done$"))
    await expect(bar).to_be_visible()
    await expect(row.locator(".run-step")).to_have_text(re.compile(r"^\d+% · \S.*$"))
    await shoot(page, "in-progress")

    await expect(row.locator(".progress")).to_have_text("Success", timeout=60_000)
    cells = row.get_by_role("cell")
    await expect(cells.nth(10)).to_contain_text("DCM_2024-01-05_MTL0001_300001_V1")
    await expect(cells.nth(10)).to_contain_text("Study 2024-01-05 · 1 series · 3 files")
    await expect(cells.nth(10).locator(".tarchive-details")).to_have_attribute(
        "title", re.compile(r"^Series 1 T1w \(MR\): 3 files\nmd5 [0-9a-f]{32}$"))
    await expect(cells.nth(11)).to_have_text("1")  # MINC inserted
    await expect(cells.nth(12)).to_have_text("1")  # MINC created
    await expect(row.get_by_role("progressbar")).to_have_count(0)

    failed = row_of(page, failed_name)
    await expect(failed.locator(".progress")).to_have_text("Failure", timeout=60_000)
    await expect(failed.locator(".failure-reason")).to_have_text(
        "Pipeline failed with exit code 151: the PatientName in the DICOM files does not match the file name.")
    await no_serious_violations(page)
    await shoot(page, "finished")
    assert failed_id != upload_id


async def test_filters_and_paging_with_the_total(page, api, archive, shoot):
    ott, ott_name = await upload(api, archive, "OTT0001", "400001", "V1")
    await sign_in(page, "demo")
    browse = page.get_by_role("region", name="Browse uploads")
    await browse.get_by_label("PSCID").fill("OTT0001")
    await browse.get_by_role("button", name="Show").click()
    ott_total = (await (await api.get("/api/v1/uploads", pscid="OTT0001", page_size=1)).json())["total"]
    noun = "upload" if ott_total == 1 else "uploads"
    await expect(page.locator("#page-status")).to_have_text(f"Page 1 of 1 ({ott_total} {noun})")  # the filtered page
    await expect(row_of(page, ott_name)).to_be_visible()
    for site in await table(page).locator("tbody tr td:nth-child(6)").all_inner_texts():
        assert site == "OTT"
    await shoot(page, "filtered")

    total = (await (await api.get("/api/v1/uploads", page_size=1)).json())["total"]
    while total <= 20:  # enough uploads for a second page
        await upload(api, archive)
        total += 1
    await recorded(api, total)  # a 202 comes before the logstore lists the upload
    await browse.get_by_role("button", name="Clear filters").click()
    await browse.get_by_label("Rows per page").select_option("20")
    status = page.locator("#page-status")
    await expect(status).to_have_text(f"Page 1 of {-(-total // 20)} ({total:,} uploads)")
    await browse.get_by_role("button", name="Next page").click()
    await expect(status).to_contain_text("Page 2 of")
    await shoot(page, "page-2")


async def test_an_own_sites_coordinator_sees_only_their_sites_rows(page, api, archive, shoot):
    _, mtl_name = await upload(api, archive, "MTL0001", "300001", "V1")
    ott_id, ott_name = await upload(api, archive, "OTT0001", "400001", "V1")
    await sign_in(page, "mtl_coordinator")
    await expect(row_of(page, mtl_name)).to_be_visible()
    await expect(row_of(page, ott_name)).to_have_count(0)
    sites = await table(page).locator("tbody tr td:nth-child(6)").all_inner_texts()
    assert sites and set(sites) == {"MTL"}
    await shoot(page, "mtl-only")

    await page.goto(f"/#/log/{ott_id}")
    await expect(page.get_by_text(f"There is no upload with id {ott_id}.")).to_be_visible()
    await expect(page.get_by_role("log")).to_be_hidden()
    await shoot(page, "other-site-log")


async def test_the_page_reads_on_a_narrow_window_and_works_with_the_keyboard(page, shoot):
    await page.set_viewport_size({"width": 400, "height": 800})
    await page.goto("/")
    await expect(page.get_by_label("Username")).to_be_focused()
    await page.keyboard.type("demo")
    await page.keyboard.press("Tab")
    await page.keyboard.type("demo-password-for-browser-tests")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Browse uploads")).to_be_visible()
    await no_serious_violations(page)
    await shoot(page, "narrow-browse")
    await assert_fits(page, 400)

    upload_tab = page.get_by_role("link", name="Upload", exact=True)
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await upload_tab.evaluate("element => element === document.activeElement"):
            break
    await expect(upload_tab).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Upload a scan archive")).to_be_visible()
    await no_serious_violations(page)
    await shoot(page, "narrow-upload")
    await assert_fits(page, 400)


async def assert_fits(page: Page, width: int) -> None:
    """Nothing but the table (which scrolls in its own region) is wider than the window."""
    page_width = await page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"the page is {page_width} px wide in a {width} px window"


async def test_in_loris_site_mode_a_row_shows_loris_s_upload_id_within_the_upload_id_column(page, api, archive, shoot):
    # The stack runs standalone: LORIS's UploadID is put into Browse's answers as a LORIS-mode gateway gives it
    # (tests/integration/test_loris_upload_record.py checks that it does), so that the page is what is checked.
    upload_id, name = await upload(api, archive)
    await sign_in(page, "demo")
    row = row_of(page, name)
    await expect(row.locator(".progress")).to_have_text("Success", timeout=60_000)
    await expect(row.locator(".loris-upload-id")).to_have_count(0)  # standalone: nothing shown
    id_column = table(page).get_by_role("columnheader", name="Upload ID")
    standalone_width = await id_column.evaluate("cell => cell.getBoundingClientRect().width")

    await page.route(re.compile(r"/api/v1/uploads\?"), with_loris_upload_ids)
    await page.get_by_role("button", name="Refresh").click()

    loris_id = row.locator(".loris-upload-id")
    await expect(loris_id).to_have_text(f"LORIS {upload_id + 100000}")
    await expect(loris_id).to_have_attribute("title", f"LORIS UploadID {upload_id + 100000}")
    assert await id_column.evaluate("cell => cell.getBoundingClientRect().width") == standalone_width
    await no_serious_violations(page)
    await shoot(page, "browse-loris-upload-id")


async def with_loris_upload_ids(route) -> None:
    answer = await route.fetch()
    page = await answer.json()
    for item in page["items"]:
        item["loris_upload_id"] = item["upload_id"] + 100000
    await route.fulfill(response=answer, json=page)
