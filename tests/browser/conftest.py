"""Browser tests: Debian's Chromium, driven by Playwright, against the four
services running as real processes (as `make run` starts them).

Each test gets a fresh browser context (no cookies) and a page at 1280x800.
`shoot(page, step)` saves a screenshot under var/screenshots/ for a person
to look at; `no_serious_violations(page)` runs axe-core on the page.
"""

import re
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from services.common.scope import ADMIN, ALL_PERMISSIONS, OWN_SITES
from services.gateway.auth.users import add_user, save_user, set_password
from tests.support.browser import PASSWORDS
from tests.support.dicom_archives import make_dicom_archive
from tests.support.stack import REPO_ROOT, ServiceStack

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
SLOW_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/slow_pipeline.py'} --steps 6 --delay 0.6 -- "
                 "--upload-id {upload_id} --patient-name={patient_name} --output-dir {output_dir} {scan_path}")
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
async def browser_users(pool):
    async with pool.acquire() as conn:
        for username, password in PASSWORDS.items():
            if username == "mtl_coordinator":
                await add_user(conn, username, ["MTL"], [OWN_SITES])
            elif username == "operator":
                await add_user(conn, username, [], [ADMIN])
            elif username == "viewer":
                await save_user(conn, "viewer", ["data_entry"], f"browser-viewer-{uuid.uuid4().hex}")
            else:
                await save_user(conn, "demo", sorted(ALL_PERMISSIONS), f"browser-demo-{uuid.uuid4().hex}")
            await set_password(conn, username, password)
    return PASSWORDS


@pytest.fixture(scope="module")
def web_stack(service_env, tmp_path_factory, browser_users):
    # Runs mostly wait (the slow pipeline sleeps): four at a time keep the queue short for the tests that
    # watch a run from its start.
    # The browser tests watch runs, they do not test heartbeats: a launcher that fenced itself after a 2-second
    # stall of this busy machine (the run's default heartbeat is 1 s) would fail a run they wait for.
    overrides = {"UPLOADER_PIPELINE_COMMAND": SLOW_PIPELINE, "UPLOADER_MAX_UPLOAD_BYTES": str(64 * 1024**2),
                 "UPLOADER_MAX_CONCURRENT_RUNS": "4", "UPLOADER_HEARTBEAT_SECONDS": "5"}
    with ServiceStack({**service_env, **overrides}, tmp_path_factory.mktemp("browser-logs")) as running:
        yield running


@pytest.fixture(scope="module")
async def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh --with-browser` (make test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])
        yield browser
        await browser.close()


@pytest.fixture
async def page(chromium, web_stack):
    context = await chromium.new_context(base_url=web_stack.gateway_url, viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(error))
    yield page
    await context.close()
    assert not script_errors, f"the page's scripts failed: {script_errors}"


@pytest.fixture
def archive(tmp_path):
    """A DICOM archive for a demo candidate, under a unique name (or one whose PatientName is wrong)."""

    def make(pscid="MTL0001", candid="300001", visit="V1", *, broken=False, n_files=3) -> Path:
        name = f"{pscid}_{candid}_{visit}_{uuid.uuid4().hex[:8]}.tgz"
        patient = "WRONG_NAME" if broken else f"{pscid}_{candid}_{visit}"
        return make_dicom_archive(tmp_path / name, patient, n_files)

    return make


def shoot_name(request) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """var/screenshots/, holding this run's screenshots only."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def shoot(request, screenshots):
    """shoot(page, step): a screenshot at var/screenshots/<test>-<n>-<step>.png."""
    counter = iter(range(1, 100))

    async def take(page: Page, step: str) -> None:
        await page.screenshot(path=screenshots / f"{shoot_name(request)}-{next(counter):02d}-{step}.png", full_page=True)

    return take
