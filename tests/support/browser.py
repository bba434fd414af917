"""What the browser tests do often: sign in, check accessibility, slow the network down."""

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

PASSWORDS = {"demo": "demo-password-for-browser-tests", "mtl_coordinator": "coordinator-password-mtl",
             "viewer": "viewer-password-no-permission", "operator": "operator-password-status-only"}
# A browser's upload of a few MiB is over in an instant on this host; the upload tests that need time to
# watch or to cancel slow the page's network down to this (Chromium's network emulation).
SLOW_UPLOAD_BYTES_PER_SECOND = 512 * 1024


async def no_serious_violations(page: Page) -> None:
    """axe-core finds no serious or critical accessibility violation on the page as it is now."""
    results = await Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not serious, "\n".join(f"{v['id']} ({v['impact']}): {v['help']} at "
                                  f"{[n['target'] for n in v['nodes']][:3]}" for v in serious)


async def sign_in(page: Page, username: str, password: str | None = None) -> None:
    await page.goto("/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password or PASSWORDS[username])
    await page.get_by_role("button", name="Sign in").click()


async def slow_network(page: Page) -> None:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1,
        "uploadThroughput": SLOW_UPLOAD_BYTES_PER_SECOND,
    })

